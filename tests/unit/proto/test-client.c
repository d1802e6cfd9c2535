/* Unit tests for src/proto/client.c: the FastCGI request encoders and the
 * parser of an application's answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* ---- Building records by hand -------------------------------------- */

struct wire {
	uint8_t buf[300000];
	size_t len;
};

/* Appends one record; padding bytes are 0xEE, to be skipped. */
static void add_record(struct wire *w, uint8_t version, uint8_t type,
                       uint16_t id, const void *content, size_t len,
                       uint8_t padding)
{
	assert_true(len <= 65535);
	assert_true(w->len + 8 + len + padding <= sizeof(w->buf));
	uint8_t *h = w->buf + w->len;
	h[0] = version;
	h[1] = type;
	h[2] = (uint8_t)(id >> 8);
	h[3] = (uint8_t)id;
	h[4] = (uint8_t)(len >> 8);
	h[5] = (uint8_t)len;
	h[6] = padding;
	h[7] = 0;
	if (len)
		memcpy(h + 8, content, len);
	memset(h + 8 + len, 0xEE, padding);
	w->len += 8 + len + padding;
}

static void add(struct wire *w, uint8_t type, uint16_t id, const char *s,
                uint8_t padding)
{
	add_record(w, 1, type, id, s, strlen(s), padding);
}

static void add_end(struct wire *w, uint16_t id, uint32_t app_status,
                    uint8_t protocol_status)
{
	assert_true(w->len + 16 <= sizeof(w->buf));
	fcgi_encode_end(w->buf + w->len, id, app_status, protocol_status);
	w->len += 16;
}

/* ---- Running the client parser -------------------------------------- */

struct run {
	char log[81920];
	size_t log_len;
	int last_kind;
	int rc;        /* 0, or the error returned */
	size_t used;   /* bytes consumed */
	const char *reason;
	uint64_t error_offset;
	bool ended;
};

static void log_put(struct run *r, const void *data, size_t len)
{
	assert_true(r->log_len + len <= sizeof(r->log));
	memcpy(r->log + r->log_len, data, len);
	r->log_len += len;
}

static bool has_data(enum fcgi_client_event_kind kind)
{
	return kind == FCGI_CEV_STDOUT || kind == FCGI_CEV_STDERR ||
	       kind == FCGI_CEV_VALUE_NAME || kind == FCGI_CEV_VALUE_VALUE;
}

/* Pieces of one kind in a row are merged: record boundaries and input
 * splits carry no meaning. */
static void log_event(struct run *r, const struct fcgi_client_event *ev)
{
	static const char tags[] = "-OoEeXNVPRU";
	char tag[32];
	int n = 0;
	if (!has_data(ev->kind) || (int)ev->kind != r->last_kind)
		n = snprintf(tag, sizeof(tag), "|%c", tags[ev->kind]);
	if (ev->kind == FCGI_CEV_END)
		n += snprintf(tag + n, sizeof(tag) - (size_t)n, "%u,%u",
		              (unsigned)ev->app_status,
		              (unsigned)ev->protocol_status);
	if (ev->kind == FCGI_CEV_UNKNOWN_TYPE)
		n += snprintf(tag + n, sizeof(tag) - (size_t)n, "%u",
		              (unsigned)ev->type);
	log_put(r, tag, (size_t)n);
	if (has_data(ev->kind))
		log_put(r, ev->data, ev->len);
	r->last_kind = (int)ev->kind;
}

static bool feed_piece(struct fcgi_client *c, const uint8_t *in, size_t len,
                       struct run *r)
{
	size_t off = 0;
	for (;;) {
		struct fcgi_client_event ev;
		int n = fcgi_client_feed(c, in + off, len - off, &ev);
		if (n < 0) {
			r->rc = n;
			return false;
		}
		assert_true((size_t)n <= len - off);
		if (has_data(ev.kind)) {
			assert_true(ev.len > 0);
			assert_true(ev.data >= in + off &&
			            ev.data + ev.len <= in + off + (size_t)n);
		}
		off += (size_t)n;
		r->used += (size_t)n;
		if (ev.kind == FCGI_CEV_NONE)
			return true;
		log_event(r, &ev);
	}
}

static void run_start(struct fcgi_client *c, uint16_t id, struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->last_kind = -1;
	fcgi_client_init(c, id);
}

static void run_finish(const struct fcgi_client *c, struct run *r)
{
	r->reason = c->reason;
	r->error_offset = c->error_offset;
	r->ended = c->ended;
	assert_true(r->rc == 0 || r->reason != NULL);
}

/* Feeds in[0..len) in pieces of chunk bytes (0: whole). */
static void run_chunked(const uint8_t *in, size_t len, size_t chunk,
                        uint16_t id, struct run *r)
{
	struct fcgi_client c;
	run_start(&c, id, r);
	if (chunk == 0)
		chunk = len ? len : 1;
	bool ok = true;
	for (size_t off = 0; ok && off < len; off += chunk)
		ok = feed_piece(&c, in + off, len - off < chunk ? len - off : chunk,
		                r);
	run_finish(&c, r);
}

static void run_cut(const uint8_t *in, size_t len, size_t cut, uint16_t id,
                    struct run *r)
{
	struct fcgi_client c;
	run_start(&c, id, r);
	if (feed_piece(&c, in, cut, r))
		(void)feed_piece(&c, in + cut, len - cut, r);
	run_finish(&c, r);
}

/* Before an error, how much was reported depends on the split: one log
 * must then be the start of the other. */
static void assert_same_run(const struct run *a, const struct run *b)
{
	assert_int_equal(a->rc, b->rc);
	if (a->rc < 0) {
		size_t n = a->log_len < b->log_len ? a->log_len : b->log_len;
		assert_memory_equal(a->log, b->log, n);
		assert_string_equal(a->reason, b->reason);
		assert_int_equal(a->error_offset, b->error_offset);
		return;
	}
	assert_int_equal(a->used, b->used);
	assert_int_equal(a->ended, b->ended);
	assert_int_equal(a->log_len, b->log_len);
	assert_memory_equal(a->log, b->log, a->log_len);
}

static void check_splits(const uint8_t *in, size_t len, uint16_t id)
{
	struct run whole, part;
	run_chunked(in, len, 0, id, &whole);
	for (size_t cut = 0; cut <= len; cut++) {
		run_cut(in, len, cut, id, &part);
		assert_same_run(&whole, &part);
	}
	for (size_t chunk = 1; chunk <= 9; chunk += 2) {
		run_chunked(in, len, chunk, id, &part);
		assert_same_run(&whole, &part);
	}
}

static void assert_log(const struct run *r, const char *want)
{
	if (r->log_len != strlen(want) || memcmp(r->log, want, r->log_len) != 0)
		print_error("log: %.*s\nwant: %s\n", (int)r->log_len, r->log, want);
	assert_int_equal(r->log_len, strlen(want));
	assert_memory_equal(r->log, want, r->log_len);
}

/* ---- Response parser ------------------------------------------------ */

static void test_response(void **state)
{
	(void)state;
	static struct wire w;
	w.len = 0;
	add(&w, FCGI_STDOUT, 1, "Status: 200 OK\r\n", 0);
	add(&w, FCGI_STDERR, 1, "warning", 1);
	add(&w, FCGI_STDOUT, 1, "\r\nhello", 7);
	add(&w, FCGI_STDERR, 1, "", 0);
	add(&w, FCGI_STDOUT, 1, "", 3);
	add_end(&w, 1, 0x01020304, FCGI_REQUEST_COMPLETE);
	struct run r;
	run_chunked(w.buf, w.len, 0, 1, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.used, w.len);
	assert_true(r.ended);
	assert_log(&r, "|OStatus: 200 OK\r\n|Ewarning|O\r\nhello|e|o"
	               "|X16909060,0");
	check_splits(w.buf, w.len, 1);
}

/* After END_REQUEST the parser takes nothing more: the bytes that follow
 * belong to the connection's next request. */
static void test_many_in_one_buffer(void **state)
{
	(void)state;
	static struct wire w;
	w.len = 0;
	for (uint16_t id = 1; id <= 3; id++) {
		char body[16];
		snprintf(body, sizeof(body), "r%u", (unsigned)id);
		add(&w, FCGI_STDOUT, id, body, (uint8_t)id);
		add(&w, FCGI_STDOUT, id, "", 0);
		add_end(&w, id, id, FCGI_REQUEST_COMPLETE);
	}
	size_t off = 0;
	for (uint16_t id = 1; id <= 3; id++) {
		struct run r;
		run_chunked(w.buf + off, w.len - off, 0, id, &r);
		assert_int_equal(r.rc, 0);
		assert_true(r.ended);
		char want[64];
		snprintf(want, sizeof(want), "|Or%u|o|X%u,0", (unsigned)id,
		         (unsigned)id);
		assert_log(&r, want);
		off += r.used;
	}
	assert_int_equal(off, w.len);

	struct fcgi_client c;
	struct fcgi_client_event ev;
	struct run r;
	run_start(&c, 1, &r);
	assert_true(feed_piece(&c, w.buf, w.len, &r));
	assert_true(c.ended);
	assert_int_equal(fcgi_client_feed(&c, w.buf + r.used, w.len - r.used,
	                                  &ev), 0);
	assert_int_equal(ev.kind, FCGI_CEV_NONE);
}

static void test_refusals(void **state)
{
	(void)state;
	static struct wire w;
	w.len = 0;
	add(&w, FCGI_STDOUT, 1, "", 0);
	add_end(&w, 1, 0, FCGI_CANT_MPX_CONN);
	struct run r;
	run_chunked(w.buf, w.len, 0, 1, &r);
	assert_int_equal(r.rc, 0);
	assert_log(&r, "|o|X0,1");
	/* END_REQUEST alone (the STDOUT end is left out) is taken. */
	w.len = 0;
	add_end(&w, 1, 0xffffffff, FCGI_OVERLOADED);
	run_chunked(w.buf, w.len, 0, 1, &r);
	assert_int_equal(r.rc, 0);
	assert_log(&r, "|X4294967295,2");
}

static void add_values_result(struct wire *w, const char *const *pairs,
                              size_t n, uint8_t padding)
{
	uint8_t content[512];
	size_t len = 0;
	for (size_t i = 0; i < n; i += 2) {
		int64_t k = fcgi_nv_encode(content + len, sizeof(content) - len,
		                           pairs[i], strlen(pairs[i]), pairs[i + 1],
		                           strlen(pairs[i + 1]));
		assert_true(k > 0 && (size_t)k <= sizeof(content) - len);
		len += (size_t)k;
	}
	add_record(w, 1, FCGI_GET_VALUES_RESULT, 0, content, len, padding);
}

static void test_values_result(void **state)
{
	(void)state;
	static char long_value[300];
	memset(long_value, '7', sizeof(long_value) - 1);
	const char *const pairs[] = {
		"FCGI_MAX_CONNS", "10",
		"FCGI_MPXS_CONNS", "1",
		"X", "",
		"FCGI_MAX_REQS", long_value,
	};
	static struct wire w;
	w.len = 0;
	add_values_result(&w, pairs, 8, 5);
	uint8_t unknown[16];
	fcgi_encode_unknown_type(unknown, 200);
	add_record(&w, 1, FCGI_UNKNOWN_TYPE, 0, unknown + 8, 8, 0);
	add_values_result(&w, NULL, 0, 0);
	add(&w, FCGI_STDOUT, 1, "x", 0);
	struct run r;
	run_chunked(w.buf, w.len, 0, 1, &r);
	assert_int_equal(r.rc, 0);
	static char want[1024];
	snprintf(want, sizeof(want),
	         "|NFCGI_MAX_CONNS|V10|P|NFCGI_MPXS_CONNS|V1|P|NX|P"
	         "|NFCGI_MAX_REQS|V%s|P|R|U200|R|Ox",
	         long_value);
	assert_log(&r, want);
	assert_false(r.ended);
	check_splits(w.buf, w.len, 1);
}

struct bad_case {
	const char *what;
	uint8_t in[40];
	size_t len;
	uint64_t offset;  /* error_offset */
};

/* Each input is for request id 1; every one of them is -EPROTO. */
static const struct bad_case bad_cases[] = {
	{ "record for another id", { 1, 6, 0, 2, 0, 1, 0, 0, 'x' }, 9, 2 },
	{ "STDOUT on id 0", { 1, 6, 0, 0, 0, 1, 0, 0, 'x' }, 9, 2 },
	{ "END_REQUEST for another id",
	  { 1, 3, 0, 2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 16, 2 },
	{ "STDOUT after its end",
	  { 1, 6, 0, 1, 0, 0, 0, 0, 1, 6, 0, 1, 0, 1, 0, 0, 'x' }, 17, 9 },
	{ "empty STDOUT after its end",
	  { 1, 6, 0, 1, 0, 0, 0, 0, 1, 6, 0, 1, 0, 0, 0, 0 }, 16, 9 },
	{ "STDERR after its end",
	  { 1, 7, 0, 1, 0, 0, 0, 0, 1, 7, 0, 1, 0, 1, 0, 0, 'x' }, 17, 9 },
	{ "END_REQUEST of 4 bytes",
	  { 1, 3, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0 }, 12, 4 },
	{ "END_REQUEST of 9 bytes",
	  { 1, 3, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 17, 4 },
	{ "version 2", { 2, 6, 0, 1, 0, 1, 0, 0, 'x' }, 9, 0 },
	{ "version 0", { 0, 6, 0, 1, 0, 0, 0, 0 }, 8, 0 },
	{ "BEGIN_REQUEST from the app",
	  { 1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 }, 16, 1 },
	{ "ABORT_REQUEST from the app", { 1, 2, 0, 1, 0, 0, 0, 0 }, 8, 1 },
	{ "PARAMS from the app", { 1, 4, 0, 1, 0, 0, 0, 0 }, 8, 1 },
	{ "STDIN from the app", { 1, 5, 0, 1, 0, 0, 0, 0 }, 8, 1 },
	{ "DATA from the app", { 1, 8, 0, 1, 0, 0, 0, 0 }, 8, 1 },
	{ "GET_VALUES from the app", { 1, 9, 0, 0, 0, 0, 0, 0 }, 8, 1 },
	{ "type 12", { 1, 12, 0, 0, 0, 0, 0, 0 }, 8, 1 },
	{ "type 0", { 1, 0, 0, 1, 0, 0, 0, 0 }, 8, 1 },
	{ "GET_VALUES_RESULT with an id", { 1, 10, 0, 1, 0, 0, 0, 0 }, 8, 2 },
	{ "UNKNOWN_TYPE with an id",
	  { 1, 11, 0, 1, 0, 8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 }, 16, 2 },
	{ "values pair past its record",
	  { 1, 10, 0, 0, 0, 3, 0, 0, 10, 0, 'a' }, 11, 9 },
	{ "values record ends in a length",
	  { 1, 10, 0, 0, 0, 2, 0, 0, 0x80, 0 }, 10, 10 },
	/* Found by fuzz-fcgi-client: the error offset depended on the split. */
	{ "values name over the limit",
	  { 1, 10, 0, 0, 0, 5, 0, 0, 0xf2, 0xf8, 0x46, 0x43, 0 }, 13, 11 },
	{ "values pair with an empty name",
	  { 1, 10, 0, 0, 0, 2, 0, 0, 0, 0 }, 10, 8 },
};

static void test_bad_inputs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		print_message("bad case: %s\n", b->what);
		struct run r;
		run_chunked(b->in, b->len, 0, 1, &r);
		assert_int_equal(r.rc, -EPROTO);
		assert_non_null(r.reason);
		assert_int_equal(r.error_offset, b->offset);
		check_splits(b->in, b->len, 1);
	}
}

static void test_error_sticks(void **state)
{
	(void)state;
	static const uint8_t bad[] = { 2, 6, 0, 1, 0, 0, 0, 0 };
	struct fcgi_client c;
	struct fcgi_client_event ev;
	fcgi_client_init(&c, 1);
	assert_int_equal(fcgi_client_feed(&c, bad, sizeof(bad), &ev), -EPROTO);
	const char *why = c.reason;
	assert_non_null(why);
	uint8_t good[16];
	fcgi_encode_end(good, 1, 0, 0);
	assert_int_equal(fcgi_client_feed(&c, good, sizeof(good), &ev), -EPROTO);
	assert_ptr_equal(c.reason, why);
	assert_int_equal(fcgi_client_feed(&c, NULL, 0, &ev), -EPROTO);
}

/* Multiplexed answers: records of several ids interleave, each event names
 * its id, and the parser goes on past each END_REQUEST. */
static void test_mux(void **state)
{
	(void)state;
	static struct wire w;
	w.len = 0;
	add(&w, FCGI_STDOUT, 2, "two", 0);
	add(&w, FCGI_STDOUT, 1, "one", 3);
	add(&w, FCGI_STDOUT, 2, "", 0);
	add_end(&w, 2, 0, FCGI_REQUEST_COMPLETE);
	add(&w, FCGI_STDERR, 1, "err", 0);
	add(&w, FCGI_STDOUT, 1, "", 0);
	add_end(&w, 1, 7, FCGI_REQUEST_COMPLETE);
	add(&w, FCGI_STDOUT, 300, "x", 0);
	struct fcgi_client c;
	fcgi_client_init_mux(&c);
	char log[256] = "";
	size_t off = 0;
	for (;;) {
		struct fcgi_client_event ev;
		int n = fcgi_client_feed(&c, w.buf + off, w.len - off, &ev);
		assert_true(n >= 0);
		off += (size_t)n;
		if (ev.kind == FCGI_CEV_NONE)
			break;
		size_t l = strlen(log);
		snprintf(log + l, sizeof(log) - l, "|%u:%d", ev.request_id,
		         (int)ev.kind);
	}
	assert_int_equal(off, w.len);
	assert_false(c.ended);
	char want[256];
	snprintf(want, sizeof(want), "|2:%d|1:%d|2:%d|2:%d|1:%d|1:%d|1:%d|300:%d",
	         FCGI_CEV_STDOUT, FCGI_CEV_STDOUT, FCGI_CEV_STDOUT_END,
	         FCGI_CEV_END, FCGI_CEV_STDERR, FCGI_CEV_STDOUT_END, FCGI_CEV_END,
	         FCGI_CEV_STDOUT);
	assert_string_equal(log, want);

	/* Id 0 belongs to management records only. */
	w.len = 0;
	add(&w, FCGI_STDOUT, 0, "zero", 0);
	struct fcgi_client_event ev;
	fcgi_client_init_mux(&c);
	assert_int_equal(fcgi_client_feed(&c, w.buf, w.len, &ev), -EPROTO);
	assert_string_equal(c.reason, "application record with request id 0");
	assert_int_equal(c.error_offset, 2);
}

/* ---- Encoders ------------------------------------------------------- */

/* Reads the records of one stream of type back into out, checking each
 * header; returns the content length and the records seen. */
static size_t read_stream(const uint8_t *in, size_t len, uint8_t type,
                          uint16_t id, uint8_t *out, size_t *n_records,
                          size_t *used)
{
	struct fcgi_record_parser p;
	fcgi_record_parser_init(&p);
	size_t off = 0, got = 0;
	*n_records = 0;
	for (;;) {
		struct fcgi_record_event ev;
		int n = fcgi_record_feed(&p, in + off, len - off, &ev);
		assert_true(n >= 0);
		off += (size_t)n;
		assert_int_not_equal(ev.kind, FCGI_REC_NONE);
		assert_int_equal(ev.type, type);
		assert_int_equal(ev.request_id, id);
		if (ev.kind == FCGI_REC_BEGIN) {
			++*n_records;
			assert_int_equal(p.hdr[6], 0); /* no padding */
		} else if (ev.kind == FCGI_REC_CONTENT) {
			memcpy(out + got, ev.data, ev.len);
			got += ev.len;
		} else if (ev.content_len == 0 || off == len) {
			break;
		}
	}
	*used = off;
	return got;
}

/* Decodes pairs from content[0..len) into "name=value;" text. */
static size_t decode_pairs(const uint8_t *content, size_t len, char *out,
                           size_t cap)
{
	struct fcgi_nv_parser nv;
	fcgi_nv_parser_init(&nv, 0x7fffffff, 0x7fffffff);
	size_t off = 0, o = 0;
	uint32_t name_left = 0;
	for (;;) {
		struct fcgi_nv_event ev;
		int n = fcgi_nv_feed(&nv, content + off, len - off, &ev);
		assert_true(n >= 0);
		off += (size_t)n;
		if (ev.kind == FCGI_NV_NONE)
			break;
		if (ev.kind == FCGI_NV_HEAD) {
			name_left = ev.name_len;
		} else if (ev.kind == FCGI_NV_BYTES) {
			for (size_t i = 0; i < ev.len; i++) {
				assert_true(o + 2 < cap);
				out[o++] = (char)ev.data[i];
				if (name_left && --name_left == 0)
					out[o++] = '=';
			}
		} else {
			assert_true(o + 1 < cap);
			out[o++] = ';';
		}
	}
	assert_int_equal(fcgi_nv_finish(&nv), 0);
	assert_int_equal(off, len);
	out[o] = '\0';
	return o;
}

static void test_params_round_trip(void **state)
{
	(void)state;
	const struct cgi_pair pairs[] = {
		{ "REQUEST_METHOD", 14, "GET", 3 },
		{ "QUERY_STRING", 12, "", 0 },
		{ "HTTP_X", 6, "a=b;c", 5 },
	};
	static uint8_t buf[256], content[256];
	int64_t n = fcgi_encode_params(buf, sizeof(buf), 513, pairs, 3);
	assert_int_equal(n, 8 + (2 + 14 + 3) + (2 + 12) + (2 + 6 + 5) + 8);
	size_t n_records, used;
	size_t len = read_stream(buf, (size_t)n, FCGI_PARAMS, 513, content,
	                         &n_records, &used);
	assert_int_equal(n_records, 2);
	assert_int_equal(used, (size_t)n);
	char text[256];
	decode_pairs(content, len, text, sizeof(text));
	assert_string_equal(text, "REQUEST_METHOD=GET;QUERY_STRING=;HTTP_X=a=b;c;");

	/* No pairs: just the empty record. */
	assert_int_equal(fcgi_encode_params(buf, sizeof(buf), 1, NULL, 0), 8);
	static const uint8_t empty[] = { 1, 4, 0, 1, 0, 0, 0, 0 };
	assert_memory_equal(buf, empty, 8);
}

/* Length forms: 127 takes one byte, 128 four (section 3.4). */
static void test_params_length_forms(void **state)
{
	(void)state;
	static char name[200];
	memset(name, 'N', sizeof(name));
	const struct cgi_pair one[] = { { name, 127, "v", 1 } };
	const struct cgi_pair four[] = { { name, 128, "v", 1 } };
	static uint8_t buf[512];
	assert_int_equal(fcgi_encode_params(buf, sizeof(buf), 1, one, 1),
	                 8 + 1 + 1 + 127 + 1 + 8);
	assert_int_equal(buf[8], 127);
	assert_int_equal(buf[9], 1);
	assert_int_equal(fcgi_encode_params(buf, sizeof(buf), 1, four, 1),
	                 8 + 4 + 1 + 128 + 1 + 8);
	static const uint8_t len128[] = { 0x80, 0, 0, 128, 1 };
	assert_memory_equal(buf + 8, len128, 5);
}

/* A pair bigger than a record is cut across records, and one that
 * straddles a record boundary too; both decode back whole. */
static void test_params_span_records(void **state)
{
	(void)state;
	size_t big_len = 100000;
	char *big = malloc(big_len);
	assert_non_null(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	const struct cgi_pair pairs[] = {
		{ "A", 1, big, 65526 },  /* ends 65532 bytes in */
		{ "BB", 2, "cc", 2 },    /* straddles the first boundary */
		{ "HUGE", 4, big, big_len },
	};
	size_t content_len = (1 + 4 + 1 + 65526) + (1 + 1 + 2 + 2) +
	                     (1 + 4 + 4 + big_len);
	size_t n_rec = (content_len + 65534) / 65535;
	size_t want = content_len + 8 * n_rec + 8;
	uint8_t *buf = malloc(want);
	uint8_t *content = malloc(content_len);
	assert_non_null(buf);
	assert_non_null(content);
	assert_int_equal(fcgi_encode_params(NULL, 0, 7, pairs, 3), want);
	assert_int_equal(fcgi_encode_params(buf, want, 7, pairs, 3), want);
	size_t n_records, used;
	assert_int_equal(read_stream(buf, want, FCGI_PARAMS, 7, content,
	                             &n_records, &used),
	                 content_len);
	assert_int_equal(n_records, n_rec + 1);
	assert_int_equal(used, want);
	/* The first record is full. */
	assert_int_equal(buf[4], 0xff);
	assert_int_equal(buf[5], 0xff);

	struct fcgi_nv_parser nv;
	fcgi_nv_parser_init(&nv, 0x7fffffff, 0x7fffffff);
	size_t off = 0, n_pairs = 0, pair_bytes = 0;
	for (;;) {
		struct fcgi_nv_event ev;
		int n = fcgi_nv_feed(&nv, content + off, content_len - off, &ev);
		assert_true(n >= 0);
		off += (size_t)n;
		if (ev.kind == FCGI_NV_NONE)
			break;
		if (ev.kind == FCGI_NV_HEAD) {
			assert_int_equal(ev.name_len, pairs[n_pairs].name_len);
			assert_int_equal(ev.value_len, pairs[n_pairs].value_len);
			pair_bytes = 0;
		} else if (ev.kind == FCGI_NV_BYTES) {
			const struct cgi_pair *pr = &pairs[n_pairs];
			for (size_t i = 0; i < ev.len; i++, pair_bytes++) {
				char want_c = pair_bytes < pr->name_len
				              ? pr->name[pair_bytes]
				              : pr->value[pair_bytes - pr->name_len];
				assert_int_equal(ev.data[i], (uint8_t)want_c);
			}
		} else {
			n_pairs++;
		}
	}
	assert_int_equal(n_pairs, 3);
	assert_int_equal(off, content_len);
	free(big);
	free(buf);
	free(content);
}

static void test_params_errors(void **state)
{
	(void)state;
	uint8_t buf[64];
	const struct cgi_pair empty_name[] = { { "", 0, "v", 1 } };
	/* Too long for 31 bits; the lengths are checked before any byte is
	 * read, so the short buffers behind them are never touched. */
	const struct cgi_pair long_value[] = { { "A", 1, "v", 0x80000000u } };
	const struct cgi_pair long_name[] = { { "A", 0x80000000u, "v", 1 } };
	assert_int_equal(fcgi_encode_params(buf, sizeof(buf), 1, empty_name, 1),
	                 -EINVAL);
	assert_int_equal(fcgi_encode_params(buf, sizeof(buf), 1, long_value, 1),
	                 -EMSGSIZE);
	assert_int_equal(fcgi_encode_params(buf, sizeof(buf), 1, long_name, 1),
	                 -EMSGSIZE);

	/* Too small: the size comes back and nothing is written. */
	const struct cgi_pair pr[] = { { "A", 1, "b", 1 } };
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(fcgi_encode_params(buf, 19, 1, pr, 1), 20);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xAA);
	assert_int_equal(fcgi_encode_params(buf, 20, 1, pr, 1), 20);
	assert_int_equal(buf[20], 0xAA);
}

static void test_stream(void **state)
{
	(void)state;
	static uint8_t data[140000], buf[140100], back[140000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	/* len 0: the record that ends the stream. */
	assert_int_equal(fcgi_encode_stream(buf, sizeof(buf), FCGI_STDIN, 3,
	                                    NULL, 0), 8);
	static const uint8_t end[] = { 1, 5, 0, 3, 0, 0, 0, 0 };
	assert_memory_equal(buf, end, 8);

	static const size_t lens[] = { 1, 65534, 65535, 65536, 131070, 131071,
	                               140000 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		size_t n_rec = (len + 65534) / 65535;
		int64_t n = fcgi_encode_stream(buf, sizeof(buf), FCGI_STDOUT, 9,
		                               data, len);
		assert_int_equal(n, len + 8 * n_rec);
		/* Add the end so that read_stream stops there. */
		memcpy(buf + n, (const uint8_t[]){ 1, 6, 0, 9, 0, 0, 0, 0 }, 8);
		size_t n_records, used;
		assert_int_equal(read_stream(buf, (size_t)n + 8, FCGI_STDOUT, 9,
		                             back, &n_records, &used),
		                 len);
		assert_int_equal(n_records, n_rec + 1);
		assert_memory_equal(back, data, len);
	}
	/* More than any buffer can hold: refused before data is read. */
	assert_int_equal(fcgi_encode_stream(buf, sizeof(buf), FCGI_STDIN, 1, data,
	                                    SIZE_MAX), -EMSGSIZE);
	/* Too small. */
	memset(buf, 0xAA, 16);
	assert_int_equal(fcgi_encode_stream(buf, 9, FCGI_STDIN, 1, data, 2), 10);
	assert_int_equal(buf[0], 0xAA);
	assert_int_equal(fcgi_encode_stream(buf, 7, FCGI_STDIN, 1, NULL, 0), 8);
	assert_int_equal(buf[0], 0xAA);
}

static void test_get_values(void **state)
{
	(void)state;
	const char *const names[] = { "FCGI_MAX_CONNS", "FCGI_MAX_REQS",
	                              "FCGI_MPXS_CONNS" };
	uint8_t buf[128], content[128];
	int64_t n = fcgi_encode_get_values(buf, sizeof(buf), names, 3);
	assert_int_equal(n, 8 + (2 + 14) + (2 + 13) + (2 + 15));
	static const uint8_t head[] = { 1, 9, 0, 0, 0, 48, 0, 0 };
	assert_memory_equal(buf, head, 8);
	size_t n_records, used;
	size_t len = read_stream(buf, (size_t)n, FCGI_GET_VALUES, 0, content,
	                         &n_records, &used);
	assert_int_equal(n_records, 1);
	assert_int_equal(used, (size_t)n);
	char text[128];
	decode_pairs(content, len, text, sizeof(text));
	assert_string_equal(text,
	                    "FCGI_MAX_CONNS=;FCGI_MAX_REQS=;FCGI_MPXS_CONNS=;");

	assert_int_equal(fcgi_encode_get_values(buf, sizeof(buf), NULL, 0), 8);
	static const uint8_t empty[] = { 1, 9, 0, 0, 0, 0, 0, 0 };
	assert_memory_equal(buf, empty, 8);
	assert_int_equal(fcgi_encode_get_values(buf, 10, names, 3), n);

	const char *const bad[] = { "" };
	assert_int_equal(fcgi_encode_get_values(buf, sizeof(buf), bad, 1),
	                 -EINVAL);
}

/* One record holds at most 65535 bytes of pairs. */
static void test_get_values_limit(void **state)
{
	(void)state;
	static char name[200];
	memset(name, 'N', 125);
	name[125] = '\0';
	/* 127 bytes a pair: 516 pairs fill 65532 bytes, "X" makes 65535 and
	 * "XY" one too many. */
	static const char *names[517];
	for (size_t i = 0; i < 516; i++)
		names[i] = name;
	names[516] = "X";
	static uint8_t buf[70000];
	assert_int_equal(fcgi_encode_get_values(buf, sizeof(buf), names, 517),
	                 8 + 65535);
	assert_int_equal(buf[4], 0xff);
	assert_int_equal(buf[5], 0xff);
	names[516] = "XY";
	assert_int_equal(fcgi_encode_get_values(buf, sizeof(buf), names, 517),
	                 -EMSGSIZE);
}

/* The encoders' output is what the client parser reads: an app's answer
 * built with fcgi_encode_stream and fcgi_encode_end. */
static void test_encoded_answer(void **state)
{
	(void)state;
	static uint8_t body[70000];
	memset(body, 'b', sizeof(body));
	static struct wire w;
	w.len = 0;
	int64_t n = fcgi_encode_stream(w.buf, sizeof(w.buf), FCGI_STDOUT, 4,
	                               body, sizeof(body));
	assert_true(n > 0);
	w.len += (size_t)n;
	n = fcgi_encode_stream(w.buf + w.len, sizeof(w.buf) - w.len, FCGI_STDERR,
	                       4, (const uint8_t *)"oops", 4);
	w.len += (size_t)n;
	n = fcgi_encode_stream(w.buf + w.len, sizeof(w.buf) - w.len, FCGI_STDOUT,
	                       4, NULL, 0);
	w.len += (size_t)n;
	add_end(&w, 4, 0, FCGI_REQUEST_COMPLETE);

	struct fcgi_client c;
	struct run r;
	run_start(&c, 4, &r);
	assert_true(feed_piece(&c, w.buf, w.len, &r));
	run_finish(&c, &r);
	assert_int_equal(r.used, w.len);
	assert_true(r.ended);
	/* "|O" + 70000 bytes + "|Eoops|o|X0,0" */
	assert_int_equal(r.log_len, 2 + sizeof(body) + 13);
	assert_memory_equal(r.log + 2 + sizeof(body), "|Eoops|o|X0,0", 13);
	run_chunked(w.buf, w.len, 4096, 4, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.log_len, 2 + sizeof(body) + 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_many_in_one_buffer),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_values_result),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_error_sticks),
		cmocka_unit_test(test_mux),
		cmocka_unit_test(test_params_round_trip),
		cmocka_unit_test(test_params_length_forms),
		cmocka_unit_test(test_params_span_records),
		cmocka_unit_test(test_params_errors),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_get_values),
		cmocka_unit_test(test_get_values_limit),
		cmocka_unit_test(test_encoded_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
