/* libFuzzer target for the FastCGI client's response parser and stream
 * encoder (src/proto/client.c).
 *
 * Input: one control byte (request id and how to split), then the
 * application's bytes. Each input is parsed whole, then in odd-sized
 * pieces; the runs must agree. Every call's result is checked: consumed
 * never exceeds what was given, event data lies inside the input just
 * consumed, nothing follows END. The input is also wrapped in STDOUT
 * records by fcgi_encode_stream and must come back out unchanged. One
 * control value in four parses in the multiplexing mode instead (any id
 * but 0, each event naming its id, never an end). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

struct outcome {
	bool mux;
	int rc;
	uint64_t used;
	uint64_t hash;    /* of the events, pieces of a kind in a row as one */
	int last_kind;
	uint16_t last_id;
	bool ended;
	bool stdout_ended;
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

static bool has_data(enum fcgi_client_event_kind kind)
{
	return kind == FCGI_CEV_STDOUT || kind == FCGI_CEV_STDERR ||
	       kind == FCGI_CEV_VALUE_NAME || kind == FCGI_CEV_VALUE_VALUE;
}

static void note_event(struct outcome *o, const struct fcgi_client_event *ev)
{
	CHECK(!o->ended);
	if (!has_data(ev->kind) || (int)ev->kind != o->last_kind ||
	    ev->request_id != o->last_id) {
		uint8_t tag[9] = { (uint8_t)ev->kind, ev->type, ev->protocol_status,
		                   (uint8_t)(ev->app_status >> 24),
		                   (uint8_t)(ev->app_status >> 16),
		                   (uint8_t)(ev->app_status >> 8),
		                   (uint8_t)ev->app_status,
		                   (uint8_t)(ev->request_id >> 8),
		                   (uint8_t)ev->request_id };
		o->hash = hash_bytes(o->hash, tag, sizeof(tag));
	}
	o->last_id = ev->request_id;
	if (has_data(ev->kind))
		o->hash = hash_bytes(o->hash, ev->data, ev->len);
	if (o->mux) {
		/* Application records name their request; the caller keeps
		 * each one's streams. */
		if (ev->kind >= FCGI_CEV_STDOUT && ev->kind <= FCGI_CEV_END)
			CHECK(ev->request_id != 0);
		o->last_kind = (int)ev->kind;
		return;
	}
	/* A stream has one end, and no data after it. */
	if (ev->kind == FCGI_CEV_STDOUT || ev->kind == FCGI_CEV_STDOUT_END)
		CHECK(!o->stdout_ended);
	if (ev->kind == FCGI_CEV_STDOUT_END)
		o->stdout_ended = true;
	if (ev->kind == FCGI_CEV_END)
		o->ended = true;
	o->last_kind = (int)ev->kind;
}

static bool feed(struct fcgi_client *c, const uint8_t *in, size_t len,
                 struct outcome *o)
{
	size_t off = 0;
	for (;;) {
		struct fcgi_client_event ev;
		int n = fcgi_client_feed(c, in + off, len - off, &ev);
		if (n < 0) {
			CHECK(n == -EPROTO && c->reason != NULL);
			o->rc = n;
			return false;
		}
		CHECK((size_t)n <= len - off);
		if (has_data(ev.kind)) {
			CHECK(ev.len > 0);
			CHECK(ev.data >= in + off && ev.data + ev.len <= in + off + n);
		}
		off += (size_t)n;
		o->used += (size_t)n;
		if (ev.kind == FCGI_CEV_NONE) {
			/* Short only after END. */
			CHECK(off == len || o->ended);
			return true;
		}
		note_event(o, &ev);
	}
}

static void run(uint16_t id, const uint8_t *in, size_t len, unsigned split,
                struct outcome *o)
{
	static const size_t sizes[] = { 1, 2, 3, 5, 7, 8, 9, 13, 64 };
	struct fcgi_client c;
	memset(o, 0, sizeof(*o));
	o->last_kind = -1;
	o->mux = id == 0;
	if (o->mux)
		fcgi_client_init_mux(&c);
	else
		fcgi_client_init(&c, id);
	bool ok = true;
	size_t off = 0;
	for (unsigned i = split; ok && off < len; i++) {
		size_t n = split ? sizes[i % 9] : len;
		if (n > len - off)
			n = len - off;
		ok = feed(&c, in + off, n, o);
		off += n;
	}
	o->reason = c.reason;
	o->error_offset = c.error_offset;
	CHECK(c.ended == o->ended);
	if (ok)
		CHECK(c.reason == NULL && c.rec.offset == o->used);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	CHECK(a->rc == b->rc);
	CHECK((a->reason == NULL) == (b->reason == NULL));
	CHECK(!a->reason || strcmp(a->reason, b->reason) == 0);
	CHECK(a->error_offset == b->error_offset);
	if (a->rc < 0)
		return;
	CHECK(a->used == b->used && a->hash == b->hash);
	CHECK(a->ended == b->ended);
}

/* The input, wrapped in STDOUT records, an empty STDOUT and END_REQUEST,
 * reads back as the same bytes. */
static void round_trip(uint16_t id, const uint8_t *in, size_t len)
{
	static uint8_t buf[1 << 18];
	if (len > sizeof(buf) / 2)
		return;
	int64_t n = fcgi_encode_stream(buf, sizeof(buf), FCGI_STDOUT, id, in, len);
	if (len == 0) {
		CHECK(n == FCGI_HEADER_LEN);
	} else {
		CHECK(n == (int64_t)(len + 8 * ((len + 65534) / 65535)));
		int64_t k = fcgi_encode_stream(buf + n, sizeof(buf) - (size_t)n,
		                               FCGI_STDOUT, id, NULL, 0);
		CHECK(k == FCGI_HEADER_LEN);
		n += k;
	}
	fcgi_encode_end(buf + n, id, (uint32_t)len, FCGI_REQUEST_COMPLETE);
	n += 16;

	struct fcgi_client c;
	fcgi_client_init(&c, id);
	size_t off = 0, got = 0;
	bool end = false;
	while (!end) {
		struct fcgi_client_event ev;
		int r = fcgi_client_feed(&c, buf + off, (size_t)n - off, &ev);
		CHECK(r >= 0 && ev.kind != FCGI_CEV_NONE);
		off += (size_t)r;
		if (ev.kind == FCGI_CEV_STDOUT) {
			CHECK(got + ev.len <= len);
			CHECK(!memcmp(ev.data, in + got, ev.len));
			got += ev.len;
		} else if (ev.kind == FCGI_CEV_END) {
			CHECK(ev.app_status == (uint32_t)len);
			end = true;
		} else {
			CHECK(ev.kind == FCGI_CEV_STDOUT_END);
		}
	}
	CHECK(got == len && off == (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	/* Mostly id 1, as every web server but HAProxy uses; 0: multiplexed. */
	static const uint16_t ids[] = { 1, 1, 0, 0x0101 };
	uint16_t id = ids[ctl & 3];
	struct outcome whole, part;
	run(id, data, size, 0, &whole);
	for (unsigned split = 1; split <= 3; split++) {
		run(id, data, size, split + (ctl >> 2), &part);
		same(&whole, &part);
	}
	round_trip(id ? id : 2, data, size);
	return 0;
}
