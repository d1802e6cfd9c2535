/* Unit tests for src/proto/scgi.c: the SCGI request parser and encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scgi.h"

/* A literal with embedded NULs, and its length without the final NUL. */
#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1

/* PROTOCOLS.md's example, from protocol.txt: a 70-byte block. */
static const char example_head[] =
	"70:CONTENT_LENGTH\0" "27\0SCGI\0" "1\0REQUEST_METHOD\0POST\0"
	"REQUEST_URI\0/deepthought\0,";
static const char example_body[] = "What is the answer to life?";

static const struct param_limits default_lim = {
	.max_name = 256,
	.max_value = 4096,
	.max_params_bytes = 65536,
	.max_params = 100,
};

/* What one run of the parser produced. Pieces of one kind in a row are
 * merged, so that runs over differently split input compare equal. */
struct run {
	char log[16384];
	size_t log_len;
	int last_kind;
	int rc;          /* 0, or the error returned */
	size_t used;     /* bytes consumed */
	uint64_t content_length;
	const char *reason;
	uint64_t error_offset;
	unsigned n_body_end;
};

static void log_put(struct run *r, const void *data, size_t len)
{
	assert_true(r->log_len + len <= sizeof(r->log));
	memcpy(r->log + r->log_len, data, len);
	r->log_len += len;
}

static void log_event(struct run *r, const struct scgi_event *ev)
{
	static const char tags[] = "-NVPHBE";
	bool piece = ev->kind == SCGI_EV_NAME || ev->kind == SCGI_EV_VALUE ||
	             ev->kind == SCGI_EV_BODY;
	if (!piece || (int)ev->kind != r->last_kind) {
		char tag[2] = { '|', tags[ev->kind] };
		log_put(r, tag, 2);
	}
	if (piece)
		log_put(r, ev->data, ev->len);
	if (ev->kind == SCGI_EV_BODY_END)
		r->n_body_end++;
	r->last_kind = (int)ev->kind;
}

/* Feeds in[0..len) to p until it needs more input; false on an error. */
static bool feed_piece(struct scgi_parser *p, const uint8_t *in, size_t len,
                       struct run *r)
{
	size_t off = 0;
	for (;;) {
		struct scgi_event ev;
		int n = scgi_feed(p, in + off, len - off, &ev);
		if (n < 0) {
			r->rc = n;
			return false;
		}
		assert_true((size_t)n <= len - off);
		if (ev.kind == SCGI_EV_NAME || ev.kind == SCGI_EV_VALUE ||
		    ev.kind == SCGI_EV_BODY) {
			assert_true(ev.len > 0);
			assert_true(ev.data >= in + off &&
			            ev.data + ev.len <= in + off + (size_t)n);
		}
		off += (size_t)n;
		r->used += (size_t)n;
		if (ev.kind == SCGI_EV_NONE)
			return true;
		log_event(r, &ev);
	}
}

/* Runs a fresh parser over in[0..len) in pieces of chunk bytes (0: whole),
 * then once more with no input, for events that need none. */
static void run_chunked(const uint8_t *in, size_t len, size_t chunk,
                        const struct param_limits *lim, struct run *r)
{
	struct scgi_parser p;
	memset(r, 0, sizeof(*r));
	r->last_kind = -1;
	scgi_parser_init(&p, lim);
	if (chunk == 0)
		chunk = len ? len : 1;
	bool ok = true;
	for (size_t off = 0; ok && off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		ok = feed_piece(&p, in + off, n, r);
	}
	if (ok)
		(void)feed_piece(&p, in + len, 0, r);
	r->content_length = p.content_length;
	r->reason = p.reason;
	r->error_offset = p.error_offset;
	if (r->rc == 0)
		assert_int_equal(p.offset, r->used);
	else
		assert_true(p.offset >= r->used && r->reason != NULL);
}

/* Runs in[0..len) split in two at cut. */
static void run_cut(const uint8_t *in, size_t len, size_t cut,
                    const struct param_limits *lim, struct run *r)
{
	struct scgi_parser p;
	memset(r, 0, sizeof(*r));
	r->last_kind = -1;
	scgi_parser_init(&p, lim);
	if (feed_piece(&p, in, cut, r) && feed_piece(&p, in + cut, len - cut, r))
		(void)feed_piece(&p, in + len, 0, r);
	r->content_length = p.content_length;
	r->reason = p.reason;
	r->error_offset = p.error_offset;
}

/* Two runs over the same input agree. Before an error, a run may have
 * reported more or less of the input as pieces, depending on the split:
 * then one log must be the start of the other. */
static void assert_same_run(const struct run *a, const struct run *b)
{
	assert_int_equal(a->rc, b->rc);
	if (a->rc < 0) {
		size_t n = a->log_len < b->log_len ? a->log_len : b->log_len;
		assert_memory_equal(a->log, b->log, n);
		assert_int_equal(a->error_offset, b->error_offset);
		assert_string_equal(a->reason, b->reason);
		return;
	}
	assert_int_equal(a->used, b->used);
	assert_int_equal(a->log_len, b->log_len);
	assert_memory_equal(a->log, b->log, a->log_len);
	assert_int_equal(a->content_length, b->content_length);
	assert_null(a->reason);
	assert_null(b->reason);
}

/* Checks that every split of in[0..len) (in two at each offset, and byte
 * by byte) gives what the unsplit run gives. */
static void check_splits(const uint8_t *in, size_t len,
                         const struct param_limits *lim)
{
	struct run whole, part;
	run_chunked(in, len, 0, lim, &whole);
	for (size_t cut = 0; cut <= len; cut++) {
		run_cut(in, len, cut, lim, &part);
		assert_same_run(&whole, &part);
	}
	for (size_t chunk = 1; chunk <= 7; chunk++) {
		run_chunked(in, len, chunk, lim, &part);
		assert_same_run(&whole, &part);
	}
}

static size_t concat(uint8_t *out, size_t cap, const char *a, size_t a_len,
                     const char *b, size_t b_len)
{
	assert_true(a_len + b_len <= cap);
	memcpy(out, a, a_len);
	memcpy(out + a_len, b, b_len);
	return a_len + b_len;
}

static void test_example_vector(void **state)
{
	(void)state;
	uint8_t in[256];
	size_t len = concat(in, sizeof(in), example_head,
	                    sizeof(example_head) - 1, example_body,
	                    sizeof(example_body) - 1);
	/* "70:" + 70 bytes + "," */
	assert_int_equal(sizeof(example_head) - 1, 3 + 70 + 1);

	struct run r;
	run_chunked(in, len, 0, &default_lim, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.used, len);
	assert_int_equal(r.content_length, 27);
	assert_int_equal(r.n_body_end, 1);
	static const char want[] =
		"|NCONTENT_LENGTH|V27|P|NSCGI|V1|P|NREQUEST_METHOD|VPOST|P"
		"|NREQUEST_URI|V/deepthought|P|H|BWhat is the answer to life?|E";
	assert_int_equal(r.log_len, sizeof(want) - 1);
	assert_memory_equal(r.log, want, r.log_len);
	check_splits(in, len, &default_lim);
}

static void test_encode_example(void **state)
{
	(void)state;
	const struct cgi_pair pairs[] = {
		{ "REQUEST_METHOD", 14, "POST", 4 },
		{ "REQUEST_URI", 11, "/deepthought", 12 },
	};
	uint8_t out[128];
	int64_t n = scgi_encode_head(out, sizeof(out), 27, pairs, 2);
	assert_int_equal(n, sizeof(example_head) - 1);
	assert_memory_equal(out, example_head, (size_t)n);
}

/* Encoder output parses back to the same pairs, CONTENT_LENGTH first. */
static void test_encode_round_trip(void **state)
{
	(void)state;
	static const char big[] = "0123456789abcdef0123456789abcdef";
	const struct cgi_pair pairs[] = {
		{ "SCGI", 4, "7", 1 },                 /* skipped: written first */
		{ "CONTENT_LENGTH", 14, "999", 3 },    /* skipped too */
		{ "QUERY_STRING", 12, "", 0 },
		{ "HTTP_X", 6, "\x01\xff=a b", 6 },
		{ "HTTP_X", 6, big, sizeof(big) - 1 }, /* repeats are kept */
		{ "SCGI_", 5, "x", 1 },
	};
	uint8_t buf[512];
	int64_t n = scgi_encode_head(buf, sizeof(buf), 5, pairs, 6);
	assert_true(n > 0 && (size_t)n + 5 <= sizeof(buf));
	memcpy(buf + n, "hello", 5);

	struct run r;
	run_chunked(buf, (size_t)n + 5, 0, &default_lim, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.used, (size_t)n + 5);
	assert_int_equal(r.content_length, 5);
	char want[512];
	int w = snprintf(want, sizeof(want),
	                 "|NCONTENT_LENGTH|V5|P|NSCGI|V1|P|NQUERY_STRING|P"
	                 "|NHTTP_X|V\x01\xff=a b|P|NHTTP_X|V%s|P|NSCGI_|Vx|P"
	                 "|H|Bhello|E", big);
	assert_int_equal(r.log_len, (size_t)w);
	assert_memory_equal(r.log, want, r.log_len);
	check_splits(buf, (size_t)n + 5, &default_lim);
}

static void test_encode_small_buffer(void **state)
{
	(void)state;
	const struct cgi_pair pairs[] = { { "A", 1, "b", 1 } };
	uint8_t out[64];
	int64_t need = scgi_encode_head(NULL, 0, 0, pairs, 1);
	/* "28:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0A\0b\0," */
	assert_int_equal(need, 3 + 28 + 1);
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(scgi_encode_head(out, (size_t)need - 1, 0, pairs, 1),
	                 need);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xAA);
	assert_int_equal(scgi_encode_head(out, (size_t)need, 0, pairs, 1), need);
	assert_int_equal(out[need], 0xAA);
	assert_int_equal(out[need - 1], ',');
	/* The largest CONTENT_LENGTH: 20 digits. */
	int64_t max = scgi_encode_head(out, sizeof(out), UINT64_MAX, NULL, 0);
	assert_int_equal(max, 3 + 15 + 21 + 7 + 1);
	assert_memory_equal(out + 3 + 15, "18446744073709551615", 21);
}

static void test_encode_refuses_nul(void **state)
{
	(void)state;
	uint8_t out[128];
	const struct cgi_pair in_value[] = { { "A", 1, "b\0c", 3 } };
	const struct cgi_pair in_name[] = { { "A\0B", 3, "c", 1 } };
	const struct cgi_pair empty[] = { { "", 0, "c", 1 } };
	assert_int_equal(scgi_encode_head(out, sizeof(out), 0, in_value, 1),
	                 -EINVAL);
	assert_int_equal(scgi_encode_head(out, sizeof(out), 0, in_name, 1),
	                 -EINVAL);
	assert_int_equal(scgi_encode_head(out, sizeof(out), 0, empty, 1),
	                 -EINVAL);
}

/* CONTENT_LENGTH 0: BODY_END comes right after HEADERS_END, and bytes
 * past the body are left alone. */
static void test_empty_body(void **state)
{
	(void)state;
	static const char in[] = "24:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,extra";
	struct scgi_parser p;
	struct scgi_event ev;
	scgi_parser_init(&p, &default_lim);
	size_t off = 0;
	int kinds[16] = { 0 }, n_kinds = 0;
	for (;;) {
		int n = scgi_feed(&p, (const uint8_t *)in + off,
		                  sizeof(in) - 1 - off, &ev);
		assert_true(n >= 0);
		off += (size_t)n;
		if (ev.kind == SCGI_EV_NONE)
			break;
		assert_true(n_kinds < 16);
		kinds[n_kinds++] = (int)ev.kind;
	}
	assert_int_equal(off, sizeof(in) - 1 - 5);
	assert_int_equal(n_kinds, 8);
	assert_int_equal(kinds[6], SCGI_EV_HEADERS_END);
	assert_int_equal(kinds[7], SCGI_EV_BODY_END);
	assert_int_equal(p.content_length, 0);
	/* Done: nothing more is consumed, and no more events. */
	assert_int_equal(scgi_feed(&p, (const uint8_t *)"x", 1, &ev), 0);
	assert_int_equal(ev.kind, SCGI_EV_NONE);
	check_splits((const uint8_t *)in, sizeof(in) - 1, &default_lim);
}

/* One request per connection, but a buffer may hold several back to back
 * (a replayed capture): each parse stops exactly at its body's end. */
static void test_many_in_one_buffer(void **state)
{
	(void)state;
	uint8_t buf[1024];
	size_t len = 0;
	for (unsigned i = 0; i < 3; i++) {
		char uri[16];
		int uri_len = snprintf(uri, sizeof(uri), "/r%u", i);
		const struct cgi_pair pr = { "REQUEST_URI", 11, uri,
		                             (size_t)uri_len };
		int64_t n = scgi_encode_head(buf + len, sizeof(buf) - len, i,
		                             &pr, 1);
		assert_true(n > 0);
		len += (size_t)n;
		memset(buf + len, 'a' + (int)i, i);
		len += i;
	}
	size_t off = 0;
	for (unsigned i = 0; i < 3; i++) {
		struct run r;
		run_chunked(buf + off, len - off, 0, &default_lim, &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.content_length, i);
		assert_int_equal(r.n_body_end, 1);
		char body[3] = { 0 };
		memset(body, 'a' + (int)i, i);
		char want[128];
		int w = snprintf(want, sizeof(want),
		                 "|NCONTENT_LENGTH|V%u|P|NSCGI|V1|P"
		                 "|NREQUEST_URI|V/r%u|P|H%s%s|E",
		                 i, i, i ? "|B" : "", body);
		assert_int_equal(r.log_len, (size_t)w);
		assert_memory_equal(r.log, want, (size_t)w);
		off += r.used;
	}
	assert_int_equal(off, len);
}

static int feed_all(struct scgi_parser *p, const uint8_t *in, size_t len)
{
	size_t off = 0;
	for (;;) {
		struct scgi_event ev;
		int n = scgi_feed(p, in + off, len - off, &ev);
		if (n < 0)
			return n;
		off += (size_t)n;
		if (ev.kind == SCGI_EV_NONE)
			return (int)off;
	}
}

/* Each limit holds at its value and refuses one more. */
static void test_limits(void **state)
{
	(void)state;
	static const char in[] = "35:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0NAME\0VALUE\0,";
	struct param_limits lim = {
		.max_name = 14, .max_value = 5,
		.max_params_bytes = 35, .max_params = 3,
	};
	struct scgi_parser p;
	scgi_parser_init(&p, &lim);
	struct run r;
	run_chunked(BYTES(in), 0, &lim, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.used, sizeof(in) - 1);
	assert_int_equal(r.n_body_end, 1);
	check_splits(BYTES(in), &lim);

	struct param_limits l2 = lim;
	l2.max_params_bytes = 34;
	scgi_parser_init(&p, &l2);
	assert_int_equal(feed_all(&p, BYTES(in)), -EMSGSIZE);
	assert_int_equal(p.error_offset, 1);
	l2 = lim;
	l2.max_name = 13;
	scgi_parser_init(&p, &l2);
	assert_int_equal(feed_all(&p, BYTES(in)), -EMSGSIZE);
	assert_int_equal(p.error_offset, 3 + 13);
	l2 = lim;
	l2.max_value = 4;
	scgi_parser_init(&p, &l2);
	assert_int_equal(feed_all(&p, BYTES(in)), -EMSGSIZE);
	assert_int_equal(p.error_offset, 3 + 24 + 5 + 4);
	l2 = lim;
	l2.max_params = 2;
	scgi_parser_init(&p, &l2);
	assert_int_equal(feed_all(&p, BYTES(in)), -EMSGSIZE);
	assert_int_equal(p.error_offset, 3 + 24);
	assert_string_equal(p.reason, "too many headers");
}

static void test_length_digits(void **state)
{
	(void)state;
	struct param_limits lim = default_lim;
	lim.max_params_bytes = UINT64_MAX;
	struct scgi_parser p;
	struct scgi_event ev;
	/* Ten digits are read (the block is then awaited)... */
	scgi_parser_init(&p, &lim);
	assert_int_equal(scgi_feed(&p, BYTES("9999999999:"), &ev), 11);
	assert_int_equal(p.block_len, 9999999999u);
	/* ...an eleventh is refused. */
	scgi_parser_init(&p, &lim);
	assert_int_equal(scgi_feed(&p, BYTES("10000000000:"), &ev), -EMSGSIZE);
	assert_int_equal(p.error_offset, 10);
	/* A size error stays a size error. */
	assert_int_equal(scgi_feed(&p, BYTES("1:"), &ev), -EMSGSIZE);
	assert_int_equal(p.error_offset, 10);
}

static void test_content_length_range(void **state)
{
	(void)state;
	struct scgi_parser p;
	static const char max[] =
		"35:CONTENT_LENGTH\0" "9223372036854775807\0,";
	static const char over[] =
		"35:CONTENT_LENGTH\0" "9223372036854775808\0,";
	static const char zeros[] = "20:CONTENT_LENGTH\0" "0007\0,1234567";
	scgi_parser_init(&p, &default_lim);
	assert_int_equal(feed_all(&p, BYTES(max)), sizeof(max) - 1);
	assert_int_equal(p.content_length, INT64_MAX);
	scgi_parser_init(&p, &default_lim);
	assert_int_equal(feed_all(&p, BYTES(over)), -EPROTO);
	assert_int_equal(p.error_offset, 3 + 15 + 18);
	scgi_parser_init(&p, &default_lim);
	assert_int_equal(feed_all(&p, BYTES(zeros)), sizeof(zeros) - 1);
	assert_int_equal(p.content_length, 7);
}

/* After an error the parser stays refused, with the same reason. */
static void test_error_sticks(void **state)
{
	(void)state;
	struct scgi_parser p;
	struct scgi_event ev;
	scgi_parser_init(&p, &default_lim);
	assert_int_equal(scgi_feed(&p, BYTES("07:"), &ev), -EPROTO);
	const char *why = p.reason;
	assert_non_null(why);
	assert_int_equal(p.error_offset, 1);
	assert_int_equal(scgi_feed(&p, BYTES("24:"), &ev), -EPROTO);
	assert_ptr_equal(p.reason, why);
	assert_int_equal(p.error_offset, 1);
	assert_int_equal(scgi_feed(&p, NULL, 0, &ev), -EPROTO);
}

struct bad_case {
	const char *what;
	const char *in;
	size_t len;
	int err;
	uint64_t offset;  /* error_offset */
};

#define BAD(what, s, err, off) { what, s, sizeof(s) - 1, err, off }

static const struct bad_case bad_cases[] = {
	BAD("no length", ":CONTENT_LENGTH\0" "0\0,", -EPROTO, 0),
	BAD("length not a number", "2x:", -EPROTO, 1),
	BAD("leading zero", "024:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,",
	    -EPROTO, 1),
	BAD("zero length", "0:,", -EPROTO, 1),
	BAD("no colon", "24,CONTENT_LENGTH\0", -EPROTO, 2),
	/* The length says 20: the block ends inside "SCGI". */
	BAD("block ends mid-pair", "20:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,",
	    -EPROTO, 23),
	/* Ends right after a name's NUL, where a value must follow. */
	BAD("block ends after a name", "15:CONTENT_LENGTH\0,", -EPROTO, 18),
	BAD("block ends inside a value", "17:CONTENT_LENGTH\0" "12\0,",
	    -EPROTO, 20),
	/* The length says 25: the ',' becomes a name, cut short. */
	BAD("length too large by one", "25:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,",
	    -EPROTO, 28),
	/* The length says 23: no ',' where it ends (the last NUL is there). */
	BAD("length too small by one", "23:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,",
	    -EPROTO, 26),
	BAD("no comma", "24:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0;", -EPROTO, 27),
	BAD("first is SCGI", "24:SCGI\0" "1\0CONTENT_LENGTH\0" "0\0,",
	    -EPROTO, 3),
	BAD("first in lower case", "17:content_length\0" "0\0,", -EPROTO, 3),
	BAD("first name longer", "18:CONTENT_LENGTHS\0" "0\0,", -EPROTO, 17),
	BAD("first name shorter", "16:CONTENT_LENGT\0" "0\0,", -EPROTO, 16),
	BAD("CONTENT_LENGTH empty", "16:CONTENT_LENGTH\0\0,", -EPROTO, 18),
	BAD("CONTENT_LENGTH not a number", "19:CONTENT_LENGTH\0" "12a\0,",
	    -EPROTO, 20),
	BAD("CONTENT_LENGTH negative", "18:CONTENT_LENGTH\0" "-1\0,",
	    -EPROTO, 18),
	BAD("CONTENT_LENGTH with a space", "18:CONTENT_LENGTH\0 1\0,",
	    -EPROTO, 18),
	BAD("CONTENT_LENGTH hex", "20:CONTENT_LENGTH\0" "0x10\0,", -EPROTO, 19),
	BAD("empty name", "20:CONTENT_LENGTH\0" "0\0\0" "1\0,", -EPROTO, 20),
	BAD("block over the limit", "65537:", -EMSGSIZE, 4),
	BAD("length digits overflow", "99999999999:", -EMSGSIZE, 4),
};

static void test_bad_inputs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct run r;
		print_message("bad case: %s\n", c->what);
		run_chunked((const uint8_t *)c->in, c->len, 0, &default_lim, &r);
		assert_int_equal(r.rc, c->err);
		assert_int_equal(r.error_offset, c->offset);
		assert_non_null(r.reason);
		check_splits((const uint8_t *)c->in, c->len, &default_lim);
	}
}

/* A too-long name is refused at its first byte over the limit even when a
 * wrong first name is found later in the same piece: how the input is
 * split does not change which error is reported. */
static void test_earliest_error_wins(void **state)
{
	(void)state;
	static const char in[] = "12:CONTEXX\0" "0\0,";
	struct param_limits lim = default_lim;
	lim.max_name = 3;
	struct run r;
	run_chunked(BYTES(in), 0, &lim, &r);
	assert_int_equal(r.rc, -EMSGSIZE);
	assert_int_equal(r.error_offset, 6);
	check_splits(BYTES(in), &lim);
	lim.max_name = 6;
	run_chunked(BYTES(in), 0, &lim, &r);
	assert_int_equal(r.rc, -EPROTO);
	assert_int_equal(r.error_offset, 8);
	check_splits(BYTES(in), &lim);
	/* Both at the same byte: the size error is the one reported. */
	lim.max_name = 5;
	run_chunked(BYTES(in), 0, &lim, &r);
	assert_int_equal(r.rc, -EMSGSIZE);
	assert_int_equal(r.error_offset, 8);
	check_splits(BYTES(in), &lim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_vector),
		cmocka_unit_test(test_encode_example),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_encode_small_buffer),
		cmocka_unit_test(test_encode_refuses_nul),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_many_in_one_buffer),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_length_digits),
		cmocka_unit_test(test_content_length_range),
		cmocka_unit_test(test_error_sticks),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_earliest_error_wins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
