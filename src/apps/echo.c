/* The echo app: a JSON picture of the request (role, params, body size and
 * FNV-1a hash), or the behaviours its query words ask for. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "echo.h"
#include "http_token.h"

struct words {
	bool echo_body;
	bool crash;
	long long size;       /* -1: not asked */
	long long sleep_ms;   /* -1: not asked */
	int status;           /* 0: not asked */
	char err_text[512];   /* stderr=TEXT, decoded */
};

/* Decodes %XX and '+' from src[0..len) into dst (cap bytes, NUL-ended). */
static void url_decode(char *dst, size_t cap, const char *src, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		char c = src[i];
		if (c == '+')
			c = ' ';
		else if (c == '%' && i + 2 < len && uri_hex_value(src[i + 1]) >= 0 &&
		         uri_hex_value(src[i + 2]) >= 0) {
			c = (char)(uri_hex_value(src[i + 1]) * 16 + uri_hex_value(src[i + 2]));
			i += 2;
		}
		dst[o++] = c;
	}
	dst[o] = '\0';
}

static long long number(const char *v, size_t len)
{
	long long n = 0;
	for (size_t i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++)
		if (n < (1LL << 50))
			n = n * 10 + (v[i] - '0');
	return n;
}

static void parse_word(struct words *w, const char *k, size_t kl,
                       const char *v, size_t vl)
{
	if (kl == 4 && memcmp(k, "echo", 4) == 0)
		w->echo_body = vl == 4 && memcmp(v, "body", 4) == 0;
	else if (kl == 4 && memcmp(k, "size", 4) == 0)
		w->size = number(v, vl);
	else if (kl == 8 && memcmp(k, "sleep_ms", 8) == 0)
		w->sleep_ms = number(v, vl);
	else if (kl == 6 && memcmp(k, "status", 6) == 0)
		w->status = (int)number(v, vl);
	else if (kl == 6 && memcmp(k, "stderr", 6) == 0)
		url_decode(w->err_text, sizeof(w->err_text), v, vl);
	else if (kl == 5 && memcmp(k, "crash", 5) == 0)
		w->crash = vl == 1 && v[0] == '1';
}

static void parse_query(struct words *w, const char *q)
{
	*w = (struct words){.size = -1, .sleep_ms = -1};
	while (q && *q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		if (eq)
			parse_word(w, q, (size_t)(eq - q), eq + 1,
			           n - (size_t)(eq - q) - 1);
		q += n;
		if (*q == '&')
			q++;
	}
}

/* Waits ms milliseconds, or less if the request is aborted. */
static void sleep_cancellable(acgi_request *r, long long ms)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	int fd = acgi_cancel_fd(r);
	while (!acgi_cancelled(r)) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long left = (end.tv_sec - now.tv_sec) * 1000LL +
		                 (end.tv_nsec - now.tv_nsec) / 1000000;
		if (left <= 0)
			return;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (fd < 0)
			p.fd = -1;
		(void)poll(&p, 1, (int)(left > 1000 ? 1000 : left));
	}
}

static void answer_size(acgi_request *r, long long size)
{
	char chunk[65536];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	acgi_set_content_type(r, "text/plain");
	char len[32];
	snprintf(len, sizeof(len), "%lld", size);
	acgi_add_header(r, "Content-Length", len);
	/* 65536 is a multiple of 26 plus 16: restart the alphabet where the
	 * previous chunk ended. */
	long long sent = 0;
	while (sent < size) {
		size_t off = (size_t)(sent % 26);
		size_t n = sizeof(chunk) - 26;
		if ((long long)n > size - sent)
			n = (size_t)(size - sent);
		if (acgi_write(r, chunk + off, n) < 0)
			return;
		sent += (long long)n;
	}
}

static void answer_echo_body(acgi_request *r)
{
	char buf[65536];
	acgi_set_content_type(r, "application/octet-stream");
	ssize_t n;
	while ((n = acgi_read(r, buf, sizeof(buf))) > 0)
		if (acgi_write(r, buf, (size_t)n) < 0)
			return;
}

struct hash {
	uint64_t bytes;
	uint64_t fnv;
};

static void hash_stream(acgi_request *r, bool data, struct hash *h,
                        int *err)
{
	char buf[65536];
	h->bytes = 0;
	h->fnv = 0xcbf29ce484222325ULL;
	for (;;) {
		ssize_t n = data ? acgi_read_data(r, buf, sizeof(buf))
		                 : acgi_read(r, buf, sizeof(buf));
		if (n < 0 && !*err)
			*err = (int)n;
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n; i++) {
			h->fnv ^= (uint8_t)buf[i];
			h->fnv *= 0x100000001b3ULL;
		}
		h->bytes += (uint64_t)n;
	}
}

/* Writes s as a JSON string: bytes that are not valid UTF-8 as \u00XX. */
static void json_string(acgi_request *r, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	acgi_write(r, "\"", 1);
	while (*p) {
		size_t n = 1;
		if (*p >= 0x80) {
			size_t want = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
			              : (*p & 0xf8) == 0xf0 ? 4 : 0;
			size_t k = 1;
			while (want && k < want && (p[k] & 0xc0) == 0x80)
				k++;
			bool overlong = want == 2 && *p < 0xc2;
			if (want && k == want && !overlong) {
				acgi_write(r, p, want);
				p += want;
				continue;
			}
			acgi_printf(r, "\\u%04x", *p);
		} else if (*p == '"' || *p == '\\') {
			acgi_printf(r, "\\%c", *p);
		} else if (*p < 0x20) {
			acgi_printf(r, "\\u%04x", *p);
		} else {
			acgi_write(r, p, n);
		}
		p += n;
	}
	acgi_write(r, "\"", 1);
}

/* "params": each name once, repeated values joined with ", " ("; " for
 * HTTP_COOKIE), in order of first arrival. */
static void json_params(acgi_request *r)
{
	size_t n = acgi_param_count(r);
	acgi_write(r, "{", 1);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		const char *name, *value;
		(void)acgi_param_at(r, i, &name, &value);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++) {
			const char *other;
			(void)acgi_param_at(r, j, &other, NULL);
			seen = strcmp(other, name) == 0;
		}
		if (seen)
			continue;
		acgi_printf(r, "%s\n  ", first ? "" : ",");
		first = false;
		json_string(r, name);
		acgi_write(r, ": ", 2);
		const char *sep = strcmp(name, "HTTP_COOKIE") == 0 ? "; " : ", ";
		size_t total = 0;
		for (size_t j = i; j < n; j++) {
			const char *nj, *vj;
			(void)acgi_param_at(r, j, &nj, &vj);
			if (strcmp(nj, name) == 0)
				total += strlen(vj) + 2;
		}
		char *joined = malloc(total + 1);
		if (!joined) {
			json_string(r, value);
			continue;
		}
		joined[0] = '\0';
		for (size_t j = i; j < n; j++) {
			const char *nj, *vj;
			(void)acgi_param_at(r, j, &nj, &vj);
			if (strcmp(nj, name) != 0)
				continue;
			if (j != i)
				strcat(joined, sep);
			strcat(joined, vj);
		}
		json_string(r, joined);
		free(joined);
	}
	acgi_write(r, "}", 1);
}

static const char *role_name(acgi_role role)
{
	return role == ACGI_AUTHORIZER ? "AUTHORIZER"
	       : role == ACGI_FILTER   ? "FILTER"
	                               : "RESPONDER";
}

static void answer_json(acgi_request *r, int status)
{
	struct hash body, data = {0, 0xcbf29ce484222325ULL};
	int err = 0;
	hash_stream(r, false, &body, &err);
	if (acgi_request_role(r) == ACGI_FILTER)
		hash_stream(r, true, &data, &err);
	if (err == -ECANCELED)
		return;
	if (err < 0) {
		acgi_set_status(r, 400, NULL);
		acgi_set_content_type(r, "application/json");
		acgi_printf(r, "{\"error\": \"%s\"}\n", acgi_strerror(err));
		return;
	}
	if (status)
		acgi_set_status(r, status, NULL);
	acgi_set_content_type(r, "application/json");
	acgi_printf(r, "{\"role\": \"%s\",\n\"params\": ",
	            role_name(acgi_request_role(r)));
	json_params(r);
	acgi_printf(r, ",\n\"body_bytes\": %llu,\n\"body_fnv1a64\": \"%016llx\"",
	            (unsigned long long)body.bytes, (unsigned long long)body.fnv);
	if (acgi_request_role(r) == ACGI_FILTER)
		acgi_printf(r, ",\n\"data_bytes\": %llu,\n\"data_fnv1a64\": "
		            "\"%016llx\"", (unsigned long long)data.bytes,
		            (unsigned long long)data.fnv);
	acgi_write(r, "}\n", 2);
}

void echo_handle(acgi_request *r, void *data)
{
	(void)data;
	struct words w;
	parse_query(&w, acgi_param(r, "QUERY_STRING"));
	if (w.crash)
		abort();
	if (w.sleep_ms > 0)
		sleep_cancellable(r, w.sleep_ms);
	if (acgi_cancelled(r))
		return;
	if (w.err_text[0])
		(void)acgi_write_err(r, w.err_text, strlen(w.err_text));
	if (w.size >= 0 || w.echo_body) {
		if (w.status)
			acgi_set_status(r, w.status, NULL);
		if (w.size >= 0)
			answer_size(r, w.size);
		else
			answer_echo_body(r);
		return;
	}
	answer_json(r, w.status);
}
