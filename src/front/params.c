/* The CGI/1.1 params of a request (RFC 3875, section 4.1), named and
 * valued as nginx's fastcgi_params would (docs/http.md lists them and the
 * few differences). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "docroot.h"
#include "front_int.h"

#ifndef FRONT_VERSION
#define FRONT_VERSION "0"
#endif

/* The decoded, normalized path of path[0..len) into a new string.
 * Returns 0, 400 for a bad path, 404 outside --script-prefix, or -ENOMEM. */
int params_path(const char *path, size_t len, char **out)
{
	/* Decoding only shortens; squashing may add one '/'. */
	char *p = malloc(len + 3);
	if (!p)
		return -ENOMEM;
	if (docroot_normalize(path, len, p, len + 3) < 0) {
		free(p);
		return 400;
	}
	const char *pre = F->opt.script_prefix;
	size_t pl = strlen(pre);
	if (pl && (strncmp(p, pre, pl) != 0 || (p[pl] && p[pl] != '/'))) {
		free(p);
		return 404;
	}
	*out = p;
	return 0;
}

/* ---- building the pairs ------------------------------------------------- */

struct builder {
	struct cgi_pair *pairs;
	size_t n;
	char *mem;    /* bump allocator for values */
	size_t used, cap;
};

static void add(struct builder *b, const char *name, const char *v, size_t vl)
{
	b->pairs[b->n++] = (struct cgi_pair){
		.name = name, .name_len = strlen(name), .value = v, .value_len = vl,
	};
}

static void adds(struct builder *b, const char *name, const char *v)
{
	add(b, name, v, strlen(v));
}

static char *take(struct builder *b, size_t n)
{
	if (b->cap - b->used < n)
		return NULL;
	char *p = b->mem + b->used;
	b->used += n;
	return p;
}

/* Formats an address and port into the builder's memory. */
static void add_addr(struct builder *b, const char *aname, const char *pname,
                     const union peer_addr *ss)
{
	char *a = take(b, INET6_ADDRSTRLEN + 8), *p = take(b, 8);
	if (!a || !p)
		return;
	a[0] = p[0] = '\0';
	if (ss->sa.sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a, INET6_ADDRSTRLEN);
		snprintf(p, 8, "%u", ntohs(in->sin_port));
	} else if (ss->sa.sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, INET6_ADDRSTRLEN);
		snprintf(p, 8, "%u", ntohs(in6->sin6_port));
	} else {
		strcpy(a, "unix:");
	}
	adds(b, aname, a);
	adds(b, pname, p);
}

/* The connection's local address: the listener's when it is not a
 * wildcard, else asked for. */
static void add_local(struct builder *b, const struct hconn *c)
{
	union peer_addr local;
	memset(&local, 0, sizeof(local));
	if (c->l->is_unix) {
		local.sa.sa_family = AF_UNIX;
	} else if (c->l->local.sin6_family) {
		memcpy(&local, &c->l->local, sizeof(local.in6));
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		(void)getsockname(c->ev.fd, (struct sockaddr *)&ss, &sl);
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			memcpy(&local, &ss, sizeof(local.in6));
	}
	add_addr(b, "SERVER_ADDR", "SERVER_PORT", &local);
}

/* SERVER_NAME: --server-name, else Host without its port. */
static void add_server_name(struct builder *b, const struct http_head *h)
{
	if (F->opt.server_name) {
		adds(b, "SERVER_NAME", F->opt.server_name);
		return;
	}
	const char *host = h->host ? h->host : "";
	size_t n = h->host ? h->host_len : 0;
	const char *end = host + n;
	if (n && host[0] == '[') {
		const char *rb = memchr(host, ']', n);
		end = rb ? rb + 1 : end;
	} else {
		const char *colon = memchr(host, ':', n);
		end = colon ? colon : end;
	}
	add(b, "SERVER_NAME", host, (size_t)(end - host));
}

static bool has_underscore(const struct http_field *f)
{
	return memchr(f->name, '_', f->name_len) != NULL;
}

static bool skipped(const struct http_field *f)
{
	if (!F->opt.underscores_in_headers && has_underscore(f))
		return true;
	/* httpoxy: HTTP_PROXY would pass for the proxy setting; the body's
	 * framing was undone here, so the app must not see it. */
	return strcasecmp(f->name, "Proxy") == 0 ||
	       strcasecmp(f->name, "Transfer-Encoding") == 0;
}

/* HTTP_NAME for field i, its value joined with later repeats (RFC 9110,
 * section 5.3; "; " for Cookie, RFC 6265, section 5.4). */
static void add_header(struct builder *b, const struct http_head *h,
                       size_t i)
{
	const struct http_field *f = &h->fields[i];
	for (size_t k = 0; k < i; k++)
		if (strcasecmp(h->fields[k].name, f->name) == 0)
			return;
	char *name = take(b, f->name_len + 6);
	if (!name)
		return;
	memcpy(name, "HTTP_", 5);
	for (size_t k = 0; k < f->name_len; k++) {
		char c = f->name[k];
		name[5 + k] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? c - 32 : c;
	}
	name[5 + f->name_len] = '\0';
	const char *sep = strcasecmp(f->name, "Cookie") == 0 ? "; " : ", ";
	size_t total = f->value_len;
	for (size_t k = i + 1; k < h->n_fields; k++)
		if (strcasecmp(h->fields[k].name, f->name) == 0)
			total += 2 + h->fields[k].value_len;
	if (total == f->value_len) {
		add(b, name, f->value, f->value_len);
		return;
	}
	char *v = take(b, total + 1);
	if (!v)
		return;
	size_t o = 0;
	memcpy(v, f->value, f->value_len);
	o = f->value_len;
	for (size_t k = i + 1; k < h->n_fields; k++) {
		if (strcasecmp(h->fields[k].name, f->name) != 0)
			continue;
		memcpy(v + o, sep, 2);
		memcpy(v + o + 2, h->fields[k].value, h->fields[k].value_len);
		o += 2 + h->fields[k].value_len;
	}
	add(b, name, v, o);
}

/* The path and query of the request, or of its local redirect. */
static void request_uri(const struct http_head *h, const char *redirect,
                        const char **uri, const char **q, size_t *path_len)
{
	*uri = redirect ? redirect : h->path;
	const char *qm = strchr(*uri, '?');
	*q = qm ? qm + 1 : "";
	*path_len = qm ? (size_t)(qm - *uri) : strlen(*uri);
}

/* Joins two strings in the builder's memory. */
static const char *join(struct builder *b, const char *x, const char *y)
{
	size_t xl = strlen(x), yl = strlen(y);
	char *s = take(b, xl + yl + 1);
	if (!s)
		return "";
	memcpy(s, x, xl);
	memcpy(s + xl, y, yl + 1);
	return s;
}

/* SCRIPT_NAME and PATH_INFO: the script file found under
 * --document-root, else the --script-prefix and the rest of the path. */
static void add_script(struct builder *b, const char *path,
                       const struct hreq *r)
{
	const char *pre = F->opt.script_prefix;
	const char *root = F->opt.document_root;
	size_t pl = strlen(pre);
	const char *script = pl ? pre : path;
	const char *info = pl ? path + pl : "";
	const char *file = script;
	if (r->script) {
		script = join(b, pre, r->script);
		info = r->path_info;
		file = r->script;
	}
	adds(b, "SCRIPT_NAME", script);
	/* A script with nothing after it has no PATH_INFO, as with php -S
	 * (PHP would see "" for a path that has none). */
	if (!r->script || *info)
		adds(b, "PATH_INFO", info);
	adds(b, "DOCUMENT_URI", path);
	if (!root)
		return;
	adds(b, "DOCUMENT_ROOT", root);
	adds(b, "SCRIPT_FILENAME", join(b, root, file));
	if (r->script && *info)
		adds(b, "PATH_TRANSLATED", join(b, root, info));
}

static void add_body_params(struct builder *b, const struct http_head *h,
                            bool redirected)
{
	const char *ct = redirected ? NULL : http_head_get(h, "Content-Type");
	adds(b, "CONTENT_TYPE", ct ? ct : "");
	/* Known length: the number. No body: empty, as nginx sends it. A
	 * chunked body: no CONTENT_LENGTH; STDIN's end marks the body's. */
	if (redirected || (!h->chunked && h->content_length < 0)) {
		adds(b, "CONTENT_LENGTH", "");
	} else if (!h->chunked) {
		char *n = take(b, 24);
		if (n) {
			snprintf(n, 24, "%lld", (long long)h->content_length);
			adds(b, "CONTENT_LENGTH", n);
		}
	}
}

static void add_all(struct builder *b, const struct hconn *c,
                    const struct http_head *h, const struct hreq *r)
{
	const char *redirect = r->redirect_uri, *path = r->path;
	const char *uri, *q;
	size_t pl;
	request_uri(h, redirect, &uri, &q, &pl);
	adds(b, "GATEWAY_INTERFACE", "CGI/1.1");
	adds(b, "SERVER_SOFTWARE", "anycgi/" FRONT_VERSION);
	adds(b, "REQUEST_METHOD", redirect ? "GET" : h->method);
	adds(b, "REQUEST_URI", redirect ? redirect : h->path);
	adds(b, "QUERY_STRING", q);
	adds(b, "REQUEST_SCHEME", "http");
	adds(b, "SERVER_PROTOCOL", h->minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
	adds(b, "REDIRECT_STATUS", "200");
	add_script(b, path, r);
	add_body_params(b, h, redirect != NULL);
	add_addr(b, "REMOTE_ADDR", "REMOTE_PORT", &c->peer);
	add_local(b, c);
	add_server_name(b, h);
	for (size_t i = 0; i < h->n_fields; i++)
		if (!skipped(&h->fields[i]))
			add_header(b, h, i);
}

int params_encode(struct fbuf *out, const struct hconn *c,
                  const struct http_head *h, const struct hreq *r)
{
	const char *redirect = r->redirect_uri, *path = r->path;
	struct builder b = {0};
	size_t n_max = 32 + h->n_fields;
	size_t root = F->opt.document_root ? strlen(F->opt.document_root) : 0;
	b.cap = 4 * h->head_len + 3 * strlen(path) + 1024 +
	        (redirect ? strlen(redirect) : 0) + 2 * root +
	        (r->script ? 2 * strlen(r->script) +
	                     2 * strlen(r->path_info) + strlen(F->opt.script_prefix)
	                   : 0);
	b.pairs = malloc(n_max * sizeof(*b.pairs));
	b.mem = malloc(b.cap);
	int rc = -ENOMEM;
	if (!b.pairs || !b.mem)
		goto out;
	add_all(&b, c, h, r);
	int64_t size = fcgi_encode_params(NULL, 0, 1, b.pairs, b.n);
	if (size < 0 || fbuf_reserve(out, (size_t)size) < 0)
		goto out;
	(void)fcgi_encode_params(fbuf_tail(out), (size_t)size, 1, b.pairs, b.n);
	out->len += (size_t)size;
	rc = 0;
out:
	free(b.pairs);
	free(b.mem);
	return rc;
}
