/* libFuzzer target for the front end's request parser
 * (src/front/http_in.c, over libhttp-parser).
 *
 * Input: one control byte (limits, how to split), then bytes from a
 * client. The bytes are parsed whole, then in odd-sized pieces, going on
 * after each request's end (pipelining); the runs must report the same
 * events. Every event is checked: consumed never exceeds what was given,
 * body bytes point into the input, a head's fields are tokens with values
 * free of line ends and NUL-terminated at their lengths, an error comes
 * with a status the front end knows and a reason. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

enum { LOG_CAP = 1 << 16 };

struct log {
	uint8_t bytes[LOG_CAP];
	size_t len;
	bool body; /* the last entry was body bytes, still open */
};

static void add(struct log *l, const void *p, size_t n)
{
	if (n > LOG_CAP - l->len)
		n = LOG_CAP - l->len;
	memcpy(l->bytes + l->len, p, n);
	l->len += n;
}

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_head(struct log *l, const struct http_head *h,
                       const struct http_in_limits *lim)
{
	CHECK(h->method && h->target && h->path);
	CHECK(strlen(h->target) == h->target_len);
	CHECK(h->major == 1 && (h->minor == 0 || h->minor == 1));
	CHECK(h->n_fields <= lim->max_headers);
	CHECK(h->head_len <= lim->max_header_bytes);
	CHECK(!(h->chunked && h->content_length >= 0));
	CHECK(h->path[0] == '/');
	for (size_t i = 0; i < h->n_fields; i++) {
		const struct http_field *f = &h->fields[i];
		CHECK(f->name_len > 0 && strlen(f->name) == f->name_len);
		CHECK(strlen(f->value) == f->value_len);
		for (size_t k = 0; k < f->name_len; k++)
			CHECK(is_tchar((unsigned char)f->name[k]));
		CHECK(!memchr(f->value, '\r', f->value_len));
		CHECK(!memchr(f->value, '\n', f->value_len));
		add(l, f->name, f->name_len + 1);
		add(l, f->value, f->value_len + 1);
	}
	char s[96];
	int n = snprintf(s, sizeof(s), "H%s %zu %lld %d%d%d|", h->method,
	                 h->n_fields, (long long)h->content_length, h->chunked,
	                 h->keep_alive, h->expect_continue);
	add(l, s, (size_t)n);
	l->body = false;
}

static void run(struct log *l, const uint8_t *in, size_t len,
                const struct http_in_limits *lim, unsigned split)
{
	static const size_t sizes[] = {1, 2, 3, 5, 7, 11, 64, 1000};
	struct http_in p;
	http_in_init(&p, lim);
	l->len = 0;
	l->body = false;
	size_t off = 0;
	for (unsigned i = split, rounds = 0; rounds < 100000; i++, rounds++) {
		size_t n = split ? sizes[i % 8] : len - off;
		if (n > len - off)
			n = len - off;
		struct http_in_event ev;
		int k = http_in_feed(&p, in + off, n, &ev);
		if (k < 0) {
			CHECK(k == -EPROTO && p.reason);
			CHECK(p.status == 400 || p.status == 413 || p.status == 414 ||
			      p.status == 417 || p.status == 431 ||
			      p.status == 501 || p.status == 505);
			char s[16];
			add(l, s, (size_t)snprintf(s, sizeof(s), "!%d", p.status));
			break;
		}
		CHECK((size_t)k <= n);
		if (ev.kind == HTTP_IN_HEAD) {
			check_head(l, &p.head, lim);
		} else if (ev.kind == HTTP_IN_BODY) {
			CHECK(ev.len > 0 && ev.data >= in + off &&
			      ev.data + ev.len <= in + off + n);
			if (!l->body)
				add(l, "B", 1);
			add(l, ev.data, ev.len);
			l->body = true;
		} else if (ev.kind == HTTP_IN_END) {
			add(l, "E", 1);
			l->body = false;
			http_in_next(&p);
		}
		off += (size_t)k;
		if (ev.kind == HTTP_IN_NONE && off == len)
			break;
	}
	http_in_deinit(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct log whole, part;
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	const struct http_in_limits lim = {
		.max_header_bytes = ctl & 1 ? 256 : 8192,
		.max_headers = ctl & 2 ? 4 : 100,
	};
	run(&whole, data + 1, size - 1, &lim, 0);
	for (unsigned split = 1; split <= 3; split++) {
		run(&part, data + 1, size - 1, &lim, split + (ctl >> 2));
		CHECK(part.len == whole.len);
		CHECK(memcmp(part.bytes, whole.bytes, whole.len) == 0);
	}
	return 0;
}
