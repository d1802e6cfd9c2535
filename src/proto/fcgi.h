/* FastCGI 1.0 codec: record framing, name-value pairs, the server-side
 * request state machine, and the encoders. Pure: no I/O, no globals, no
 * allocation (every state lives in caller storage). */
#ifndef ACGI_PROTO_FCGI_H
#define ACGI_PROTO_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "param_limits.h"

/* FastCGI 1.0, section 8 and appendix A. */
enum {
	FCGI_VERSION_1 = 1,
	FCGI_HEADER_LEN = 8,
	FCGI_MAX_CONTENT = 65535,
	FCGI_NULL_REQUEST_ID = 0,
	FCGI_KEEP_CONN = 1,
	/* Longest GET_VALUES name reported (section 4.1 defines three names,
	 * none longer than 15 bytes). */
	FCGI_GV_NAME_MAX = 64,
};

enum fcgi_type {
	FCGI_BEGIN_REQUEST = 1,
	FCGI_ABORT_REQUEST = 2,
	FCGI_END_REQUEST = 3,
	FCGI_PARAMS = 4,
	FCGI_STDIN = 5,
	FCGI_STDOUT = 6,
	FCGI_STDERR = 7,
	FCGI_DATA = 8,
	FCGI_GET_VALUES = 9,
	FCGI_GET_VALUES_RESULT = 10,
	FCGI_UNKNOWN_TYPE = 11,
};

enum fcgi_role { FCGI_RESPONDER = 1, FCGI_AUTHORIZER = 2, FCGI_FILTER = 3 };

enum fcgi_protocol_status {
	FCGI_REQUEST_COMPLETE = 0,
	FCGI_CANT_MPX_CONN = 1,
	FCGI_OVERLOADED = 2,
	FCGI_UNKNOWN_ROLE = 3,
};

/* ---- Record framing ------------------------------------------------- */

/* Splits a byte stream into records. Content is handed out as pieces that
 * point into the caller's input (no copy), except the 8-byte bodies of
 * BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE, which are collected so that
 * they arrive whole. */
struct fcgi_record_parser {
	uint8_t hdr[FCGI_HEADER_LEN]; /* header bytes collected so far */
	uint8_t body[8];               /* fixed-size body collected so far */
	uint8_t state;                 /* private */
	uint8_t hdr_len;               /* 0..8 */
	uint8_t body_len;              /* 0..8 */
	uint8_t type;                  /* current record's type */
	uint16_t request_id;           /* current record's id */
	uint16_t content_left;         /* content bytes still to come */
	uint16_t content_len;          /* current record's contentLength */
	uint8_t padding_left;          /* padding bytes still to skip */
	uint64_t offset;               /* bytes consumed since init */
	const char *reason;            /* why input was refused, or NULL */
	uint64_t error_offset;         /* stream offset of the refused byte */
};

enum fcgi_record_event_kind {
	FCGI_REC_NONE = 0,   /* nothing yet: feed more bytes */
	FCGI_REC_BEGIN,      /* a header was read (type, request_id, content_len) */
	FCGI_REC_CONTENT,    /* a piece of content (data, len > 0) */
	FCGI_REC_END,        /* the record is complete (content and padding) */
};

struct fcgi_record_event {
	enum fcgi_record_event_kind kind;
	uint8_t type;
	uint16_t request_id;
	uint16_t content_len;  /* whole record's contentLength */
	const uint8_t *data;   /* CONTENT: into the input; END of a fixed-size
	                          record: its collected body; else NULL */
	size_t len;            /* bytes at data */
};

void fcgi_record_parser_init(struct fcgi_record_parser *p);

/* Consumes bytes from in[0..len) until it has one event to report, and
 * stores it in *ev (kind FCGI_REC_NONE when all input was consumed with no
 * event). Returns the bytes consumed (0..len), or -EPROTO when the stream
 * is not FastCGI (version other than 1, or a fixed-size record with a wrong
 * length): p->reason and p->error_offset say why, and the parser stays in
 * that error state. Call it again with the rest of the input after each
 * event, even when no input is left (the end of an empty record needs no
 * more bytes), until it reports FCGI_REC_NONE. */
int fcgi_record_feed(struct fcgi_record_parser *p, const uint8_t *in,
                     size_t len, struct fcgi_record_event *ev);

/* ---- Name-value pairs (section 3.4) --------------------------------- */

struct fcgi_nv_parser {
	uint8_t lenbuf[4];   /* length bytes collected */
	uint8_t lenbuf_n;    /* 0..4 */
	uint8_t state;       /* private */
	uint32_t name_len;   /* current pair's name length */
	uint32_t value_len;  /* current pair's value length */
	uint64_t left;       /* name+value bytes of the current pair still due */
	uint32_t max_name;   /* longest accepted name, bytes */
	uint32_t max_value;  /* longest accepted value, bytes */
	const char *reason;  /* why input was refused, or NULL */
};

enum fcgi_nv_event_kind {
	FCGI_NV_NONE = 0,  /* nothing yet: feed more bytes */
	FCGI_NV_HEAD,      /* a pair starts: name_len, value_len */
	FCGI_NV_BYTES,     /* pair bytes: the name, then the value, in order */
	FCGI_NV_END,       /* the pair is complete */
};

struct fcgi_nv_event {
	enum fcgi_nv_event_kind kind;
	uint32_t name_len;     /* HEAD */
	uint32_t value_len;    /* HEAD */
	const uint8_t *data;   /* BYTES: into the input */
	size_t len;            /* BYTES */
};

void fcgi_nv_parser_init(struct fcgi_nv_parser *p, uint32_t max_name,
                         uint32_t max_value);

/* Same contract as fcgi_record_feed. Errors: -EMSGSIZE when a name or value
 * is longer than the parser's maximum, -EPROTO for an empty name. */
int fcgi_nv_feed(struct fcgi_nv_parser *p, const uint8_t *in, size_t len,
                 struct fcgi_nv_event *ev);

/* Returns 0 when the parser sits between pairs (the stream may end here),
 * -EPROTO when a pair is cut short (p->reason is set). */
int fcgi_nv_finish(struct fcgi_nv_parser *p);

/* Encodes one pair into out[0..cap). Returns the encoded size, which is
 * also what it needs: when it is larger than cap, nothing was written.
 * Returns -EMSGSIZE when a length does not fit in 31 bits. */
int64_t fcgi_nv_encode(uint8_t *out, size_t cap, const char *name,
                       size_t name_len, const char *value, size_t value_len);

/* ---- Encoders ------------------------------------------------------- */

/* Writes a record header into out[0..8). */
void fcgi_encode_header(uint8_t out[FCGI_HEADER_LEN], uint8_t type,
                        uint16_t request_id, uint16_t content_len,
                        uint8_t padding_len);

/* Writes a whole BEGIN_REQUEST record (16 bytes) into out. */
void fcgi_encode_begin(uint8_t out[16], uint16_t request_id, uint16_t role,
                       uint8_t flags);

/* Writes a whole END_REQUEST record (16 bytes) into out. */
void fcgi_encode_end(uint8_t out[16], uint16_t request_id,
                     uint32_t app_status, uint8_t protocol_status);

/* Writes a whole UNKNOWN_TYPE record (16 bytes) into out. */
void fcgi_encode_unknown_type(uint8_t out[16], uint8_t type);

/* ---- Server side: the request state machine -------------------------- */

/* One active request id on a connection. Caller storage, zeroed by
 * fcgi_server_init. */
struct fcgi_slot {
	uint16_t id;              /* 0 when the slot is free */
	uint16_t role;            /* FCGI_RESPONDER.. */
	uint8_t flags;            /* BEGIN_REQUEST flags */
	uint8_t phase;            /* private: which streams have ended */
	struct fcgi_nv_parser nv; /* PARAMS decoder */
	uint32_t n_params;        /* pairs received */
	uint64_t params_bytes;    /* name+value bytes received */
};

/* The server side of one connection: frames records, checks them against
 * the request ids that are active, decodes PARAMS and GET_VALUES. */
struct fcgi_server {
	struct fcgi_record_parser rec;
	struct fcgi_nv_parser gv;      /* GET_VALUES decoder */
	struct fcgi_slot *slots;       /* caller's array */
	size_t n_slots;                /* its length: max requests at once */
	struct param_limits lim;
	struct fcgi_slot *cur;         /* slot of the record being read */
	uint8_t skip;                  /* private: ignore the current record */
	uint8_t gv_name[FCGI_GV_NAME_MAX]; /* GET_VALUES name being collected */
	uint8_t gv_name_len;           /* bytes of it collected so far */
	const char *reason;            /* why input was refused, or NULL */
	uint64_t error_offset;         /* where */
};

enum fcgi_server_event_kind {
	FCGI_EV_NONE = 0,
	/* BEGIN_REQUEST for a new id; the slot is taken. */
	FCGI_EV_BEGIN,
	/* BEGIN_REQUEST refused; answer END_REQUEST with ev->protocol_status
	 * (FCGI_UNKNOWN_ROLE, FCGI_OVERLOADED when every slot is taken, or
	 * FCGI_CANT_MPX_CONN when n_slots is 1 and it is taken). No slot. */
	FCGI_EV_REFUSE,
	FCGI_EV_PARAM_HEAD,   /* a pair starts: name_len, value_len */
	FCGI_EV_PARAM_BYTES,  /* its name then value bytes: data, len */
	FCGI_EV_PARAM_END,    /* the pair is complete */
	FCGI_EV_PARAMS_END,   /* the empty PARAMS record */
	FCGI_EV_STDIN,        /* data, len > 0 */
	FCGI_EV_STDIN_END,    /* the empty STDIN record */
	FCGI_EV_DATA,         /* data, len > 0 (Filter) */
	FCGI_EV_DATA_END,     /* the empty DATA record */
	FCGI_EV_ABORT,        /* ABORT_REQUEST for an active id */
	/* A request broke the protocol or a limit: ev->error (negative),
	 * ev->reason. The slot stays taken (the caller answers, then calls
	 * fcgi_server_end); further records for it are ignored. */
	FCGI_EV_REQUEST_ERROR,
	/* One name asked for, whole: data (into s->gv_name, valid until the
	 * next call), len. A name longer than FCGI_GV_NAME_MAX is not
	 * reported: no defined name is that long, and section 4.1 leaves
	 * unknown names out of the reply anyway. */
	FCGI_EV_GET_VALUES_NAME,
	FCGI_EV_GET_VALUES_END,  /* the GET_VALUES record is complete */
	/* A management record of a type it does not know: answer with
	 * fcgi_encode_unknown_type(ev->type). */
	FCGI_EV_UNKNOWN_TYPE,
};

struct fcgi_server_event {
	enum fcgi_server_event_kind kind;
	uint16_t request_id;
	struct fcgi_slot *slot;     /* the request's slot, or NULL */
	uint16_t role;              /* BEGIN, REFUSE */
	uint8_t flags;              /* BEGIN, REFUSE */
	uint8_t protocol_status;    /* REFUSE */
	uint8_t type;               /* UNKNOWN_TYPE */
	uint32_t name_len;          /* PARAM_HEAD */
	uint32_t value_len;         /* PARAM_HEAD */
	const uint8_t *data;        /* into the input (GET_VALUES_NAME: s->gv_name) */
	size_t len;
	int error;                  /* REQUEST_ERROR: -EPROTO, -EMSGSIZE.. */
	const char *reason;         /* REQUEST_ERROR: one line, static */
};

/* Sets up a connection's state over slots[0..n_slots), n_slots >= 1. */
void fcgi_server_init(struct fcgi_server *s, struct fcgi_slot *slots,
                      size_t n_slots, const struct param_limits *lim);

/* Same contract as fcgi_record_feed. A connection-level error (framing
 * lost: bad version, bad fixed-size record length, an application record
 * with request id 0, a GET_VALUES that is not well formed) returns -EPROTO
 * with s->reason and s->error_offset set: close the connection.
 * Request-level problems (a second BEGIN_REQUEST for a live id, PARAMS after the empty PARAMS, STDIN
 * before the params ended, a stream record after its end, a params limit)
 * are reported as FCGI_EV_REQUEST_ERROR for that id, or, for records on an
 * id that is not active, ignored (section 3.3). */
int fcgi_server_feed(struct fcgi_server *s, const uint8_t *in, size_t len,
                     struct fcgi_server_event *ev);

/* Frees the slot of request_id, after the caller sent END_REQUEST. */
void fcgi_server_end(struct fcgi_server *s, uint16_t request_id);

/* True between records: no byte of a next record has been read. A
 * connection handed to another process must be cut there. */
bool fcgi_server_at_record_start(const struct fcgi_server *s);

/* Returns the number of active request ids. */
size_t fcgi_server_active(const struct fcgi_server *s);

#endif
