/* Unit tests for src/proto/cgi_params.c: the meta-variables a web server
 * sends for a URI. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cgi_params.h"

static struct cgi_pair pairs[64];
static char buf[1024];

/* The value of name, as a string in a static buffer, or NULL. */
static const char *get(int n, const char *name)
{
	static char value[256];
	const char *found = NULL;
	for (int i = 0; i < n; i++) {
		if (pairs[i].name_len == strlen(name) &&
		    memcmp(pairs[i].name, name, pairs[i].name_len) == 0) {
			assert_null(found); /* each name once */
			assert_true(pairs[i].value_len < sizeof(value));
			memcpy(value, pairs[i].value, pairs[i].value_len);
			value[pairs[i].value_len] = '\0';
			found = value;
		}
	}
	return found;
}

static void test_get(void **state)
{
	(void)state;
	struct cgi_request_info in = {.uri = "/app/x%20y?a=1&b=%20",
	                              .content_length = -1};
	int n = cgi_params_build(&in, pairs, 64, buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(get(n, "REQUEST_METHOD"), "GET");
	assert_string_equal(get(n, "REQUEST_URI"), "/app/x%20y?a=1&b=%20");
	assert_string_equal(get(n, "SCRIPT_NAME"), "/app/x y");
	assert_string_equal(get(n, "DOCUMENT_URI"), "/app/x y");
	assert_string_equal(get(n, "QUERY_STRING"), "a=1&b=%20");
	assert_string_equal(get(n, "GATEWAY_INTERFACE"), "CGI/1.1");
	assert_string_equal(get(n, "SERVER_PROTOCOL"), "HTTP/1.1");
	assert_string_equal(get(n, "SERVER_NAME"), "localhost");
	assert_string_equal(get(n, "HTTP_HOST"), "localhost");
	assert_string_equal(get(n, "REMOTE_ADDR"), "127.0.0.1");
	assert_null(get(n, "CONTENT_LENGTH"));
	assert_null(get(n, "SCRIPT_FILENAME"));
	assert_null(get(n, "DOCUMENT_ROOT"));
	assert_true(n <= CGI_PARAMS_MAX(0));
}

static void test_post_with_headers(void **state)
{
	(void)state;
	const char *headers[] = {"Content-Type: text/plain", "X-Forwarded-For:  a ",
	                         "Host: example.org", "Proxy: http://evil/",
	                         "accept-language:de"};
	struct cgi_request_info in = {
		.method = "POST", .uri = "/index.php", .document_root = "/srv/www",
		.content_length = 42, .headers = headers, .n_headers = 5,
		.server_name = "srv",
	};
	int n = cgi_params_build(&in, pairs, 64, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(n <= CGI_PARAMS_MAX(5));
	assert_string_equal(get(n, "REQUEST_METHOD"), "POST");
	assert_string_equal(get(n, "CONTENT_LENGTH"), "42");
	assert_string_equal(get(n, "CONTENT_TYPE"), "text/plain");
	assert_string_equal(get(n, "QUERY_STRING"), "");
	assert_string_equal(get(n, "DOCUMENT_ROOT"), "/srv/www");
	assert_string_equal(get(n, "SCRIPT_FILENAME"), "/srv/www/index.php");
	assert_string_equal(get(n, "HTTP_X_FORWARDED_FOR"), "a");
	assert_string_equal(get(n, "HTTP_ACCEPT_LANGUAGE"), "de");
	assert_string_equal(get(n, "HTTP_HOST"), "example.org");
	assert_string_equal(get(n, "SERVER_NAME"), "srv");
	assert_null(get(n, "HTTP_PROXY"));
	assert_null(get(n, "HTTP_CONTENT_TYPE"));

	in.script_filename = "/elsewhere.php";
	n = cgi_params_build(&in, pairs, 64, buf, sizeof(buf));
	assert_string_equal(get(n, "SCRIPT_FILENAME"), "/elsewhere.php");
}

static void test_refusals(void **state)
{
	(void)state;
	const char *bad_headers[][1] = {{"NoColon"}, {": empty name"},
	                                {"Bad Name: x"}, {"Bad\tName: x"}};
	struct cgi_request_info in = {.uri = "/", .content_length = -1};
	for (size_t i = 0; i < 4; i++) {
		in.headers = bad_headers[i];
		in.n_headers = 1;
		assert_int_equal(cgi_params_build(&in, pairs, 64, buf, sizeof(buf)),
		                 -EINVAL);
	}
	in.n_headers = 0;
	const char *bad_uris[] = {"", "relative", "/a%00b", "http://x/"};
	for (size_t i = 0; i < 4; i++) {
		in.uri = bad_uris[i];
		assert_int_equal(cgi_params_build(&in, pairs, 64, buf, sizeof(buf)),
		                 -EINVAL);
	}
	in.uri = NULL;
	assert_int_equal(cgi_params_build(&in, pairs, 64, buf, sizeof(buf)),
	                 -EINVAL);
	/* An escape that is not one stays as it is. */
	in.uri = "/100%/%4g/%4";
	int n = cgi_params_build(&in, pairs, 64, buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(get(n, "SCRIPT_NAME"), "/100%/%4g/%4");
}

/* Too little room at any size: -ENOBUFS, never a write past the end. */
static void test_room(void **state)
{
	(void)state;
	const char *headers[] = {"A-B: c", "D: e"};
	struct cgi_request_info in = {.uri = "/p/q?x", .document_root = "/root",
	                              .content_length = 5, .headers = headers,
	                              .n_headers = 2};
	int full = cgi_params_build(&in, pairs, 64, buf, sizeof(buf));
	assert_true(full > 0);
	for (size_t cap = 0; cap < (size_t)full; cap++)
		assert_int_equal(cgi_params_build(&in, pairs, cap, buf, sizeof(buf)),
		                 -ENOBUFS);
	char small[64];
	size_t need = 0;
	for (size_t len = 0; len < sizeof(small); len++) {
		memset(small, 0x5a, sizeof(small));
		int n = cgi_params_build(&in, pairs, 64, small, len);
		for (size_t i = len; i < sizeof(small); i++)
			assert_int_equal(small[i], 0x5a);
		if (n >= 0 && !need)
			need = len;
		if (!need)
			assert_int_equal(n, -ENOBUFS);
	}
	assert_true(need > 0);
}

static void test_set(void **state)
{
	(void)state;
	struct cgi_pair p[4] = {
		{"A", 1, "1", 1}, {"B", 1, "2", 1}, {"A", 1, "3", 1},
	};
	size_t n = 3;
	assert_int_equal(cgi_params_set(p, &n, 4, "A", 1, "x", 1), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(p[0].name, "A", 1);
	assert_memory_equal(p[0].value, "x", 1);
	assert_memory_equal(p[1].name, "B", 1);
	assert_int_equal(cgi_params_set(p, &n, 4, "C", 1, "", 0), 0);
	assert_int_equal(n, 3);
	assert_int_equal(p[2].value_len, 0);
	assert_int_equal(cgi_params_set(p, &n, 4, "D", 1, "d", 1), 0);
	assert_int_equal(cgi_params_set(p, &n, 4, "E", 1, "e", 1), -ENOBUFS);
	assert_int_equal(cgi_params_set(p, &n, 4, "", 0, "e", 1), -EINVAL);
	assert_int_equal(n, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_post_with_headers),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
