/* The HTTP/1.1 request parser of the front end: Debian's libhttp-parser
 * plus the strict checks it leaves out, run on the raw bytes of the head.
 * Pure: no I/O, no clocks, no logging. Feed bytes, get one event at a
 * time. It allocates the buffer the head is collected in (at most
 * max_header_bytes) and the header table; http_in_deinit frees them. */
#ifndef ACGI_FRONT_HTTP_IN_H
#define ACGI_FRONT_HTTP_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

struct http_in_limits {
	uint32_t max_header_bytes; /* request line + fields + blank line */
	uint32_t max_headers;      /* field lines in the head */
};

/* One field line of the head, NUL-terminated in the head buffer. */
struct http_field {
	const char *name;
	size_t name_len;
	const char *value; /* trimmed of spaces and tabs around it */
	size_t value_len;
};

/* The head of a request, valid from HTTP_IN_HEAD until http_in_next. */
struct http_head {
	const char *method;       /* "GET".., NUL-terminated */
	const char *target;       /* request-target as sent, NUL-terminated */
	size_t target_len;
	const char *path;         /* the path of target (origin or absolute form) */
	size_t path_len;
	const char *query;        /* after '?', or NULL */
	size_t query_len;
	const char *host;         /* Host: value (or the absolute form's), or NULL */
	size_t host_len;
	int major, minor;         /* HTTP version (1.0 or 1.1; 1.x above is 1.1) */
	struct http_field *fields;
	size_t n_fields;
	int64_t content_length;   /* -1: none */
	bool chunked;             /* Transfer-Encoding: chunked */
	bool keep_alive;          /* the connection may carry another request */
	bool expect_continue;     /* Expect: 100-continue */
	bool head_method;         /* HEAD: the answer has no body */
	size_t head_len;          /* bytes of the head, blank line included */
};

enum http_in_event_kind {
	HTTP_IN_NONE = 0, /* all input consumed: feed more */
	HTTP_IN_HEAD,     /* a request head is complete: p->head */
	HTTP_IN_BODY,     /* body bytes (chunked framing removed): data, len */
	HTTP_IN_END,      /* the request is complete; call http_in_next for
	                     the next one */
};

struct http_in_event {
	enum http_in_event_kind kind;
	const uint8_t *data; /* BODY: into the input */
	size_t len;
};

struct http_in {
	http_parser hp;
	struct http_in_limits lim;
	uint8_t state;        /* private: HEAD, BODY, DONE, FAILED */
	uint8_t line_start;   /* private: where the scan is in its line */
	bool blank_prefix;    /* private: only empty lines so far */
	char *buf;            /* head buffer (grows to lim.max_header_bytes) */
	size_t buf_cap;
	size_t len;           /* head bytes collected */
	size_t skipped;       /* empty lines before the request line */
	struct http_field *fields_mem; /* table for head.fields */
	size_t fields_cap;
	struct http_head head;
	struct http_in_event pending; /* private: from a callback */
	uint64_t body_bytes;  /* body bytes reported for this request */
	int status;           /* error: the status to answer (400, 413..) */
	const char *reason;   /* error: why, one line, static */
};

/* Prepares p; lim is copied. Allocates nothing yet. */
void http_in_init(struct http_in *p, const struct http_in_limits *lim);

/* Frees the head buffer and table; p may be fed again after http_in_init. */
void http_in_deinit(struct http_in *p);

/* Consumes bytes of in[0..len) until it has one event, stored in *ev.
 * Returns the bytes consumed (0..len). Head bytes are copied into the
 * parser's buffer; BODY data point into in. After HTTP_IN_END it consumes
 * nothing until http_in_next. Errors: -EPROTO with p->status (400, 414,
 * 431, 501, 505) and p->reason set, after which the connection cannot
 * continue; -ENOMEM when the head buffer cannot grow. */
int http_in_feed(struct http_in *p, const uint8_t *in, size_t len,
                 struct http_in_event *ev);

/* Forgets the finished request and gets ready for the next one on the
 * same connection (keeps the buffers). */
void http_in_next(struct http_in *p);

/* Drops the buffers of a parser between requests (an idle connection
 * keeps none). */
void http_in_release(struct http_in *p);

/* True while no byte of a request has been collected. */
bool http_in_idle(const struct http_in *p);

/* Returns the value of the first field named name (case-insensitive), or
 * NULL. */
const char *http_head_get(const struct http_head *h, const char *name);

#endif
