/* SCGI codec (protocol.txt, 2008): the server side's request parser and the
 * client side's request encoder. Pure: no I/O, no globals, no allocation. */
#ifndef ACGI_PROTO_SCGI_H
#define ACGI_PROTO_SCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "param_limits.h"

/* Parses `<len>:<headers>,<body>`. The header block's pairs are handed out
 * as pieces pointing into the input; the first pair, which must be
 * CONTENT_LENGTH with a non-empty decimal value, is also checked and its
 * value kept in content_length. Duplicate names are passed on (nginx sends a
 * repeated request header as repeated pairs). */
struct scgi_parser {
	struct param_limits lim;
	uint8_t state;           /* private */
	uint8_t n_digits;        /* digits of the netstring length read */
	uint64_t block_len;      /* the netstring's announced length */
	uint64_t block_left;     /* header bytes still to come */
	uint32_t n_pairs;        /* pairs completed */
	uint64_t name_len;       /* bytes of the current name so far */
	uint64_t value_len;      /* bytes of the current value so far */
	char first[16];          /* the first name, to check it (private) */
	uint8_t first_len;
	uint64_t content_length; /* CONTENT_LENGTH, once HEADERS_END is out */
	uint64_t body_left;      /* body bytes still to come */
	uint64_t offset;         /* bytes consumed since init */
	const char *reason;      /* why input was refused, or NULL */
	uint64_t error_offset;   /* stream offset of the refused byte */
};

enum scgi_event_kind {
	SCGI_EV_NONE = 0,    /* nothing yet: feed more bytes */
	SCGI_EV_NAME,        /* a piece of the current name (data, len > 0) */
	SCGI_EV_VALUE,       /* a piece of the current value (data, len > 0) */
	SCGI_EV_PAIR_END,    /* the current pair is complete (value may be "") */
	SCGI_EV_HEADERS_END, /* the comma after the block: content_length set */
	SCGI_EV_BODY,        /* a piece of the body (data, len > 0) */
	SCGI_EV_BODY_END,    /* CONTENT_LENGTH bytes of body were consumed */
};

struct scgi_event {
	enum scgi_event_kind kind;
	const uint8_t *data; /* into the input */
	size_t len;
};

void scgi_parser_init(struct scgi_parser *p, const struct param_limits *lim);

/* Consumes bytes from in[0..len) until it has one event to report, stores
 * it in *ev and returns the bytes consumed (kind SCGI_EV_NONE when all was
 * consumed with no event). After BODY_END it consumes nothing more (bytes
 * past the body are the caller's business). Errors, with p->reason and
 * p->error_offset set and the parser stuck in the error state: -EPROTO for
 * a malformed netstring (no digits, a leading zero, a missing ':' or ',', a
 * pair without its NUL, an empty name, a first pair other than
 * CONTENT_LENGTH or with a value that is not a decimal number), -EMSGSIZE
 * for a block, name, value or pair count over the limits. */
int scgi_feed(struct scgi_parser *p, const uint8_t *in, size_t len,
              struct scgi_event *ev);

/* One pair to encode (client side). */
struct cgi_pair {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Encodes the netstring header block of a request into out[0..cap):
 * CONTENT_LENGTH=content_length first, then SCGI=1, then pairs[0..n)
 * (pairs named CONTENT_LENGTH or SCGI are skipped: they are written
 * first). Returns the encoded size, which is also what it needs: when it
 * is larger than cap, nothing was written. Returns -EINVAL for an empty
 * name or a NUL in a name or value (it would end the field early and let
 * the rest pass for more headers), -EMSGSIZE if the size overflows. */
int64_t scgi_encode_head(uint8_t *out, size_t cap, uint64_t content_length,
                         const struct cgi_pair *pairs, size_t n);

#endif
