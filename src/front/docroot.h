/* --document-root DIR: which requests are files served directly, which go
 * to the app and as what SCRIPT_NAME and PATH_INFO; and the head of a
 * static file's response (ETag, Last-Modified, Range). Files are opened
 * beneath DIR (openat2 RESOLVE_BENEATH), never by string checks. */
#ifndef ACGI_FRONT_DOCROOT_H
#define ACGI_FRONT_DOCROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

enum { DOCROOT_PATH_MAX = 4096 };

/* Decodes a request target's path (up to '?' or the end of len bytes):
 * %XX escapes, "//" merged, "." and ".." segments applied, as nginx
 * normalizes $uri. Returns the length written to out (NUL-terminated,
 * starting with '/'), or -1 for a path that is not origin-form, holds
 * %00 or a bad escape, climbs above "/", or does not fit in cap. */
int docroot_normalize(const char *target, size_t len, char *out, size_t cap);

enum docroot_kind {
	DOC_APP,       /* no file decides: the app gets the request as is */
	DOC_SCRIPT,    /* the app, for a script file under the root */
	DOC_STATIC,    /* a file to send: fd, st */
	DOC_REDIRECT,  /* a folder without its slash: 301 to path + "/" */
	DOC_NOT_FOUND, /* 404 */
	DOC_FORBIDDEN, /* 403: outside the root, or not readable */
};

struct docroot_map {
	enum docroot_kind kind;
	int fd;                       /* DOC_STATIC: open, O_RDONLY */
	struct stat st;               /* DOC_STATIC */
	char script[DOCROOT_PATH_MAX];   /* DOC_SCRIPT: SCRIPT_NAME */
	char path_info[DOCROOT_PATH_MAX];/* DOC_SCRIPT: PATH_INFO, maybe "" */
};

/* Maps a normalized path under the root folder root_fd, pattern being the
 * glob (fnmatch, on a file's name) that makes a file a script, e.g.
 * "*.php". In order:
 *  - the shortest prefix of path that is a regular file matching pattern
 *    is the script, the rest PATH_INFO (/index.php/a/b);
 *  - a regular file is sent;
 *  - a folder: without its trailing slash, a redirect; with it, its
 *    index.html is sent or its index.php (when the pattern takes it) run;
 *  - nothing there: the nearest folder above with an index script runs
 *    it with the rest as PATH_INFO (what `php -S` does), else 404.
 * A pattern of "*" leaves every request to the app (DOC_APP). */
void docroot_map(int root_fd, const char *pattern, const char *path,
                 struct docroot_map *out);

/* What a static file's request asked for: the headers that matter, NULL
 * when absent. */
struct static_request {
	bool head;
	const char *if_none_match;
	const char *if_modified_since;
	const char *range;
	const char *if_range;
};

struct static_reply {
	int status;          /* 200, 206, 304 or 416 */
	off_t offset;        /* the bytes to send: [offset, offset+length) */
	off_t length;        /* 0 for HEAD, 304 and 416 */
	char headers[768];   /* header lines, each ending in CRLF: type,
	                        length, Last-Modified, ETag, Accept-Ranges,
	                        Content-Range; no status line, no blank line */
	size_t headers_len;
};

/* Builds the reply for the file st (named name, for its type). One byte
 * range is served (206); several, or one that does not parse, get the
 * whole file (RFC 9110 lets a server ignore Range); one past the end gets
 * 416. Returns 0. */
int static_reply(const struct stat *st, const char *name,
                 const struct static_request *rq, struct static_reply *out);

/* The Content-Type for a file name, from its extension. */
const char *static_mime_type(const char *name);

#endif
