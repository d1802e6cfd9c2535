/* Unit tests for src/proto/fcgi.c: record framing, name-value pairs, the
 * encoders and the server-side request state machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fcgi.h"

/* ---- Helpers --------------------------------------------------------- */

/* A byte array, then (BYTES) its length as the next argument. */
#define RAW(...) ((const uint8_t[]){__VA_ARGS__})
#define BYTES(...) RAW(__VA_ARGS__), sizeof(RAW(__VA_ARGS__))
#define HDR(type, id, clen, pad) \
	1, (type), ((id) >> 8) & 255, (id) & 255, ((clen) >> 8) & 255, \
	(clen) & 255, (pad), 0
#define BEGIN_REC(id, role, flags) \
	HDR(FCGI_BEGIN_REQUEST, id, 8, 0), 0, (role), (flags), 0, 0, 0, 0, 0

struct buf {
	uint8_t b[1 << 17];
	size_t len;
};

static void put(struct buf *b, const void *p, size_t len)
{
	assert_true(b->len + len <= sizeof(b->b));
	if (len > 0)
		memcpy(b->b + b->len, p, len);
	b->len += len;
}

static void put_rec(struct buf *b, uint8_t type, uint16_t id,
                    const void *content, size_t clen, uint8_t pad)
{
	uint8_t h[FCGI_HEADER_LEN];
	uint8_t zeros[255] = {0};

	fcgi_encode_header(h, type, id, (uint16_t)clen, pad);
	put(b, h, sizeof(h));
	put(b, content, clen);
	put(b, zeros, pad);
}

static void put_str(struct buf *b, uint8_t type, uint16_t id, const char *s,
                    uint8_t pad)
{
	put_rec(b, type, id, s, strlen(s), pad);
}

static void put_begin(struct buf *b, uint16_t id, uint16_t role, uint8_t flags)
{
	uint8_t r[16];

	fcgi_encode_begin(r, id, role, flags);
	put(b, r, sizeof(r));
}

/* Encodes name=value pairs into out, returns the length. */
static size_t pairs(uint8_t *out, size_t cap, const char *const *nv, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i + 1 < n; i += 2) {
		int64_t r = fcgi_nv_encode(out + len, cap - len, nv[i],
		                           strlen(nv[i]), nv[i + 1],
		                           strlen(nv[i + 1]));
		assert_true(r > 0 && (size_t)r <= cap - len);
		len += (size_t)r;
	}
	return len;
}

/* A transcript: one line per event, with consecutive data events of the
 * same kind and id merged, so that runs over differently split input can
 * be compared as strings. */
struct tr {
	char s[1 << 16];
	size_t len;
	int open_kind; /* data event whose bracket is still open, or 0 */
	uint16_t open_id;
};

static void tr_printf(struct tr *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->s + t->len, sizeof(t->s) - t->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(t->s) - t->len);
	t->len += (size_t)n;
}

static void tr_close(struct tr *t)
{
	if (t->open_kind) {
		tr_printf(t, "]\n");
		t->open_kind = 0;
	}
}

static void tr_bytes(struct tr *t, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '[' && p[i] != ']' &&
		    p[i] != '\\')
			tr_printf(t, "%c", p[i]);
		else
			tr_printf(t, "\\x%02x", p[i]);
	}
}

static void tr_data(struct tr *t, const char *name, int kind, uint16_t id,
                    const uint8_t *p, size_t len)
{
	if (t->open_kind != kind || t->open_id != id) {
		tr_close(t);
		tr_printf(t, "%s %u [", name, id);
		t->open_kind = kind;
		t->open_id = id;
	}
	tr_bytes(t, p, len);
}

static const char *errname(int e)
{
	switch (e) {
	case -EPROTO:
		return "EPROTO";
	case -EMSGSIZE:
		return "EMSGSIZE";
	default:
		return "?";
	}
}

static void tr_event(struct tr *t, const struct fcgi_server *s,
                     const struct fcgi_server_event *ev)
{
	int slot = ev->slot ? (int)(ev->slot - s->slots) : -1;
	uint16_t id = ev->request_id;

	switch (ev->kind) {
	case FCGI_EV_PARAM_BYTES:
		tr_data(t, "PARAM", ev->kind, id, ev->data, ev->len);
		return;
	case FCGI_EV_STDIN:
		tr_data(t, "STDIN", ev->kind, id, ev->data, ev->len);
		return;
	case FCGI_EV_DATA:
		tr_data(t, "DATA", ev->kind, id, ev->data, ev->len);
		return;
	default:
		break;
	}
	tr_close(t);
	switch (ev->kind) {
	case FCGI_EV_BEGIN:
		tr_printf(t, "BEGIN %u slot=%d role=%u flags=%u\n", id, slot,
		          ev->role, ev->flags);
		break;
	case FCGI_EV_REFUSE:
		tr_printf(t, "REFUSE %u role=%u status=%u\n", id, ev->role,
		          ev->protocol_status);
		break;
	case FCGI_EV_PARAM_HEAD:
		tr_printf(t, "HEAD %u %u/%u\n", id, ev->name_len, ev->value_len);
		break;
	case FCGI_EV_PARAM_END:
		tr_printf(t, "PEND %u\n", id);
		break;
	case FCGI_EV_PARAMS_END:
		tr_printf(t, "PARAMS_END %u\n", id);
		break;
	case FCGI_EV_STDIN_END:
		tr_printf(t, "STDIN_END %u\n", id);
		break;
	case FCGI_EV_DATA_END:
		tr_printf(t, "DATA_END %u\n", id);
		break;
	case FCGI_EV_ABORT:
		tr_printf(t, "ABORT %u\n", id);
		break;
	case FCGI_EV_REQUEST_ERROR:
		tr_printf(t, "RERR %u %s %s\n", id, errname(ev->error),
		          ev->reason);
		break;
	case FCGI_EV_GET_VALUES_NAME:
		tr_printf(t, "GVNAME [");
		tr_bytes(t, ev->data, ev->len);
		tr_printf(t, "]\n");
		break;
	case FCGI_EV_GET_VALUES_END:
		tr_printf(t, "GVEND\n");
		break;
	case FCGI_EV_UNKNOWN_TYPE:
		tr_printf(t, "UNKNOWN type=%u\n", ev->type);
		break;
	default:
		fail_msg("unexpected event kind %d", ev->kind);
	}
}

/* Checks the event's pointers: request data must lie inside the input
 * given to this call; a GET_VALUES name lies in s->gv_name. */
static void check_event(const struct fcgi_server *s,
                        const struct fcgi_server_event *ev,
                        const uint8_t *in, size_t len)
{
	if (ev->kind == FCGI_EV_GET_VALUES_NAME) {
		assert_ptr_equal(ev->data, s->gv_name);
		assert_true(ev->len <= FCGI_GV_NAME_MAX);
		return;
	}
	if (ev->kind == FCGI_EV_PARAM_BYTES || ev->kind == FCGI_EV_STDIN ||
	    ev->kind == FCGI_EV_DATA) {
		assert_true(ev->len > 0);
		assert_true(ev->data >= in && ev->data + ev->len <= in + len);
		return;
	}
	assert_null(ev->data);
	if (ev->kind == FCGI_EV_BEGIN || ev->kind == FCGI_EV_REQUEST_ERROR) {
		assert_non_null(ev->slot);
		assert_int_equal(ev->slot->id, ev->request_id);
	}
}

/* Feeds in[0..len) until the server asks for more; returns 0 or the
 * connection error, which is also written to the transcript. */
static int feed(struct fcgi_server *s, const uint8_t *in, size_t len,
                struct tr *t)
{
	for (;;) {
		struct fcgi_server_event ev;
		int n = fcgi_server_feed(s, in, len, &ev);

		if (n < 0) {
			tr_close(t);
			tr_printf(t, "CONN %s @%llu %s\n", errname(n),
			          (unsigned long long)s->error_offset, s->reason);
			return n;
		}
		assert_true((size_t)n <= len);
		check_event(s, &ev, in, len);
		in += n;
		len -= (size_t)n;
		if (ev.kind == FCGI_EV_NONE) {
			assert_int_equal(len, 0);
			return 0;
		}
		tr_event(t, s, &ev);
	}
}

static const struct param_limits default_lim = {
	.max_name = 256,
	.max_value = 4096,
	.max_params_bytes = 16384,
	.max_params = 64,
};

struct srv {
	struct fcgi_server s;
	struct fcgi_slot slots[4];
	struct tr t;
};

static struct srv *srv_new(size_t n_slots, const struct param_limits *lim)
{
	static struct srv srvs[4];
	static unsigned next;
	struct srv *v = &srvs[next++ % 4];

	memset(v, 0, sizeof(*v));
	fcgi_server_init(&v->s, v->slots, n_slots, lim ? lim : &default_lim);
	return v;
}

/* Runs in[0..len) in pieces of the given sizes (cycled; NULL: whole). */
static const char *run_pieces(struct srv *v, const uint8_t *in, size_t len,
                              const size_t *sizes, size_t n_sizes)
{
	size_t at = 0, i = 0;

	while (at < len) {
		size_t n = sizes ? sizes[i++ % n_sizes] : len;

		if (n > len - at)
			n = len - at;
		if (feed(&v->s, in + at, n, &v->t) < 0)
			break;
		at += n;
	}
	tr_close(&v->t);
	return v->t.s;
}

static const char *run(size_t n_slots, const struct param_limits *lim,
                       const uint8_t *in, size_t len)
{
	return run_pieces(srv_new(n_slots, lim), in, len, NULL, 0);
}

/* Runs in whole, then split at every offset, then in odd-sized pieces,
 * and checks every split run gives the whole run's transcript. */
static const char *run_all_splits(size_t n_slots,
                                  const struct param_limits *lim,
                                  const uint8_t *in, size_t len)
{
	static const size_t odd[][3] = {{1, 1, 1}, {2, 3, 5}, {7, 1, 13},
	                                {9, 8, 17}, {100, 1, 3}};
	static char whole[1 << 16];

	snprintf(whole, sizeof(whole), "%s", run(n_slots, lim, in, len));
	for (size_t k = 1; k < len; k++) {
		size_t sizes[2] = {k, len};

		assert_string_equal(run_pieces(srv_new(n_slots, lim), in, len,
		                               sizes, 2),
		                    whole);
	}
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		assert_string_equal(run_pieces(srv_new(n_slots, lim), in, len,
		                               odd[i], 3),
		                    whole);
	return whole;
}

/* ---- Encoders -------------------------------------------------------- */

static void test_encode_header(void **state)
{
	uint8_t h[FCGI_HEADER_LEN];

	(void)state;
	fcgi_encode_header(h, FCGI_STDOUT, 0x1234, 0xfedc, 7);
	assert_memory_equal(h, RAW(1, 6, 0x12, 0x34, 0xfe, 0xdc, 7, 0), 8);
}

static void test_encode_fixed(void **state)
{
	uint8_t r[16];

	(void)state;
	memset(r, 0xaa, sizeof(r));
	fcgi_encode_begin(r, 0x0102, FCGI_FILTER, FCGI_KEEP_CONN);
	assert_memory_equal(r, RAW(1, 1, 1, 2, 0, 8, 0, 0,
	                             0, 3, 1, 0, 0, 0, 0, 0), 16);
	memset(r, 0xaa, sizeof(r));
	fcgi_encode_end(r, 0xffff, 0x80000001u, FCGI_OVERLOADED);
	assert_memory_equal(r, RAW(1, 3, 0xff, 0xff, 0, 8, 0, 0,
	                             0x80, 0, 0, 1, 2, 0, 0, 0), 16);
	memset(r, 0xaa, sizeof(r));
	fcgi_encode_unknown_type(r, 200);
	assert_memory_equal(r, RAW(1, 11, 0, 0, 0, 8, 0, 0,
	                             200, 0, 0, 0, 0, 0, 0, 0), 16);
}

/* ---- Record framing -------------------------------------------------- */

/* Everything the record parser reported, content concatenated. */
struct recs {
	unsigned n_begin, n_end;
	uint8_t type;
	uint16_t id, content_len;
	uint8_t content[70000];
	size_t content_n;
	uint8_t body[8];
	bool has_body;
};

static int rec_run(struct fcgi_record_parser *p, const uint8_t *in,
                   size_t len, struct recs *r)
{
	for (;;) {
		struct fcgi_record_event ev;
		int n = fcgi_record_feed(p, in, len, &ev);

		if (n < 0)
			return n;
		assert_true((size_t)n <= len);
		switch (ev.kind) {
		case FCGI_REC_NONE:
			assert_int_equal(n, len);
			return 0;
		case FCGI_REC_BEGIN:
			r->n_begin++;
			r->type = ev.type;
			r->id = ev.request_id;
			r->content_len = ev.content_len;
			break;
		case FCGI_REC_CONTENT:
			assert_true(ev.len > 0);
			assert_true(ev.data >= in && ev.data + ev.len <= in + len);
			assert_int_equal(ev.type, r->type);
			memcpy(r->content + r->content_n, ev.data, ev.len);
			r->content_n += ev.len;
			break;
		case FCGI_REC_END:
			r->n_end++;
			assert_int_equal(ev.request_id, r->id);
			r->has_body = ev.data != NULL;
			if (ev.data) {
				assert_int_equal(ev.len, 8);
				memcpy(r->body, ev.data, 8);
			}
			break;
		}
		in += n;
		len -= (size_t)n;
	}
}

static void test_record_roundtrip(void **state)
{
	static struct recs r;
	static uint8_t content[FCGI_MAX_CONTENT];
	static const uint16_t lens[] = {0, 1, 8, 255, FCGI_MAX_CONTENT};
	static struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 7 + 3);
	for (unsigned type = 0; type <= 255; type++) {
		bool fixed = type == FCGI_BEGIN_REQUEST ||
		             type == FCGI_END_REQUEST || type == FCGI_UNKNOWN_TYPE;

		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			uint16_t clen = fixed ? 8 : lens[li];
			uint8_t pad = (uint8_t)(li * 51);
			struct fcgi_record_parser p;

			b.len = 0;
			put_rec(&b, (uint8_t)type, (uint16_t)(type * 257), content,
			        clen, pad);
			memset(&r, 0, sizeof(r));
			fcgi_record_parser_init(&p);
			assert_int_equal(rec_run(&p, b.b, b.len, &r), 0);
			assert_int_equal(r.n_begin, 1);
			assert_int_equal(r.n_end, 1);
			assert_int_equal(r.type, type);
			assert_int_equal(r.id, type * 257);
			assert_int_equal(r.content_len, clen);
			assert_int_equal(r.has_body, fixed);
			if (fixed) {
				assert_int_equal(r.content_n, 0);
				assert_memory_equal(r.body, content, 8);
			} else {
				assert_int_equal(r.content_n, clen);
				assert_memory_equal(r.content, content, clen);
			}
			assert_int_equal(p.offset, b.len);
			assert_null(p.reason);
		}
	}
}

static void test_record_fixed_encoders(void **state)
{
	static struct recs r;
	uint8_t rec[16];
	struct fcgi_record_parser p;

	(void)state;
	fcgi_encode_begin(rec, 7, FCGI_AUTHORIZER, 0xfe);
	memset(&r, 0, sizeof(r));
	fcgi_record_parser_init(&p);
	assert_int_equal(rec_run(&p, rec, 16, &r), 0);
	assert_int_equal(r.type, FCGI_BEGIN_REQUEST);
	assert_int_equal(r.id, 7);
	assert_memory_equal(r.body, RAW(0, 2, 0xfe, 0, 0, 0, 0, 0), 8);

	fcgi_encode_end(rec, 9, 0xdeadbeef, FCGI_UNKNOWN_ROLE);
	memset(&r, 0, sizeof(r));
	assert_int_equal(rec_run(&p, rec, 16, &r), 0);
	assert_int_equal(r.type, FCGI_END_REQUEST);
	assert_int_equal(r.id, 9);
	assert_memory_equal(r.body, RAW(0xde, 0xad, 0xbe, 0xef, 3, 0, 0, 0), 8);

	fcgi_encode_unknown_type(rec, 42);
	memset(&r, 0, sizeof(r));
	assert_int_equal(rec_run(&p, rec, 16, &r), 0);
	assert_int_equal(r.type, FCGI_UNKNOWN_TYPE);
	assert_int_equal(r.id, 0);
	assert_int_equal(r.body[0], 42);
	assert_int_equal(p.offset, 48);
}

/* An empty record without padding ends with no more input: the call after
 * BEGIN reports END even when given nothing. */
static void test_record_empty_needs_no_input(void **state)
{
	struct fcgi_record_parser p;
	struct fcgi_record_event ev;
	const uint8_t h[] = {HDR(FCGI_STDIN, 1, 0, 0)};

	(void)state;
	fcgi_record_parser_init(&p);
	assert_int_equal(fcgi_record_feed(&p, h, sizeof(h), &ev), 8);
	assert_int_equal(ev.kind, FCGI_REC_BEGIN);
	assert_int_equal(ev.content_len, 0);
	assert_int_equal(fcgi_record_feed(&p, NULL, 0, &ev), 0);
	assert_int_equal(ev.kind, FCGI_REC_END);
	assert_int_equal(ev.type, FCGI_STDIN);
	assert_int_equal(fcgi_record_feed(&p, NULL, 0, &ev), 0);
	assert_int_equal(ev.kind, FCGI_REC_NONE);
}

static void test_record_padding(void **state)
{
	struct fcgi_record_parser p;
	struct fcgi_record_event ev;
	static struct buf b;

	(void)state;
	b.len = 0;
	put_rec(&b, FCGI_STDOUT, 1, "hello", 5, 3);
	put_rec(&b, FCGI_STDOUT, 1, "", 0, 255);
	fcgi_record_parser_init(&p);
	assert_int_equal(fcgi_record_feed(&p, b.b, b.len, &ev), 8);
	assert_int_equal(ev.kind, FCGI_REC_BEGIN);
	assert_int_equal(fcgi_record_feed(&p, b.b + 8, b.len - 8, &ev), 5);
	assert_int_equal(ev.kind, FCGI_REC_CONTENT);
	assert_memory_equal(ev.data, "hello", 5);
	/* The padding is consumed with the END. */
	assert_int_equal(fcgi_record_feed(&p, b.b + 13, b.len - 13, &ev), 3);
	assert_int_equal(ev.kind, FCGI_REC_END);
	assert_null(ev.data);
	assert_int_equal(fcgi_record_feed(&p, b.b + 16, b.len - 16, &ev), 8);
	assert_int_equal(ev.kind, FCGI_REC_BEGIN);
	assert_int_equal(ev.content_len, 0);
	/* Padding split: 100 bytes, then the last 155. */
	assert_int_equal(fcgi_record_feed(&p, b.b + 24, 100, &ev), 100);
	assert_int_equal(ev.kind, FCGI_REC_NONE);
	assert_int_equal(fcgi_record_feed(&p, b.b + 124, 155, &ev), 155);
	assert_int_equal(ev.kind, FCGI_REC_END);
	assert_int_equal(p.offset, b.len);
	assert_int_equal(b.len, 16 + 8 + 255);
}

static void test_record_split_every_offset(void **state)
{
	static struct buf b;
	static struct recs whole, split;
	uint8_t rec[16];

	(void)state;
	b.len = 0;
	fcgi_encode_end(rec, 3, 77, FCGI_REQUEST_COMPLETE);
	put_str(&b, FCGI_STDOUT, 3, "Status: 200\r\n\r\nbody", 5);
	put(&b, rec, 16);
	put_str(&b, 0xee, 3, "xyz", 0);
	for (size_t k = 0; k <= b.len; k++) {
		struct fcgi_record_parser p;

		memset(&whole, 0, sizeof(whole));
		memset(&split, 0, sizeof(split));
		fcgi_record_parser_init(&p);
		assert_int_equal(rec_run(&p, b.b, b.len, &whole), 0);
		fcgi_record_parser_init(&p);
		assert_int_equal(rec_run(&p, b.b, k, &split), 0);
		assert_int_equal(rec_run(&p, b.b + k, b.len - k, &split), 0);
		assert_int_equal(split.n_begin, 3);
		assert_int_equal(split.n_end, 3);
		assert_int_equal(split.content_n, whole.content_n);
		assert_memory_equal(split.content, whole.content, whole.content_n);
		assert_int_equal(split.type, 0xee);
		assert_int_equal(p.offset, b.len);
	}
	assert_int_equal(whole.content_n, strlen("Status: 200\r\n\r\nbodyxyz"));
}

static void test_record_errors(void **state)
{
	const struct {
		const uint8_t *in;
		size_t len;
		uint64_t offset;
	} bad[] = {
		{BYTES(2, 6, 0, 1, 0, 0, 0, 0), 0},
		{BYTES(0, 6, 0, 1, 0, 0, 0, 0), 0},
		{BYTES(HDR(6, 1, 0, 0), 2, 6, 0, 1, 0, 0, 0, 0), 8},
		{BYTES(HDR(FCGI_BEGIN_REQUEST, 1, 7, 0), 0, 1, 0, 0, 0, 0, 0), 4},
		{BYTES(HDR(FCGI_BEGIN_REQUEST, 1, 9, 0)), 4},
		{BYTES(HDR(FCGI_END_REQUEST, 1, 0, 0)), 4},
		{BYTES(HDR(FCGI_UNKNOWN_TYPE, 0, 16, 0)), 4},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static struct recs r;
		struct fcgi_record_parser p;

		memset(&r, 0, sizeof(r));
		fcgi_record_parser_init(&p);
		assert_int_equal(rec_run(&p, bad[i].in, bad[i].len, &r), -EPROTO);
		assert_non_null(p.reason);
		assert_int_equal(p.error_offset, bad[i].offset);
		/* The error state sticks. */
		assert_int_equal(rec_run(&p, bad[i].in, bad[i].len, &r), -EPROTO);
	}
}

static void test_record_truncated_header(void **state)
{
	struct fcgi_record_parser p;
	struct fcgi_record_event ev;
	const uint8_t h[] = {HDR(FCGI_STDIN, 1, 4, 0)};

	(void)state;
	fcgi_record_parser_init(&p);
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(fcgi_record_feed(&p, h + i, 1, &ev), 1);
		assert_int_equal(ev.kind, FCGI_REC_NONE);
	}
	assert_int_equal(fcgi_record_feed(&p, h + 7, 1, &ev), 1);
	assert_int_equal(ev.kind, FCGI_REC_BEGIN);
	assert_int_equal(ev.content_len, 4);
}

/* ---- Name-value pairs ------------------------------------------------ */

/* Decodes in whole (or split at k) and returns a transcript. */
static const char *nv_run(const uint8_t *in, size_t len, size_t k,
                          uint32_t max_name, uint32_t max_value)
{
	static struct tr t;
	struct fcgi_nv_parser p;
	size_t at = 0;

	memset(&t, 0, sizeof(t));
	fcgi_nv_parser_init(&p, max_name, max_value);
	while (at <= len) {
		size_t end = at < k ? k : len;
		const uint8_t *piece = in + at;
		size_t n = end - at;

		for (;;) {
			struct fcgi_nv_event ev;
			int r = fcgi_nv_feed(&p, piece, n, &ev);

			if (r < 0) {
				tr_close(&t);
				tr_printf(&t, "ERR %s %s\n", errname(r), p.reason);
				return t.s;
			}
			assert_true((size_t)r <= n);
			if (ev.kind == FCGI_NV_BYTES) {
				assert_true(ev.data >= piece &&
				            ev.data + ev.len <= piece + n);
				tr_data(&t, "B", 1, 0, ev.data, ev.len);
			} else if (ev.kind == FCGI_NV_HEAD) {
				tr_close(&t);
				tr_printf(&t, "HEAD %u/%u\n", ev.name_len, ev.value_len);
			} else if (ev.kind == FCGI_NV_END) {
				tr_close(&t);
				tr_printf(&t, "END\n");
			} else {
				assert_int_equal(r, n);
				break;
			}
			piece += r;
			n -= (size_t)r;
		}
		if (end == len)
			break;
		at = end;
	}
	tr_close(&t);
	tr_printf(&t, "%s\n", fcgi_nv_finish(&p) == 0 ? "OK" : "CUT");
	return t.s;
}

static void test_nv_length_boundaries(void **state)
{
	static uint8_t in[600];
	static char expect[2048], ns[128], ws[129];
	size_t n = 0;

	(void)state;
	memset(ns, 'n', 127);
	memset(ws, 'w', 128);
	/* 1-byte name length, value length 0. */
	in[n++] = 1;
	in[n++] = 0;
	in[n++] = 'A';
	/* 127: the largest 1-byte length. */
	in[n++] = 127;
	in[n++] = 1;
	memset(in + n, 'n', 127);
	n += 127;
	in[n++] = 'v';
	/* 128: the smallest that needs 4 bytes. */
	in[n++] = 1;
	in[n++] = 0x80;
	in[n++] = 0;
	in[n++] = 0;
	in[n++] = 128;
	in[n++] = 'B';
	memset(in + n, 'w', 128);
	n += 128;
	/* Section 3.4 lets the 4-byte form carry small lengths too. */
	in[n++] = 0x80;
	in[n++] = 0;
	in[n++] = 0;
	in[n++] = 2;
	in[n++] = 0x80;
	in[n++] = 0;
	in[n++] = 0;
	in[n++] = 0;
	in[n++] = 'C';
	in[n++] = 'D';

	snprintf(expect, sizeof(expect),
	         "HEAD 1/0\nB 0 [A]\nEND\nHEAD 127/1\nB 0 [%s%s]\nEND\n"
	         "HEAD 1/128\nB 0 [B%s]\nEND\nHEAD 2/0\nB 0 [CD]\nEND\nOK\n",
	         ns, "v", ws);
	assert_string_equal(nv_run(in, n, 0, 1000, 1000), expect);
	for (size_t k = 1; k < n; k++)
		assert_string_equal(nv_run(in, n, k, 1000, 1000), expect);
}

/* The largest length section 3.4 can express, decoded without the bytes
 * behind it ever being present. */
static void test_nv_length_max(void **state)
{
	const uint8_t in[] = {1, 0xff, 0xff, 0xff, 0xff, 'N', 'v'};
	struct fcgi_nv_parser p;
	struct fcgi_nv_event ev;

	(void)state;
	fcgi_nv_parser_init(&p, 10, 0x7fffffff);
	assert_int_equal(fcgi_nv_feed(&p, in, sizeof(in), &ev), 5);
	assert_int_equal(ev.kind, FCGI_NV_HEAD);
	assert_int_equal(ev.name_len, 1);
	assert_int_equal(ev.value_len, 0x7fffffff);
	assert_int_equal(fcgi_nv_feed(&p, in + 5, 2, &ev), 2);
	assert_int_equal(ev.kind, FCGI_NV_BYTES);
	assert_int_equal(ev.len, 2);
	assert_int_equal(p.left, 0x7fffffffu - 1);
	assert_int_equal(fcgi_nv_finish(&p), -EPROTO);
	assert_non_null(p.reason);

	/* All of a pair's bytes are in, its END not yet reported: the stream
	 * may end here. */
	fcgi_nv_parser_init(&p, 10, 10);
	assert_int_equal(fcgi_nv_feed(&p, RAW(1, 1, 'a', 'b'), 4, &ev), 2);
	assert_int_equal(ev.kind, FCGI_NV_HEAD);
	assert_int_equal(fcgi_nv_feed(&p, RAW(1, 1, 'a', 'b') + 2, 2, &ev), 2);
	assert_int_equal(ev.kind, FCGI_NV_BYTES);
	assert_int_equal(fcgi_nv_finish(&p), 0);
	assert_int_equal(fcgi_nv_feed(&p, NULL, 0, &ev), 0);
	assert_int_equal(ev.kind, FCGI_NV_END);
	assert_int_equal(fcgi_nv_finish(&p), 0);

	/* One less than allowed is refused before any byte is read. */
	fcgi_nv_parser_init(&p, 10, 0x7ffffffe);
	assert_int_equal(fcgi_nv_feed(&p, in, sizeof(in), &ev), -EMSGSIZE);
	assert_int_equal(fcgi_nv_feed(&p, in, sizeof(in), &ev), -EMSGSIZE);
}

static void test_nv_errors(void **state)
{
	(void)state;
	assert_string_equal(nv_run(BYTES(0, 1, 'x'), 0, 10, 10),
	                    "ERR EPROTO name-value pair with an empty name\n");
	assert_string_equal(nv_run(BYTES(11, 0), 0, 10, 10),
	                    "ERR EMSGSIZE param name longer than the limit\n");
	assert_string_equal(nv_run(BYTES(10, 0x80, 0, 0, 11), 0, 10, 10),
	                    "ERR EMSGSIZE param value longer than the limit\n");
	assert_string_equal(nv_run(BYTES(0xff, 0xff, 0xff, 0xff), 0, 10, 10),
	                    "ERR EMSGSIZE param name longer than the limit\n");
	/* Cut inside a length, inside the name, inside the value. */
	assert_string_equal(nv_run(BYTES(0x80, 0), 0, 10, 10), "CUT\n");
	assert_string_equal(nv_run(BYTES(2), 0, 10, 10), "CUT\n");
	assert_string_equal(nv_run(BYTES(2, 2, 'a'), 0, 10, 10),
	                    "HEAD 2/2\nB 0 [a]\nCUT\n");
	assert_string_equal(nv_run(BYTES(2, 2, 'a', 'b', 'c'), 0, 10, 10),
	                    "HEAD 2/2\nB 0 [abc]\nCUT\n");
	assert_string_equal(nv_run(BYTES(2, 2, 'a', 'b', 'c', 'd'), 0, 10, 10),
	                    "HEAD 2/2\nB 0 [abcd]\nEND\nOK\n");
	/* Exactly at the limits. */
	assert_string_equal(nv_run(BYTES(2, 1, 'a', 'b', 'c'), 0, 2, 1),
	                    "HEAD 2/1\nB 0 [abc]\nEND\nOK\n");
}

static void test_nv_encode(void **state)
{
	static uint8_t out[300];
	static char big[200];
	int64_t r;

	(void)state;
	memset(big, 'x', sizeof(big));
	r = fcgi_nv_encode(out, sizeof(out), "AB", 2, "", 0);
	assert_int_equal(r, 4);
	assert_memory_equal(out, RAW(2, 0, 'A', 'B'), 4);

	r = fcgi_nv_encode(out, sizeof(out), "N", 1, big, 127);
	assert_int_equal(r, 1 + 1 + 1 + 127);
	assert_int_equal(out[1], 127);

	r = fcgi_nv_encode(out, sizeof(out), big, 128, "v", 1);
	assert_int_equal(r, 4 + 1 + 128 + 1);
	assert_memory_equal(out, RAW(0x80, 0, 0, 128, 1), 5);
	assert_int_equal(out[5 + 128], 'v');

	/* Too small: says what it needs, writes nothing. */
	memset(out, 0xaa, sizeof(out));
	r = fcgi_nv_encode(out, 133, big, 128, "v", 1);
	assert_int_equal(r, 134);
	assert_int_equal(out[0], 0xaa);
	assert_int_equal(fcgi_nv_encode(NULL, 0, "", 0, "", 0), 2);

	/* The lengths are checked before the bytes are touched. */
	assert_int_equal(fcgi_nv_encode(out, sizeof(out), big, 0x80000000u, "", 0),
	                 -EMSGSIZE);
	assert_int_equal(fcgi_nv_encode(out, sizeof(out), "n", 1, big,
	                                (size_t)0x80000000u),
	                 -EMSGSIZE);
	assert_int_equal(fcgi_nv_encode(NULL, 0, "n", 1, big, 0x7fffffff),
	                 1 + 4 + 1 + 0x7fffffffLL);
	assert_int_equal(out[0], 0xaa);
}

/* Encoder output decodes back to the same pairs. */
static void test_nv_roundtrip(void **state)
{
	static uint8_t out[1 << 16];
	static char name[300], value[300], expect[2048];
	static const size_t lens[] = {1, 2, 126, 127, 128, 129, 255, 256};

	(void)state;
	for (size_t i = 0; i < sizeof(name); i++) {
		name[i] = (char)('a' + i % 26);
		value[i] = (char)('0' + i % 10);
	}
	for (size_t a = 0; a < sizeof(lens) / sizeof(lens[0]); a++) {
		for (size_t b = 0; b < sizeof(lens) / sizeof(lens[0]); b++) {
			int64_t r = fcgi_nv_encode(out, sizeof(out), name, lens[a],
			                           value, lens[b] - 1);

			assert_true(r > 0);
			snprintf(expect, sizeof(expect), "HEAD %zu/%zu\nB 0 [%.*s%.*s]\nEND\nOK\n",
			         lens[a], lens[b] - 1, (int)lens[a], name,
			         (int)(lens[b] - 1), value);
			assert_string_equal(nv_run(out, (size_t)r, 0, 1000, 1000),
			                    expect);
		}
	}
}

/* ---- Server: a whole conversation ------------------------------------ */

static size_t conversation(struct buf *b)
{
	static const char *const p1[] = {"SCRIPT_NAME", "/x", "QUERY_STRING", "",
	                                 "HTTP_LONG", NULL};
	static char longv[200];
	static const char *const p2[] = {"A", "1"};
	uint8_t nv[1024];
	const char *pp[6];
	size_t n;

	memset(longv, 'L', sizeof(longv) - 1);
	memcpy(pp, p1, sizeof(pp));
	pp[5] = longv;
	b->len = 0;
	put_begin(b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
	n = pairs(nv, sizeof(nv), pp, 6);
	/* A pair spans two records (section 3.3: boundaries mean nothing). */
	put_rec(b, FCGI_PARAMS, 1, nv, 20, 4);
	put_begin(b, 2, FCGI_FILTER, 0);
	put_rec(b, FCGI_PARAMS, 1, nv + 20, n - 20, 7);
	put_rec(b, FCGI_PARAMS, 1, "", 0, 0);
	put_rec(b, FCGI_GET_VALUES, 0, "\x0e\x00" "FCGI_MAX_CONNS", 16, 2);
	n = pairs(nv, sizeof(nv), p2, 2);
	put_rec(b, FCGI_PARAMS, 2, nv, n, 0);
	put_rec(b, FCGI_PARAMS, 2, "", 0, 1);
	put_str(b, FCGI_STDIN, 1, "body", 4);
	put_str(b, FCGI_STDIN, 2, "in", 0);
	put_str(b, FCGI_STDIN, 1, "more", 0);
	put_str(b, 77, 0, "", 3);
	put_str(b, FCGI_STDIN, 1, "", 0);
	put_str(b, FCGI_STDIN, 2, "", 0);
	put_str(b, FCGI_DATA, 2, "file", 0);
	put_str(b, FCGI_DATA, 2, "", 0);
	put_str(b, FCGI_ABORT_REQUEST, 1, "", 0);
	return b->len;
}

/* What conversation() should give; built at run time for the long value. */
static const char *conversation_events(void)
{
	static char s[2048];
	char ls[200];

	memset(ls, 'L', 199);
	ls[199] = 0;
	snprintf(s, sizeof(s),
	         "BEGIN 1 slot=0 role=1 flags=1\n"
	         "HEAD 1 11/2\n"
	         "PARAM 1 [SCRIPT_NAME/x]\n"
	         "PEND 1\n"
	         "HEAD 1 12/0\n"
	         "PARAM 1 [QUE]\n"
	         "BEGIN 2 slot=1 role=3 flags=0\n"
	         "PARAM 1 [RY_STRING]\n"
	         "PEND 1\n"
	         "HEAD 1 9/199\n"
	         "PARAM 1 [HTTP_LONG%s]\n"
	         "PEND 1\n"
	         "PARAMS_END 1\n"
	         "GVNAME [FCGI_MAX_CONNS]\n"
	         "GVEND\n"
	         "HEAD 2 1/1\n"
	         "PARAM 2 [A1]\n"
	         "PEND 2\n"
	         "PARAMS_END 2\n"
	         "STDIN 1 [body]\n"
	         "STDIN 2 [in]\n"
	         "STDIN 1 [more]\n"
	         "UNKNOWN type=77\n"
	         "STDIN_END 1\n"
	         "STDIN_END 2\n"
	         "DATA 2 [file]\n"
	         "DATA_END 2\n"
	         "ABORT 1\n", ls);
	return s;
}

static void test_server_conversation(void **state)
{
	static struct buf b;
	struct srv *v;

	(void)state;
	conversation(&b);
	assert_string_equal(run(2, NULL, b.b, b.len), conversation_events());
	v = srv_new(2, NULL);
	run_pieces(v, b.b, b.len, NULL, 0);
	assert_int_equal(fcgi_server_active(&v->s), 2);
	assert_int_equal(v->slots[0].n_params, 3);
	assert_int_equal(v->slots[0].params_bytes, 11 + 2 + 12 + 9 + 199);
	fcgi_server_end(&v->s, 1);
	assert_int_equal(fcgi_server_active(&v->s), 1);
	assert_int_equal(v->slots[0].id, 0);
	fcgi_server_end(&v->s, 2);
	fcgi_server_end(&v->s, 2);
	assert_int_equal(fcgi_server_active(&v->s), 0);
}

static void test_server_split_every_offset(void **state)
{
	static struct buf b;

	(void)state;
	conversation(&b);
	assert_string_equal(run_all_splits(2, NULL, b.b, b.len),
	                    conversation_events());
}

/* Many small records in one buffer, each reported in order. */
static void test_server_many_records(void **state)
{
	static struct buf b;
	struct srv *v = srv_new(1, NULL);
	struct fcgi_server_event ev;
	size_t at = 0, n_stdin = 0, n_total = 0;

	(void)state;
	b.len = 0;
	put_begin(&b, 1, FCGI_RESPONDER, 0);
	put_rec(&b, FCGI_PARAMS, 1, "", 0, 0);
	for (unsigned i = 0; i < 5000; i++)
		put_rec(&b, FCGI_STDIN, 1, "0123456789", 1 + i % 10, (uint8_t)(i % 8));
	put_rec(&b, FCGI_STDIN, 1, "", 0, 0);
	for (;;) {
		int r = fcgi_server_feed(&v->s, b.b + at, b.len - at, &ev);

		assert_true(r >= 0);
		at += (size_t)r;
		if (ev.kind == FCGI_EV_NONE)
			break;
		n_total++;
		if (ev.kind == FCGI_EV_STDIN) {
			assert_int_equal(ev.len, 1 + n_stdin % 10);
			assert_memory_equal(ev.data, "0123456789", ev.len);
			n_stdin++;
		}
	}
	assert_int_equal(at, b.len);
	assert_int_equal(n_stdin, 5000);
	assert_int_equal(n_total, 5000 + 3);
	assert_int_equal(ev.kind, FCGI_EV_NONE);
}

/* ---- Server: bad input ------------------------------------------------ */

static void test_server_malformed(void **state)
{
	const struct {
		const char *what;
		const uint8_t *in;
		size_t len;
		size_t n_slots;
		const char *expect;
	} bad[] = {
		{"truncated header", BYTES(1, 1, 0, 1, 0, 8, 0), 1, ""},
		{"version 2", BYTES(2, 1, 0, 1, 0, 8, 0, 0), 1,
		 "CONN EPROTO @0 FastCGI version is not 1\n"},
		{"BEGIN contentLength 7",
		 BYTES(HDR(FCGI_BEGIN_REQUEST, 1, 7, 0), 0, 1, 0, 0, 0, 0, 0), 1,
		 "CONN EPROTO @4 fixed-size record whose contentLength is not 8\n"},
		{"app record on id 0", BYTES(HDR(FCGI_PARAMS, 0, 0, 0)), 1,
		 "CONN EPROTO @2 application record with request id 0\n"},
		{"BEGIN on id 0", BYTES(BEGIN_REC(0, 1, 0)), 1,
		 "CONN EPROTO @2 application record with request id 0\n"},
		{"STDOUT on id 0 after a good record",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_STDOUT, 0, 1, 0), 'x'), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "CONN EPROTO @18 application record with request id 0\n"},
		{"second BEGIN for a live id",
		 BYTES(BEGIN_REC(1, 1, 0), BEGIN_REC(1, 2, 0), BEGIN_REC(1, 1, 0),
		       HDR(FCGI_PARAMS, 1, 0, 0)), 2,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "RERR 1 EPROTO BEGIN_REQUEST for an active request id\n"},
		{"params after the empty PARAMS",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 0, 0),
		       HDR(FCGI_PARAMS, 1, 3, 0), 1, 1, 'a'), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nPARAMS_END 1\n"
		 "RERR 1 EPROTO PARAMS after the end of the params stream\n"},
		{"empty PARAMS twice",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 0, 0),
		       HDR(FCGI_PARAMS, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nPARAMS_END 1\n"
		 "RERR 1 EPROTO PARAMS after the end of the params stream\n"},
		{"STDIN before the params end",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_STDIN, 1, 1, 0), 'x'), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "RERR 1 EPROTO STDIN before the end of the params stream\n"},
		{"STDIN after its end",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 0, 0),
		       HDR(FCGI_STDIN, 1, 0, 0), HDR(FCGI_STDIN, 1, 1, 0), 'x'), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nPARAMS_END 1\nSTDIN_END 1\n"
		 "RERR 1 EPROTO STDIN after the end of the STDIN stream\n"},
		{"DATA for a Responder",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 0, 0),
		       HDR(FCGI_DATA, 1, 1, 0), 'x'), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nPARAMS_END 1\n"
		 "RERR 1 EPROTO DATA on a request that is not a Filter\n"},
		{"DATA before the params end",
		 BYTES(BEGIN_REC(1, 3, 0), HDR(FCGI_DATA, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=3 flags=0\n"
		 "RERR 1 EPROTO DATA before the end of the params stream\n"},
		{"DATA after its end",
		 BYTES(BEGIN_REC(1, 3, 0), HDR(FCGI_PARAMS, 1, 0, 0),
		       HDR(FCGI_DATA, 1, 0, 0), HDR(FCGI_DATA, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=3 flags=0\nPARAMS_END 1\nDATA_END 1\n"
		 "RERR 1 EPROTO DATA after the end of the DATA stream\n"},
		{"unknown role 0", BYTES(BEGIN_REC(5, 0, 1)), 1,
		 "REFUSE 5 role=0 status=3\n"},
		{"unknown role 4, then records for the refused id are ignored",
		 BYTES(BEGIN_REC(5, 4, 0), HDR(FCGI_PARAMS, 5, 0, 0)), 1,
		 "REFUSE 5 role=4 status=3\n"},
		{"unknown role 0x0101",
		 BYTES(HDR(FCGI_BEGIN_REQUEST, 5, 8, 0), 1, 1, 0, 0, 0, 0, 0, 0), 1,
		 "REFUSE 5 role=257 status=3\n"},
		{"unknown management type, padded",
		 BYTES(HDR(200, 0, 3, 5), 1, 2, 3, 0, 0, 0, 0, 0), 1,
		 "UNKNOWN type=200\n"},
		{"management type 0", BYTES(HDR(0, 0, 0, 0)), 1,
		 "UNKNOWN type=0\n"},
		{"GET_VALUES_RESULT to a server", BYTES(HDR(10, 0, 2, 0), 1, 0), 1,
		 "UNKNOWN type=10\n"},
		{"UNKNOWN_TYPE to a server",
		 BYTES(HDR(11, 0, 8, 0), 9, 0, 0, 0, 0, 0, 0, 0), 1,
		 "UNKNOWN type=11\n"},
		{"one slot, taken: CANT_MPX_CONN",
		 BYTES(BEGIN_REC(1, 1, 0), BEGIN_REC(2, 1, 0)), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nREFUSE 2 role=1 status=1\n"},
		{"two slots, taken: OVERLOADED",
		 BYTES(BEGIN_REC(1, 1, 0), BEGIN_REC(2, 2, 0), BEGIN_REC(3, 3, 1)),
		 2,
		 "BEGIN 1 slot=0 role=1 flags=0\nBEGIN 2 slot=1 role=2 flags=0\n"
		 "REFUSE 3 role=3 status=2\n"},
		{"unknown flag bits are kept", BYTES(BEGIN_REC(9, 2, 0xff)), 1,
		 "BEGIN 9 slot=0 role=2 flags=255\n"},
		{"records for inactive ids are ignored",
		 BYTES(HDR(FCGI_PARAMS, 1, 2, 0), 1, 1, HDR(FCGI_STDIN, 2, 0, 0),
		       HDR(FCGI_ABORT_REQUEST, 3, 0, 0), HDR(FCGI_DATA, 4, 1, 6), 'x',
		       0, 0, 0, 0, 0, 0), 1,
		 ""},
		{"app-to-server types and unknown types on an active id",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_STDOUT, 1, 1, 0), 'o',
		       HDR(FCGI_STDERR, 1, 0, 0), HDR(FCGI_END_REQUEST, 1, 8, 0),
		       0, 0, 0, 0, 0, 0, 0, 0, HDR(FCGI_GET_VALUES, 1, 0, 0),
		       HDR(FCGI_GET_VALUES_RESULT, 1, 0, 0),
		       HDR(FCGI_UNKNOWN_TYPE, 1, 8, 0), 0, 0, 0, 0, 0, 0, 0, 0,
		       HDR(99, 1, 1, 0), 'z', HDR(FCGI_PARAMS, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nPARAMS_END 1\n"},
		{"ABORT with content, whatever its length",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_ABORT_REQUEST, 1, 3, 1), 1, 2,
		       3, 0), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nABORT 1\n"},
		{"GET_VALUES pair runs past its record",
		 BYTES(HDR(FCGI_GET_VALUES, 0, 4, 0), 3, 0, 'A', 'B'), 1,
		 "CONN EPROTO @9 GET_VALUES pair runs past the end of its record\n"},
		{"GET_VALUES length cut at its record's end",
		 BYTES(HDR(FCGI_GET_VALUES, 0, 4, 1), 1, 0, 'A', 0x80, 0), 1,
		 "GVNAME [A]\n"
		 "CONN EPROTO @12 GET_VALUES pair cut short at the end of its record\n"},
		{"GET_VALUES huge length",
		 BYTES(HDR(FCGI_GET_VALUES, 0, 4, 0), 0xff, 0xff, 0xff, 0xff), 1,
		 "CONN EPROTO @11 GET_VALUES pair runs past the end of its record\n"},
		{"GET_VALUES empty name",
		 BYTES(HDR(FCGI_GET_VALUES, 0, 2, 0), 0, 0), 1,
		 "CONN EPROTO @8 name-value pair with an empty name\n"},
		{"GET_VALUES names, values ignored, empty record",
		 BYTES(HDR(FCGI_GET_VALUES, 0, 19, 7), 13, 0, 'F', 'C', 'G', 'I',
		       '_', 'M', 'A', 'X', '_', 'R', 'E', 'Q', 'S', 1, 1, 'X', 'y',
		       0, 0, 0, 0, 0, 0, 0, HDR(FCGI_GET_VALUES, 0, 0, 0)), 1,
		 "GVNAME [FCGI_MAX_REQS]\nGVNAME [X]\nGVEND\nGVEND\n"},
		{"GET_VALUES on a non-zero id is ignored",
		 BYTES(HDR(FCGI_GET_VALUES, 1, 2, 0), 1, 0), 1, ""},
		{"params stream ends inside a pair (pair points past its end)",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 4, 0), 1, 100, 'N',
		       'v', HDR(FCGI_PARAMS, 1, 0, 0), HDR(FCGI_STDIN, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\nHEAD 1 1/100\nPARAM 1 [Nv]\n"
		 "RERR 1 EPROTO params stream ends inside a name-value pair\n"},
		{"params stream ends inside a length",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 1, 0), 0x80,
		       HDR(FCGI_PARAMS, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "RERR 1 EPROTO params stream ends inside a name-value pair\n"},
		{"CVE-2025-23016: huge 4-byte value length",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 7, 0), 1, 0xff, 0xff,
		       0xff, 0xff, 'N', 'v', HDR(FCGI_PARAMS, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "RERR 1 EMSGSIZE param value longer than the limit\n"},
		{"CVE-2025-23016: huge 4-byte name length",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 6, 0), 0xff, 0xff,
		       0xff, 0xf8, 1, 'N'), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "RERR 1 EMSGSIZE param name longer than the limit\n"},
		{"empty param name",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 3, 0), 0, 1, 'v'), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "RERR 1 EPROTO name-value pair with an empty name\n"},
		{"an errored request's records are skipped, ABORT still seen",
		 BYTES(BEGIN_REC(1, 1, 0), HDR(FCGI_STDIN, 1, 1, 0), 'x',
		       HDR(FCGI_PARAMS, 1, 4, 0), 1, 1, 'a', 'b',
		       HDR(FCGI_PARAMS, 1, 0, 0), BEGIN_REC(1, 1, 0),
		       HDR(FCGI_ABORT_REQUEST, 1, 0, 0)), 1,
		 "BEGIN 1 slot=0 role=1 flags=0\n"
		 "RERR 1 EPROTO STDIN before the end of the params stream\n"
		 "ABORT 1\n"},
		{"nothing after a connection error is read",
		 BYTES(2, 1, 0, 1, 0, 8, 0, 0, BEGIN_REC(1, 1, 0)), 1,
		 "CONN EPROTO @0 FastCGI version is not 1\n"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case: %s\n", bad[i].what);
		assert_string_equal(run_all_splits(bad[i].n_slots, NULL, bad[i].in,
		                                   bad[i].len),
		                    bad[i].expect);
	}
}

/* The header is 7 bytes: nothing is reported, everything consumed, and
 * the state is kept for the eighth byte. */
static void test_server_truncated_header(void **state)
{
	struct srv *v = srv_new(1, NULL);
	struct fcgi_server_event ev;
	const uint8_t in[] = {BEGIN_REC(1, 1, 0)};

	(void)state;
	assert_int_equal(fcgi_server_feed(&v->s, in, 7, &ev), 7);
	assert_int_equal(ev.kind, FCGI_EV_NONE);
	assert_int_equal(fcgi_server_feed(&v->s, in + 7, 8, &ev), 8);
	assert_int_equal(ev.kind, FCGI_EV_NONE);
	assert_int_equal(fcgi_server_feed(&v->s, in + 15, 1, &ev), 1);
	assert_int_equal(ev.kind, FCGI_EV_BEGIN);
	assert_ptr_equal(ev.slot, &v->slots[0]);
	assert_int_equal(ev.request_id, 1);
	assert_int_equal(fcgi_server_active(&v->s), 1);
	assert_null(v->s.reason);
}

static void test_server_error_state(void **state)
{
	struct srv *v = srv_new(1, NULL);
	struct fcgi_server_event ev;
	const uint8_t in[] = {BEGIN_REC(1, 1, 0), HDR(FCGI_STDIN, 0, 0, 0)};

	(void)state;
	assert_int_equal(fcgi_server_feed(&v->s, in, sizeof(in), &ev), 16);
	assert_int_equal(ev.kind, FCGI_EV_BEGIN);
	assert_int_equal(fcgi_server_feed(&v->s, in + 16, 8, &ev), -EPROTO);
	assert_string_equal(v->s.reason, "application record with request id 0");
	assert_int_equal(v->s.error_offset, 18);
	assert_int_equal(fcgi_server_feed(&v->s, in, 16, &ev), -EPROTO);
	assert_int_equal(ev.kind, FCGI_EV_NONE);
}

/* ---- Server: slots and limits ---------------------------------------- */

static void test_server_slots(void **state)
{
	static struct buf b;
	struct srv *v = srv_new(2, NULL);

	(void)state;
	b.len = 0;
	put_begin(&b, 1, FCGI_RESPONDER, 0);
	put_begin(&b, 2, FCGI_RESPONDER, 0);
	put_begin(&b, 3, FCGI_RESPONDER, 0);
	assert_int_equal(feed(&v->s, b.b, b.len, &v->t), 0);
	tr_close(&v->t);
	assert_string_equal(v->t.s, "BEGIN 1 slot=0 role=1 flags=0\n"
	                            "BEGIN 2 slot=1 role=1 flags=0\n"
	                            "REFUSE 3 role=1 status=2\n");
	assert_int_equal(fcgi_server_active(&v->s), 2);
	/* Ending a request frees its slot for the next id. */
	fcgi_server_end(&v->s, 1);
	fcgi_server_end(&v->s, 77);
	assert_int_equal(fcgi_server_active(&v->s), 1);
	memset(&v->t, 0, sizeof(v->t));
	b.len = 0;
	put_begin(&b, 3, FCGI_AUTHORIZER, 0);
	put_rec(&b, FCGI_PARAMS, 3, "", 0, 0);
	put_rec(&b, FCGI_PARAMS, 1, "", 0, 0);
	assert_int_equal(feed(&v->s, b.b, b.len, &v->t), 0);
	tr_close(&v->t);
	assert_string_equal(v->t.s, "BEGIN 3 slot=0 role=2 flags=0\n"
	                            "PARAMS_END 3\n");
	assert_int_equal(fcgi_server_active(&v->s), 2);
	assert_int_equal(v->slots[0].id, 3);
	assert_int_equal(v->slots[0].role, FCGI_AUTHORIZER);
}

/* A request that broke the protocol keeps its slot until it is ended. */
static void test_server_error_keeps_slot(void **state)
{
	struct srv *v = srv_new(1, NULL);
	struct fcgi_server_event ev;
	const uint8_t in[] = {BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 3, 0),
	                      0, 1, 'v', BEGIN_REC(1, 1, 0)};
	size_t at = 0;
	int r;

	(void)state;
	r = fcgi_server_feed(&v->s, in, sizeof(in), &ev);
	assert_int_equal(ev.kind, FCGI_EV_BEGIN);
	at += (size_t)r;
	r = fcgi_server_feed(&v->s, in + at, sizeof(in) - at, &ev);
	assert_int_equal(ev.kind, FCGI_EV_REQUEST_ERROR);
	assert_int_equal(ev.error, -EPROTO);
	assert_int_equal(ev.request_id, 1);
	assert_ptr_equal(ev.slot, &v->slots[0]);
	assert_int_equal(fcgi_server_active(&v->s), 1);
	fcgi_server_end(&v->s, 1);
	assert_int_equal(fcgi_server_active(&v->s), 0);
	at += (size_t)r;
	r = fcgi_server_feed(&v->s, in + at, sizeof(in) - at, &ev);
	assert_int_equal(ev.kind, FCGI_EV_BEGIN);
	assert_int_equal(at + (size_t)r, sizeof(in));
	assert_int_equal(fcgi_server_active(&v->s), 1);
}

/* Ending a request in the middle of one of its records skips the rest of
 * that record. */
static void test_server_end_mid_record(void **state)
{
	struct srv *v = srv_new(1, NULL);
	struct fcgi_server_event ev;
	const uint8_t in[] = {BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 8, 0),
	                      1, 1, 'a', 'b', 1, 1, 'c', 'd', BEGIN_REC(1, 2, 0),
	                      HDR(FCGI_PARAMS, 1, 0, 0)};
	size_t at = 0;
	int r;

	(void)state;
	r = fcgi_server_feed(&v->s, in, sizeof(in), &ev);
	assert_int_equal(ev.kind, FCGI_EV_BEGIN);
	at += (size_t)r;
	r = fcgi_server_feed(&v->s, in + at, sizeof(in) - at, &ev);
	assert_int_equal(ev.kind, FCGI_EV_PARAM_HEAD);
	at += (size_t)r;
	assert_int_equal(at, 16 + 8 + 2);
	fcgi_server_end(&v->s, 1);
	r = fcgi_server_feed(&v->s, in + at, sizeof(in) - at, &ev);
	assert_int_equal(ev.kind, FCGI_EV_BEGIN);
	assert_int_equal(ev.role, FCGI_AUTHORIZER);
	at += (size_t)r;
	r = fcgi_server_feed(&v->s, in + at, sizeof(in) - at, &ev);
	assert_int_equal(ev.kind, FCGI_EV_PARAMS_END);
	at += (size_t)r;
	r = fcgi_server_feed(&v->s, in + at, sizeof(in) - at, &ev);
	assert_int_equal(r, 0);
	assert_int_equal(ev.kind, FCGI_EV_NONE);
	assert_int_equal(at, sizeof(in));
}

static size_t params_request(struct buf *b, const char *const *nv, size_t n)
{
	uint8_t enc[4096];
	size_t len = pairs(enc, sizeof(enc), nv, n);

	b->len = 0;
	put_begin(b, 1, FCGI_RESPONDER, 0);
	put_rec(b, FCGI_PARAMS, 1, enc, len, 0);
	put_rec(b, FCGI_PARAMS, 1, "", 0, 0);
	return b->len;
}

static void test_server_param_limits(void **state)
{
	static const char *const nv[] = {"AB", "123", "CD", "4567"};
	static struct buf b;
	struct param_limits lim = {.max_name = 2, .max_value = 4,
	                           .max_params_bytes = 11, .max_params = 2};
	const char *ok = "BEGIN 1 slot=0 role=1 flags=0\n"
	                 "HEAD 1 2/3\nPARAM 1 [AB123]\nPEND 1\n"
	                 "HEAD 1 2/4\nPARAM 1 [CD4567]\nPEND 1\n"
	                 "PARAMS_END 1\n";

	(void)state;
	params_request(&b, nv, 4);
	/* Exactly at every limit. */
	assert_string_equal(run_all_splits(1, &lim, b.b, b.len), ok);
	lim.max_params = 1;
	assert_string_equal(run_all_splits(1, &lim, b.b, b.len),
	                    "BEGIN 1 slot=0 role=1 flags=0\n"
	                    "HEAD 1 2/3\nPARAM 1 [AB123]\nPEND 1\n"
	                    "RERR 1 EMSGSIZE more params than the limit\n");
	lim.max_params = 2;
	lim.max_params_bytes = 10;
	assert_string_equal(run_all_splits(1, &lim, b.b, b.len),
	                    "BEGIN 1 slot=0 role=1 flags=0\n"
	                    "HEAD 1 2/3\nPARAM 1 [AB123]\nPEND 1\n"
	                    "RERR 1 EMSGSIZE params longer than the limit\n");
	lim.max_params_bytes = 11;
	lim.max_value = 3;
	assert_string_equal(run_all_splits(1, &lim, b.b, b.len),
	                    "BEGIN 1 slot=0 role=1 flags=0\n"
	                    "HEAD 1 2/3\nPARAM 1 [AB123]\nPEND 1\n"
	                    "RERR 1 EMSGSIZE param value longer than the limit\n");
	lim.max_value = 4;
	lim.max_name = 1;
	assert_string_equal(run_all_splits(1, &lim, b.b, b.len),
	                    "BEGIN 1 slot=0 role=1 flags=0\n"
	                    "RERR 1 EMSGSIZE param name longer than the limit\n");
}

/* A value of 2^31-1 bytes, accepted by the limits: PARAM_HEAD carries the
 * length and the bytes come as they arrive; nothing that large exists. */
static void test_server_param_value_max(void **state)
{
	struct param_limits lim = {.max_name = 8, .max_value = 0x7fffffff,
	                           .max_params_bytes = UINT64_MAX,
	                           .max_params = 1};
	const uint8_t in[] = {BEGIN_REC(1, 1, 0), HDR(FCGI_PARAMS, 1, 9, 0),
	                      2, 0xff, 0xff, 0xff, 0xff, 'N', 'M', 'v', 'v'};

	(void)state;
	assert_string_equal(run_all_splits(1, &lim, in, sizeof(in)),
	                    "BEGIN 1 slot=0 role=1 flags=0\n"
	                    "HEAD 1 2/2147483647\nPARAM 1 [NMvv]\n");
}

/* A GET_VALUES name longer than FCGI_GV_NAME_MAX is not reported. */
static void test_server_get_values_long_name(void **state)
{
	static uint8_t nv[800];
	static char name[300];
	static struct buf b;
	static char expect[512];
	size_t n = 0;
	int64_t r;

	(void)state;
	memset(name, 'N', sizeof(name));
	r = fcgi_nv_encode(nv, sizeof(nv), name, FCGI_GV_NAME_MAX, "", 0);
	n += (size_t)r;
	r = fcgi_nv_encode(nv + n, sizeof(nv) - n, name, FCGI_GV_NAME_MAX + 1,
	                   "", 0);
	n += (size_t)r;
	/* Long enough to overwrite whatever follows gv_name if it were kept. */
	r = fcgi_nv_encode(nv + n, sizeof(nv) - n, name, sizeof(name), "", 0);
	n += (size_t)r;
	r = fcgi_nv_encode(nv + n, sizeof(nv) - n, "FCGI_MPXS_CONNS", 15, "", 0);
	n += (size_t)r;
	b.len = 0;
	put_rec(&b, FCGI_GET_VALUES, 0, nv, n, 3);
	snprintf(expect, sizeof(expect), "GVNAME [%.*s]\nGVNAME [FCGI_MPXS_CONNS]\nGVEND\n",
	         FCGI_GV_NAME_MAX, name);
	assert_string_equal(run_all_splits(1, NULL, b.b, b.len), expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_header),
		cmocka_unit_test(test_encode_fixed),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_fixed_encoders),
		cmocka_unit_test(test_record_empty_needs_no_input),
		cmocka_unit_test(test_record_padding),
		cmocka_unit_test(test_record_split_every_offset),
		cmocka_unit_test(test_record_errors),
		cmocka_unit_test(test_record_truncated_header),
		cmocka_unit_test(test_nv_length_boundaries),
		cmocka_unit_test(test_nv_length_max),
		cmocka_unit_test(test_nv_errors),
		cmocka_unit_test(test_nv_encode),
		cmocka_unit_test(test_nv_roundtrip),
		cmocka_unit_test(test_server_conversation),
		cmocka_unit_test(test_server_split_every_offset),
		cmocka_unit_test(test_server_many_records),
		cmocka_unit_test(test_server_malformed),
		cmocka_unit_test(test_server_truncated_header),
		cmocka_unit_test(test_server_error_state),
		cmocka_unit_test(test_server_slots),
		cmocka_unit_test(test_server_error_keeps_slot),
		cmocka_unit_test(test_server_end_mid_record),
		cmocka_unit_test(test_server_param_limits),
		cmocka_unit_test(test_server_param_value_max),
		cmocka_unit_test(test_server_get_values_long_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
