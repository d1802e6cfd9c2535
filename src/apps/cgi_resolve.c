/* The CGI gateway's script resolution and the child's environment: which
 * file a request runs, found beneath its root by the kernel
 * (openat2 with RESOLVE_BENEATH), never by string checks. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgi_gateway.h"
#include "http_token.h"

void cgi_log(const char *fmt, ...)
{
	char raw[2048], line[4096];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)raw;
	     *p && o + 5 < sizeof(line); p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(line + o, 5, "\\x%02x", *p);
		else
			line[o++] = (char)*p;
	}
	line[o++] = '\n';
	(void)!write(2, line, o);
}

static int fail(struct cgi_script *sc, int status, const char *why)
{
	sc->status = status;
	sc->why = why;
	return -1;
}

/* Opens base/path (path relative, may be "") beneath base. */
static int open_beneath(int base, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, base, *path ? path : ".", &how,
	                    sizeof(how));
}

/* Why a prefix could not be opened, as the answer. */
static int open_failed(struct cgi_script *sc, int err, const char *rel)
{
	if (err == ENOENT || err == ENAMETOOLONG)
		return fail(sc, 404, "no such script");
	if (err == EXDEV || err == ELOOP) {
		cgi_log("cgi: refused %s: it resolves outside the root", rel);
		return fail(sc, 403, "the script path leaves the root");
	}
	if (err == EACCES)
		return fail(sc, 403, "the script cannot be reached");
	cgi_log("cgi: %s: %s", rel, strerror(err));
	return fail(sc, 500, "the script cannot be looked up");
}

/* Checks the file found at the end of a walk. */
static int check_file(struct cgi_script *sc, const struct stat *st,
                      const char *rel)
{
	if (S_ISDIR(st->st_mode))
		return fail(sc, 403, "the script is a directory");
	if (!S_ISREG(st->st_mode))
		return fail(sc, 403, "the script is not a regular file");
	if (!(st->st_mode & 0111)) {
		cgi_log("cgi: %s is not executable", rel);
		return fail(sc, 403, "the script is not executable");
	}
	return 0;
}

/* Walks rel beneath base a component at a time: each prefix is opened
 * from base (so symlinks inside the root work and any way out fails with
 * EXDEV), directories are descended, and the first prefix that is not a
 * directory is the script. Stores in *split where the script's part of
 * rel ends; sc gets the folder's fd and the name. Returns 0 or -1. */
static int walk(struct cgi_script *sc, int base, const char *rel,
                size_t *split)
{
	size_t len = strlen(rel), start = strspn(rel, "/"), i = start;
	char *prefix = malloc(len + 1);
	if (!prefix)
		return fail(sc, 500, "out of memory");
	int dir = open_beneath(base, ""), rc = -1;
	while (dir >= 0) {
		while (rel[i] == '/')
			i++;
		if (!rel[i]) {
			rc = fail(sc, 403, "the script is a directory");
			break;
		}
		size_t end = i + strcspn(rel + i, "/");
		memcpy(prefix, rel + start, end - start);
		prefix[end - start] = '\0';
		int fd = open_beneath(base, prefix);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = open_failed(sc, errno, rel);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			close(dir);
			dir = fd;
			i = end;
			continue;
		}
		close(fd);
		if (end - i > NAME_MAX || check_file(sc, &st, rel) < 0) {
			rc = sc->status ? -1 : fail(sc, 404, "no such script");
			break;
		}
		memcpy(sc->name, rel + i, end - i);
		sc->name[end - i] = '\0';
		sc->dir_fd = dir;
		dir = -1;
		*split = end;
		rc = 0;
	}
	if (dir >= 0)
		close(dir);
	free(prefix);
	if (rc < 0 && !sc->status)
		return open_failed(sc, errno, rel);
	return rc;
}

/* REQUEST_URI's path, %XX-decoded (what SCRIPT_NAME would have been). An
 * encoded '/' or NUL is refused: it would change how the path splits. */
static char *uri_path(struct cgi_script *sc, const char *uri)
{
	size_t n = strcspn(uri, "?#"), o = 0;
	char *out = malloc(n + 1);
	if (!out) {
		fail(sc, 500, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = uri[i];
		if (c == '%' && i + 2 < n && uri_hex_value(uri[i + 1]) >= 0 &&
		    uri_hex_value(uri[i + 2]) >= 0) {
			c = (char)(uri_hex_value(uri[i + 1]) * 16 + uri_hex_value(uri[i + 2]));
			i += 2;
			if (c == '/' || c == '\0') {
				free(out);
				fail(sc, 403, "encoded slash or NUL in the path");
				return NULL;
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

/* Control bytes (a newline in a name, say) never name a script: they end
 * in log lines and headers. */
static bool clean_path(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* The request's path in URI space: SCRIPT_NAME + PATH_INFO, or REQUEST_URI's
 * path when SCRIPT_NAME is empty (nginx's scgi_params). */
static char *request_path(struct cgi_script *sc, const struct cgi_target *t)
{
	if (!*t->script_name && !*t->path_info)
		return uri_path(sc, t->request_uri);
	char *s = concat(t->script_name, t->path_info);
	if (!s)
		fail(sc, 500, "out of memory");
	return s;
}

/* PATH_TRANSLATED (RFC 3875, 4.1.6): PATH_INFO mapped as a URI would be,
 * under the document root. */
static int translate(struct cgi_script *sc, const char *docroot)
{
	if (!sc->path_info || !*docroot)
		return 0;
	sc->path_translated = concat(docroot, sc->path_info);
	return sc->path_translated ? 0 : fail(sc, 500, "out of memory");
}

/* Splits path (URI space, as walked) at split into SCRIPT_NAME and
 * PATH_INFO, and names the file. */
static int split_uri(struct cgi_script *sc, const char *base,
                     const char *path, size_t split)
{
	sc->script_name = strndup(path, split);
	if (path[split])
		sc->path_info = strdup(path + split);
	char *fn = sc->script_name ? concat(strcmp(base, "/") ? base : "",
	                                    sc->script_name) : NULL;
	sc->filename = fn;
	if (!fn || (path[split] && !sc->path_info))
		return fail(sc, 500, "out of memory");
	return 0;
}

/* With a root or a DOCUMENT_ROOT: base + SCRIPT_NAME + PATH_INFO. */
static int resolve_in(struct cgi_script *sc, const struct cgi_target *t,
                      int base_fd, const char *base)
{
	char *path = request_path(sc, t);
	size_t split = 0;
	int rc = -1;
	if (!path)
		return -1;
	if (!clean_path(path)) {
		cgi_log("cgi: refused %s: control bytes in the path", path);
		rc = fail(sc, 403, "control bytes in the script path");
	} else if (walk(sc, base_fd, path, &split) == 0 &&
	           split_uri(sc, base, path, split) == 0) {
		rc = translate(sc, base);
	}
	free(path);
	return rc;
}

/* SCRIPT_FILENAME's rest after the script, back in URI space: a trailing
 * part of SCRIPT_NAME moves to PATH_INFO (nginx's SCRIPT_FILENAME of
 * $document_root$fastcgi_script_name holds both). */
static int split_filename(struct cgi_script *sc, const struct cgi_target *t,
                          const char *file, size_t split)
{
	const char *name = t->script_name, *rest = file + split;
	size_t nl = strlen(name), rl = strlen(rest);
	sc->filename = strndup(file, split);
	if (rl && nl >= rl && strcmp(name + nl - rl, rest) == 0)
		nl -= rl;
	sc->script_name = strndup(name, nl);
	const char *info = rl ? rest : t->path_info;
	if (*info)
		sc->path_info = strdup(info);
	if (!sc->filename || !sc->script_name || (*info && !sc->path_info))
		return fail(sc, 500, "out of memory");
	return translate(sc, t->document_root);
}

/* SCRIPT_FILENAME, beneath DOCUMENT_ROOT when the server gave one. */
static int resolve_filename(struct cgi_script *sc, const struct cgi_target *t,
                            const char *file)
{
	const char *docroot = t->document_root;
	size_t dl = strlen(docroot);
	while (dl > 1 && docroot[dl - 1] == '/')
		dl--;
	if (!clean_path(file) || !clean_path(t->script_name) ||
	    !clean_path(t->path_info)) {
		cgi_log("cgi: refused %s (SCRIPT_NAME %s, PATH_INFO %s): control "
		        "bytes in the path", file, t->script_name, t->path_info);
		return fail(sc, 403, "control bytes in the script path");
	}
	const char *base = dl ? docroot : "/";
	if (dl && (strncmp(file, docroot, dl) != 0 ||
	           (file[dl] != '/' && file[dl] != '\0'))) {
		cgi_log("cgi: refused %s: outside DOCUMENT_ROOT %s", file, docroot);
		return fail(sc, 403, "the script is outside the document root");
	}
	if (!dl && file[0] != '/')
		return fail(sc, 404, "SCRIPT_FILENAME is not an absolute path");
	int base_fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (base_fd < 0) {
		cgi_log("cgi: DOCUMENT_ROOT %s: %s", base, strerror(errno));
		return fail(sc, 500, "the document root cannot be opened");
	}
	size_t split = 0, skip = dl ? dl : 0;
	int rc = walk(sc, base_fd, file + skip, &split);
	close(base_fd);
	if (rc < 0)
		return -1;
	return split_filename(sc, t, file, skip + split);
}

static void resolve_docroot(struct cgi_script *sc, const struct cgi_target *t)
{
	const char *docroot = t->document_root;
	if (!*docroot) {
		cgi_log("cgi: no --root, SCRIPT_FILENAME or DOCUMENT_ROOT: "
		        "nothing names the script");
		fail(sc, 500, "the gateway does not know where scripts are");
		return;
	}
	int fd = open(docroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		cgi_log("cgi: DOCUMENT_ROOT %s: %s", docroot, strerror(errno));
		fail(sc, 500, "the document root cannot be opened");
		return;
	}
	(void)resolve_in(sc, t, fd, docroot);
	close(fd);
}

void cgi_resolve_target(const struct cgi_gateway *g,
                        const struct cgi_target *t, struct cgi_script *sc)
{
	*sc = (struct cgi_script){.dir_fd = -1};
	if (g->root_fd >= 0)
		(void)resolve_in(sc, t, g->root_fd, g->root);
	else if (*t->script_filename)
		(void)resolve_filename(sc, t, t->script_filename);
	else
		resolve_docroot(sc, t);
	sc->nph = strncmp(sc->name, "nph-", 4) == 0;
}

void cgi_script_free(struct cgi_script *sc)
{
	if (sc->dir_fd >= 0)
		close(sc->dir_fd);
	sc->dir_fd = -1;
	free(sc->script_name);
	free(sc->path_info);
	free(sc->path_translated);
	free(sc->filename);
	sc->script_name = sc->path_info = NULL;
	sc->path_translated = sc->filename = NULL;
}

