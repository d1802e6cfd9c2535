/* The CGI response head (RFC 3875, section 6): header lines up to a blank
 * line, checked and classified. Pure: no I/O, no globals; the head is
 * collected in a buffer the caller owns. */
#ifndef ACGI_PROTO_CGI_HEAD_H
#define ACGI_PROTO_CGI_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CGI_HEAD_MAX_FIELDS = 100 };

/* RFC 3875, section 6.2: what the response asks of the server. */
enum cgi_response_kind {
	CGI_DOCUMENT = 1,           /* relay it, status from Status: or 200 */
	CGI_LOCAL_REDIRECT,         /* Location: /path, nothing else */
	CGI_CLIENT_REDIRECT,        /* Location: absoluteURI, no Status: */
	CGI_CLIENT_REDIRECT_DOC,    /* Location: absoluteURI with Status: */
};

struct cgi_field {
	const char *name;  /* into the caller's buffer, NUL-terminated */
	size_t name_len;
	const char *value; /* trimmed of surrounding spaces and tabs, NUL-terminated */
	size_t value_len;
};

struct cgi_head_parser {
	char *buf;             /* caller's buffer: the head is copied here */
	size_t cap;            /* its size: the longest head accepted */
	size_t len;            /* bytes collected */
	bool allow_status_line;/* accept "HTTP/1.x NNN reason" first (NPH, SCGI) */
	bool done;             /* the blank line was seen */
	/* Results, valid once done: */
	int status;            /* 200, Status:'s code, or 302 for a client redirect */
	const char *reason;    /* Status:'s reason phrase (may be ""), or NULL */
	enum cgi_response_kind kind;
	struct cgi_field fields[CGI_HEAD_MAX_FIELDS]; /* every line but Status: */
	size_t n_fields;
	int content_type;      /* index in fields, or -1 */
	int location;          /* index in fields, or -1 */
	int64_t content_length;/* Content-Length's value, or -1 */
	const char *error;     /* why the head was refused, or NULL */
};

/* Prepares p to collect a head of at most cap bytes into buf. */
void cgi_head_init(struct cgi_head_parser *p, char *buf, size_t cap,
                   bool allow_status_line);

/* Consumes response bytes up to and including the blank line that ends
 * the head. Returns the bytes consumed (the rest of the input is body);
 * p->done tells whether the head is complete. Lines end in LF or CRLF.
 * Errors, with p->error set: -EMSGSIZE when the head does not fit in the
 * buffer or has more than CGI_HEAD_MAX_FIELDS lines; -EPROTO for a line
 * with no colon, an empty or non-token name, a space before the colon, a
 * bare CR or a NUL, obsolete line folding, a repeated Status:, Location: or
 * Content-Type:, a Status: that is not three digits (100..599) and a
 * reason, a bad or repeated Content-Length, an empty Location:, or a head
 * with no field at all. */
int cgi_head_feed(struct cgi_head_parser *p, const uint8_t *in, size_t len);

/* Returns 0 when the head is complete, or -EPROTO ("no header block"): for
 * a response stream that ended before its blank line. */
int cgi_head_finish(struct cgi_head_parser *p);

/* Returns the value of the first field named name (case-insensitive), or
 * NULL. */
const char *cgi_head_get(const struct cgi_head_parser *p, const char *name);

#endif
