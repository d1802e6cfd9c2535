/* --document-root: mapping request paths to files beneath the root, and
 * the heads of static files' responses. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "docroot.h"
#include "http_token.h"

/* %XX decoding up to '?' or '#'. Returns the length, or -1. */
static int percent_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len && in[i] != '?' && in[i] != '#'; i++) {
		char c = in[i];
		if (c == '%') {
			int hi = i + 2 < len ? uri_hex_value(in[i + 1]) : -1;
			int lo = hi >= 0 ? uri_hex_value(in[i + 2]) : -1;
			if (lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

/* Merges "//", drops "." and applies ".." in place; p starts with '/'. */
static int squash(char *p, size_t n)
{
	size_t o = 0, i = 0;
	bool dir = false;
	while (i < n) {
		while (i < n && p[i] == '/')
			i++;
		size_t s = i;
		while (i < n && p[i] != '/')
			i++;
		size_t seg = i - s;
		dir = seg == 0 || (seg == 1 && p[s] == '.') ||
		      (seg == 2 && p[s] == '.' && p[s + 1] == '.');
		if (seg == 0 || (seg == 1 && p[s] == '.'))
			continue;
		if (seg == 2 && p[s] == '.' && p[s + 1] == '.') {
			if (o == 0)
				return -1;
			while (o > 0 && p[--o] != '/')
				;
			continue;
		}
		p[o++] = '/';
		memmove(p + o, p + s, seg);
		o += seg;
	}
	if (dir || o == 0)
		p[o++] = '/';
	p[o] = '\0';
	return (int)o;
}

int docroot_normalize(const char *target, size_t len, char *out, size_t cap)
{
	if (len == 0 || target[0] != '/' || cap < 2)
		return -1;
	int n = percent_decode(target, len, out, cap);
	return n < 0 ? -1 : squash(out, (size_t)n);
}

/* Opens path (normalized, starting with '/') beneath the root: "..",
 * absolute symlinks and magic links cannot leave it. */
static int open_beneath(int root_fd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	const char *rel = path[1] ? path + 1 : ".";
	return (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
}

/* The kind of what is at path: 'f' file, 'd' folder, 0 nothing, 'x'
 * refused (outside the root, no permission, a loop). */
static char what_is(int root_fd, const char *path, struct stat *st)
{
	int fd = open_beneath(root_fd, path, O_PATH);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG
		       ? 0 : 'x';
	int rc = fstat(fd, st);
	close(fd);
	if (rc < 0)
		return 'x';
	return S_ISREG(st->st_mode) ? 'f' : S_ISDIR(st->st_mode) ? 'd' : 'x';
}

static bool is_script_name(const char *pattern, const char *name)
{
	return fnmatch(pattern, name, 0) == 0;
}

static void set_script(struct docroot_map *out, const char *script,
                       size_t script_len, const char *path_info)
{
	out->kind = DOC_SCRIPT;
	snprintf(out->script, sizeof(out->script), "%.*s", (int)script_len,
	         script);
	snprintf(out->path_info, sizeof(out->path_info), "%s", path_info);
}

/* The shortest prefix of path that is a script file. */
static bool find_script(int root_fd, const char *pattern, const char *path,
                        struct docroot_map *out)
{
	char prefix[DOCROOT_PATH_MAX];
	struct stat st;
	for (size_t k = 1;; k++) {
		if (path[k] != '/' && path[k] != '\0')
			continue;
		const char *seg = memrchr(path, '/', k);
		snprintf(prefix, sizeof(prefix), "%.*s", (int)k, path);
		if (k > 1 && is_script_name(pattern, prefix + (seg - path) + 1) &&
		    what_is(root_fd, prefix, &st) == 'f') {
			set_script(out, path, k, path + k);
			return true;
		}
		if (!path[k])
			return false;
	}
}

static void send_file(int root_fd, const char *path, struct docroot_map *out)
{
	int fd = open_beneath(root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &out->st) < 0 || !S_ISREG(out->st.st_mode)) {
		if (fd >= 0)
			close(fd);
		out->kind = DOC_FORBIDDEN;
		return;
	}
	out->kind = DOC_STATIC;
	out->fd = fd;
}

/* A folder with its slash: index.html, else index.php when a script. */
static void folder(int root_fd, const char *pattern, const char *path,
                   struct docroot_map *out)
{
	char p[DOCROOT_PATH_MAX + 16];
	struct stat st;
	snprintf(p, sizeof(p), "%sindex.html", path);
	if (what_is(root_fd, p, &st) == 'f') {
		send_file(root_fd, p, out);
		return;
	}
	snprintf(p, sizeof(p), "%sindex.php", path);
	if (is_script_name(pattern, "index.php") &&
	    what_is(root_fd, p, &st) == 'f') {
		set_script(out, p, strlen(p), "");
		return;
	}
	out->kind = DOC_FORBIDDEN; /* no listing of folders */
}

/* Nothing at path: the nearest folder above with an index.php script
 * runs it, the rest of the path as PATH_INFO (php -S). */
static void fallback(int root_fd, const char *pattern, const char *path,
                     struct docroot_map *out)
{
	char p[DOCROOT_PATH_MAX + 16];
	struct stat st;
	out->kind = DOC_NOT_FOUND;
	if (!is_script_name(pattern, "index.php"))
		return;
	for (size_t k = strlen(path); k-- > 0;) {
		if (path[k] != '/')
			continue;
		snprintf(p, sizeof(p), "%.*sindex.php", (int)k + 1, path);
		if (what_is(root_fd, p, &st) == 'f') {
			set_script(out, p, strlen(p), path + k);
			return;
		}
	}
}

/* .git, .env, .htpasswd: a development server must not hand them out;
 * /.well-known/ is the exception. */
static bool hidden(const char *path)
{
	if (strncmp(path, "/.well-known/", 13) == 0)
		path += 12;
	return strstr(path, "/.") != NULL;
}

void docroot_map(int root_fd, const char *pattern, const char *path,
                 struct docroot_map *out)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (!pattern || strcmp(pattern, "*") == 0) {
		out->kind = DOC_APP;
		return;
	}
	if (hidden(path)) {
		out->kind = DOC_FORBIDDEN;
		return;
	}
	if (find_script(root_fd, pattern, path, out))
		return;
	struct stat st;
	switch (what_is(root_fd, path, &st)) {
	case 'f':
		send_file(root_fd, path, out);
		return;
	case 'd':
		if (path[strlen(path) - 1] != '/')
			out->kind = DOC_REDIRECT;
		else
			folder(root_fd, pattern, path, out);
		return;
	case 0:
		fallback(root_fd, pattern, path, out);
		return;
	default:
		out->kind = DOC_FORBIDDEN;
	}
}

/* ---- the reply ---- */

static void http_date(time_t t, char *out, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static time_t parse_http_date(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return end && !*end ? timegm(&tm) : (time_t)-1;
}

/* RFC 9110 13.1.2: weak comparison, a list of tags or "*". */
static bool none_match(const char *header, const char *etag)
{
	const char *p = header;
	size_t n = strlen(etag);
	while (*p) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 && (!p[n] || strchr(" \t,", p[n])))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* "bytes=A-B", "bytes=A-", "bytes=-N" for a file of size bytes: 1 with
 * the range, 0 to ignore it (several ranges, bad syntax), -1 for one
 * that cannot be satisfied. */
static int parse_range(const char *h, off_t size, off_t *from, off_t *len)
{
	if (strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	char *end;
	uintmax_t a = 0, b;
	bool suffix = *h == '-';
	if (!suffix) {
		if (*h < '0' || *h > '9')
			return 0;
		a = strtoumax(h, &end, 10);
		if (*end != '-')
			return 0;
		h = end;
	}
	h++;
	bool open_end = !*h;
	if (!open_end) {
		if (*h < '0' || *h > '9')
			return 0;
		b = strtoumax(h, &end, 10);
		if (*end || (!suffix && b < a))
			return 0;
	}
	if (suffix) {
		if (open_end || b == 0 || size == 0)
			return open_end ? 0 : -1;
		*from = (uintmax_t)size > b ? size - (off_t)b : 0;
		*len = size - *from;
		return 1;
	}
	if (a >= (uintmax_t)size)
		return -1;
	uintmax_t last = open_end || b >= (uintmax_t)size ? (uintmax_t)size - 1 : b;
	*from = (off_t)a;
	*len = (off_t)(last - a + 1);
	return 1;
}

static void add_header(struct static_reply *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_header(struct static_reply *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t cap = sizeof(out->headers) - out->headers_len;
	int n = vsnprintf(out->headers + out->headers_len, cap, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < cap)
		out->headers_len += (size_t)n;
}

/* Not modified: If-None-Match decides when given, else If-Modified-Since. */
static bool not_modified(const struct static_request *rq, const char *etag,
                         time_t mtime)
{
	if (rq->if_none_match)
		return none_match(rq->if_none_match, etag);
	if (rq->if_modified_since) {
		time_t t = parse_http_date(rq->if_modified_since);
		return t != (time_t)-1 && mtime <= t;
	}
	return false;
}

/* If-Range: the Range counts only for the same version (strong). */
static bool range_applies(const struct static_request *rq, const char *etag,
                          const char *modified)
{
	if (!rq->range)
		return false;
	if (!rq->if_range)
		return true;
	return strcmp(rq->if_range, etag) == 0 ||
	       strcmp(rq->if_range, modified) == 0;
}

int static_reply(const struct stat *st, const char *name,
                 const struct static_request *rq, struct static_reply *out)
{
	char etag[64], modified[64];
	snprintf(etag, sizeof(etag), "\"%jx-%jx\"", (intmax_t)st->st_mtime,
	         (intmax_t)st->st_size);
	http_date(st->st_mtime, modified, sizeof(modified));
	memset(out, 0, sizeof(*out));
	out->status = 200;
	out->length = st->st_size;
	if (not_modified(rq, etag, st->st_mtime)) {
		out->status = 304;
		out->length = 0;
		add_header(out, "ETag: %s\r\nLast-Modified: %s\r\n", etag, modified);
		return 0;
	}
	int r = range_applies(rq, etag, modified)
	        ? parse_range(rq->range, st->st_size, &out->offset, &out->length)
	        : 0;
	if (r < 0) {
		out->status = 416;
		out->length = 0;
		add_header(out, "Content-Range: bytes */%jd\r\n"
		           "Content-Length: 0\r\n", (intmax_t)st->st_size);
		return 0;
	}
	add_header(out, "Content-Type: %s\r\nContent-Length: %jd\r\n"
	           "Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
	           static_mime_type(name), (intmax_t)out->length, modified, etag);
	if (r > 0) {
		out->status = 206;
		add_header(out, "Content-Range: bytes %jd-%jd/%jd\r\n",
		           (intmax_t)out->offset,
		           (intmax_t)(out->offset + out->length - 1),
		           (intmax_t)st->st_size);
	}
	if (rq->head)
		out->length = 0;
	return 0;
}

const char *static_mime_type(const char *name)
{
	static const char *const types[][2] = {
		{"html", "text/html; charset=utf-8"},
		{"htm", "text/html; charset=utf-8"},
		{"css", "text/css; charset=utf-8"},
		{"js", "text/javascript; charset=utf-8"},
		{"mjs", "text/javascript; charset=utf-8"},
		{"json", "application/json"},
		{"txt", "text/plain; charset=utf-8"},
		{"md", "text/markdown; charset=utf-8"},
		{"xml", "application/xml"},
		{"svg", "image/svg+xml"},
		{"png", "image/png"},
		{"jpg", "image/jpeg"},
		{"jpeg", "image/jpeg"},
		{"gif", "image/gif"},
		{"webp", "image/webp"},
		{"avif", "image/avif"},
		{"ico", "image/vnd.microsoft.icon"},
		{"wasm", "application/wasm"},
		{"pdf", "application/pdf"},
		{"woff", "font/woff"},
		{"woff2", "font/woff2"},
		{"mp4", "video/mp4"},
		{"webm", "video/webm"},
		{"mp3", "audio/mpeg"},
		{"zip", "application/zip"},
		{"gz", "application/gzip"},
	};
	const char *base = strrchr(name, '/');
	const char *dot = strrchr(base ? base : name, '.');
	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i][0]) == 0)
				return types[i][1];
	return "application/octet-stream";
}
