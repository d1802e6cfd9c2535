/* The CGI gateway: a built-in app that runs classic CGI programs (RFC 3875)
 * for FastCGI and SCGI requests, one child per request. */
#ifndef ACGI_APPS_CGI_GATEWAY_H
#define ACGI_APPS_CGI_GATEWAY_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "anycgi.h"

/* The rlimits a script gets (--script-rlimit-*), -1: inherited. */
enum { CGI_RL_CPU, CGI_RL_AS, CGI_RL_NPROC, CGI_RL_FILES, CGI_RL_COUNT };

/* The gateway's configuration, read once per worker from the environment
 * the manager gives it (src/manager/cgi_options.c writes it). */
struct cgi_gateway {
	char root[PATH_MAX]; /* --root (ANYCGI_CGI_ROOT), "" without one */
	int root_fd;         /* the root, O_PATH; -1 without one */
	long long timeout_ms;/* --script-timeout (ANYCGI_CGI_TIMEOUT), 0: none */
	/* --max-scripts: the pool-wide cap on running scripts, 0: none; the
	 * slots' abstract socket names start with slot_prefix. */
	unsigned max_scripts;
	long long slot_wait_ms; /* --script-wait: how long a request waits */
	char slot_prefix[96];
	/* --script-user/--script-group: uid -1 for the worker's own. */
	uid_t uid;
	gid_t gid;
	long long rlimits[CGI_RL_COUNT];
	bool stderr_fcgi;    /* --script-stderr fastcgi */
};

/* Where a request says its script is, in the params' terms. Fields may be
 * "" but never NULL. */
struct cgi_target {
	const char *script_name;     /* SCRIPT_NAME */
	const char *path_info;       /* PATH_INFO */
	const char *request_uri;     /* REQUEST_URI: used when both are "" */
	const char *script_filename; /* SCRIPT_FILENAME (no --root only) */
	const char *document_root;   /* DOCUMENT_ROOT (no --root only) */
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

/* What a local redirect (RFC 3875, 6.2.2) changes in the second run's
 * environment. */
struct cgi_redirect {
	const char *uri;        /* the Location: value, "/path?query" */
	const char *query;      /* its query, "" without one */
	const char *prev_url;   /* the first run's URL path (REDIRECT_URL) */
	const char *prev_query; /* its QUERY_STRING */
	const char *prev_method;/* its REQUEST_METHOD */
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

/* Finds the script of t (RFC 3875 and issue 4's rules: with a root,
 * ROOT + SCRIPT_NAME + PATH_INFO, or REQUEST_URI's %-decoded path when
 * both are empty; else SCRIPT_FILENAME, else DOCUMENT_ROOT + SCRIPT_NAME +
 * PATH_INFO), resolved beneath its base directory with
 * openat2(RESOLVE_BENEATH). Always fills sc (free it with
 * cgi_script_free); sc->status tells the outcome. No request needed: the
 * unit tests and the fuzz target call it directly. */
void cgi_resolve_target(const struct cgi_gateway *g,
                        const struct cgi_target *t, struct cgi_script *sc);

/* cgi_resolve_target with the request's params. */
void cgi_resolve(const struct cgi_gateway *g, acgi_request *r,
                 struct cgi_script *sc);

/* Releases what cgi_resolve allocated; sc may be half-filled. */
void cgi_script_free(struct cgi_script *sc);

/* The child's environment: the params (repeats joined, never HTTP_PROXY)
 * with the resolved SCRIPT_NAME, PATH_INFO, PATH_TRANSLATED and
 * SCRIPT_FILENAME, GATEWAY_INTERFACE=CGI/1.1 and a fixed PATH; after a
 * local redirect (rd not NULL) a GET of rd->uri with no body and the
 * REDIRECT_* variables. Returns a NULL-terminated array to free with
 * cgi_env_free, or NULL (no memory). */
char **cgi_env_new(acgi_request *r, const struct cgi_script *sc,
                   const struct cgi_redirect *rd);
void cgi_env_free(char **env);

/* --max-scripts: takes one of the pool's script slots, waiting up to
 * g->slot_wait_ms. Returns the slot (an fd to give back with
 * cgi_slot_put), -EBUSY when none came free in time, -ECANCELED when the
 * client went away meanwhile, or another negative errno. Returns
 * INT_MAX (no slot to give back) without a cap. */
int cgi_slot_take(const struct cgi_gateway *g, acgi_request *r);
void cgi_slot_put(int slot);

/* Names the slots from ANYCGI_CGI_SLOT_KEY and the pool's listener (fd 0,
 * shared by every worker of the pool, and by the generations a reload
 * starts). Returns 0 or a negative errno. */
int cgi_slots_init(struct cgi_gateway *g);

/* The child's stdio and where it runs. */
struct cgi_spawn {
	int stdio[3];          /* its fds 0, 1, 2 */
	int dir_fd;            /* its working directory: the checked folder */
	const char *name;      /* run as ./name */
	char **env;
};

/* Starts the script in its own process group with default signals and
 * only its stdio: posix_spawn when the worker's own user and limits do,
 * else vfork with the limits set and the user's group and user taken
 * (with raw system calls: the worker has threads) before the exec.
 * Returns the pid, or a negative errno (the exec's own error too). */
pid_t cgi_spawn(const struct cgi_gateway *g, const struct cgi_spawn *sp);

/* Writes one line to the worker's log (its stderr, which the master
 * collects), with control bytes of the arguments shown as \xNN. */
void cgi_log(const char *fmt, ...) ACGI_PRINTF(1, 2);

#endif
