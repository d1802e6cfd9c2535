/* libFuzzer target for the FastCGI server side (src/proto/fcgi.c): the
 * record parser and the request state machine. The first input byte picks
 * the slot count, the limits and the piece sizes; the rest is the byte
 * stream from a web server. Each run goes whole, then in odd-sized pieces,
 * and both must give the same events (data pieces joined) and the same
 * error. Invariants are checked with abort(). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond) do { if (!(cond)) abort(); } while (0)

enum { N_SLOTS_MAX = 4 };

/* FNV-1a over a canonical form of the events. A data event adds its kind
 * and id only when they differ from the data event before it, then its
 * bytes, so that pieces of one run hash like the whole. */
struct digest {
	uint64_t h;
	int data_kind; /* kind of the data run in progress, or -1 */
	uint32_t data_id;
	size_t n_events;
};

static void digest_init(struct digest *d)
{
	d->h = 0xcbf29ce484222325u;
	d->data_kind = -1;
	d->data_id = 0;
	d->n_events = 0;
}

static void mix(struct digest *d, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		d->h ^= b[i];
		d->h *= 0x100000001b3u;
	}
}

static void mix_u64(struct digest *d, uint64_t v)
{
	mix(d, &v, sizeof(v));
}

static void mix_data(struct digest *d, int kind, uint32_t id,
                     const uint8_t *p, size_t len)
{
	if (d->data_kind != kind || d->data_id != id) {
		mix_u64(d, 0x1000u + (uint64_t)kind);
		mix_u64(d, id);
		d->data_kind = kind;
		d->data_id = id;
	}
	mix(d, p, len);
}

static void mix_event(struct digest *d, int kind, uint64_t a, uint64_t b,
                      uint64_t c)
{
	d->data_kind = -1;
	d->n_events++;
	mix_u64(d, (uint64_t)kind);
	mix_u64(d, a);
	mix_u64(d, b);
	mix_u64(d, c);
}

/* Piece sizes from a tiny generator seeded by the first byte. */
struct pieces {
	uint32_t state;
	uint32_t max;
};

static size_t next_piece(struct pieces *p)
{
	p->state = p->state * 1103515245u + 12345u;
	return 1 + (p->state >> 16) % p->max;
}

/* ---- The record parser alone ----------------------------------------- */

struct rec_run {
	struct fcgi_record_parser p;
	struct digest d;
	int rc;
};

/* Feeds in[0..len) until the parser wants more; returns false on error. */
static bool rec_feed(struct rec_run *r, const uint8_t *in, size_t len)
{
	unsigned idle = 0;

	for (;;) {
		struct fcgi_record_event ev;
		int n = fcgi_record_feed(&r->p, in, len, &ev);

		if (n < 0) {
			check(n == -EPROTO && r->p.reason != NULL);
			r->rc = n;
			return false;
		}
		check((size_t)n <= len);
		/* Only the end of an empty record comes without input. */
		idle = n == 0 && ev.kind != FCGI_REC_NONE ? idle + 1 : 0;
		check(idle <= 1);
		if (ev.kind == FCGI_REC_CONTENT) {
			check(ev.len > 0 && ev.data >= in && ev.data + ev.len <= in + len);
			mix_data(&r->d, ev.kind, ev.request_id, ev.data, ev.len);
		} else if (ev.kind == FCGI_REC_END) {
			check(ev.data == NULL || (ev.data == r->p.body && ev.len == 8));
			mix_event(&r->d, ev.kind, ev.type, ev.request_id, ev.content_len);
			if (ev.data)
				mix(&r->d, ev.data, ev.len);
		} else if (ev.kind == FCGI_REC_BEGIN) {
			check(ev.data == NULL);
			mix_event(&r->d, ev.kind, ev.type, ev.request_id, ev.content_len);
		} else {
			check(n == (int)len);
			return true;
		}
		in += n;
		len -= (size_t)n;
	}
}

static void rec_check(const uint8_t *in, size_t len, struct pieces pc)
{
	struct rec_run whole, split;
	size_t at = 0;

	fcgi_record_parser_init(&whole.p);
	digest_init(&whole.d);
	whole.rc = 0;
	(void)rec_feed(&whole, in, len);
	fcgi_record_parser_init(&split.p);
	digest_init(&split.d);
	split.rc = 0;
	while (at < len) {
		size_t n = next_piece(&pc);

		if (n > len - at)
			n = len - at;
		if (!rec_feed(&split, in + at, n))
			break;
		at += n;
	}
	check(whole.d.h == split.d.h && whole.rc == split.rc);
	check(whole.p.reason == split.p.reason);
	if (whole.rc < 0)
		check(whole.p.error_offset == split.p.error_offset);
	else
		check(whole.p.offset == len && split.p.offset == len);
}

/* ---- The server ------------------------------------------------------ */

struct srv_run {
	struct fcgi_server s;
	struct fcgi_slot slots[N_SLOTS_MAX];
	uint64_t pair_left[N_SLOTS_MAX]; /* PARAM bytes still due, per slot */
	bool in_pair[N_SLOTS_MAX];       /* between PARAM_HEAD and PARAM_END */
	struct digest d;
	int rc;
};

static void check_slot(const struct srv_run *r,
                       const struct fcgi_server_event *ev)
{
	switch (ev->kind) {
	case FCGI_EV_GET_VALUES_NAME:
	case FCGI_EV_GET_VALUES_END:
	case FCGI_EV_UNKNOWN_TYPE:
		check(ev->slot == NULL && ev->request_id == 0);
		return;
	case FCGI_EV_REFUSE:
		check(ev->slot == NULL && ev->request_id != 0);
		check(ev->protocol_status >= FCGI_CANT_MPX_CONN &&
		      ev->protocol_status <= FCGI_UNKNOWN_ROLE);
		return;
	default:
		check(ev->slot >= r->slots && ev->slot < r->slots + r->s.n_slots);
		check(ev->slot->id == ev->request_id && ev->request_id != 0);
		return;
	}
}

/* Section 3.4 bookkeeping: HEAD, its bytes adding up to its lengths,
 * then END, and every pair ended before the params are. */
static void check_pairs(struct srv_run *r, const struct fcgi_server_event *ev)
{
	size_t i = ev->slot ? (size_t)(ev->slot - r->slots) : 0;

	switch (ev->kind) {
	case FCGI_EV_BEGIN:
	case FCGI_EV_REQUEST_ERROR:
		r->pair_left[i] = 0;
		r->in_pair[i] = false;
		break;
	case FCGI_EV_PARAM_HEAD:
		check(!r->in_pair[i]);
		check(ev->name_len > 0);
		check(ev->name_len <= r->s.lim.max_name);
		check(ev->value_len <= r->s.lim.max_value);
		check(ev->slot->n_params <= r->s.lim.max_params);
		check(ev->slot->params_bytes <= r->s.lim.max_params_bytes);
		r->pair_left[i] = (uint64_t)ev->name_len + ev->value_len;
		r->in_pair[i] = true;
		break;
	case FCGI_EV_PARAM_BYTES:
		check(r->in_pair[i] && ev->len <= r->pair_left[i]);
		r->pair_left[i] -= ev->len;
		break;
	case FCGI_EV_PARAM_END:
		check(r->in_pair[i] && r->pair_left[i] == 0);
		r->in_pair[i] = false;
		break;
	case FCGI_EV_PARAMS_END:
		check(!r->in_pair[i]);
		break;
	default:
		break;
	}
}

static void check_event(struct srv_run *r, const struct fcgi_server_event *ev,
                        const uint8_t *in, size_t len)
{
	check_slot(r, ev);
	check_pairs(r, ev);
	switch (ev->kind) {
	case FCGI_EV_PARAM_BYTES:
	case FCGI_EV_STDIN:
	case FCGI_EV_DATA:
		check(ev->len > 0 && ev->data >= in && ev->data + ev->len <= in + len);
		break;
	case FCGI_EV_GET_VALUES_NAME:
		check(ev->data == r->s.gv_name && ev->len > 0 &&
		      ev->len <= FCGI_GV_NAME_MAX);
		break;
	case FCGI_EV_REQUEST_ERROR:
		check(ev->error == -EPROTO || ev->error == -EMSGSIZE);
		check(ev->reason != NULL && ev->data == NULL);
		break;
	default:
		check(ev->data == NULL && ev->len == 0);
		break;
	}
}

static void record_event(struct srv_run *r, const struct fcgi_server_event *ev)
{
	switch (ev->kind) {
	case FCGI_EV_PARAM_BYTES:
	case FCGI_EV_STDIN:
	case FCGI_EV_DATA:
		mix_data(&r->d, ev->kind, ev->request_id, ev->data, ev->len);
		return;
	case FCGI_EV_GET_VALUES_NAME:
		mix_event(&r->d, ev->kind, ev->len, 0, 0);
		mix(&r->d, ev->data, ev->len);
		return;
	default:
		mix_event(&r->d, ev->kind, ev->request_id,
		          (uint64_t)ev->role << 32 | (uint64_t)ev->flags << 16 |
		                  (uint64_t)ev->protocol_status << 8 | ev->type,
		          (uint64_t)ev->name_len << 32 | ev->value_len);
		mix_u64(&r->d, (uint64_t)(intptr_t)ev->reason);
		mix_u64(&r->d, (uint64_t)(int64_t)ev->error);
		return;
	}
}

/* What a caller would do: free the slot once the request is over, so
 * that ids get reused. */
static void act(struct srv_run *r, const struct fcgi_server_event *ev)
{
	bool over = ev->kind == FCGI_EV_REQUEST_ERROR ||
	            ev->kind == FCGI_EV_ABORT || ev->kind == FCGI_EV_DATA_END ||
	            (ev->kind == FCGI_EV_STDIN_END &&
	             ev->slot->role != FCGI_FILTER);

	if (over)
		fcgi_server_end(&r->s, ev->request_id);
	check(fcgi_server_active(&r->s) <= r->s.n_slots);
}

static bool srv_feed(struct srv_run *r, const uint8_t *in, size_t len)
{
	unsigned idle = 0;

	for (;;) {
		struct fcgi_server_event ev;
		int n = fcgi_server_feed(&r->s, in, len, &ev);

		if (n < 0) {
			check(n == -EPROTO && r->s.reason != NULL);
			check(ev.kind == FCGI_EV_NONE);
			r->rc = n;
			return false;
		}
		check((size_t)n <= len);
		if (ev.kind == FCGI_EV_NONE) {
			check(n == (int)len);
			return true;
		}
		/* At most a pair's END and the record's end need no input. */
		idle = n == 0 ? idle + 1 : 0;
		check(idle <= 2);
		check_event(r, &ev, in, len);
		record_event(r, &ev);
		act(r, &ev);
		in += n;
		len -= (size_t)n;
	}
}

static void srv_init(struct srv_run *r, uint8_t conf)
{
	struct param_limits lim = {
		.max_name = 64,
		.max_value = 256,
		.max_params_bytes = 1024,
		.max_params = 16,
	};

	if (conf & 0x80) {
		lim.max_name = 0x7fffffff;
		lim.max_value = 0xffffffff;
		lim.max_params_bytes = UINT64_MAX;
		lim.max_params = UINT32_MAX;
	}
	memset(r, 0, sizeof(*r));
	fcgi_server_init(&r->s, r->slots, 1 + (conf & 3), &lim);
	digest_init(&r->d);
}

static void srv_check(const uint8_t *in, size_t len, uint8_t conf,
                      struct pieces pc)
{
	static struct srv_run whole, split;
	size_t at = 0;

	srv_init(&whole, conf);
	(void)srv_feed(&whole, in, len);
	/* Events are bounded by the input: at most a few per byte. */
	check(whole.d.n_events <= 2 * len + 2);
	srv_init(&split, conf);
	while (at < len) {
		size_t n = next_piece(&pc);

		if (n > len - at)
			n = len - at;
		if (!srv_feed(&split, in + at, n))
			break;
		at += n;
	}
	check(whole.d.h == split.d.h && whole.rc == split.rc);
	check(whole.s.reason == split.s.reason);
	check(whole.s.error_offset == split.s.error_offset);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pieces pc;

	if (size < 1)
		return 0;
	pc.state = data[0];
	pc.max = 1 + ((data[0] >> 2) & 0x1f);
	rec_check(data + 1, size - 1, pc);
	srv_check(data + 1, size - 1, data[0], pc);
	return 0;
}
