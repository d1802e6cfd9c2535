/* FastCGI 1.0 codec: record framing, name-value pairs, the server-side
 * request state machine, and the encoders (contracts in fcgi.h). */
#include "fcgi.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

/* Feed functions return the bytes consumed as an int, so one call looks at
 * most at INT_MAX bytes. Given more, a call may report no event with bytes
 * left over: a caller that passes such sizes must loop on the count too. */
static size_t clamp_len(size_t len)
{
	return len > (size_t)INT_MAX ? (size_t)INT_MAX : len;
}

static size_t min_size(size_t a, uint64_t b)
{
	return (uint64_t)a < b ? a : (size_t)b;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- Record framing ------------------------------------------------- */

enum { REC_HEADER, REC_BODY, REC_CONTENT, REC_PADDING, REC_ERROR };

/* FastCGI 1.0, sections 4.2, 5.1 and 5.5: these bodies are 8 bytes. */
static bool is_fixed_size(uint8_t type)
{
	return type == FCGI_BEGIN_REQUEST || type == FCGI_END_REQUEST ||
	       type == FCGI_UNKNOWN_TYPE;
}

void fcgi_record_parser_init(struct fcgi_record_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = REC_HEADER;
}

static int rec_fail(struct fcgi_record_parser *p, const char *reason,
                    uint64_t at)
{
	p->state = REC_ERROR;
	p->reason = reason;
	p->error_offset = at;
	return -EPROTO;
}

static void rec_event(const struct fcgi_record_parser *p,
                      enum fcgi_record_event_kind kind,
                      struct fcgi_record_event *ev)
{
	ev->kind = kind;
	ev->type = p->type;
	ev->request_id = p->request_id;
	ev->content_len = p->content_len;
}

/* Checks the header just completed (section 3.3) and sets up its record. */
static int rec_start(struct fcgi_record_parser *p,
                     struct fcgi_record_event *ev)
{
	const uint8_t *h = p->hdr;
	uint64_t start = p->offset - FCGI_HEADER_LEN;

	if (h[0] != FCGI_VERSION_1)
		return rec_fail(p, "FastCGI version is not 1", start);
	p->type = h[1];
	p->request_id = get16(h + 2);
	p->content_len = get16(h + 4);
	p->padding_left = h[6];
	if (is_fixed_size(p->type) && p->content_len != 8)
		return rec_fail(p, "fixed-size record whose contentLength is not 8",
		                start + 4);
	p->content_left = p->content_len;
	p->hdr_len = 0;
	p->body_len = 0;
	p->state = is_fixed_size(p->type) ? REC_BODY : REC_CONTENT;
	rec_event(p, FCGI_REC_BEGIN, ev);
	return 0;
}

static size_t rec_take_header(struct fcgi_record_parser *p, const uint8_t *in,
                              size_t len)
{
	size_t n = min_size(len, (uint64_t)(FCGI_HEADER_LEN - p->hdr_len));

	memcpy(p->hdr + p->hdr_len, in, n);
	p->hdr_len = (uint8_t)(p->hdr_len + n);
	return n;
}

static size_t rec_take_body(struct fcgi_record_parser *p, const uint8_t *in,
                            size_t len)
{
	size_t n = min_size(len, p->content_left);

	memcpy(p->body + p->body_len, in, n);
	p->body_len = (uint8_t)(p->body_len + n);
	p->content_left = (uint16_t)(p->content_left - n);
	return n;
}

/* State changes happen lazily, at the top of the loop: after a CONTENT
 * event the parser stays in REC_CONTENT, which lets the server give back
 * the bytes a sub-parser did not take (see give_back). */
int fcgi_record_feed(struct fcgi_record_parser *p, const uint8_t *in,
                     size_t len, struct fcgi_record_event *ev)
{
	size_t used = 0, n;

	memset(ev, 0, sizeof(*ev));
	len = clamp_len(len);
	for (;;) {
		size_t avail = len - used;

		switch (p->state) {
		case REC_HEADER:
			if (avail == 0)
				return (int)used;
			n = rec_take_header(p, in + used, avail);
			p->offset += n;
			used += n;
			if (p->hdr_len < FCGI_HEADER_LEN)
				return (int)used;
			if (rec_start(p, ev) < 0)
				return -EPROTO;
			return (int)used;
		case REC_BODY:
			if (p->content_left == 0) {
				p->state = REC_PADDING;
				break;
			}
			if (avail == 0)
				return (int)used;
			n = rec_take_body(p, in + used, avail);
			p->offset += n;
			used += n;
			break;
		case REC_CONTENT:
			if (p->content_left == 0) {
				p->state = REC_PADDING;
				break;
			}
			if (avail == 0)
				return (int)used;
			n = min_size(avail, p->content_left);
			rec_event(p, FCGI_REC_CONTENT, ev);
			ev->data = in + used;
			ev->len = n;
			p->content_left = (uint16_t)(p->content_left - n);
			p->offset += n;
			return (int)(used + n);
		case REC_PADDING:
			/* Section 3.3: padding is skipped, whatever it holds. */
			if (p->padding_left > 0) {
				if (avail == 0)
					return (int)used;
				n = min_size(avail, p->padding_left);
				p->padding_left = (uint8_t)(p->padding_left - n);
				p->offset += n;
				used += n;
				break;
			}
			p->state = REC_HEADER;
			rec_event(p, FCGI_REC_END, ev);
			if (is_fixed_size(p->type)) {
				ev->data = p->body;
				ev->len = sizeof(p->body);
			}
			return (int)used;
		default:
			return -EPROTO;
		}
	}
}

/* ---- Name-value pairs (section 3.4) --------------------------------- */

enum { NV_NAME_LEN, NV_VALUE_LEN, NV_BYTES, NV_ERR_PROTO, NV_ERR_SIZE };

/* Section 3.4: a length takes 4 bytes when its high bit is set, so 31
 * bits is the most it can say. */
enum { NV_LEN_MAX = 0x7fffffff };

void fcgi_nv_parser_init(struct fcgi_nv_parser *p, uint32_t max_name,
                         uint32_t max_value)
{
	memset(p, 0, sizeof(*p));
	p->state = NV_NAME_LEN;
	p->max_name = max_name;
	p->max_value = max_value;
}

static int nv_fail(struct fcgi_nv_parser *p, int err, const char *reason)
{
	p->state = err == -EMSGSIZE ? NV_ERR_SIZE : NV_ERR_PROTO;
	p->reason = reason;
	return err;
}

/* Collects one length, byte by byte since it may be split anywhere: one
 * byte below 128, else four bytes, the first with its high bit set
 * (section 3.4). Returns true once *out holds it. */
static bool nv_take_len(struct fcgi_nv_parser *p, const uint8_t *in,
                        size_t len, size_t *used, uint32_t *out)
{
	const uint8_t *b = p->lenbuf;

	while (*used < len) {
		uint8_t c = in[(*used)++];

		p->lenbuf[p->lenbuf_n++] = c;
		if (p->lenbuf_n == 1 && !(c & 0x80)) {
			*out = c;
			p->lenbuf_n = 0;
			return true;
		}
		if (p->lenbuf_n == 4) {
			*out = (uint32_t)(b[0] & 0x7f) << 24 |
			       (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
			p->lenbuf_n = 0;
			return true;
		}
	}
	return false;
}

/* The lengths are checked against the limits before a single name or
 * value byte is taken, and the bytes are handed out as they come, never
 * looked up by a length: a huge length cannot make it read past the input
 * (the CVE-2025-23016 class). */
int fcgi_nv_feed(struct fcgi_nv_parser *p, const uint8_t *in, size_t len,
                 struct fcgi_nv_event *ev)
{
	size_t used = 0, n;

	memset(ev, 0, sizeof(*ev));
	len = clamp_len(len);
	for (;;) {
		switch (p->state) {
		case NV_NAME_LEN:
			if (!nv_take_len(p, in, len, &used, &p->name_len))
				return (int)used;
			if (p->name_len == 0)
				return nv_fail(p, -EPROTO,
				               "name-value pair with an empty name");
			if (p->name_len > p->max_name)
				return nv_fail(p, -EMSGSIZE,
				               "param name longer than the limit");
			p->state = NV_VALUE_LEN;
			break;
		case NV_VALUE_LEN:
			if (!nv_take_len(p, in, len, &used, &p->value_len))
				return (int)used;
			if (p->value_len > p->max_value)
				return nv_fail(p, -EMSGSIZE,
				               "param value longer than the limit");
			p->left = (uint64_t)p->name_len + p->value_len;
			p->state = NV_BYTES;
			ev->kind = FCGI_NV_HEAD;
			ev->name_len = p->name_len;
			ev->value_len = p->value_len;
			return (int)used;
		case NV_BYTES:
			if (p->left == 0) {
				p->state = NV_NAME_LEN;
				ev->kind = FCGI_NV_END;
				return (int)used;
			}
			if (used == len)
				return (int)used;
			n = min_size(len - used, p->left);
			ev->kind = FCGI_NV_BYTES;
			ev->data = in + used;
			ev->len = n;
			p->left -= n;
			return (int)(used + n);
		case NV_ERR_SIZE:
			return -EMSGSIZE;
		default:
			return -EPROTO;
		}
	}
}

/* A pair whose bytes are all in but whose END is not reported yet counts
 * as complete. */
int fcgi_nv_finish(struct fcgi_nv_parser *p)
{
	if (p->state == NV_NAME_LEN && p->lenbuf_n == 0)
		return 0;
	if (p->state == NV_BYTES && p->left == 0)
		return 0;
	if (p->state == NV_ERR_PROTO || p->state == NV_ERR_SIZE)
		return -EPROTO;
	p->reason = "name-value pair cut short at the end of the stream";
	return -EPROTO;
}

static size_t nv_len_size(size_t n)
{
	return n < 128 ? 1 : 4;
}

static uint8_t *nv_put_len(uint8_t *out, size_t n)
{
	if (n < 128) {
		*out = (uint8_t)n;
		return out + 1;
	}
	put32(out, (uint32_t)n | 0x80000000u);
	return out + 4;
}

int64_t fcgi_nv_encode(uint8_t *out, size_t cap, const char *name,
                       size_t name_len, const char *value, size_t value_len)
{
	size_t need;

	if (name_len > NV_LEN_MAX || value_len > NV_LEN_MAX)
		return -EMSGSIZE;
	need = nv_len_size(name_len) + nv_len_size(value_len) + name_len +
	       value_len;
	if (need > cap)
		return (int64_t)need;
	out = nv_put_len(out, name_len);
	out = nv_put_len(out, value_len);
	if (name_len > 0)
		memcpy(out, name, name_len);
	if (value_len > 0)
		memcpy(out + name_len, value, value_len);
	return (int64_t)need;
}

/* ---- Encoders ------------------------------------------------------- */

void fcgi_encode_header(uint8_t out[FCGI_HEADER_LEN], uint8_t type,
                        uint16_t request_id, uint16_t content_len,
                        uint8_t padding_len)
{
	out[0] = FCGI_VERSION_1;
	out[1] = type;
	put16(out + 2, request_id);
	put16(out + 4, content_len);
	out[6] = padding_len;
	out[7] = 0;
}

void fcgi_encode_begin(uint8_t out[16], uint16_t request_id, uint16_t role,
                       uint8_t flags)
{
	fcgi_encode_header(out, FCGI_BEGIN_REQUEST, request_id, 8, 0);
	memset(out + FCGI_HEADER_LEN, 0, 8);
	put16(out + 8, role);
	out[10] = flags;
}

void fcgi_encode_end(uint8_t out[16], uint16_t request_id,
                     uint32_t app_status, uint8_t protocol_status)
{
	fcgi_encode_header(out, FCGI_END_REQUEST, request_id, 8, 0);
	memset(out + FCGI_HEADER_LEN, 0, 8);
	put32(out + 8, app_status);
	out[12] = protocol_status;
}

void fcgi_encode_unknown_type(uint8_t out[16], uint8_t type)
{
	fcgi_encode_header(out, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
	memset(out + FCGI_HEADER_LEN, 0, 8);
	out[8] = type;
}

/* ---- Server side ----------------------------------------------------- */

/* fcgi_slot.phase bits. */
enum {
	PH_PARAMS_END = 1,
	PH_STDIN_END = 2,
	PH_DATA_END = 4,
	PH_ERROR = 8,
};

void fcgi_server_init(struct fcgi_server *s, struct fcgi_slot *slots,
                      size_t n_slots, const struct param_limits *lim)
{
	assert(slots != NULL && n_slots >= 1 && lim != NULL);
	memset(s, 0, sizeof(*s));
	memset(slots, 0, n_slots * sizeof(*slots));
	s->slots = slots;
	s->n_slots = n_slots;
	s->lim = *lim;
	fcgi_record_parser_init(&s->rec);
	fcgi_nv_parser_init(&s->gv, FCGI_MAX_CONTENT, FCGI_MAX_CONTENT);
}

/* Id 0 is never active: a free slot has id 0. */
static struct fcgi_slot *find_slot(const struct fcgi_server *s, uint16_t id)
{
	for (size_t i = 0; id != 0 && i < s->n_slots; i++)
		if (s->slots[i].id == id)
			return &s->slots[i];
	return NULL;
}

static struct fcgi_slot *free_slot(const struct fcgi_server *s)
{
	for (size_t i = 0; i < s->n_slots; i++)
		if (s->slots[i].id == 0)
			return &s->slots[i];
	return NULL;
}

void fcgi_server_end(struct fcgi_server *s, uint16_t request_id)
{
	struct fcgi_slot *slot = find_slot(s, request_id);

	if (!slot)
		return;
	/* Ended in the middle of one of its records: ignore the rest. */
	if (s->cur == slot) {
		s->cur = NULL;
		s->skip = 1;
	}
	memset(slot, 0, sizeof(*slot));
}

size_t fcgi_server_active(const struct fcgi_server *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_slots; i++)
		if (s->slots[i].id != 0)
			n++;
	return n;
}

static int conn_error(struct fcgi_server *s, const char *reason, uint64_t at)
{
	s->reason = reason;
	s->error_offset = at;
	s->rec.state = REC_ERROR;
	return -EPROTO;
}

static void set_event(struct fcgi_server_event *ev,
                      enum fcgi_server_event_kind kind, uint16_t id,
                      struct fcgi_slot *slot)
{
	ev->kind = kind;
	ev->request_id = id;
	ev->slot = slot;
}

/* Reports a request-level error and ignores the request from now on,
 * starting with the rest of the current record. */
static int request_error(struct fcgi_server *s, struct fcgi_slot *slot,
                         int err, const char *reason,
                         struct fcgi_server_event *ev)
{
	slot->phase |= PH_ERROR;
	s->cur = NULL;
	s->skip = 1;
	set_event(ev, FCGI_EV_REQUEST_ERROR, slot->id, slot);
	ev->error = err;
	ev->reason = reason;
	return 0;
}

/* Hands back the last n content bytes the record parser gave out, which
 * the name-value parser did not take, so that they come again next time. */
static void give_back(struct fcgi_server *s, size_t n, size_t *used)
{
	s->rec.content_left = (uint16_t)(s->rec.content_left + n);
	s->rec.offset -= n;
	*used -= n;
}

static bool in_record(const struct fcgi_record_parser *p)
{
	return p->state == REC_BODY || p->state == REC_CONTENT ||
	       p->state == REC_PADDING;
}

/* Section 3.4 leaves the params' size open; the limits bound what one
 * request may make the caller store. */
static int param_head(struct fcgi_server *s, struct fcgi_slot *slot,
                      const struct fcgi_nv_event *nev,
                      struct fcgi_server_event *ev)
{
	uint64_t pair = (uint64_t)nev->name_len + nev->value_len;

	if (slot->n_params >= s->lim.max_params)
		return request_error(s, slot, -EMSGSIZE,
		                     "more params than the limit", ev);
	/* params_bytes never exceeds the limit, so this cannot wrap. */
	if (pair > s->lim.max_params_bytes - slot->params_bytes)
		return request_error(s, slot, -EMSGSIZE,
		                     "params longer than the limit", ev);
	slot->n_params++;
	slot->params_bytes += pair;
	set_event(ev, FCGI_EV_PARAM_HEAD, slot->id, slot);
	ev->name_len = nev->name_len;
	ev->value_len = nev->value_len;
	return 0;
}

/* Passes a piece of PARAMS content (or nothing, to drain an event that
 * needs no input) through the slot's name-value parser. */
static int params_piece(struct fcgi_server *s, const uint8_t *data, size_t n,
                        struct fcgi_server_event *ev, size_t *used)
{
	struct fcgi_slot *slot = s->cur;
	struct fcgi_nv_event nev;
	int k = fcgi_nv_feed(&slot->nv, data, n, &nev);

	if (k < 0)
		return request_error(s, slot, k, slot->nv.reason, ev);
	give_back(s, n - (size_t)k, used);
	switch (nev.kind) {
	case FCGI_NV_HEAD:
		return param_head(s, slot, &nev, ev);
	case FCGI_NV_BYTES:
		set_event(ev, FCGI_EV_PARAM_BYTES, slot->id, slot);
		ev->data = nev.data;
		ev->len = nev.len;
		break;
	case FCGI_NV_END:
		set_event(ev, FCGI_EV_PARAM_END, slot->id, slot);
		break;
	default:
		break;
	}
	return 0;
}

/* Keeps the name part of GET_VALUES pair bytes (names come first, section
 * 3.4); values should be empty (section 4.1) and are ignored. */
static void gv_collect(struct fcgi_server *s, const uint8_t *data, size_t len)
{
	size_t take;

	if (s->gv.name_len > FCGI_GV_NAME_MAX)
		return;
	take = min_size(len, s->gv.name_len - s->gv_name_len);
	memcpy(s->gv_name + s->gv_name_len, data, take);
	s->gv_name_len = (uint8_t)(s->gv_name_len + take);
}

static bool nv_in_length(const struct fcgi_nv_parser *p)
{
	return p->state == NV_NAME_LEN || p->state == NV_VALUE_LEN;
}

/* Like params_piece, for GET_VALUES (section 4.1). A discrete record holds
 * whole pairs, so a pair that runs past its record breaks the connection.
 * Length bytes go in one at a time, so that a refused length is reported
 * at its own byte however the input was split. */
static int gv_piece(struct fcgi_server *s, const uint8_t *data, size_t n,
                    struct fcgi_server_event *ev, size_t *used)
{
	struct fcgi_nv_event nev;
	size_t n_feed = nv_in_length(&s->gv) && n > 1 ? 1 : n;
	int k = fcgi_nv_feed(&s->gv, data, n_feed, &nev);

	if (k < 0) {
		give_back(s, n - n_feed, used);
		return conn_error(s, k == -EMSGSIZE ?
		                  "GET_VALUES pair runs past the end of its record" :
		                  s->gv.reason, s->rec.offset - 1);
	}
	give_back(s, n - (size_t)k, used);
	switch (nev.kind) {
	case FCGI_NV_HEAD:
		if ((uint64_t)nev.name_len + nev.value_len > s->rec.content_left)
			return conn_error(s,
			                  "GET_VALUES pair runs past the end of its record",
			                  s->rec.offset - 1);
		s->gv_name_len = 0;
		break;
	case FCGI_NV_BYTES:
		gv_collect(s, nev.data, nev.len);
		break;
	case FCGI_NV_END:
		if (s->gv.name_len > FCGI_GV_NAME_MAX)
			break;
		set_event(ev, FCGI_EV_GET_VALUES_NAME, 0, NULL);
		ev->data = s->gv_name;
		ev->len = s->gv.name_len;
		break;
	default:
		break;
	}
	return 0;
}

/* Reports what a name-value parser has ready without more input (a pair's
 * END after its last bytes), before the record parser moves on. */
static int drain(struct fcgi_server *s, struct fcgi_server_event *ev)
{
	size_t none = 0;

	if (!in_record(&s->rec) || s->skip)
		return 0;
	if (s->rec.request_id == FCGI_NULL_REQUEST_ID)
		return gv_piece(s, NULL, 0, ev, &none);
	if (s->cur && s->rec.type == FCGI_PARAMS)
		return params_piece(s, NULL, 0, ev, &none);
	return 0;
}

/* Section 3.3: a stream is non-empty records ended by an empty one, and
 * section 6 orders the streams: PARAMS, then STDIN, then (Filter) DATA. */
static const char *stream_order_error(const struct fcgi_slot *slot,
                                      uint8_t type)
{
	bool params_done = slot->phase & PH_PARAMS_END;

	switch (type) {
	case FCGI_PARAMS:
		if (params_done)
			return "PARAMS after the end of the params stream";
		return NULL;
	case FCGI_STDIN:
		if (!params_done)
			return "STDIN before the end of the params stream";
		if (slot->phase & PH_STDIN_END)
			return "STDIN after the end of the STDIN stream";
		return NULL;
	default:
		/* Section 6.4: only a Filter gets DATA. */
		if (slot->role != FCGI_FILTER)
			return "DATA on a request that is not a Filter";
		if (!params_done)
			return "DATA before the end of the params stream";
		if (slot->phase & PH_DATA_END)
			return "DATA after the end of the DATA stream";
		return NULL;
	}
}

/* Section 4: request id 0 carries management records only. */
static int management_begin(struct fcgi_server *s)
{
	uint8_t type = s->rec.type;

	if (type >= FCGI_BEGIN_REQUEST && type <= FCGI_DATA)
		return conn_error(s, "application record with request id 0",
		                  s->rec.offset - FCGI_HEADER_LEN + 2);
	if (type == FCGI_GET_VALUES) {
		fcgi_nv_parser_init(&s->gv, FCGI_MAX_CONTENT, FCGI_MAX_CONTENT);
		s->gv_name_len = 0;
	} else {
		s->skip = 1;
	}
	return 0;
}

static bool is_input_stream(uint8_t type)
{
	return type == FCGI_PARAMS || type == FCGI_STDIN || type == FCGI_DATA;
}

/* A record header arrived: decide whether its content matters. BEGIN and
 * ABORT are decided at the record's end, once the body is in. */
static int on_record_begin(struct fcgi_server *s, struct fcgi_server_event *ev)
{
	uint8_t type = s->rec.type;
	struct fcgi_slot *slot;
	const char *why;

	s->cur = NULL;
	s->skip = 0;
	if (s->rec.request_id == FCGI_NULL_REQUEST_ID)
		return management_begin(s);
	if (type == FCGI_BEGIN_REQUEST || type == FCGI_ABORT_REQUEST)
		return 0;
	/* Section 3.3: records for an inactive id are ignored. So are the
	 * types only an application sends, and types we do not know. */
	slot = find_slot(s, s->rec.request_id);
	if (!slot || (slot->phase & PH_ERROR) || !is_input_stream(type)) {
		s->skip = 1;
		return 0;
	}
	why = stream_order_error(slot, type);
	if (why)
		return request_error(s, slot, -EPROTO, why, ev);
	s->cur = slot;
	return 0;
}

static int on_record_content(struct fcgi_server *s,
                             const struct fcgi_record_event *rev,
                             struct fcgi_server_event *ev, size_t *used)
{
	if (s->skip)
		return 0;
	if (rev->request_id == FCGI_NULL_REQUEST_ID)
		return gv_piece(s, rev->data, rev->len, ev, used);
	if (!s->cur)
		return 0; /* ABORT_REQUEST content: ignored */
	if (rev->type == FCGI_PARAMS)
		return params_piece(s, rev->data, rev->len, ev, used);
	set_event(ev, rev->type == FCGI_STDIN ? FCGI_EV_STDIN : FCGI_EV_DATA,
	          s->cur->id, s->cur);
	ev->data = rev->data;
	ev->len = rev->len;
	return 0;
}

/* Section 5.1: a new id takes a slot; section 5.5 lists the refusals. */
static int begin_request(struct fcgi_server *s,
                         const struct fcgi_record_event *rev,
                         struct fcgi_server_event *ev)
{
	uint16_t id = rev->request_id;
	struct fcgi_slot *slot = find_slot(s, id);

	if (slot) {
		if (slot->phase & PH_ERROR)
			return 0;
		return request_error(s, slot, -EPROTO,
		                     "BEGIN_REQUEST for an active request id", ev);
	}
	ev->role = get16(rev->data);
	ev->flags = rev->data[2];
	if (ev->role < FCGI_RESPONDER || ev->role > FCGI_FILTER) {
		set_event(ev, FCGI_EV_REFUSE, id, NULL);
		ev->protocol_status = FCGI_UNKNOWN_ROLE;
		return 0;
	}
	slot = free_slot(s);
	if (!slot) {
		set_event(ev, FCGI_EV_REFUSE, id, NULL);
		ev->protocol_status =
			s->n_slots == 1 ? FCGI_CANT_MPX_CONN : FCGI_OVERLOADED;
		return 0;
	}
	memset(slot, 0, sizeof(*slot));
	slot->id = id;
	slot->role = ev->role;
	slot->flags = ev->flags;
	fcgi_nv_parser_init(&slot->nv, s->lim.max_name, s->lim.max_value);
	set_event(ev, FCGI_EV_BEGIN, id, slot);
	return 0;
}

/* The empty record of a stream ends it (section 3.3). */
static int stream_end(struct fcgi_server *s, struct fcgi_slot *slot,
                      uint8_t type, struct fcgi_server_event *ev)
{
	switch (type) {
	case FCGI_PARAMS:
		if (fcgi_nv_finish(&slot->nv) < 0)
			return request_error(s, slot, -EPROTO,
			                     "params stream ends inside a name-value pair",
			                     ev);
		slot->phase |= PH_PARAMS_END;
		set_event(ev, FCGI_EV_PARAMS_END, slot->id, slot);
		break;
	case FCGI_STDIN:
		slot->phase |= PH_STDIN_END;
		set_event(ev, FCGI_EV_STDIN_END, slot->id, slot);
		break;
	default:
		slot->phase |= PH_DATA_END;
		set_event(ev, FCGI_EV_DATA_END, slot->id, slot);
		break;
	}
	return 0;
}

static int management_end(struct fcgi_server *s,
                          const struct fcgi_record_event *rev,
                          struct fcgi_server_event *ev)
{
	if (rev->type != FCGI_GET_VALUES) {
		/* Section 4.2: the caller answers UNKNOWN_TYPE. */
		set_event(ev, FCGI_EV_UNKNOWN_TYPE, 0, NULL);
		ev->type = rev->type;
		return 0;
	}
	if (fcgi_nv_finish(&s->gv) < 0)
		return conn_error(s, "GET_VALUES pair cut short at the end of its record",
		                  s->rec.offset - s->rec.hdr[6]);
	set_event(ev, FCGI_EV_GET_VALUES_END, 0, NULL);
	return 0;
}

static int on_record_end(struct fcgi_server *s,
                         const struct fcgi_record_event *rev,
                         struct fcgi_server_event *ev)
{
	struct fcgi_slot *slot = s->cur;

	s->cur = NULL;
	if (rev->request_id == FCGI_NULL_REQUEST_ID)
		return management_end(s, rev, ev);
	if (s->skip)
		return 0;
	if (rev->type == FCGI_BEGIN_REQUEST)
		return begin_request(s, rev, ev);
	if (rev->type == FCGI_ABORT_REQUEST) {
		/* Section 5.4; its content, if any, means nothing. */
		slot = find_slot(s, rev->request_id);
		if (slot)
			set_event(ev, FCGI_EV_ABORT, slot->id, slot);
		return 0;
	}
	if (!slot || rev->content_len != 0)
		return 0;
	return stream_end(s, slot, rev->type, ev);
}

static int on_record(struct fcgi_server *s, const struct fcgi_record_event *rev,
                     struct fcgi_server_event *ev, size_t *used)
{
	switch (rev->kind) {
	case FCGI_REC_BEGIN:
		return on_record_begin(s, ev);
	case FCGI_REC_CONTENT:
		return on_record_content(s, rev, ev, used);
	case FCGI_REC_END:
		return on_record_end(s, rev, ev);
	default:
		return 0;
	}
}

int fcgi_server_feed(struct fcgi_server *s, const uint8_t *in, size_t len,
                     struct fcgi_server_event *ev)
{
	size_t used = 0;

	memset(ev, 0, sizeof(*ev));
	if (s->reason)
		return -EPROTO;
	len = clamp_len(len);
	for (;;) {
		struct fcgi_record_event rev;
		int r = drain(s, ev);

		if (r == 0 && ev->kind == FCGI_EV_NONE) {
			r = fcgi_record_feed(&s->rec, used < len ? in + used : NULL,
			                     len - used, &rev);
			if (r < 0)
				return conn_error(s, s->rec.reason, s->rec.error_offset);
			used += (size_t)r;
			if (rev.kind == FCGI_REC_NONE)
				return (int)used;
			r = on_record(s, &rev, ev, &used);
		}
		if (r < 0)
			return r;
		if (ev->kind != FCGI_EV_NONE)
			return (int)used;
	}
}

bool fcgi_server_at_record_start(const struct fcgi_server *s)
{
	return s->rec.state == REC_HEADER && s->rec.hdr_len == 0;
}
