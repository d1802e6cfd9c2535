/* libFuzzer target for the FastCGI name-value pair codec (section 3.4 of
 * FastCGI 1.0, src/proto/fcgi.c). The first input byte picks the limits and
 * the piece sizes; the rest is a PARAMS stream's content. It is decoded
 * whole, then in odd-sized pieces (same events, data pieces joined, same
 * error), and the pairs it held are encoded again and must decode to the
 * same events. Invariants are checked with abort(). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond) do { if (!(cond)) abort(); } while (0)

enum { MAX_PAIRS = 4096, OUT_MAX = 1 << 20 };

struct pair {
	size_t off;      /* name then value bytes, at run.bytes + off */
	uint32_t name_len;
	uint32_t value_len;
};

/* One decoding run: the pairs and their bytes, and a digest of the events
 * in which split BYTES pieces hash like whole ones. */
struct run {
	struct fcgi_nv_parser p;
	uint64_t h;
	uint64_t left;   /* bytes of the current pair still due */
	bool in_pair;
	int rc;          /* 0, or the feed error */
	int finish;      /* fcgi_nv_finish at the end */
	struct pair pairs[MAX_PAIRS];
	size_t n_pairs;
	uint8_t bytes[OUT_MAX];
	size_t n_bytes;
	bool overflow;   /* more than pairs[] or bytes[] hold */
};

static void mix(struct run *r, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		r->h ^= b[i];
		r->h *= 0x100000001b3u;
	}
}

static void mix_u64(struct run *r, uint64_t v)
{
	mix(r, &v, sizeof(v));
}

static void run_init(struct run *r, uint32_t max_name, uint32_t max_value)
{
	fcgi_nv_parser_init(&r->p, max_name, max_value);
	r->h = 0xcbf29ce484222325u;
	r->left = 0;
	r->in_pair = false;
	r->rc = 0;
	r->finish = 0;
	r->n_pairs = 0;
	r->n_bytes = 0;
	r->overflow = false;
}

static void on_head(struct run *r, const struct fcgi_nv_event *ev)
{
	check(!r->in_pair);
	check(ev->name_len > 0 && ev->name_len <= r->p.max_name);
	check(ev->value_len <= r->p.max_value);
	r->in_pair = true;
	r->left = (uint64_t)ev->name_len + ev->value_len;
	mix_u64(r, 1);
	mix_u64(r, (uint64_t)ev->name_len << 32 | ev->value_len);
	if (r->n_pairs == MAX_PAIRS) {
		r->overflow = true;
		return;
	}
	r->pairs[r->n_pairs].off = r->n_bytes;
	r->pairs[r->n_pairs].name_len = ev->name_len;
	r->pairs[r->n_pairs].value_len = ev->value_len;
	r->n_pairs++;
}

static void on_bytes(struct run *r, const struct fcgi_nv_event *ev)
{
	check(r->in_pair && ev->len > 0 && ev->len <= r->left);
	r->left -= ev->len;
	mix(r, ev->data, ev->len);
	if (ev->len > OUT_MAX - r->n_bytes) {
		r->overflow = true;
		return;
	}
	memcpy(r->bytes + r->n_bytes, ev->data, ev->len);
	r->n_bytes += ev->len;
}

static void on_end(struct run *r)
{
	check(r->in_pair && r->left == 0);
	r->in_pair = false;
	mix_u64(r, 2);
}

static bool feed(struct run *r, const uint8_t *in, size_t len)
{
	unsigned idle = 0;

	for (;;) {
		struct fcgi_nv_event ev;
		int n = fcgi_nv_feed(&r->p, in, len, &ev);

		if (n < 0) {
			check(n == -EPROTO || n == -EMSGSIZE);
			check(r->p.reason != NULL);
			r->rc = n;
			return false;
		}
		check((size_t)n <= len);
		/* Only a pair's END comes without input. */
		idle = n == 0 && ev.kind != FCGI_NV_NONE ? idle + 1 : 0;
		check(idle <= 1);
		switch (ev.kind) {
		case FCGI_NV_HEAD:
			on_head(r, &ev);
			break;
		case FCGI_NV_BYTES:
			check(ev.data >= in && ev.data + ev.len <= in + len);
			on_bytes(r, &ev);
			break;
		case FCGI_NV_END:
			on_end(r);
			break;
		default:
			check(n == (int)len);
			return true;
		}
		in += n;
		len -= (size_t)n;
	}
}

static void finish(struct run *r)
{
	if (r->rc == 0)
		r->finish = fcgi_nv_finish(&r->p);
	check(r->finish == 0 || r->finish == -EPROTO);
	check(r->finish != 0 || !r->in_pair || r->left == 0);
}

/* Encodes the whole run's complete pairs again and decodes them. */
static void roundtrip(const struct run *whole, struct run *again)
{
	static uint8_t out[OUT_MAX + 8 * MAX_PAIRS];
	size_t len = 0;

	for (size_t i = 0; i < whole->n_pairs; i++) {
		const struct pair *pr = &whole->pairs[i];
		const char *name = (const char *)whole->bytes + pr->off;
		int64_t n = fcgi_nv_encode(out + len, sizeof(out) - len, name,
		                           pr->name_len, name + pr->name_len,
		                           pr->value_len);

		check(n > 0 && (size_t)n <= sizeof(out) - len);
		len += (size_t)n;
	}
	run_init(again, whole->p.max_name, whole->p.max_value);
	(void)feed(again, out, len);
	finish(again);
	check(again->rc == 0 && again->finish == 0);
	check(again->h == whole->h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split;
	uint32_t max_name, max_value, seed, max_piece;
	size_t at = 0;

	if (size < 1)
		return 0;
	max_name = (data[0] & 0x80) ? 0x7fffffff : 4u * (data[0] & 0x0f);
	max_value = (data[0] & 0x80) ? 0xffffffff : 32u * (data[0] & 0x70);
	seed = data[0];
	max_piece = 1 + (data[0] & 0x0f);
	data++;
	size--;

	run_init(&whole, max_name, max_value);
	(void)feed(&whole, data, size);
	finish(&whole);

	run_init(&split, max_name, max_value);
	while (at < size) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % max_piece;
		if (n > size - at)
			n = size - at;
		if (!feed(&split, data + at, n))
			break;
		at += n;
	}
	finish(&split);
	check(whole.h == split.h && whole.rc == split.rc);
	check(whole.finish == split.finish && whole.p.reason == split.p.reason);

	if (whole.rc == 0 && whole.finish == 0 && !whole.overflow)
		roundtrip(&whole, &split);
	return 0;
}
