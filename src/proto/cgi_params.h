/* The CGI meta-variables a web server sends for one HTTP request (RFC 3875,
 * section 4.1, in the order and shape of nginx's fastcgi_params), built
 * from a method, a URI and header lines. Used by `anycgi request` and
 * `anycgi bench`; the HTTP front end can build on it too. Pure: no I/O, no
 * globals; every byte lives in the caller's buffers. */
#ifndef ACGI_PROTO_CGI_PARAMS_H
#define ACGI_PROTO_CGI_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scgi.h" /* struct cgi_pair */

/* What a web server knows of one request. Strings are NUL-terminated and
 * must outlive the pairs built from them (pairs may point into them). */
struct cgi_request {
	const char *method;          /* REQUEST_METHOD, e.g. "GET" */
	/* "/path?query" (origin form) or "http[s]://host[:port]/path?query"
	 * (absolute form: sets the host, port and HTTPS). A "#fragment" is
	 * dropped, as clients do. */
	const char *uri;
	const char *const *headers;  /* "Name: value" lines, n_headers of them */
	size_t n_headers;
	int64_t content_length;      /* body bytes, or -1: no body */
	uint16_t role;               /* FCGI_RESPONDER (or 0), _AUTHORIZER, _FILTER */
	const char *document_root;   /* DOCUMENT_ROOT; NULL: "/var/www/html" */
	const char *server_software; /* SERVER_SOFTWARE; NULL: "anycgi" */
	/* "NAME=VALUE" sets NAME (replacing what the builder made, or adding
	 * it; a second one of a name adds a repeated pair), "NAME" alone
	 * leaves NAME out. DOCUMENT_ROOT and SCRIPT_NAME given here also
	 * change the SCRIPT_FILENAME that is derived from them. */
	const char *const *overrides;
	size_t n_overrides;
};

/* The built pairs, in caller storage. */
struct cgi_params {
	struct cgi_pair *pairs; /* caller's array */
	size_t cap_pairs;       /* its length */
	size_t n_pairs;         /* pairs built */
	char *buf;              /* caller's bytes for derived names and values */
	size_t cap_buf;         /* its size */
	size_t buf_len;         /* bytes used */
	const char *error;      /* why the request was refused, or NULL */
};

/* Upper bounds of what cgi_params_build needs for req: pairs and buffer
 * bytes. Both only depend on the lengths in req. */
size_t cgi_params_max_pairs(const struct cgi_request *req);
size_t cgi_params_max_buf(const struct cgi_request *req);

/* Prepares out over the caller's pairs[0..cap_pairs) and buf[0..cap_buf). */
void cgi_params_init(struct cgi_params *out, struct cgi_pair *pairs,
                     size_t cap_pairs, char *buf, size_t cap_buf);

/* Builds the meta-variables of req into out, as nginx's fastcgi_params
 * would (QUERY_STRING, REQUEST_METHOD, CONTENT_TYPE, CONTENT_LENGTH,
 * SCRIPT_NAME, REQUEST_URI, DOCUMENT_URI, DOCUMENT_ROOT, SERVER_PROTOCOL,
 * REQUEST_SCHEME, HTTPS, GATEWAY_INTERFACE, SERVER_SOFTWARE, REMOTE_ADDR,
 * REMOTE_PORT, SERVER_ADDR, SERVER_PORT, SERVER_NAME, REDIRECT_STATUS,
 * SCRIPT_FILENAME) and one HTTP_* per header name, then applies the
 * overrides. CONTENT_LENGTH and CONTENT_TYPE are sent only with a body
 * (RFC 3875, 4.1.2; the type defaults to a form's, as curl's -d does). The
 * Authorizer role gets no CONTENT_*, SCRIPT_NAME or PATH_* (FastCGI 1.0,
 * section 6.3). Headers: repeats are joined with ", " ("; " for Cookie,
 * section 4.1.18); "Name:" with an empty value sends nothing for that name
 * (and drops a default Host or Content-Type); Content-Length is the body's
 * business; Proxy is never passed on (httpoxy). SCRIPT_NAME is the path
 * percent-decoded; REQUEST_URI stays as given. Pairs point into req's
 * strings and out->buf. Returns 0; -EINVAL with out->error set for a URI
 * that is not "/..." or http(s)://, a method or header name that is not a
 * token, a header line with no colon, a CR, LF or NUL in a value, a path
 * that decodes to a NUL, an override with an empty name; -ENOSPC when
 * out's storage is smaller than the bounds above. */
int cgi_params_build(struct cgi_params *out, const struct cgi_request *req);

/* Returns the value of the first pair named name, or NULL. The value is
 * not NUL-terminated: *len_out gets its length. */
const char *cgi_params_get(const struct cgi_params *p, const char *name,
                           size_t *len_out);

#endif
