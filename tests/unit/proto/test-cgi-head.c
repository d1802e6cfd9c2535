/* Unit tests for src/proto/cgi_head.c: the CGI response head parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cgi_head.h"

#define HEAD_CAP 8192

/* One parser run and its own buffer. */
struct head_run {
	struct cgi_head_parser p;
	char buf[HEAD_CAP];
	int rc;      /* 0, or the error returned */
	size_t used; /* bytes consumed */
};

/* Feeds in[0..len) in pieces of chunk bytes (0: whole) to a parser that
 * accepts cap bytes, until the head is complete or refused. */
static void run_head(struct head_run *r, const char *in, size_t len,
                     size_t cap, bool allow_status_line, size_t chunk)
{
	assert_true(cap <= HEAD_CAP);
	memset(r, 0, sizeof(*r));
	cgi_head_init(&r->p, r->buf, cap, allow_status_line);
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len && !r->p.done; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		int rc = cgi_head_feed(&r->p, (const uint8_t *)in + off, n);
		if (rc < 0) {
			r->rc = rc;
			assert_non_null(r->p.error);
			return;
		}
		assert_true((size_t)rc <= n);
		/* Short only when the head ended in this piece. */
		if (!r->p.done)
			assert_int_equal(rc, n);
		r->used += (size_t)rc;
	}
}

#define RUN(r, s, allow) run_head((r), (s), strlen(s), HEAD_CAP, (allow), 0)

static void assert_field(const struct cgi_field *f, const char *name,
                         const char *value)
{
	assert_string_equal(f->name, name);
	assert_int_equal(f->name_len, strlen(name));
	assert_string_equal(f->value, value);
	assert_int_equal(f->value_len, strlen(value));
}

static void assert_same_head(const struct head_run *a,
                             const struct head_run *b)
{
	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->p.done, b->p.done);
	if (a->p.error || b->p.error) {
		assert_string_equal(a->p.error, b->p.error);
		return;
	}
	assert_int_equal(a->used, b->used);
	assert_int_equal(a->p.len, b->p.len);
	assert_int_equal(a->p.status, b->p.status);
	assert_int_equal(a->p.kind, b->p.kind);
	assert_int_equal(a->p.content_type, b->p.content_type);
	assert_int_equal(a->p.location, b->p.location);
	assert_int_equal(a->p.content_length, b->p.content_length);
	assert_int_equal(a->p.reason == NULL, b->p.reason == NULL);
	if (a->p.reason)
		assert_string_equal(a->p.reason, b->p.reason);
	assert_int_equal(a->p.n_fields, b->p.n_fields);
	for (size_t i = 0; i < a->p.n_fields; i++)
		assert_field(&b->p.fields[i], a->p.fields[i].name,
		             a->p.fields[i].value);
}

/* Every split of in (in two at each offset, then in pieces of 1..5 bytes)
 * gives what the whole input gives. */
static void check_splits(const char *in, bool allow, size_t cap)
{
	static struct head_run whole, part;
	size_t len = strlen(in);
	run_head(&whole, in, len, cap, allow, 0);
	for (size_t cut = 1; cut < len; cut++) {
		memset(&part, 0, sizeof(part));
		cgi_head_init(&part.p, part.buf, cap, allow);
		int rc = cgi_head_feed(&part.p, (const uint8_t *)in, cut);
		if (rc >= 0) {
			part.used = (size_t)rc;
			if (!part.p.done) {
				rc = cgi_head_feed(&part.p, (const uint8_t *)in + cut,
				                   len - cut);
				if (rc >= 0)
					part.used += (size_t)rc;
			}
		}
		part.rc = rc < 0 ? rc : 0;
		assert_same_head(&whole, &part);
	}
	for (size_t chunk = 1; chunk <= 5; chunk++) {
		run_head(&part, in, len, cap, allow, chunk);
		assert_same_head(&whole, &part);
	}
}

static void test_document(void **state)
{
	(void)state;
	static struct head_run r;
	static const char in[] =
		"Content-Type: text/html; charset=utf-8\r\n"
		"X-Empty:\r\n"
		"X-Spaces: \t a  b \t\r\n"
		"\r\n"
		"<p>body</p>";
	RUN(&r, in, false);
	assert_int_equal(r.rc, 0);
	assert_true(r.p.done);
	assert_int_equal(r.used, strlen(in) - strlen("<p>body</p>"));
	assert_int_equal(r.p.kind, CGI_DOCUMENT);
	assert_int_equal(r.p.status, 200);
	assert_null(r.p.reason);
	assert_int_equal(r.p.n_fields, 3);
	assert_field(&r.p.fields[0], "Content-Type", "text/html; charset=utf-8");
	assert_field(&r.p.fields[1], "X-Empty", "");
	assert_field(&r.p.fields[2], "X-Spaces", "a  b");
	assert_int_equal(r.p.content_type, 0);
	assert_int_equal(r.p.location, -1);
	assert_int_equal(r.p.content_length, -1);
	/* Names and values live in the caller's buffer. */
	assert_true(r.p.fields[0].name >= r.buf &&
	            r.p.fields[0].name < r.buf + HEAD_CAP);
	assert_string_equal(cgi_head_get(&r.p, "content-TYPE"),
	                    "text/html; charset=utf-8");
	assert_null(cgi_head_get(&r.p, "Status"));
	assert_null(cgi_head_get(&r.p, "X-Spaces-Not"));
	assert_int_equal(cgi_head_finish(&r.p), 0);
	/* Once done, the body is not consumed. */
	assert_int_equal(cgi_head_feed(&r.p, (const uint8_t *)"x", 1), 0);
	check_splits(in, false, HEAD_CAP);
}

static void test_status(void **state)
{
	(void)state;
	static struct head_run r;
	RUN(&r, "Status: 404 Not Found\nContent-Type: text/plain\n\n", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.kind, CGI_DOCUMENT);
	assert_int_equal(r.p.status, 404);
	assert_string_equal(r.p.reason, "Not Found");
	/* Status: is not among the fields. */
	assert_int_equal(r.p.n_fields, 1);
	assert_field(&r.p.fields[0], "Content-Type", "text/plain");

	RUN(&r, "status:204\n\n", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.status, 204);
	assert_string_equal(r.p.reason, "");
	assert_int_equal(r.p.n_fields, 0);

	RUN(&r, "Status: 599 \r\n\r\n", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.status, 599);
	assert_string_equal(r.p.reason, "");

	RUN(&r, "Status: 100 a  b\n\n", false);
	assert_int_equal(r.p.status, 100);
	assert_string_equal(r.p.reason, "a  b");
	check_splits("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n",
	             false, HEAD_CAP);
}

static void test_local_redirect(void **state)
{
	(void)state;
	static struct head_run r;
	RUN(&r, "Location: /other/path?x=1\r\n\r\n", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.kind, CGI_LOCAL_REDIRECT);
	assert_int_equal(r.p.location, 0);
	assert_string_equal(cgi_head_get(&r.p, "location"), "/other/path?x=1");
	check_splits("Location: /other/path?x=1\r\n\r\n", false, HEAD_CAP);
}

static void test_client_redirect(void **state)
{
	(void)state;
	static struct head_run r;
	RUN(&r, "Location: http://example.com/a\n\n", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.kind, CGI_CLIENT_REDIRECT);
	assert_int_equal(r.p.status, 302);
	assert_null(r.p.reason);

	/* Extension fields are allowed (section 6.2.3). */
	RUN(&r, "X-Ext: 1\nLocation: https://x/\n\n", false);
	assert_int_equal(r.p.kind, CGI_CLIENT_REDIRECT);
	assert_int_equal(r.p.location, 1);
	assert_int_equal(r.p.status, 302);

	/* A path with more than Location: goes to the client too. */
	RUN(&r, "Location: /x\nContent-Type: text/html\n\n", false);
	assert_int_equal(r.p.kind, CGI_CLIENT_REDIRECT);
	assert_int_equal(r.p.status, 302);
}

static void test_client_redirect_doc(void **state)
{
	(void)state;
	static struct head_run r;
	static const char in[] =
		"Status: 301 Moved Permanently\r\n"
		"Location: https://example.com/new\r\n"
		"Content-Type: text/html\r\n\r\n";
	RUN(&r, in, false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.kind, CGI_CLIENT_REDIRECT_DOC);
	assert_int_equal(r.p.status, 301);
	assert_string_equal(r.p.reason, "Moved Permanently");
	assert_int_equal(r.p.location, 0);
	assert_int_equal(r.p.content_type, 1);
	check_splits(in, false, HEAD_CAP);

	/* What php-cgi sends for header("Location: /x"). */
	RUN(&r, "Status: 302 Found\nLocation: /x\nContent-type: text/html\n\n",
	    false);
	assert_int_equal(r.p.kind, CGI_CLIENT_REDIRECT_DOC);
	assert_int_equal(r.p.status, 302);
}

static void test_content_length(void **state)
{
	(void)state;
	static struct head_run r;
	RUN(&r, "Content-Length: 42\nContent-Type: a/b\n\n", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.content_length, 42);
	assert_int_equal(r.p.n_fields, 2);
	RUN(&r, "Content-Length: 0\n\n", false);
	assert_int_equal(r.p.content_length, 0);
	RUN(&r, "Content-Length: 9223372036854775807\n\n", false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.content_length, INT64_MAX);
}

static void test_status_line(void **state)
{
	(void)state;
	static struct head_run r;
	static const char in[] =
		"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n";
	RUN(&r, in, true);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.status, 404);
	assert_string_equal(r.p.reason, "Not Found");
	assert_int_equal(r.p.n_fields, 1);
	check_splits(in, true, HEAD_CAP);

	RUN(&r, "HTTP/1.0 200\n\n", true);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.status, 200);
	assert_string_equal(r.p.reason, "");
	/* Not allowed: it is no header line. */
	RUN(&r, in, false);
	assert_int_equal(r.rc, -EPROTO);
	/* Only first, only HTTP/1.x, and it counts as the Status:. */
	RUN(&r, "X: y\nHTTP/1.1 200 OK\n\n", true);
	assert_int_equal(r.rc, -EPROTO);
	RUN(&r, "HTTP/2 200 OK\n\n", true);
	assert_int_equal(r.rc, -EPROTO);
	RUN(&r, "HTTP/1.1 200 OK\nStatus: 200 OK\n\n", true);
	assert_int_equal(r.rc, -EPROTO);
	assert_string_equal(r.p.error, "repeated Status:");
	RUN(&r, "HTTP/1.1 20 OK\n\n", true);
	assert_int_equal(r.rc, -EPROTO);
}

/* The head ends at the first empty line, LF or CRLF, mixed. */
static void test_line_ends(void **state)
{
	(void)state;
	static struct head_run r;
	static const char in[] = "A: 1\r\nB: 2\nC: 3\r\n\nbody\r\n\r\n";
	RUN(&r, in, false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.used, strlen("A: 1\r\nB: 2\nC: 3\r\n\n"));
	assert_int_equal(r.p.n_fields, 3);
	assert_field(&r.p.fields[2], "C", "3");
	check_splits(in, false, HEAD_CAP);
	RUN(&r, "A: 1\n\r\n", false);
	assert_int_equal(r.used, 7);
	assert_field(&r.p.fields[0], "A", "1");
}

/* A buffer with several responses back to back: each head parse stops at
 * its blank line, and Content-Length says where the next one starts. */
static void test_many_in_one_buffer(void **state)
{
	(void)state;
	static struct head_run r;
	static const char in[] =
		"Content-Length: 3\r\n\r\nabc"
		"Status: 201 Made\nContent-Length: 0\n\n"
		"Location: /next\n\n";
	static const int statuses[] = { 200, 201, 200 };
	static const enum cgi_response_kind kinds[] = {
		CGI_DOCUMENT, CGI_DOCUMENT, CGI_LOCAL_REDIRECT,
	};
	size_t off = 0, len = strlen(in);
	for (int i = 0; i < 3; i++) {
		run_head(&r, in + off, len - off, HEAD_CAP, false, 0);
		assert_int_equal(r.rc, 0);
		assert_true(r.p.done);
		assert_int_equal(r.p.status, statuses[i]);
		assert_int_equal(r.p.kind, kinds[i]);
		off += r.used + (r.p.content_length > 0 ?
		                 (size_t)r.p.content_length : 0);
	}
	assert_int_equal(off, len);
}

static void test_size_limits(void **state)
{
	(void)state;
	static struct head_run r;
	static const char in[] = "Content-Type: a/b\r\n\r\n";
	size_t len = strlen(in);
	run_head(&r, in, len, len, false, 0);
	assert_int_equal(r.rc, 0);
	assert_true(r.p.done);
	run_head(&r, in, len, len - 1, false, 0);
	assert_int_equal(r.rc, -EMSGSIZE);
	run_head(&r, in, len, len - 1, false, 1);
	assert_int_equal(r.rc, -EMSGSIZE);
	check_splits(in, false, len);
	check_splits(in, false, len - 1);
	run_head(&r, in, len, 0, false, 0);
	assert_int_equal(r.rc, -EMSGSIZE);

	/* CGI_HEAD_MAX_FIELDS lines, then one more. */
	static char many[HEAD_CAP];
	size_t n = 0;
	for (int i = 0; i < CGI_HEAD_MAX_FIELDS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "X-%d: %d\n", i,
		                      i);
	memcpy(many + n, "\n", 2);
	RUN(&r, many, false);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.p.n_fields, CGI_HEAD_MAX_FIELDS);
	assert_field(&r.p.fields[99], "X-99", "99");
	memcpy(many + n, "Y: 1\n\n", 7);
	RUN(&r, many, false);
	assert_int_equal(r.rc, -EMSGSIZE);
	assert_non_null(r.p.error);
}

static void test_finish(void **state)
{
	(void)state;
	static struct head_run r;
	/* The stream ended before the blank line. */
	RUN(&r, "Content-Type: a/b\r\n", false);
	assert_int_equal(r.rc, 0);
	assert_false(r.p.done);
	assert_int_equal(cgi_head_finish(&r.p), -EPROTO);
	assert_string_equal(r.p.error, "no header block");
	/* Nothing at all. */
	RUN(&r, "", false);
	assert_int_equal(cgi_head_finish(&r.p), -EPROTO);
	/* A refused head stays refused with its first reason. */
	RUN(&r, "A b\n\n", false);
	assert_int_equal(r.rc, -EPROTO);
	const char *why = r.p.error;
	assert_int_equal(cgi_head_finish(&r.p), -EPROTO);
	assert_ptr_equal(r.p.error, why);
	assert_int_equal(cgi_head_feed(&r.p, (const uint8_t *)"A: b\n\n", 6),
	                 -EPROTO);
	assert_ptr_equal(r.p.error, why);
	/* A size error stays a size error. */
	run_head(&r, "A: b\n\n", 6, 3, false, 0);
	assert_int_equal(r.rc, -EMSGSIZE);
	assert_int_equal(cgi_head_finish(&r.p), -EMSGSIZE);
}

struct bad_head {
	const char *in;
	int err;
	const char *why;  /* part of the reason, or NULL */
};

static const struct bad_head bad_heads[] = {
	{ "Content-Type text/html\n\n", -EPROTO, "no colon" },
	{ "Content-Type: text/html\rX: y\n\n", -EPROTO, "bare CR" },
	{ "Content-Type: a\r\r\n\r\n", -EPROTO, "bare CR" },
	{ "Content-Type : text/html\n\n", -EPROTO, "space before" },
	{ "Content-Type\t: text/html\n\n", -EPROTO, "space before" },
	{ "X: a\n b\n\n", -EPROTO, "folded" },
	{ "X: a\n\tb\n\n", -EPROTO, "folded" },
	{ " X: a\n\n", -EPROTO, "folded" },
	{ ": x\n\n", -EPROTO, "empty header name" },
	{ "X(y): z\n\n", -EPROTO, "not a token" },
	{ "X\xc3\xa4: z\n\n", -EPROTO, "not a token" },
	{ "Status: 200\nStatus: 200\n\n", -EPROTO, "repeated" },
	{ "Location: /a\nlocation: /b\n\n", -EPROTO, "repeated" },
	{ "Content-Type: a/b\ncontent-type: a/b\n\n", -EPROTO, "repeated" },
	{ "Content-Length: 1\nContent-Length: 1\n\n", -EPROTO, "repeated" },
	{ "Status: 20\n\n", -EPROTO, "Status: is not" },
	{ "Status: 2000\n\n", -EPROTO, "Status: is not" },
	{ "Status: abc\n\n", -EPROTO, "Status: is not" },
	{ "Status: 200OK\n\n", -EPROTO, "Status: is not" },
	{ "Status: 200\tOK\n\n", -EPROTO, "Status: is not" },
	{ "Status: 099 x\n\n", -EPROTO, "Status: is not" },
	{ "Status: 600 x\n\n", -EPROTO, "Status: is not" },
	{ "Status:\n\n", -EPROTO, "Status: is not" },
	{ "Content-Length: 12a\n\n", -EPROTO, "Content-Length:" },
	{ "Content-Length: -1\n\n", -EPROTO, "Content-Length:" },
	{ "Content-Length:\n\n", -EPROTO, "Content-Length:" },
	{ "Content-Length: 1 2\n\n", -EPROTO, "Content-Length:" },
	{ "Content-Length: 9223372036854775808\n\n", -EPROTO, "Content-Length:" },
	{ "Location:\n\n", -EPROTO, "empty Location:" },
	{ "\r\n", -EPROTO, "no field" },
	{ "\n", -EPROTO, "no field" },
};

static void test_bad_heads(void **state)
{
	(void)state;
	static struct head_run r;
	for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
		print_message("bad head %zu\n", i);
		RUN(&r, bad_heads[i].in, false);
		assert_int_equal(r.rc, bad_heads[i].err);
		assert_false(r.p.done);
		assert_non_null(r.p.error);
		if (bad_heads[i].why)
			assert_non_null(strstr(r.p.error, bad_heads[i].why));
		check_splits(bad_heads[i].in, false, HEAD_CAP);
	}
}

/* strlen() cannot carry a NUL: this one is fed by length. */
static void test_nul_in_head(void **state)
{
	(void)state;
	static struct head_run r;
	static const char in[] = "X: a\0b\n\n";
	run_head(&r, in, sizeof(in) - 1, HEAD_CAP, false, 0);
	assert_int_equal(r.rc, -EPROTO);
	run_head(&r, in, sizeof(in) - 1, HEAD_CAP, false, 1);
	assert_int_equal(r.rc, -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_local_redirect),
		cmocka_unit_test(test_client_redirect),
		cmocka_unit_test(test_client_redirect_doc),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_many_in_one_buffer),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_bad_heads),
		cmocka_unit_test(test_nul_in_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
