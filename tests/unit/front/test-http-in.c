/* Unit tests for src/front/http_in.c: the request parser with its strict
 * checks. Each input is run whole and split at every byte offset; the
 * transcripts of events must agree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_in.h"

static const struct http_in_limits lim = {
	.max_header_bytes = 1024, .max_headers = 8,
};

/* A printable record of what the parser reported. */
struct transcript {
	char text[4096];
	size_t len;
	bool in_body; /* the last entry was body bytes */
};

static void put(struct transcript *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->text + t->len, sizeof(t->text) - t->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(t->text) - t->len);
	t->len += (size_t)n;
}

static void on_head(struct transcript *t, const struct http_head *h)
{
	put(t, "H[%s %.*s 1.%d n=%zu cl=%lld%s%s%s path=%.*s q=%.*s host=%.*s]",
	    h->method, (int)h->target_len, h->target, h->minor, h->n_fields,
	    (long long)h->content_length, h->chunked ? " chunked" : "",
	    h->keep_alive ? " ka" : "", h->expect_continue ? " 100" : "",
	    (int)h->path_len, h->path, (int)h->query_len,
	    h->query ? h->query : "", (int)h->host_len, h->host ? h->host : "");
	for (size_t i = 0; i < h->n_fields; i++) {
		assert_int_equal(strlen(h->fields[i].name), h->fields[i].name_len);
		assert_int_equal(strlen(h->fields[i].value), h->fields[i].value_len);
		put(t, "{%s=%s}", h->fields[i].name, h->fields[i].value);
	}
}

/* Feeds in[0..len) in pieces of chunk bytes; after each request's end,
 * goes on with the next (pipelining). */
static void run(struct transcript *t, const char *in, size_t len,
                size_t chunk)
{
	struct http_in p;
	http_in_init(&p, &lim);
	memset(t, 0, sizeof(*t));
	size_t off = 0, end = 0;
	for (;;) {
		end = off + chunk > len ? len : off + chunk;
		if (end < off)
			end = len;
		struct http_in_event ev;
		int k = http_in_feed(&p, (const uint8_t *)in + off, end - off, &ev);
		if (k < 0) {
			assert_int_equal(k, -EPROTO);
			assert_non_null(p.reason);
			put(t, "!%d", p.status);
			break;
		}
		assert_true((size_t)k <= end - off);
		if (ev.kind == HTTP_IN_HEAD) {
			t->in_body = false;
			on_head(t, &p.head);
		} else if (ev.kind == HTTP_IN_BODY) {
			assert_true(ev.len > 0);
			if (!t->in_body)
				put(t, "B[");
			else
				t->len--; /* reopen the bracket */
			put(t, "%.*s]", (int)ev.len, (const char *)ev.data);
			t->in_body = true;
		} else if (ev.kind == HTTP_IN_END) {
			t->in_body = false;
			put(t, "E");
			http_in_next(&p);
		}
		off += (size_t)k;
		if (ev.kind == HTTP_IN_NONE && off >= len)
			break;
		if (ev.kind == HTTP_IN_NONE && k == 0 && end == off)
			continue;
	}
	http_in_deinit(&p);
}

/* The whole run and every split agree, and the whole run gives want. */
static void check(const char *in, const char *want)
{
	size_t len = strlen(in);
	struct transcript whole, part;
	run(&whole, in, len, len ? len : 1);
	if (strcmp(whole.text, want) != 0)
		fail_msg("input %s\n got  %s\n want %s", in, whole.text, want);
	for (size_t chunk = 1; chunk < len; chunk++) {
		run(&part, in, len, chunk);
		if (strcmp(whole.text, part.text) != 0)
			fail_msg("split %zu: %s\n vs whole %s", chunk, part.text,
			         whole.text);
	}
}

static void test_simple(void **state)
{
	(void)state;
	check("GET /a?b=1 HTTP/1.1\r\nHost: h:80\r\nX-A:  v w \r\n\r\n",
	      "H[GET /a?b=1 1.1 n=2 cl=-1 ka path=/a q=b=1 host=h:80]"
	      "{Host=h:80}{X-A=v w}E");
	check("GET / HTTP/1.0\r\n\r\n",
	      "H[GET / 1.0 n=0 cl=-1 path=/ q= host=]E");
	check("HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	      "H[HEAD / 1.1 n=2 cl=-1 path=/ q= host=a]{Host=a}"
	      "{Connection=close}E");
}

static void test_bodies(void **state)
{
	(void)state;
	check("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	      "H[POST / 1.1 n=2 cl=5 ka path=/ q= host=a]{Host=a}"
	      "{Content-Length=5}B[hello]E");
	check("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
	      "H[POST / 1.1 n=2 cl=-1 chunked ka path=/ q= host=a]{Host=a}"
	      "{Transfer-Encoding=chunked}B[abcde]E");
	check("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
	      "Expect: 100-continue\r\n\r\nab",
	      "H[POST / 1.1 n=3 cl=2 ka 100 path=/ q= host=a]{Host=a}"
	      "{Content-Length=2}{Expect=100-continue}B[ab]E");
}

static void test_pipelining_and_bare_lf(void **state)
{
	(void)state;
	check("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /2 HTTP/1.1\nHost: b\n\n",
	      "H[GET /1 1.1 n=1 cl=-1 ka path=/1 q= host=a]{Host=a}E"
	      "H[GET /2 1.1 n=1 cl=-1 ka path=/2 q= host=b]{Host=b}E");
	check("GET http://ex:1/p?q HTTP/1.1\r\nHost: a\r\n\r\n",
	      "H[GET http://ex:1/p?q 1.1 n=1 cl=-1 ka path=/p q=q host=ex:1]"
	      "{Host=a}E");
}

static void test_bad(void **state)
{
	(void)state;
	static const struct { const char *in, *want; } bad[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n", "!400"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", "!400"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "!400"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", "!400"},
		{"GET / HTTP/1.1\r\n\r\n", "!400"},
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "!400"},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "!505"},
		{"GET / HTTP/1.10\r\nHost: a\r\n\r\n", "!400"},
		{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "!400"},
		{"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", "!400"},
		{"MAKE / HTTP/1.1\r\nHost: a\r\n\r\n", "!501"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n", "!400"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
		 "Content-Length: 1\r\n\r\n", "!400"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 \r\n"
		 "Content-Length: 2\r\n\r\n", "!400"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "!400"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999"
		 "\r\n\r\n", "!413"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"
		 "\r\n\r\n", "!400"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity"
		 "\r\n\r\n", "!400"},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "!400"},
		{"POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n", "!417"},
		{"GET /" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ""},
		{"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n"
		 "E: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\n\r\n", "!431"},
		{"GET * HTTP/1.1\r\nHost: a\r\n\r\n", "!501"},
		{"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", "!400"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "g\r\n", "H[POST / 1.1 n=2 cl=-1 chunked ka path=/ q= host=a]"
		 "{Host=a}{Transfer-Encoding=chunked}!400"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check(bad[i].in, bad[i].want);
}

static void test_sizes(void **state)
{
	(void)state;
	char big[2048];
	/* A request line longer than the limit: 414. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	big[sizeof(big) - 1] = '\0';
	check(big, "!414");
	/* A field too long: 431. */
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %01100d\r\n\r\n",
	         0);
	check(big, "!431");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_pipelining_and_bare_lf),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
