/* The CGI meta-variables a web server would send for a URI (RFC 3875,
 * section 4.1; the set of nginx's fastcgi_params). */
#include "cgi_params.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct builder {
	struct cgi_pair *out;
	size_t cap, n;
	char *buf;
	size_t buf_cap, buf_len;
	bool full; /* out or buf ran out */
};

static void add_n(struct builder *b, const char *name, size_t name_len,
                  const char *value, size_t value_len)
{
	if (b->n >= b->cap) {
		b->full = true;
		return;
	}
	b->out[b->n++] = (struct cgi_pair){name, name_len, value, value_len};
}

static void add(struct builder *b, const char *name, const char *value)
{
	add_n(b, name, strlen(name), value, strlen(value));
}

/* Room for len bytes in buf, or NULL (and full). */
static char *take(struct builder *b, size_t len)
{
	if (len > b->buf_cap - b->buf_len) {
		b->full = true;
		return NULL;
	}
	char *p = b->buf + b->buf_len;
	b->buf_len += len;
	return p;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in path[0..len) into out (which has len bytes); an escape
 * that is not two hex digits stays as it is, as in nginx. Returns the
 * decoded length, or -EINVAL for %00: a NUL cannot travel in a CGI value
 * (section 6.1 of FastCGI, RFC 3875 section 4.1). */
static int64_t decode_path(const char *path, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (path[i] == '%' && i + 2 < len && (hi = hex(path[i + 1])) >= 0 &&
		    (lo = hex(path[i + 2])) >= 0) {
			char c = (char)(hi << 4 | lo);
			if (c == '\0')
				return -EINVAL;
			out[o++] = c;
			i += 2;
		} else {
			out[o++] = path[i];
		}
	}
	return (int64_t)o;
}

/* RFC 9110, section 5.6.2: a header name is a token. */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* One "Name: value" line. Sets *host when it is a Host header. */
static int add_header(struct builder *b, const char *line, bool *host)
{
	const char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return -EINVAL;
	size_t name_len = (size_t)(colon - line);
	for (size_t i = 0; i < name_len; i++)
		if (!is_tchar((unsigned char)line[i]))
			return -EINVAL;
	const char *v = colon + 1;
	size_t v_len = strlen(v);
	while (v_len && (*v == ' ' || *v == '\t'))
		v++, v_len--;
	while (v_len && (v[v_len - 1] == ' ' || v[v_len - 1] == '\t'))
		v_len--;
	if (name_is(line, name_len, "Content-Type")) {
		add_n(b, "CONTENT_TYPE", 12, v, v_len);
		return 0;
	}
	if (name_is(line, name_len, "Content-Length")) {
		add_n(b, "CONTENT_LENGTH", 14, v, v_len);
		return 0;
	}
	/* httpoxy: a client's Proxy header must never become HTTP_PROXY. */
	if (name_is(line, name_len, "Proxy"))
		return 0;
	if (name_is(line, name_len, "Host"))
		*host = true;
	char *name = take(b, 5 + name_len);
	if (!name)
		return 0;
	memcpy(name, "HTTP_", 5);
	for (size_t i = 0; i < name_len; i++) {
		char c = line[i];
		name[5 + i] = c == '-' ? '_'
		              : c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}
	add_n(b, name, 5 + name_len, v, v_len);
	return 0;
}

static const char *or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

int cgi_params_build(const struct cgi_request_info *in, struct cgi_pair *out,
                     size_t cap, char *buf, size_t buf_cap)
{
	struct builder b = {.out = out, .cap = cap, .buf = buf,
	                    .buf_cap = buf_cap};
	const char *uri = in->uri;
	if (!uri || uri[0] != '/')
		return -EINVAL;
	size_t path_len = strcspn(uri, "?#");
	const char *query = uri[path_len] == '?' ? uri + path_len + 1 : "";
	size_t query_len = strcspn(query, "#");
	char *path = take(&b, path_len);
	if (!path)
		return -ENOBUFS;
	int64_t dec_len = decode_path(uri, path_len, path);
	if (dec_len < 0)
		return (int)dec_len;

	add(&b, "GATEWAY_INTERFACE", "CGI/1.1");
	add(&b, "SERVER_SOFTWARE", or(in->server_software, "anycgi"));
	add(&b, "SERVER_PROTOCOL", "HTTP/1.1");
	add(&b, "REQUEST_SCHEME", "http");
	add(&b, "REQUEST_METHOD", or(in->method, "GET"));
	add(&b, "REQUEST_URI", uri);
	add_n(&b, "SCRIPT_NAME", 11, path, (size_t)dec_len);
	add_n(&b, "DOCUMENT_URI", 12, path, (size_t)dec_len);
	add_n(&b, "QUERY_STRING", 12, query, query_len);
	if (in->document_root)
		add(&b, "DOCUMENT_ROOT", in->document_root);
	if (in->script_filename) {
		add(&b, "SCRIPT_FILENAME", in->script_filename);
	} else if (in->document_root) {
		size_t root_len = strlen(in->document_root);
		char *file = take(&b, root_len + (size_t)dec_len);
		if (file) {
			memcpy(file, in->document_root, root_len);
			memcpy(file + root_len, path, (size_t)dec_len);
			add_n(&b, "SCRIPT_FILENAME", 15, file,
			      root_len + (size_t)dec_len);
		}
	}
	const char *server_name = or(in->server_name, "localhost");
	add(&b, "SERVER_NAME", server_name);
	add(&b, "SERVER_ADDR", or(in->server_addr, "127.0.0.1"));
	add(&b, "SERVER_PORT", or(in->server_port, "80"));
	add(&b, "REMOTE_ADDR", or(in->remote_addr, "127.0.0.1"));
	add(&b, "REMOTE_PORT", or(in->remote_port, "0"));
	/* php-cgi's force-cgi-redirect wants it; nginx sends it too. */
	add(&b, "REDIRECT_STATUS", "200");
	if (in->content_length >= 0) {
		char *num = take(&b, 24);
		if (num) {
			int n = snprintf(num, 24, "%" PRId64, in->content_length);
			add_n(&b, "CONTENT_LENGTH", 14, num, (size_t)n);
		}
	}
	bool host = false;
	for (size_t i = 0; i < in->n_headers; i++) {
		int rc = add_header(&b, in->headers[i], &host);
		if (rc < 0)
			return rc;
	}
	if (!host)
		add(&b, "HTTP_HOST", server_name);
	return b.full ? -ENOBUFS : (int)b.n;
}

int cgi_params_set(struct cgi_pair *pairs, size_t *n, size_t cap,
                   const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
	if (name_len == 0)
		return -EINVAL;
	bool found = false;
	size_t kept = 0;
	for (size_t i = 0; i < *n; i++) {
		bool same = pairs[i].name_len == name_len &&
		            memcmp(pairs[i].name, name, name_len) == 0;
		if (same && found)
			continue;
		pairs[kept] = pairs[i];
		if (same) {
			pairs[kept].value = value;
			pairs[kept].value_len = value_len;
			found = true;
		}
		kept++;
	}
	*n = kept;
	if (found)
		return 0;
	if (*n >= cap)
		return -ENOBUFS;
	pairs[(*n)++] = (struct cgi_pair){name, name_len, value, value_len};
	return 0;
}
