/* libFuzzer target for the front end's --document-root helpers
 * (src/front/docroot.c): the request path normalizer and the parsers of
 * a static file's conditional and Range headers.
 *
 * Input: a request target; after its first NUL, a Range header, then an
 * If-None-Match, then an If-Modified-Since and an If-Range, NUL-separated.
 * Checked: a normalized path starts with '/', holds no NUL, no "//", no
 * "/./" or "/../" segment, and normalizing it again gives itself (unless
 * it holds a decoded '%', '?' or '#'); the
 * reply's status is one of 200, 206, 304, 416, its byte range lies within
 * the file, and its headers are as long as said. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docroot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void check_path(const char *p, int n)
{
	CHECK(n >= 1 && p[0] == '/' && (size_t)n == strlen(p));
	CHECK(!strstr(p, "//") && !strstr(p, "/./") && !strstr(p, "/../"));
	size_t len = (size_t)n;
	CHECK(!(len >= 2 && strcmp(p + len - 2, "/.") == 0));
	CHECK(!(len >= 3 && strcmp(p + len - 3, "/..") == 0));
	/* Decoded '%', '?' and '#' are names' bytes, which a second pass
	 * would read as syntax. */
	if (strpbrk(p, "%?#"))
		return;
	char again[DOCROOT_PATH_MAX];
	int m = docroot_normalize(p, len, again, sizeof(again));
	CHECK(m == n && strcmp(again, p) == 0);
}

/* The next NUL-terminated piece of the input, or NULL at its end. */
static const char *piece(const char **at, const char *end)
{
	if (*at >= end)
		return NULL;
	const char *s = *at;
	*at += strlen(s) + 1;
	return s;
}

static void check_reply(const char *name, const char **at, const char *end,
                        off_t size)
{
	struct static_request rq = {.head = size % 3 == 0};
	rq.range = piece(at, end);
	rq.if_none_match = piece(at, end);
	rq.if_modified_since = piece(at, end);
	rq.if_range = piece(at, end);
	struct stat st = {.st_mode = S_IFREG | 0644, .st_size = size,
	                  .st_mtime = 1700000000};
	struct static_reply r;
	CHECK(static_reply(&st, name, &rq, &r) == 0);
	CHECK(r.status == 200 || r.status == 206 || r.status == 304 ||
	      r.status == 416);
	CHECK(r.offset >= 0 && r.length >= 0 && r.offset + r.length <= size);
	CHECK(r.headers_len == strlen(r.headers));
	if (r.status == 206 && !rq.head)
		CHECK(r.length > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *at = copy, *end = copy + size;
	const char *target = piece(&at, end);
	if (!target)
		target = "";
	char out[DOCROOT_PATH_MAX];
	int n = docroot_normalize(target, strlen(target), out, sizeof(out));
	if (n >= 0)
		check_path(out, n);
	check_reply(n >= 0 ? out : "x", &at, end, (off_t)(size * 7 % 1000));
	free(copy);
	return 0;
}
