/* The FastCGI and SCGI client codec: encode a request, parse the response.
 * Shared by the HTTP front end, `anycgi request` and `anycgi bench` (and the
 * tests' raw-socket cases). Pure: no I/O, no globals, no allocation. */
#ifndef ACGI_PROTO_CLIENT_H
#define ACGI_PROTO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fcgi.h"
#include "scgi.h"

/* Encodes pairs[0..n) as PARAMS records for request_id, followed by the
 * empty PARAMS record, into out[0..cap). Returns the encoded size, which is
 * also what it needs: when larger than cap, nothing was written. Returns
 * -EMSGSIZE when a length does not fit in 31 bits, -EINVAL for an empty
 * name (section 3.4 pairs need one; the server would refuse it). */
int64_t fcgi_encode_params(uint8_t *out, size_t cap, uint16_t request_id,
                           const struct cgi_pair *pairs, size_t n);

/* Wraps data[0..len) in records of type (STDIN, DATA, STDOUT, STDERR..)
 * for request_id into out[0..cap); len 0 writes the empty record that ends
 * the stream. Records carry at most 65535 bytes each (the last may be
 * shorter) and no padding. Returns the encoded size, which is also what it
 * needs: when larger than cap, nothing was written; -EMSGSIZE for a len
 * too large for the size to be counted (over 2^61). */
int64_t fcgi_encode_stream(uint8_t *out, size_t cap, uint8_t type,
                           uint16_t request_id, const uint8_t *data,
                           size_t len);

/* Encodes a GET_VALUES record asking for names[0..n) into out[0..cap).
 * Same return contract; -EMSGSIZE too when the pairs do not fit in one
 * record (it is a discrete record, section 3.3). */
int64_t fcgi_encode_get_values(uint8_t *out, size_t cap,
                               const char *const *names, size_t n);

/* The client side of one FastCGI connection, for one request id at a
 * time (plus management records), or, made by fcgi_client_init_mux, for
 * any number of multiplexed ones. */
struct fcgi_client {
	struct fcgi_record_parser rec;
	struct fcgi_nv_parser nv; /* GET_VALUES_RESULT decoder */
	uint16_t request_id;      /* the request being answered; 0: any (mux) */
	bool stdout_ended;        /* the empty STDOUT record was seen */
	bool stderr_ended;        /* the empty STDERR record was seen */
	bool ended;               /* END_REQUEST was seen */
	const char *reason;       /* why input was refused, or NULL */
	uint64_t error_offset;
};

enum fcgi_client_event_kind {
	FCGI_CEV_NONE = 0,
	FCGI_CEV_STDOUT,      /* data, len > 0 */
	FCGI_CEV_STDOUT_END,
	FCGI_CEV_STDERR,      /* data, len > 0 */
	FCGI_CEV_STDERR_END,
	FCGI_CEV_END,         /* app_status, protocol_status */
	FCGI_CEV_VALUE_NAME,  /* GET_VALUES_RESULT: a piece of a name */
	FCGI_CEV_VALUE_VALUE, /* a piece of its value (may be absent if "") */
	FCGI_CEV_VALUE_END,   /* the pair is complete */
	FCGI_CEV_VALUES_END,  /* the GET_VALUES_RESULT record is complete */
	FCGI_CEV_UNKNOWN_TYPE,/* the app did not know type */
};

struct fcgi_client_event {
	enum fcgi_client_event_kind kind;
	const uint8_t *data;     /* into the input */
	size_t len;
	uint32_t app_status;     /* END */
	uint8_t protocol_status; /* END */
	uint8_t type;            /* UNKNOWN_TYPE */
	uint16_t request_id;     /* whose record it is (0: management) */
};

/* Prepares c to read the answer to request_id. */
void fcgi_client_init(struct fcgi_client *c, uint16_t request_id);

/* Prepares c to read the answers to any number of requests multiplexed on
 * one connection (FCGI_MPXS_CONNS): STDOUT, STDERR and END_REQUEST for any
 * id but 0 are passed on with ev->request_id, and the caller keeps each
 * id's state (which ids it started, whose streams ended). stdout_ended,
 * stderr_ended and ended stay false: the parser never stops at an END. */
void fcgi_client_init_mux(struct fcgi_client *c);

/* Same contract as fcgi_record_feed. -EPROTO, with c->reason set, for a
 * stream that is not FastCGI, a record for another request id, a record of
 * a type an app must not send, stream data after its end, a malformed
 * END_REQUEST or GET_VALUES_RESULT. After END it consumes nothing more. */
int fcgi_client_feed(struct fcgi_client *c, const uint8_t *in, size_t len,
                     struct fcgi_client_event *ev);

#endif
