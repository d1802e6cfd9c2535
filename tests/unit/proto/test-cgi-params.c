/* Unit tests for src/proto/cgi_params.c: the meta-variables a web server
 * builds for one request. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgi_params.h"
#include "fcgi.h"

struct built {
	struct cgi_pair pairs[64];
	char buf[4096];
	struct cgi_params p;
	char value[1024]; /* last value looked up, NUL-terminated */
};

static int build(struct built *b, const struct cgi_request *req)
{
	cgi_params_init(&b->p, b->pairs, 64, b->buf, sizeof(b->buf));
	assert_true(cgi_params_max_pairs(req) <= 64);
	assert_true(cgi_params_max_buf(req) <= sizeof(b->buf));
	return cgi_params_build(&b->p, req);
}

/* The value of name, or NULL when it is not there. */
static const char *get(struct built *b, const char *name)
{
	size_t len;
	const char *v = cgi_params_get(&b->p, name, &len);
	if (!v)
		return NULL;
	assert_true(len < sizeof(b->value));
	memcpy(b->value, v, len);
	b->value[len] = '\0';
	return b->value;
}

static size_t count(const struct built *b, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < b->p.n_pairs; i++)
		if (b->p.pairs[i].name_len == strlen(name) &&
		    memcmp(b->p.pairs[i].name, name, strlen(name)) == 0)
			n++;
	return n;
}

static struct cgi_request simple(const char *method, const char *uri)
{
	return (struct cgi_request){
		.method = method, .uri = uri, .content_length = -1,
		.document_root = "/srv", .server_software = "test/1",
	};
}

static void test_get_like_nginx(void **state)
{
	(void)state;
	struct built b;
	struct cgi_request req = simple("GET", "/a/b.php?x=1&y=%20");
	assert_int_equal(build(&b, &req), 0);
	/* nginx's fastcgi_params order, first to last. */
	static const char *const order[] = {
		"QUERY_STRING", "REQUEST_METHOD", "SCRIPT_NAME", "REQUEST_URI",
		"DOCUMENT_URI", "DOCUMENT_ROOT", "SERVER_PROTOCOL", "REQUEST_SCHEME",
		"GATEWAY_INTERFACE", "SERVER_SOFTWARE", "REMOTE_ADDR", "REMOTE_PORT",
		"SERVER_ADDR", "SERVER_PORT", "SERVER_NAME", "REDIRECT_STATUS",
		"SCRIPT_FILENAME", "HTTP_HOST",
	};
	assert_int_equal(b.p.n_pairs, sizeof(order) / sizeof(order[0]));
	for (size_t i = 0; i < b.p.n_pairs; i++) {
		assert_int_equal(b.p.pairs[i].name_len, strlen(order[i]));
		assert_memory_equal(b.p.pairs[i].name, order[i], strlen(order[i]));
	}
	assert_string_equal(get(&b, "QUERY_STRING"), "x=1&y=%20");
	assert_string_equal(get(&b, "REQUEST_URI"), "/a/b.php?x=1&y=%20");
	assert_string_equal(get(&b, "SCRIPT_NAME"), "/a/b.php");
	assert_string_equal(get(&b, "SCRIPT_FILENAME"), "/srv/a/b.php");
	assert_string_equal(get(&b, "SERVER_SOFTWARE"), "test/1");
	assert_string_equal(get(&b, "SERVER_PORT"), "80");
	assert_string_equal(get(&b, "SERVER_NAME"), "localhost");
	assert_string_equal(get(&b, "HTTP_HOST"), "localhost");
	assert_string_equal(get(&b, "GATEWAY_INTERFACE"), "CGI/1.1");
	assert_null(get(&b, "CONTENT_LENGTH"));
	assert_null(get(&b, "CONTENT_TYPE"));
	assert_null(get(&b, "HTTPS"));
}

static void test_defaults_and_no_query(void **state)
{
	(void)state;
	struct built b;
	struct cgi_request req = {.method = "HEAD", .uri = "/x#frag",
	                          .content_length = -1};
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "QUERY_STRING"), "");
	assert_string_equal(get(&b, "REQUEST_URI"), "/x");
	assert_string_equal(get(&b, "DOCUMENT_ROOT"), "/var/www/html");
	assert_string_equal(get(&b, "SCRIPT_FILENAME"), "/var/www/html/x");
	assert_string_equal(get(&b, "SERVER_SOFTWARE"), "anycgi");
	/* A root with a trailing slash makes no double slash. */
	req.document_root = "/r/";
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "SCRIPT_FILENAME"), "/r/x");
}

static void test_percent_decoding(void **state)
{
	(void)state;
	struct built b;
	struct cgi_request req = simple("GET", "/a%20b/%2e%2Fc%zz%4/%?q=%20");
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "SCRIPT_NAME"), "/a b/./c%zz%4/%");
	assert_string_equal(get(&b, "DOCUMENT_URI"), "/a b/./c%zz%4/%");
	assert_string_equal(get(&b, "REQUEST_URI"),
	                    "/a%20b/%2e%2Fc%zz%4/%?q=%20");
	/* An escape is three bytes of the path, not of the query after it. */
	req.uri = "/a%2?3";
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "SCRIPT_NAME"), "/a%2");
}

static void test_absolute_uris(void **state)
{
	(void)state;
	struct built b;
	struct cgi_request req = simple("GET", "https://Example.org:8443/p?q");
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "HTTPS"), "on");
	assert_string_equal(get(&b, "REQUEST_SCHEME"), "https");
	assert_string_equal(get(&b, "SERVER_NAME"), "Example.org");
	assert_string_equal(get(&b, "SERVER_PORT"), "8443");
	assert_string_equal(get(&b, "HTTP_HOST"), "Example.org:8443");
	assert_string_equal(get(&b, "REQUEST_URI"), "/p?q");
	req.uri = "HTTP://[::1]?a=b";
	assert_int_equal(build(&b, &req), 0);
	assert_null(get(&b, "HTTPS"));
	assert_string_equal(get(&b, "SERVER_NAME"), "[::1]");
	assert_string_equal(get(&b, "SERVER_PORT"), "80");
	assert_string_equal(get(&b, "REQUEST_URI"), "/?a=b");
	assert_string_equal(get(&b, "SCRIPT_NAME"), "/");
	assert_string_equal(get(&b, "QUERY_STRING"), "a=b");
	req.uri = "https://h";
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "SERVER_PORT"), "443");
	assert_string_equal(get(&b, "REQUEST_URI"), "/");
}

static void test_headers(void **state)
{
	(void)state;
	struct built b;
	const char *h[] = {
		"X-A: 1", "Cookie: a=1", "x_a:\t2 ", "Proxy: http://evil",
		"Content-Length: 99", "Cookie: b=2", "Host: h.example",
		"Empty:", "User-Agent: t",
	};
	struct cgi_request req = simple("GET", "/");
	req.headers = h;
	req.n_headers = sizeof(h) / sizeof(h[0]);
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "HTTP_X_A"), "1, 2");
	assert_int_equal(count(&b, "HTTP_X_A"), 1);
	assert_string_equal(get(&b, "HTTP_COOKIE"), "a=1; b=2");
	assert_string_equal(get(&b, "HTTP_HOST"), "h.example");
	assert_int_equal(count(&b, "HTTP_HOST"), 1);
	assert_string_equal(get(&b, "HTTP_USER_AGENT"), "t");
	assert_null(get(&b, "HTTP_PROXY"));
	assert_null(get(&b, "HTTP_CONTENT_LENGTH"));
	assert_null(get(&b, "HTTP_EMPTY"));
	assert_null(get(&b, "CONTENT_LENGTH"));
	/* "Host:" leaves HTTP_HOST out altogether. */
	const char *no_host[] = {"Host:"};
	req.headers = no_host;
	req.n_headers = 1;
	assert_int_equal(build(&b, &req), 0);
	assert_null(get(&b, "HTTP_HOST"));
}

static void test_body_and_content_type(void **state)
{
	(void)state;
	struct built b;
	struct cgi_request req = simple("POST", "/");
	req.content_length = 0;
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "CONTENT_LENGTH"), "0");
	assert_string_equal(get(&b, "CONTENT_TYPE"),
	                    "application/x-www-form-urlencoded");
	const char *h[] = {"Content-Type: text/plain"};
	req.headers = h;
	req.n_headers = 1;
	req.content_length = 18446744073709551LL;
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "CONTENT_LENGTH"), "18446744073709551");
	assert_string_equal(get(&b, "CONTENT_TYPE"), "text/plain");
	assert_null(get(&b, "HTTP_CONTENT_TYPE"));
	const char *none[] = {"Content-Type:"};
	req.headers = none;
	assert_int_equal(build(&b, &req), 0);
	assert_null(get(&b, "CONTENT_TYPE"));
	assert_string_equal(get(&b, "CONTENT_LENGTH"), "18446744073709551");
	/* FastCGI 1.0, section 6.3: none of these for an authorizer. */
	req.headers = h;
	req.role = FCGI_AUTHORIZER;
	assert_int_equal(build(&b, &req), 0);
	assert_null(get(&b, "CONTENT_LENGTH"));
	assert_null(get(&b, "CONTENT_TYPE"));
	assert_null(get(&b, "SCRIPT_NAME"));
	assert_non_null(get(&b, "REQUEST_URI"));
}

static void test_overrides(void **state)
{
	(void)state;
	struct built b;
	const char *o[] = {
		"SERVER_NAME=ex.org", "NEW=1", "REMOTE_PORT", "NEW=2",
		"SCRIPT_NAME=/s.php", "DOCUMENT_ROOT=/d", "EMPTY=", "A=b=c",
	};
	struct cgi_request req = simple("GET", "/x");
	req.overrides = o;
	req.n_overrides = sizeof(o) / sizeof(o[0]);
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "SERVER_NAME"), "ex.org");
	assert_int_equal(count(&b, "SERVER_NAME"), 1);
	assert_int_equal(count(&b, "NEW"), 2);
	assert_null(get(&b, "REMOTE_PORT"));
	assert_string_equal(get(&b, "SCRIPT_NAME"), "/s.php");
	assert_string_equal(get(&b, "DOCUMENT_ROOT"), "/d");
	/* Both feed SCRIPT_FILENAME, as nginx's variables would. */
	assert_string_equal(get(&b, "SCRIPT_FILENAME"), "/d/s.php");
	assert_string_equal(get(&b, "EMPTY"), "");
	assert_string_equal(get(&b, "A"), "b=c");
	/* SERVER_NAME stays where nginx puts it: replaced in place. */
	size_t at = 0;
	while (at < b.p.n_pairs && (b.p.pairs[at].name_len != 11 ||
	                            memcmp(b.p.pairs[at].name, "SERVER_NAME",
	                                   11) != 0))
		at++;
	assert_true(at < b.p.n_pairs - 3);
	/* A SCRIPT_FILENAME of one's own wins. */
	const char *sf[] = {"DOCUMENT_ROOT=/d", "SCRIPT_FILENAME=/f"};
	req.overrides = sf;
	req.n_overrides = 2;
	assert_int_equal(build(&b, &req), 0);
	assert_string_equal(get(&b, "SCRIPT_FILENAME"), "/f");
	assert_int_equal(count(&b, "SCRIPT_FILENAME"), 1);
	/* Removing what an earlier override set removes it all. */
	const char *rm[] = {"X=1", "X=2", "X"};
	req.overrides = rm;
	req.n_overrides = 3;
	assert_int_equal(build(&b, &req), 0);
	assert_int_equal(count(&b, "X"), 0);
}

struct bad_case {
	const char *method;
	const char *uri;
	const char *header;
	const char *override;
	const char *why; /* a word of the reason */
};

static void test_bad_inputs(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"GET", "x", NULL, NULL, "must start"},
		{"GET", "", NULL, NULL, "must start"},
		{"GET", "/a b", NULL, NULL, "space"},
		{"GET", "/a\x7f", NULL, NULL, "control"},
		{"GET", "/\t", NULL, NULL, "control"},
		{"GET", "/%00", NULL, NULL, "NUL"},
		{"GET", "http://", NULL, NULL, "host"},
		{"GET", "http:///x", NULL, NULL, "host"},
		{"GET", "http://u@h/", NULL, NULL, "user"},
		{"GET", "http://h:x/", NULL, NULL, "port"},
		{"GET", "http://h:/", NULL, NULL, "port"},
		{"GET", "http://h:123456/", NULL, NULL, "port"},
		{"GET", "http://[::1/", NULL, NULL, "]"},
		{"GET", "http://[::1]x/", NULL, NULL, "junk"},
		{"GET", "ftp://h/", NULL, NULL, "must start"},
		{"", "/", NULL, NULL, "method"},
		{"G T", "/", NULL, NULL, "method"},
		{"GET", "/", "NoColon", NULL, "colon"},
		{"GET", "/", ": v", NULL, "token"},
		{"GET", "/", "A B: v", NULL, "token"},
		{"GET", "/", "A: v\r\nB: w", NULL, "CR"},
		{"GET", "/", "A: v\n", NULL, "CR"},
		{"GET", "/", NULL, "=v", "empty name"},
		{"GET", "/", NULL, "", "empty name"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		struct built b;
		struct cgi_request req = simple(c->method, c->uri);
		req.headers = &c->header;
		req.n_headers = c->header ? 1 : 0;
		req.overrides = &c->override;
		req.n_overrides = c->override ? 1 : 0;
		int rc = build(&b, &req);
		if (rc != -EINVAL || !b.p.error || !strstr(b.p.error, c->why))
			fail_msg("case %zu (%s %s): rc %d, error %s", i, c->method,
			         c->uri, rc, b.p.error ? b.p.error : "none");
	}
}

/* Every storage size below the bounds: -ENOSPC, never a byte past it. */
static void test_small_storage(void **state)
{
	(void)state;
	const char *h[] = {"X-A: 1", "X-A: 2", "Cookie: c"};
	const char *o[] = {"N=v", "DOCUMENT_ROOT=/root/dir"};
	struct cgi_request req = simple("POST", "https://h:1/a%20b?q");
	req.content_length = 12345;
	req.headers = h;
	req.n_headers = 3;
	req.overrides = o;
	req.n_overrides = 2;
	size_t max_pairs = cgi_params_max_pairs(&req);
	size_t max_buf = cgi_params_max_buf(&req);
	struct cgi_pair *pairs = malloc(max_pairs * sizeof(*pairs));
	assert_non_null(pairs);
	struct cgi_params p;
	for (size_t cap = 0; cap <= max_buf; cap++) {
		char *buf = malloc(cap ? cap : 1);
		assert_non_null(buf);
		cgi_params_init(&p, pairs, max_pairs, buf, cap);
		int rc = cgi_params_build(&p, &req);
		assert_true(rc == 0 || rc == -ENOSPC);
		assert_true(p.buf_len <= cap);
		if (cap == max_buf)
			assert_int_equal(rc, 0);
		free(buf);
	}
	char buf[1024];
	for (size_t cap = 0; cap <= max_pairs; cap++) {
		cgi_params_init(&p, pairs, cap, buf, sizeof(buf));
		int rc = cgi_params_build(&p, &req);
		assert_true(rc == 0 || rc == -ENOSPC);
		assert_true(p.n_pairs <= cap);
		if (cap == max_pairs)
			assert_int_equal(rc, 0);
	}
	free(pairs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_like_nginx),
		cmocka_unit_test(test_defaults_and_no_query),
		cmocka_unit_test(test_percent_decoding),
		cmocka_unit_test(test_absolute_uris),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_body_and_content_type),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_small_storage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
