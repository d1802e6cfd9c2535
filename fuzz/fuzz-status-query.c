/* libFuzzer target for the status app's query string parser
 * (status_query_parse in src/apps/status_app.c).
 *
 * Input: the query string's bytes, made NUL-terminated (a NUL inside ends
 * it early, as in a CGI parameter); the empty input also tries q == NULL.
 * Each input is parsed with the app's own 64-byte buffer and with a small
 * one (1, 2 or 8 bytes, from the first byte), each allocated to its exact
 * size so that the sanitizer sees a write past it. Checked: the format's
 * index is below STATUS_QUERY_FORMATS and does not depend on the buffer;
 * the pool name is NUL-terminated within cap, holds only [A-Za-z0-9._-],
 * and when not empty is one of the query's own "pool=NAME" words. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "status_app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* Whether "pool=NAME" is one of q's words, split at '&' and ';'. */
static bool has_pool_word(const char *q, const char *name)
{
	size_t len = strlen(name);
	while (*q) {
		size_t n = strcspn(q, "&;");
		if (n == len + 5 && strncmp(q, "pool=", 5) == 0 &&
		    memcmp(q + 5, name, len) == 0)
			return true;
		q += n;
		q += *q != '\0';
	}
	return false;
}

/* Parses q into an exactly cap-byte heap buffer; returns the format. */
static size_t parse_checked(const char *q, size_t cap)
{
	char *pool = malloc(cap);
	CHECK(pool);
	memset(pool, 0xa5, cap);
	size_t fmt = status_query_parse(q, pool, cap);
	CHECK(fmt < STATUS_QUERY_FORMATS);
	char *nul = memchr(pool, '\0', cap);
	CHECK(nul);
	size_t len = (size_t)(nul - pool);
	for (size_t i = 0; i < len; i++)
		CHECK(is_name_char((unsigned char)pool[i]));
	if (len > 0)
		CHECK(q && has_pool_word(q, pool));
	free(pool);
	return fmt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t small_caps[] = {1, 2, 8};
	char *q = malloc(size + 1);
	CHECK(q);
	if (size)
		memcpy(q, data, size);
	q[size] = '\0';

	size_t fmt = parse_checked(q, 64);
	size_t cap = small_caps[size ? data[0] % 3 : 0];
	CHECK(parse_checked(q, cap) == fmt);
	if (size == 0)
		CHECK(parse_checked(NULL, 64) == fmt);
	free(q);
	return 0;
}
