/* libFuzzer target for the params builder (src/proto/cgi_params.c).
 *
 * Input: one control byte (role, whether there is a body), then lines: the
 * method, the URI, then "H..." header lines and "P..." -p overrides. The
 * built pairs are checked: the result is 0 or -EINVAL (never -ENOSPC with
 * the announced bounds), every name is non-empty, every byte lies in the
 * input strings or the caller's buffer, HTTP_PROXY comes only from an
 * override, and both encoders accept the pairs. A second build into storage
 * of exactly the size used gives the same pairs. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgi_params.h"
#include "client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

enum { MAX_LINES = 64 };

static bool inside(const char *p, size_t len, const char *start, size_t n)
{
	return p >= start && p + len <= start + n;
}

static bool from_input(const char *p, size_t len, char *const *lines,
                       size_t n_lines)
{
	for (size_t i = 0; i < n_lines; i++)
		if (inside(p, len, lines[i], strlen(lines[i]) + 1))
			return true;
	return false;
}

static bool is_literal_or_input(const struct cgi_pair *pair,
                                const struct cgi_params *p,
                                char *const *lines, size_t n_lines)
{
	/* Names and values are in the buffer, the input, or string
	 * literals of the builder (which cannot be checked by address:
	 * they are short and NUL-free). */
	bool name_ok = inside(pair->name, pair->name_len, p->buf, p->buf_len) ||
	               from_input(pair->name, pair->name_len, lines, n_lines) ||
	               strlen(pair->name) >= pair->name_len;
	bool value_ok = pair->value_len == 0 ||
	                inside(pair->value, pair->value_len, p->buf, p->buf_len) ||
	                from_input(pair->value, pair->value_len, lines, n_lines) ||
	                strlen(pair->value) >= pair->value_len;
	return name_ok && value_ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	uint8_t control = data[0];
	char *text = malloc(size);
	CHECK(text);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	/* Lines: NUL ends the text, as a C string from argv would. */
	char *lines[MAX_LINES];
	size_t n_lines = 0;
	for (char *s = text; n_lines < MAX_LINES;) {
		lines[n_lines++] = s;
		char *nl = strchr(s, '\n');
		if (!nl)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	const char *headers[MAX_LINES], *overrides[MAX_LINES];
	size_t n_headers = 0, n_overrides = 0;
	bool override_proxy = false;
	for (size_t i = 2; i < n_lines; i++) {
		if (lines[i][0] == 'H')
			headers[n_headers++] = lines[i] + 1;
		else if (lines[i][0] == 'P')
			overrides[n_overrides++] = lines[i] + 1;
		if (lines[i][0] == 'P' && strncmp(lines[i] + 1, "HTTP_PROXY", 10) == 0)
			override_proxy = true;
	}
	struct cgi_request req = {
		.method = lines[0],
		.uri = n_lines > 1 ? lines[1] : "/",
		.headers = headers,
		.n_headers = n_headers,
		.content_length = control & 1 ? (int64_t)(control >> 3) : -1,
		.role = (uint16_t)((control >> 1) & 3),
		.document_root = control & 0x80 ? NULL : "/srv/",
		.overrides = overrides,
		.n_overrides = n_overrides,
	};
	size_t max_pairs = cgi_params_max_pairs(&req);
	size_t max_buf = cgi_params_max_buf(&req);
	struct cgi_pair *pairs = calloc(max_pairs, sizeof(*pairs));
	char *buf = malloc(max_buf);
	CHECK(pairs && buf);
	struct cgi_params p;
	cgi_params_init(&p, pairs, max_pairs, buf, max_buf);
	int rc = cgi_params_build(&p, &req);
	CHECK(rc == 0 || rc == -EINVAL);
	CHECK((rc == 0) == (p.error == NULL));
	CHECK(p.n_pairs <= max_pairs && p.buf_len <= max_buf);
	if (rc == 0) {
		for (size_t i = 0; i < p.n_pairs; i++) {
			const struct cgi_pair *pair = &p.pairs[i];
			CHECK(pair->name_len > 0);
			CHECK(is_literal_or_input(pair, &p, lines, n_lines));
			CHECK(!memchr(pair->name, '\0', pair->name_len));
			CHECK(!memchr(pair->value, '\0', pair->value_len));
			if (pair->name_len == 10 &&
			    memcmp(pair->name, "HTTP_PROXY", 10) == 0)
				CHECK(override_proxy);
		}
		CHECK(fcgi_encode_params(NULL, 0, 1, p.pairs, p.n_pairs) > 0);
		CHECK(scgi_encode_head(NULL, 0, 0, p.pairs, p.n_pairs) > 0);
		/* Exactly the storage used is enough, and gives the same. */
		struct cgi_pair *pairs2 = calloc(max_pairs, sizeof(*pairs2));
		char *buf2 = malloc(p.buf_len + 1);
		CHECK(pairs2 && buf2);
		struct cgi_params q;
		/* Removals by overrides need their pairs' room first. */
		cgi_params_init(&q, pairs2, max_pairs, buf2, p.buf_len);
		CHECK(cgi_params_build(&q, &req) == 0);
		CHECK(q.n_pairs == p.n_pairs && q.buf_len == p.buf_len);
		for (size_t i = 0; i < q.n_pairs; i++) {
			CHECK(q.pairs[i].name_len == p.pairs[i].name_len);
			CHECK(q.pairs[i].value_len == p.pairs[i].value_len);
			CHECK(memcmp(q.pairs[i].name, p.pairs[i].name,
			             p.pairs[i].name_len) == 0);
			CHECK(memcmp(q.pairs[i].value, p.pairs[i].value,
			             p.pairs[i].value_len) == 0);
		}
		free(pairs2);
		free(buf2);
	}
	free(pairs);
	free(buf);
	free(text);
	return 0;
}
