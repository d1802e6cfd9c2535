/* The CGI meta-variables of one request, as a web server builds them
 * (RFC 3875, section 4.1; nginx's fastcgi_params). */
#include "cgi_params.h"
#include "http_token.h"

#include <errno.h>
#include <string.h>

#include "fcgi.h"

/* Pairs the builder makes besides one per header (see the list in the
 * header), with room to spare. */
enum { BASE_PAIRS = 24 };

static const char DEFAULT_ROOT[] = "/var/www/html";

/* ---- Small string helpers ------------------------------------------- */

static int fail(struct cgi_params *p, const char *why)
{
	p->error = why;
	return -EINVAL;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!http_is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

static bool prefix_ci(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (upper(*s) != upper(*prefix))
			return false;
	return true;
}

static bool equal_ci(const char *a, size_t a_len, const char *b)
{
	return strlen(b) == a_len && prefix_ci(a, b);
}

/* ---- Output --------------------------------------------------------- */

/* Reserves n bytes of the caller's buffer; NULL when it is too small. */
static char *reserve(struct cgi_params *p, size_t n)
{
	if (n > p->cap_buf - p->buf_len)
		return NULL;
	char *at = p->buf + p->buf_len;
	p->buf_len += n;
	return at;
}

static int add_n(struct cgi_params *p, const char *name, size_t name_len,
                 const char *value, size_t value_len)
{
	if (p->n_pairs >= p->cap_pairs)
		return -ENOSPC;
	p->pairs[p->n_pairs++] = (struct cgi_pair){
		.name = name, .name_len = name_len,
		.value = value, .value_len = value_len,
	};
	return 0;
}

static int add(struct cgi_params *p, const char *name, const char *value,
               size_t value_len)
{
	return add_n(p, name, strlen(name), value, value_len);
}

static int add_str(struct cgi_params *p, const char *name, const char *value)
{
	return add(p, name, value, strlen(value));
}

/* Writes a decimal number into the buffer. */
static int add_number(struct cgi_params *p, const char *name, uint64_t v)
{
	char digits[24];
	size_t n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	char *at = reserve(p, n);
	if (!at)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++)
		at[i] = digits[n - 1 - i];
	return add(p, name, at, n);
}

/* ---- The URI -------------------------------------------------------- */

struct uri {
	bool absolute;       /* http(s)://authority came first */
	bool https;
	const char *host;    /* absolute form only */
	size_t host_len;
	const char *port;    /* absolute form with a port only */
	size_t port_len;
	const char *authority;
	size_t authority_len;
	const char *path;    /* "/..." (may be empty in the absolute form) */
	size_t path_len;
	const char *query;   /* after '?', or NULL */
	size_t query_len;
};

static int split_authority(struct cgi_params *p, struct uri *u,
                           const char *a, size_t len)
{
	u->authority = a;
	u->authority_len = len;
	if (len == 0 || memchr(a, '@', len))
		return fail(p, "the URI's host is empty or has a user name");
	const char *end = a + len, *colon = NULL;
	if (a[0] == '[') {
		const char *br = memchr(a, ']', len);
		if (!br)
			return fail(p, "the URI's IPv6 host has no ']'");
		colon = br + 1 < end ? br + 1 : NULL;
		if (colon && *colon != ':')
			return fail(p, "junk after the URI's IPv6 host");
	} else {
		colon = memchr(a, ':', len);
	}
	u->host = a;
	u->host_len = (size_t)((colon ? colon : end) - a);
	if (colon) {
		u->port = colon + 1;
		u->port_len = (size_t)(end - u->port);
		for (size_t i = 0; i < u->port_len; i++)
			if (u->port[i] < '0' || u->port[i] > '9')
				return fail(p, "the URI's port is not a number");
		if (u->port_len == 0 || u->port_len > 5)
			return fail(p, "the URI's port is not a number");
	}
	return u->host_len ? 0 : fail(p, "the URI's host is empty");
}

static int parse_uri(struct cgi_params *p, const char *s, struct uri *u)
{
	memset(u, 0, sizeof(*u));
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return fail(p, "the URI holds a space or a control byte");
	size_t len = strcspn(s, "#");
	if (prefix_ci(s, "http://") || prefix_ci(s, "https://")) {
		u->absolute = true;
		u->https = upper(s[4]) == 'S';
		const char *a = s + (u->https ? 8 : 7);
		size_t a_len = strcspn(a, "/?#");
		int rc = split_authority(p, u, a, a_len);
		if (rc < 0)
			return rc;
		len -= (size_t)(a + a_len - s);
		s = a + a_len;
	} else if (s[0] != '/') {
		return fail(p, "the URI must start with / or http(s)://");
	}
	const char *q = memchr(s, '?', len);
	u->path = s;
	u->path_len = q ? (size_t)(q - s) : len;
	if (q) {
		u->query = q + 1;
		u->query_len = len - u->path_len - 1;
	}
	return 0;
}

/* Percent-decodes the path into the buffer, as nginx's $uri (a "%zz"
 * that is no escape stays as it is). An absolute URI's empty path is
 * "/". */
static int decode_path(struct cgi_params *p, const struct uri *u,
                       const char **out, size_t *out_len)
{
	char *at = reserve(p, u->path_len + 1);
	if (!at)
		return -ENOSPC;
	size_t n = 0;
	if (u->path_len == 0)
		at[n++] = '/';
	for (size_t i = 0; i < u->path_len; i++) {
		const char *c = u->path + i;
		int hi = 0, lo = 0;
		if (*c == '%' && i + 2 < u->path_len &&
		    (hi = uri_hex_value(c[1])) >= 0 && (lo = uri_hex_value(c[2])) >= 0) {
			if (hi == 0 && lo == 0)
				return fail(p, "the URI's path decodes to a NUL byte");
			at[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			at[n++] = *c;
		}
	}
	*out = at;
	*out_len = n;
	return 0;
}

/* The request target as sent: path and query, with "/" for an absolute
 * URI's empty path. */
static int request_uri(struct cgi_params *p, const struct uri *u)
{
	size_t len = u->path_len + (u->query ? u->query_len + 1 : 0);
	if (u->path_len > 0)
		return add(p, "REQUEST_URI", u->path, len);
	char *at = reserve(p, len + 1);
	if (!at)
		return -ENOSPC;
	at[0] = '/';
	memcpy(at + 1, u->path, len);
	return add(p, "REQUEST_URI", at, len + 1);
}

/* ---- Overrides ------------------------------------------------------ */

/* The value of the first override that sets name, or NULL. */
static const char *override_of(const struct cgi_request *req,
                               const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < req->n_overrides; i++) {
		const char *o = req->overrides[i];
		if (strncmp(o, name, n) == 0 && o[n] == '=')
			return o + n + 1;
	}
	return NULL;
}

static void remove_pair(struct cgi_params *p, size_t i)
{
	memmove(&p->pairs[i], &p->pairs[i + 1],
	        (p->n_pairs - i - 1) * sizeof(p->pairs[0]));
	p->n_pairs--;
}

static bool pair_named(const struct cgi_pair *pair, const char *name,
                       size_t len)
{
	return pair->name_len == len && memcmp(pair->name, name, len) == 0;
}

/* Applies override k: the first setting of a name replaces the built
 * pair in place (and drops any repeat of it), a later one adds a repeat;
 * "NAME" alone drops every pair of that name. */
static int apply_override(struct cgi_params *p, const struct cgi_request *req,
                          size_t k)
{
	const char *o = req->overrides[k];
	const char *eq = strchr(o, '=');
	size_t name_len = eq ? (size_t)(eq - o) : strlen(o);
	if (name_len == 0)
		return fail(p, "a -p NAME=VALUE with an empty name");
	bool again = false;
	for (size_t j = 0; j < k && eq; j++) {
		const char *e = req->overrides[j];
		if (strncmp(e, o, name_len) == 0 && e[name_len] == '=')
			again = true;
	}
	bool replaced = again;
	for (size_t i = 0; i < p->n_pairs && !again;) {
		if (!pair_named(&p->pairs[i], o, name_len)) {
			i++;
		} else if (eq && !replaced) {
			p->pairs[i].value = eq + 1;
			p->pairs[i].value_len = strlen(eq + 1);
			replaced = true;
			i++;
		} else {
			remove_pair(p, i);
		}
	}
	if (eq && !replaced)
		return add_n(p, o, name_len, eq + 1, strlen(eq + 1));
	if (eq && again)
		return add_n(p, o, name_len, eq + 1, strlen(eq + 1));
	return 0;
}

/* ---- Headers -------------------------------------------------------- */

struct header {
	const char *name;
	size_t name_len;
	const char *value;  /* trimmed of spaces and tabs */
	size_t value_len;
};

static int split_header(struct cgi_params *p, const char *line,
                        struct header *h)
{
	const char *colon = strchr(line, ':');
	if (!colon)
		return fail(p, "a header line with no colon");
	h->name = line;
	h->name_len = (size_t)(colon - line);
	if (!is_token(h->name, h->name_len))
		return fail(p, "a header name that is not a token");
	const char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (strcspn(v, "\r\n") < n)
		return fail(p, "a header value with a CR or LF");
	h->value = v;
	h->value_len = n;
	return 0;
}

/* Section 4.1.18: "-" becomes "_" and case does not count, so "X-A" and
 * "x_a" are one variable. */
static bool same_variable(const struct header *a, const struct header *b)
{
	if (a->name_len != b->name_len)
		return false;
	for (size_t i = 0; i < a->name_len; i++) {
		char x = a->name[i] == '-' ? '_' : upper(a->name[i]);
		char y = b->name[i] == '-' ? '_' : upper(b->name[i]);
		if (x != y)
			return false;
	}
	return true;
}

/* What the headers say of one name. */
struct header_scan {
	bool given;        /* the header appears at all */
	const char *value; /* first value given, or NULL */
	size_t value_len;
};

/* Adds HTTP_NAME for header i (the first of its name), its values joined
 * by sep; nothing when every value is empty. */
static int add_header(struct cgi_params *p, const struct cgi_request *req,
                      size_t i, const struct header *h)
{
	const char *sep = equal_ci(h->name, h->name_len, "cookie") ? "; " : ", ";
	size_t total = 0;
	struct header o;
	for (size_t j = i; j < req->n_headers; j++) {
		(void)split_header(p, req->headers[j], &o);
		if (same_variable(h, &o) && o.value_len)
			total += o.value_len + 2;
	}
	if (total == 0)
		return 0;
	char *name = reserve(p, 5 + h->name_len);
	char *value = reserve(p, total);
	if (!name || !value)
		return -ENOSPC;
	memcpy(name, "HTTP_", 5);
	for (size_t k = 0; k < h->name_len; k++)
		name[5 + k] = h->name[k] == '-' ? '_' : upper(h->name[k]);
	size_t n = 0;
	for (size_t j = i; j < req->n_headers; j++) {
		(void)split_header(p, req->headers[j], &o);
		if (!same_variable(h, &o) || !o.value_len)
			continue;
		if (n) {
			memcpy(value + n, sep, 2);
			n += 2;
		}
		memcpy(value + n, o.value, o.value_len);
		n += o.value_len;
	}
	return add_n(p, name, 5 + h->name_len, value, n);
}

/* Finds the first header of a name (case-insensitive). */
static struct header_scan find_header(struct cgi_params *p,
                                      const struct cgi_request *req,
                                      const char *name)
{
	struct header_scan s = {0};
	struct header h;
	for (size_t i = 0; i < req->n_headers; i++) {
		(void)split_header(p, req->headers[i], &h);
		if (!equal_ci(h.name, h.name_len, name))
			continue;
		if (!s.given) {
			s.given = true;
			s.value = h.value;
			s.value_len = h.value_len;
		}
	}
	return s;
}

static int check_headers(struct cgi_params *p, const struct cgi_request *req)
{
	struct header h;
	for (size_t i = 0; i < req->n_headers; i++) {
		int rc = split_header(p, req->headers[i], &h);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* HTTP_HOST first (nginx's fastcgi_params sets it from $host), then one
 * pair per other header name. */
static int add_headers(struct cgi_params *p, const struct cgi_request *req,
                       const struct uri *u)
{
	struct header_scan host = find_header(p, req, "host");
	int rc = 0;
	if (!host.given && u->absolute)
		rc = add(p, "HTTP_HOST", u->authority, u->authority_len);
	else if (!host.given)
		rc = add_str(p, "HTTP_HOST", "localhost");
	for (size_t i = 0; rc == 0 && i < req->n_headers; i++) {
		struct header h, e;
		(void)split_header(p, req->headers[i], &h);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++) {
			(void)split_header(p, req->headers[j], &e);
			seen = same_variable(&h, &e);
		}
		/* Content-* go out as CONTENT_*; a Proxy header must never
		 * become HTTP_PROXY (httpoxy, CVE-2016-5385). */
		if (seen || equal_ci(h.name, h.name_len, "content-type") ||
		    equal_ci(h.name, h.name_len, "content-length") ||
		    equal_ci(h.name, h.name_len, "proxy"))
			continue;
		rc = add_header(p, req, i, &h);
	}
	return rc;
}

/* ---- The whole set -------------------------------------------------- */

size_t cgi_params_max_pairs(const struct cgi_request *req)
{
	return BASE_PAIRS + req->n_headers + req->n_overrides;
}

size_t cgi_params_max_buf(const struct cgi_request *req)
{
	const char *root = req->document_root ? req->document_root
	                                      : DEFAULT_ROOT;
	size_t n = 64 + 3 * strlen(req->uri) + strlen(root);
	for (size_t i = 0; i < req->n_headers; i++)
		n += 2 * strlen(req->headers[i]) + 8;
	for (size_t i = 0; i < req->n_overrides; i++)
		n += strlen(req->overrides[i]);
	return n;
}

void cgi_params_init(struct cgi_params *out, struct cgi_pair *pairs,
                     size_t cap_pairs, char *buf, size_t cap_buf)
{
	memset(out, 0, sizeof(*out));
	out->pairs = pairs;
	out->cap_pairs = cap_pairs;
	out->buf = buf;
	out->cap_buf = cap_buf;
}

/* SCRIPT_FILENAME = DOCUMENT_ROOT + SCRIPT_NAME, as nginx's
 * $document_root$fastcgi_script_name (without a doubled slash). */
static int add_script_filename(struct cgi_params *p, const char *root,
                               const char *script, size_t script_len)
{
	size_t root_len = strlen(root);
	if (root_len && root[root_len - 1] == '/' && script_len &&
	    script[0] == '/')
		root_len--;
	char *at = reserve(p, root_len + script_len);
	if (!at)
		return -ENOSPC;
	memcpy(at, root, root_len);
	memcpy(at + root_len, script, script_len);
	return add(p, "SCRIPT_FILENAME", at, root_len + script_len);
}

static int add_base(struct cgi_params *p, const struct cgi_request *req,
                    const struct uri *u)
{
	bool authorizer = req->role == FCGI_AUTHORIZER;
	bool body = req->content_length >= 0 && !authorizer;
	const char *root = override_of(req, "DOCUMENT_ROOT");
	if (!root)
		root = req->document_root ? req->document_root : DEFAULT_ROOT;
	const char *script;
	size_t script_len;
	int rc = decode_path(p, u, &script, &script_len);
	if (rc < 0)
		return rc;
	const char *script_filename_from = script;
	size_t from_len = script_len;
	const char *over = override_of(req, "SCRIPT_NAME");
	if (over) {
		script_filename_from = over;
		from_len = strlen(over);
	}
	struct header_scan type = find_header(p, req, "content-type");
	const char *port = u->port ? u->port : u->https ? "443" : "80";
	size_t port_len = u->port ? u->port_len : strlen(port);
	rc = add(p, "QUERY_STRING", u->query ? u->query : "", u->query_len);
	rc = rc ? rc : add_str(p, "REQUEST_METHOD", req->method);
	if (body && !type.given)
		rc = rc ? rc : add_str(p, "CONTENT_TYPE",
		                       "application/x-www-form-urlencoded");
	else if (body && type.value_len)
		rc = rc ? rc : add(p, "CONTENT_TYPE", type.value, type.value_len);
	if (body)
		rc = rc ? rc : add_number(p, "CONTENT_LENGTH",
		                          (uint64_t)req->content_length);
	if (!authorizer)
		rc = rc ? rc : add(p, "SCRIPT_NAME", script, script_len);
	rc = rc ? rc : request_uri(p, u);
	rc = rc ? rc : add(p, "DOCUMENT_URI", script, script_len);
	rc = rc ? rc : add_str(p, "DOCUMENT_ROOT", root);
	rc = rc ? rc : add_str(p, "SERVER_PROTOCOL", "HTTP/1.1");
	rc = rc ? rc : add_str(p, "REQUEST_SCHEME", u->https ? "https" : "http");
	if (u->https)
		rc = rc ? rc : add_str(p, "HTTPS", "on");
	rc = rc ? rc : add_str(p, "GATEWAY_INTERFACE", "CGI/1.1");
	rc = rc ? rc : add_str(p, "SERVER_SOFTWARE", req->server_software
	                       ? req->server_software : "anycgi");
	rc = rc ? rc : add_str(p, "REMOTE_ADDR", "127.0.0.1");
	rc = rc ? rc : add_str(p, "REMOTE_PORT", "0");
	rc = rc ? rc : add_str(p, "SERVER_ADDR", "127.0.0.1");
	rc = rc ? rc : add(p, "SERVER_PORT", port, port_len);
	if (u->absolute)
		rc = rc ? rc : add(p, "SERVER_NAME", u->host, u->host_len);
	else
		rc = rc ? rc : add_str(p, "SERVER_NAME", "localhost");
	rc = rc ? rc : add_str(p, "REDIRECT_STATUS", "200");
	rc = rc ? rc : add_script_filename(p, root, script_filename_from,
	                                   from_len);
	return rc;
}

int cgi_params_build(struct cgi_params *out, const struct cgi_request *req)
{
	out->n_pairs = 0;
	out->buf_len = 0;
	out->error = NULL;
	if (!req->method || !is_token(req->method, strlen(req->method)))
		return fail(out, "the method is not a token");
	struct uri u;
	int rc = parse_uri(out, req->uri, &u);
	rc = rc ? rc : check_headers(out, req);
	for (size_t i = 0; rc == 0 && i < req->n_overrides; i++) {
		const char *o = req->overrides[i];
		if (o[0] == '=' || o[0] == '\0')
			rc = fail(out, "a -p NAME=VALUE with an empty name");
	}
	rc = rc ? rc : add_base(out, req, &u);
	rc = rc ? rc : add_headers(out, req, &u);
	for (size_t i = 0; rc == 0 && i < req->n_overrides; i++)
		rc = apply_override(out, req, i);
	if (rc == -ENOSPC)
		out->error = "not enough room for the params";
	return rc;
}

const char *cgi_params_get(const struct cgi_params *p, const char *name,
                           size_t *len_out)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < p->n_pairs; i++) {
		if (pair_named(&p->pairs[i], name, n)) {
			*len_out = p->pairs[i].value_len;
			return p->pairs[i].value;
		}
	}
	return NULL;
}
