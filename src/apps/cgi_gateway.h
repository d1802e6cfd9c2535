/* The CGI gateway: a built-in app that runs classic CGI programs (RFC 3875)
 * for FastCGI and SCGI requests, one child per request. */
#ifndef ACGI_APPS_CGI_GATEWAY_H
#define ACGI_APPS_CGI_GATEWAY_H

#include <limits.h>

#include "anycgi.h"

/* The gateway's configuration, read once per worker. */
struct cgi_gateway {
	char root[PATH_MAX]; /* --root (ANYCGI_CGI_ROOT), "" without one */
	int root_fd;         /* the root, O_PATH; -1 without one */
	long long timeout_ms;/* --script-timeout (ANYCGI_CGI_TIMEOUT), 0: none */
};

/* A script found for a request, or why there is none. */
struct cgi_script {
	int status;            /* 0: found; else 403, 404 or 500 */
	const char *why;       /* the answer's text when status != 0 */
	int dir_fd;            /* the script's folder (O_PATH), or -1 */
	char name[NAME_MAX + 1]; /* the script's file name in dir_fd */
	char *script_name;     /* SCRIPT_NAME as resolved (malloc), or NULL */
	char *path_info;       /* PATH_INFO, or NULL when there is none */
	char *path_translated; /* PATH_TRANSLATED, or NULL */
	char *filename;        /* SCRIPT_FILENAME, the physical path */
	bool nph;              /* the name starts with "nph-" (RFC 3875, 5) */
};

/* Fills g from the environment: ANYCGI_CGI_ROOT names the root, which must
 * be a directory. Returns 0, or a negative errno code after a log line. */
int cgi_gateway_init(struct cgi_gateway *g);

/* The request handler (acgi_handler); data is a struct cgi_gateway. On
 * its first call it makes SIGTERM kill the running script's process group
 * before it does what it did (the library's watchdog, installed when the
 * server starts, answers 504 or 503 and the worker exits), so a worker
 * stopped fast or past its request timeout leaves no script running. */
void cgi_gateway_handle(acgi_request *r, void *data);

/* Finds the script of r (RFC 3875 and issue 4's rules: with a root,
 * ROOT + SCRIPT_NAME + PATH_INFO; else SCRIPT_FILENAME, else DOCUMENT_ROOT
 * + SCRIPT_NAME + PATH_INFO), resolved beneath its base directory with
 * openat2(RESOLVE_BENEATH). Always fills sc (free it with
 * cgi_script_free); sc->status tells the outcome. */
void cgi_resolve(const struct cgi_gateway *g, acgi_request *r,
                 struct cgi_script *sc);

/* Releases what cgi_resolve allocated; sc may be half-filled. */
void cgi_script_free(struct cgi_script *sc);

/* The child's environment: the params (repeats joined, never HTTP_PROXY)
 * with the resolved SCRIPT_NAME, PATH_INFO, PATH_TRANSLATED and
 * SCRIPT_FILENAME, GATEWAY_INTERFACE=CGI/1.1 and a fixed PATH. Returns a
 * NULL-terminated array to free with cgi_env_free, or NULL (no memory). */
char **cgi_env_new(acgi_request *r, const struct cgi_script *sc);
void cgi_env_free(char **env);

/* Writes one line to the worker's log (its stderr, which the master
 * collects), with control bytes of the arguments shown as \xNN. */
void cgi_log(const char *fmt, ...) ACGI_PRINTF(1, 2);

#endif
