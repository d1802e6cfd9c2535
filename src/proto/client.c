/* The FastCGI client codec: request encoders (params, streams, GET_VALUES)
 * and the parser of an application's answer (FastCGI 1.0, sections 3-6). */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Sizes stay far below INT64_MAX, so that no sum below can overflow. */
#define SIZE_LIMIT ((uint64_t)INT64_MAX / 4)

/* Section 3.4: a length takes 4 bytes when its high bit is set. */
enum { NV_LEN_MAX = 0x7fffffff };

static size_t min_size(size_t a, uint64_t b)
{
	return (uint64_t)a < b ? a : (size_t)b;
}

/* ---- Encoders ------------------------------------------------------- */

static size_t nv_len_size(size_t n)
{
	return n < 128 ? 1 : 4;
}

/* Writes a pair's length in its one- or four-byte form (section 3.4). */
static size_t nv_put_len(uint8_t out[4], size_t n)
{
	if (n < 128) {
		out[0] = (uint8_t)n;
		return 1;
	}
	out[0] = (uint8_t)(n >> 24 | 0x80);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	return 4;
}

/* Size of one encoded pair, or a negative error. */
static int64_t pair_size(size_t name_len, size_t value_len)
{
	if (name_len == 0)
		return -EINVAL;
	if (name_len > NV_LEN_MAX || value_len > NV_LEN_MAX)
		return -EMSGSIZE;
	return (int64_t)(nv_len_size(name_len) + nv_len_size(value_len) +
	                 name_len + value_len);
}

/* Bytes on the wire for content_len bytes of a stream cut into records of
 * at most FCGI_MAX_CONTENT bytes, with no padding. */
static uint64_t stream_size(uint64_t content_len)
{
	uint64_t n_records = (content_len + FCGI_MAX_CONTENT - 1) /
	                     FCGI_MAX_CONTENT;
	return content_len + n_records * FCGI_HEADER_LEN;
}

/* Writes the content of one stream, starting a record whenever the last
 * one is full. Section 3.3: record boundaries carry no meaning, so a pair
 * may well be cut between two records. */
struct rec_writer {
	uint8_t *out;        /* next byte to write */
	uint8_t type;
	uint16_t request_id;
	uint64_t left;       /* content bytes still to write, in all records */
	size_t room;         /* content bytes left in the current record */
};

static void put(struct rec_writer *w, const void *data, size_t len)
{
	const uint8_t *d = data;
	while (len > 0) {
		if (w->room == 0) {
			w->room = min_size(FCGI_MAX_CONTENT, w->left);
			fcgi_encode_header(w->out, w->type, w->request_id,
			                   (uint16_t)w->room, 0);
			w->out += FCGI_HEADER_LEN;
		}
		size_t n = len < w->room ? len : w->room;
		memcpy(w->out, d, n);
		w->out += n;
		d += n;
		len -= n;
		w->room -= n;
		w->left -= n;
	}
}

static void put_pair(struct rec_writer *w, const char *name, size_t name_len,
                     const char *value, size_t value_len)
{
	uint8_t lens[8];
	size_t n = nv_put_len(lens, name_len);
	n += nv_put_len(lens + n, value_len);
	put(w, lens, n);
	put(w, name, name_len);
	put(w, value, value_len);
}

/* Adds up the encoded pairs; a negative error for a pair that cannot be
 * encoded. */
static int64_t params_size(const struct cgi_pair *pairs, size_t n)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t size = pair_size(pairs[i].name_len, pairs[i].value_len);
		if (size < 0)
			return size;
		if ((uint64_t)size > SIZE_LIMIT - total)
			return -EMSGSIZE;
		total += (uint64_t)size;
	}
	return (int64_t)total;
}

int64_t fcgi_encode_params(uint8_t *out, size_t cap, uint16_t request_id,
                           const struct cgi_pair *pairs, size_t n)
{
	int64_t content = params_size(pairs, n);
	if (content < 0)
		return content;
	/* The empty record ends the params stream (section 3.3). */
	uint64_t total = stream_size((uint64_t)content) + FCGI_HEADER_LEN;
	if (total > cap)
		return (int64_t)total;
	struct rec_writer w = {
		.out = out, .type = FCGI_PARAMS, .request_id = request_id,
		.left = (uint64_t)content,
	};
	for (size_t i = 0; i < n; i++)
		put_pair(&w, pairs[i].name, pairs[i].name_len, pairs[i].value,
		         pairs[i].value_len);
	fcgi_encode_header(w.out, FCGI_PARAMS, request_id, 0, 0);
	return (int64_t)total;
}

int64_t fcgi_encode_stream(uint8_t *out, size_t cap, uint8_t type,
                           uint16_t request_id, const uint8_t *data,
                           size_t len)
{
	if ((uint64_t)len > SIZE_LIMIT)
		return -EMSGSIZE;
	uint64_t total = len ? stream_size(len) : FCGI_HEADER_LEN;
	if (total > cap)
		return (int64_t)total;
	if (len == 0) {
		fcgi_encode_header(out, type, request_id, 0, 0);
		return FCGI_HEADER_LEN;
	}
	struct rec_writer w = {
		.out = out, .type = type, .request_id = request_id, .left = len,
	};
	put(&w, data, len);
	return (int64_t)total;
}

/* Section 4.1: one discrete record, so the pairs must fit in one. */
int64_t fcgi_encode_get_values(uint8_t *out, size_t cap,
                               const char *const *names, size_t n)
{
	uint64_t content = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t size = pair_size(strlen(names[i]), 0);
		if (size < 0)
			return size;
		content += (uint64_t)size;
		if (content > FCGI_MAX_CONTENT)
			return -EMSGSIZE;
	}
	uint64_t total = FCGI_HEADER_LEN + content;
	if (total > cap)
		return (int64_t)total;
	struct rec_writer w = {
		.out = out, .type = FCGI_GET_VALUES,
		.request_id = FCGI_NULL_REQUEST_ID, .left = content,
	};
	if (content == 0)
		fcgi_encode_header(out, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, 0, 0);
	for (size_t i = 0; i < n; i++)
		put_pair(&w, names[i], strlen(names[i]), "", 0);
	return (int64_t)total;
}

/* ---- Response parser ------------------------------------------------ */

void fcgi_client_init(struct fcgi_client *c, uint16_t request_id)
{
	memset(c, 0, sizeof(*c));
	fcgi_record_parser_init(&c->rec);
	/* A GET_VALUES_RESULT is one record: nothing in it can be longer. */
	fcgi_nv_parser_init(&c->nv, FCGI_MAX_CONTENT, FCGI_MAX_CONTENT);
	c->request_id = request_id;
}

void fcgi_client_init_mux(struct fcgi_client *c)
{
	fcgi_client_init(c, FCGI_NULL_REQUEST_ID);
}

static int fail(struct fcgi_client *c, const char *why, uint64_t at)
{
	c->reason = why;
	c->error_offset = at;
	return -EPROTO;
}

/* Stream offset of the current record's header byte at index i. */
static uint64_t header_byte(const struct fcgi_client *c, unsigned i)
{
	return c->rec.offset - FCGI_HEADER_LEN + i;
}

/* Section 8: what an application sends, and on which request id. */
static int check_record(struct fcgi_client *c)
{
	uint8_t type = c->rec.type;
	switch (type) {
	case FCGI_STDOUT:
	case FCGI_STDERR:
	case FCGI_END_REQUEST:
		/* Multiplexed: any id but the management one (section 3.3). */
		if (c->request_id == FCGI_NULL_REQUEST_ID &&
		    c->rec.request_id == FCGI_NULL_REQUEST_ID)
			return fail(c, "application record with request id 0",
			            header_byte(c, 2));
		if (c->request_id != FCGI_NULL_REQUEST_ID &&
		    c->rec.request_id != c->request_id)
			return fail(c, "record for another request id",
			            header_byte(c, 2));
		break;
	case FCGI_GET_VALUES_RESULT:
	case FCGI_UNKNOWN_TYPE:
		if (c->rec.request_id != FCGI_NULL_REQUEST_ID)
			return fail(c, "management record with a request id",
			            header_byte(c, 2));
		break;
	default:
		return fail(c, "record of a type an application does not send",
		            header_byte(c, 1));
	}
	/* Section 3.3: a stream ends with its one empty record. */
	if ((type == FCGI_STDOUT && c->stdout_ended) ||
	    (type == FCGI_STDERR && c->stderr_ended))
		return fail(c, "stream record after the end of its stream",
		            header_byte(c, 1));
	if (type == FCGI_GET_VALUES_RESULT)
		fcgi_nv_parser_init(&c->nv, FCGI_MAX_CONTENT, FCGI_MAX_CONTENT);
	return 0;
}

static void set_event(struct fcgi_client_event *ev,
                      enum fcgi_client_event_kind kind, const uint8_t *data,
                      size_t len)
{
	ev->kind = kind;
	ev->data = data;
	ev->len = len;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* A record is complete: the empty record ends its stream, a fixed-size
 * body arrives whole. */
static int record_end(struct fcgi_client *c,
                      const struct fcgi_record_event *rev,
                      struct fcgi_client_event *ev)
{
	bool mux = c->request_id == FCGI_NULL_REQUEST_ID;
	switch (rev->type) {
	case FCGI_STDOUT:
		if (rev->content_len == 0) {
			c->stdout_ended = !mux;
			set_event(ev, FCGI_CEV_STDOUT_END, NULL, 0);
		}
		return 0;
	case FCGI_STDERR:
		if (rev->content_len == 0) {
			c->stderr_ended = !mux;
			set_event(ev, FCGI_CEV_STDERR_END, NULL, 0);
		}
		return 0;
	case FCGI_END_REQUEST:
		/* Section 5.5: appStatus B3..B0, protocolStatus, reserved. */
		c->ended = !mux;
		set_event(ev, FCGI_CEV_END, NULL, 0);
		ev->app_status = get32(rev->data);
		ev->protocol_status = rev->data[4];
		return 0;
	case FCGI_UNKNOWN_TYPE:
		set_event(ev, FCGI_CEV_UNKNOWN_TYPE, NULL, 0);
		ev->type = rev->data[0];
		return 0;
	default:
		if (fcgi_nv_finish(&c->nv) < 0)
			return fail(c, "GET_VALUES_RESULT ends inside a pair",
			            c->rec.offset);
		set_event(ev, FCGI_CEV_VALUES_END, NULL, 0);
		return 0;
	}
}

static int on_record(struct fcgi_client *c,
                     const struct fcgi_record_event *rev,
                     struct fcgi_client_event *ev)
{
	switch (rev->kind) {
	case FCGI_REC_BEGIN:
		return check_record(c);
	case FCGI_REC_CONTENT:
		/* GET_VALUES_RESULT content never gets here (values_step). */
		set_event(ev, rev->type == FCGI_STDOUT ? FCGI_CEV_STDOUT
		                                       : FCGI_CEV_STDERR,
		          rev->data, rev->len);
		return 0;
	case FCGI_REC_END:
		return record_end(c, rev, ev);
	default:
		return 0;
	}
}

/* Translates one event of the GET_VALUES_RESULT decoder; in_name says
 * whether its bytes are a name's. */
static int values_event(struct fcgi_client *c,
                        const struct fcgi_nv_event *nev, bool in_name,
                        struct fcgi_client_event *ev)
{
	switch (nev->kind) {
	case FCGI_NV_HEAD:
		/* A discrete record holds whole pairs (section 3.3). */
		if ((uint64_t)nev->name_len + nev->value_len > c->rec.content_left)
			return fail(c, "GET_VALUES_RESULT pair runs past its record",
			            c->rec.offset - 1);
		return 0;
	case FCGI_NV_BYTES:
		set_event(ev, in_name ? FCGI_CEV_VALUE_NAME : FCGI_CEV_VALUE_VALUE,
		          nev->data, nev->len);
		return 0;
	case FCGI_NV_END:
		set_event(ev, FCGI_CEV_VALUE_END, NULL, 0);
		return 0;
	default:
		return 0;
	}
}

/* Inside a GET_VALUES_RESULT record, content goes to the pair decoder
 * first and the record parser is then moved over exactly what it took, so
 * that one call reports one event and never a name and a value at once.
 * Outside its content (rec.content_left 0) it is given no bytes, only the
 * chance to report a pair's end. Returns the bytes consumed; on an error
 * the refused byte is the one at rec.offset. */
static int values_step(struct fcgi_client *c, const uint8_t *in, size_t len,
                       struct fcgi_client_event *ev)
{
	size_t avail = min_size(len, c->rec.content_left);
	const struct fcgi_nv_parser *nv = &c->nv;
	uint64_t name_left = nv->left > nv->value_len ? nv->left - nv->value_len
	                                              : 0;
	/* Length bytes go in one at a time, so that a refused length is
	 * pinned to its last byte however the input was split. */
	if (nv->left == 0)
		avail = min_size(avail, 1);
	else if (name_left > 0)
		avail = min_size(avail, name_left);
	struct fcgi_nv_event nev;
	int k = fcgi_nv_feed(&c->nv, avail ? in : NULL, avail, &nev);
	if (k < 0)
		return fail(c, c->nv.reason ? c->nv.reason
		                            : "malformed GET_VALUES_RESULT",
		            c->rec.offset);
	if (k > 0) {
		struct fcgi_record_event rev;
		int r = fcgi_record_feed(&c->rec, in, (size_t)k, &rev);
		if (r != k || rev.kind != FCGI_REC_CONTENT)
			return fail(c, "record parser out of step", c->rec.offset);
	}
	int rc = values_event(c, &nev, name_left > 0, ev);
	return rc < 0 ? rc : k;
}

int fcgi_client_feed(struct fcgi_client *c, const uint8_t *in, size_t len,
                     struct fcgi_client_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (c->reason)
		return -EPROTO;
	if (c->ended)
		return 0;
	if (len > INT_MAX)
		len = INT_MAX;
	size_t used = 0;
	for (;;) {
		/* in may be NULL when len is 0: no arithmetic on it then. */
		const uint8_t *at = used ? in + used : in;
		int r = 0;
		if (c->rec.type == FCGI_GET_VALUES_RESULT) {
			r = values_step(c, at, len - used, ev);
			if (r < 0)
				return r;
			used += (size_t)r;
			if (ev->kind != FCGI_CEV_NONE)
				return (int)used;
			if (r > 0)
				continue;
		}
		struct fcgi_record_event rev;
		r = fcgi_record_feed(&c->rec, at, len - used, &rev);
		if (r < 0)
			return fail(c, c->rec.reason, c->rec.error_offset);
		used += (size_t)r;
		if (rev.kind == FCGI_REC_NONE)
			return (int)used;
		r = on_record(c, &rev, ev);
		if (r < 0)
			return r;
		if (ev->kind != FCGI_CEV_NONE) {
			ev->request_id = rev.request_id;
			return (int)used;
		}
	}
}
