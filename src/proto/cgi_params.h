/* The client side's CGI meta-variables: the name-value pairs a web server
 * sends with a request for a URI (RFC 3875, section 4.1, built the way
 * nginx's fastcgi_params does), for `anycgi request` and `anycgi bench`.
 * Pure: no I/O, no globals, no allocation (the caller gives the room). */
#ifndef ACGI_PROTO_CGI_PARAMS_H
#define ACGI_PROTO_CGI_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "scgi.h"

/* What the request looks like from the web server's side. Every string is
 * NUL-terminated and the caller's; the pairs point into them and into buf. */
struct cgi_request_info {
	const char *method;          /* REQUEST_METHOD; NULL: "GET" */
	const char *uri;             /* the request target: /path[?query] */
	const char *document_root;   /* DOCUMENT_ROOT; NULL: not sent */
	const char *script_filename; /* NULL: document_root + the path, or
	                                not sent without a document_root */
	int64_t content_length;      /* body bytes; -1: no body (no
	                                CONTENT_LENGTH, section 4.1.2) */
	const char *server_name;     /* SERVER_NAME, default HTTP_HOST;
	                                NULL: "localhost" */
	const char *server_addr;     /* SERVER_ADDR; NULL: "127.0.0.1" */
	const char *server_port;     /* SERVER_PORT; NULL: "80" */
	const char *remote_addr;     /* REMOTE_ADDR; NULL: "127.0.0.1" */
	const char *remote_port;     /* REMOTE_PORT; NULL: "0" */
	const char *server_software; /* SERVER_SOFTWARE; NULL: "anycgi" */
	const char *const *headers;  /* "Name: value" lines, n_headers */
	size_t n_headers;
};

/* Room for the pairs of a request with n_headers headers. */
#define CGI_PARAMS_MAX(n_headers) (24 + (n_headers))

/* Fills out[0..cap) with the request's pairs and returns how many: the
 * fixed variables (REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME and
 * DOCUMENT_URI, the path percent-decoded as nginx's $fastcgi_script_name,
 * QUERY_STRING, SERVER_*, REMOTE_*, GATEWAY_INTERFACE, REDIRECT_STATUS..),
 * then one HTTP_NAME per header (upper-cased, '-' to '_'); Content-Type
 * and Content-Length become CONTENT_TYPE and CONTENT_LENGTH instead, a
 * Proxy header is dropped (httpoxy), and HTTP_HOST is server_name unless
 * a Host header is given. Decoded paths, file names, numbers and header
 * names are written into buf[0..buf_cap). Returns -ENOBUFS when out or
 * buf is too small, -EINVAL for a URI that does not start with '/', a
 * path that decodes to a NUL, or a header line without a token name and
 * a colon. */
int cgi_params_build(const struct cgi_request_info *in, struct cgi_pair *out,
                     size_t cap, char *buf, size_t buf_cap);

/* Sets name to value in pairs[0..*n): replaces the value of every pair
 * with that name (keeping the first, dropping the others), or appends a
 * pair when there is none and *n < cap. Returns 0, -ENOBUFS when it would
 * need a pair beyond cap, -EINVAL for an empty name. name and value are
 * the caller's and must outlive the pairs. */
int cgi_params_set(struct cgi_pair *pairs, size_t *n, size_t cap,
                   const char *name, size_t name_len, const char *value,
                   size_t value_len);

#endif
