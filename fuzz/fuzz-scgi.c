/* libFuzzer target for the SCGI request parser (src/proto/scgi.c).
 *
 * Input: one control byte (limits and how to split), then the request
 * bytes. Each input is parsed whole, then in odd-sized pieces; the runs
 * must agree. Every call's result is checked: consumed never exceeds what
 * was given, event data lies inside the input just consumed, body bytes
 * add up to CONTENT_LENGTH. The input is also taken apart into pairs and
 * sent through scgi_encode_head and back. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

/* What one run produced, reduced to compare: a hash of the events, with
 * pieces of one kind in a row hashed as one. */
struct outcome {
	int rc;
	uint64_t used;
	uint64_t hash;
	int last_kind;
	uint64_t content_length;
	uint64_t body_bytes;
	bool body_end;
	const char *reason;
	uint64_t error_offset;
};

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static bool is_piece(enum scgi_event_kind kind)
{
	return kind == SCGI_EV_NAME || kind == SCGI_EV_VALUE ||
	       kind == SCGI_EV_BODY;
}

static void note_event(struct outcome *o, const struct scgi_event *ev)
{
	/* Nothing follows BODY_END. */
	CHECK(!o->body_end);
	if (!is_piece(ev->kind) || (int)ev->kind != o->last_kind) {
		uint8_t tag = (uint8_t)ev->kind;
		o->hash = hash_bytes(o->hash, &tag, 1);
	}
	if (is_piece(ev->kind))
		o->hash = hash_bytes(o->hash, ev->data, ev->len);
	if (ev->kind == SCGI_EV_BODY)
		o->body_bytes += ev->len;
	if (ev->kind == SCGI_EV_BODY_END)
		o->body_end = true;
	o->last_kind = (int)ev->kind;
}

/* Feeds in[0..len) until the parser wants more; false after an error. */
static bool feed(struct scgi_parser *p, const uint8_t *in, size_t len,
                 struct outcome *o)
{
	size_t off = 0;
	for (;;) {
		struct scgi_event ev;
		int n = scgi_feed(p, in + off, len - off, &ev);
		if (n < 0) {
			CHECK(n == -EPROTO || n == -EMSGSIZE);
			CHECK(p->reason != NULL);
			o->rc = n;
			return false;
		}
		CHECK((size_t)n <= len - off);
		if (is_piece(ev.kind)) {
			CHECK(ev.len > 0);
			CHECK(ev.data >= in + off && ev.data + ev.len <= in + off + n);
		}
		off += (size_t)n;
		o->used += (size_t)n;
		if (ev.kind == SCGI_EV_NONE) {
			/* Short only once the request is over. */
			CHECK(off == len || o->body_end);
			return true;
		}
		note_event(o, &ev);
	}
}

static void run(const struct param_limits *lim, const uint8_t *in,
                size_t len, unsigned split, struct outcome *o)
{
	static const size_t sizes[] = { 1, 2, 3, 5, 7, 11, 13, 64 };
	struct scgi_parser p;
	memset(o, 0, sizeof(*o));
	o->last_kind = -1;
	scgi_parser_init(&p, lim);
	bool ok = true;
	size_t off = 0;
	for (unsigned i = split; ok && off < len; i++) {
		size_t n = split ? sizes[i % 8] : len;
		if (n > len - off)
			n = len - off;
		ok = feed(&p, in + off, n, o);
		off += n;
	}
	if (ok)
		ok = feed(&p, in + len, 0, o);
	o->content_length = p.content_length;
	o->reason = p.reason;
	o->error_offset = p.error_offset;
	if (ok) {
		CHECK(p.offset == o->used);
		CHECK(p.reason == NULL);
	}
	if (o->body_end)
		CHECK(o->body_bytes == p.content_length);
	CHECK(o->body_bytes <= p.content_length);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	CHECK(a->rc == b->rc);
	CHECK((a->reason == NULL) == (b->reason == NULL));
	CHECK(!a->reason || strcmp(a->reason, b->reason) == 0);
	CHECK(a->error_offset == b->error_offset);
	if (a->rc < 0)
		return;
	CHECK(a->used == b->used);
	CHECK(a->hash == b->hash);
	CHECK(a->content_length == b->content_length);
	CHECK(a->body_end == b->body_end);
}

static bool is_fixed(const struct cgi_pair *pr)
{
	return (pr->name_len == 14 && !memcmp(pr->name, "CONTENT_LENGTH", 14)) ||
	       (pr->name_len == 4 && !memcmp(pr->name, "SCGI", 4));
}

static bool encodable(const struct cgi_pair *pr)
{
	return pr->name_len > 0 && !memchr(pr->name, 0, pr->name_len) &&
	       !memchr(pr->value, 0, pr->value_len);
}

enum { MAX_PAIRS = 16 };

/* Splits in at 0xff bytes into name, value, name, value... */
static size_t split_pairs(const uint8_t *in, size_t len,
                          struct cgi_pair *pairs)
{
	const char *field[2];
	size_t field_len[2], n_fields = 0, n = 0, start = 0;
	for (size_t i = 0; i <= len && n < MAX_PAIRS; i++) {
		if (i < len && in[i] != 0xff)
			continue;
		field[n_fields] = (const char *)in + start;
		field_len[n_fields++] = i - start;
		start = i + 1;
		if (n_fields == 2) {
			pairs[n++] = (struct cgi_pair){ field[0], field_len[0],
			                                field[1], field_len[1] };
			n_fields = 0;
		}
	}
	return n;
}

/* What scgi_encode_head makes of the pairs in the input parses back to
 * CONTENT_LENGTH, SCGI, then the same pairs. */
static void round_trip(const uint8_t *in, size_t len)
{
	struct cgi_pair pairs[MAX_PAIRS], want[MAX_PAIRS + 2];
	size_t n = split_pairs(in, len, pairs);
	char cl[24];
	int cl_len = snprintf(cl, sizeof(cl), "%zu", len);
	want[0] = (struct cgi_pair){ "CONTENT_LENGTH", 14, cl, (size_t)cl_len };
	want[1] = (struct cgi_pair){ "SCGI", 4, "1", 1 };
	size_t n_want = 2;
	bool bad = false;
	for (size_t i = 0; i < n; i++) {
		if (is_fixed(&pairs[i]))
			continue;
		bad |= !encodable(&pairs[i]);
		want[n_want++] = pairs[i];
	}
	static uint8_t buf[1 << 17];
	if (len > sizeof(buf) / 2)
		return;
	int64_t size = scgi_encode_head(buf, sizeof(buf), len, pairs, n);
	if (bad) {
		CHECK(size == -EINVAL);
		return;
	}
	CHECK(size > 0 && (uint64_t)size <= sizeof(buf));
	const struct param_limits lim = { UINT32_MAX, UINT32_MAX, UINT64_MAX,
	                                  UINT32_MAX };
	struct scgi_parser p;
	scgi_parser_init(&p, &lim);
	size_t off = 0, i = 0, name_got = 0, value_got = 0;
	for (;;) {
		struct scgi_event ev;
		int r = scgi_feed(&p, buf + off, (size_t)size - off, &ev);
		CHECK(r >= 0);
		off += (size_t)r;
		if (ev.kind == SCGI_EV_NONE || ev.kind == SCGI_EV_HEADERS_END)
			break;
		CHECK(i < n_want);
		const struct cgi_pair *w = &want[i];
		if (ev.kind == SCGI_EV_NAME) {
			CHECK(name_got + ev.len <= w->name_len);
			CHECK(!memcmp(ev.data, w->name + name_got, ev.len));
			name_got += ev.len;
		} else if (ev.kind == SCGI_EV_VALUE) {
			CHECK(value_got + ev.len <= w->value_len);
			CHECK(!memcmp(ev.data, w->value + value_got, ev.len));
			value_got += ev.len;
		} else {
			CHECK(ev.kind == SCGI_EV_PAIR_END);
			CHECK(name_got == w->name_len && value_got == w->value_len);
			i++;
			name_got = value_got = 0;
		}
	}
	CHECK(i == n_want);
	CHECK(off == (size_t)size);
	CHECK(p.content_length == len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	/* Small limits reach the -EMSGSIZE paths; large ones the rest. */
	struct param_limits lim = { 4096, 65536, 1 << 20, 1000 };
	if (ctl & 1)
		lim = (struct param_limits){ 16, 8, 64, 4 };
	struct outcome whole, part;
	run(&lim, data, size, 0, &whole);
	for (unsigned split = 1; split <= 3; split++) {
		run(&lim, data, size, split + (ctl >> 1), &part);
		same(&whole, &part);
	}
	round_trip(data, size);
	return 0;
}
