/* --http: a pool's HTTP listeners belong to a pool of their own, NAME-http,
 * whose one worker is the embedded front end (`anycgi __front`). It runs
 * unprivileged, speaks HTTP to clients and FastCGI to the app pool, and
 * gets what every pool gets: restarts, rolling reloads (a new front end
 * beside the old one on the same sockets, the old one finishing its
 * requests) and a line in the status. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "front_pool.h"
#include "options.h"

static char private_dir[PATH_MAX];

/* One folder per master for the private sockets, made on first need and
 * kept across reloads, so that a socket's address never changes. */
static int make_private_dir(char *err, size_t errlen)
{
	if (private_dir[0])
		return 0;
	const char *base = getenv("RUNTIME_DIRECTORY"); /* systemd's */
	if (!base || !*base || strchr(base, ':'))
		base = geteuid() == 0 ? "/run" : getenv("XDG_RUNTIME_DIR");
	if (!base || !*base || access(base, W_OK) < 0)
		base = "/tmp";
	snprintf(private_dir, sizeof(private_dir), "%s/anycgi-XXXXXX", base);
	if (!mkdtemp(private_dir)) {
		int e = errno;
		private_dir[0] = '\0';
		return option_fail(err, errlen, "%s/anycgi-XXXXXX: %s", base, strerror(e));
	}
	/* The front end may be another user: it may pass, not list. */
	(void)chmod(private_dir, 0711);
	return 0;
}

void front_cleanup(void)
{
	if (private_dir[0] && rmdir(private_dir) == 0)
		private_dir[0] = '\0';
}

/* The front end never runs as root: the pool's user, else nobody. */
static int front_user(const struct pool_config *app, struct pool_config *fr,
                      char *err, size_t errlen)
{
	if (app->user != (uid_t)-1 && app->user != 0) {
		fr->user = app->user;
		fr->user_gid = app->user_gid;
		fr->group = app->group;
		return 0;
	}
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam("nobody");
	if (!pw)
		return option_fail(err, errlen, "no user nobody to run the HTTP front "
		                   "end as");
	fr->user = pw->pw_uid;
	fr->user_gid = pw->pw_gid;
	return 0;
}

/* Can the front end connect to the app's first listener? TCP: yes. A
 * Unix socket: when it is the master's own user, or the socket is made
 * writable for it by --socket-mode or --socket-owner. */
static bool reachable(const struct pool_config *app,
                      const struct pool_config *fr)
{
	const struct pool_listener *l = &app->listeners[0];
	if (l->scgi || strncmp(l->addr, "fd:", 3) == 0)
		return false;
	if (strncmp(l->addr, "unix:", 5) != 0)
		return true;
	if (fr->user == (uid_t)-1 || fr->user == geteuid())
		return true;
	if (app->socket_mode >= 0 && (app->socket_mode & 02))
		return true;
	return app->socket_uid == fr->user && app->socket_mode >= 0 &&
	       (app->socket_mode & 0200);
}

/* A private Unix socket for the front end: first, so that a foreign
 * program (which accepts on fd 0 only) serves it. */
static int add_private(struct pool_config *app, const struct pool_config *fr,
                       char *upstream, size_t cap, char *err, size_t errlen)
{
	if (app->n_listeners >= POOL_MAX_LISTENERS)
		return option_fail(err, errlen, "more than %d listeners",
		                   POOL_MAX_LISTENERS);
	if (make_private_dir(err, errlen) < 0)
		return -1;
	memmove(&app->listeners[1], &app->listeners[0],
	        app->n_listeners * sizeof(app->listeners[0]));
	app->n_listeners++;
	struct pool_listener *l = &app->listeners[0];
	memset(l, 0, sizeof(*l));
	int n = snprintf(l->addr, sizeof(l->addr), "unix:%s/%s.sock",
	                 private_dir, app->name);
	if (n < 0 || (size_t)n >= sizeof(l->addr) || n - 5 >= 108)
		return option_fail(err, errlen, "%s: the private socket's path is too "
		                   "long", private_dir);
	l->fd = -1;
	l->private_sock = true;
	l->owner = fr->user;
	snprintf(upstream, cap, "%s", l->addr);
	return 0;
}

/* Moves the app's HTTP listeners to the front end's configuration. */
static void move_http(struct pool_config *app, struct pool_config *fr)
{
	size_t kept = 0;
	for (size_t i = 0; i < app->n_listeners; i++) {
		struct pool_listener *l = &app->listeners[i];
		if (l->http)
			fr->listeners[fr->n_listeners++] = *l;
		else
			app->listeners[kept++] = *l;
	}
	app->n_listeners = kept;
}

static int add(struct pool_config *fr, const char *name, const char *val,
               char *err, size_t errlen)
{
	char why[256];
	if (pool_option(fr, name, val, why, sizeof(why)) == 0)
		return 0;
	return option_fail(err, errlen, "%s: %s", name, why);
}

/* `anycgi __front --upstream ADDR --upstream-conns N ...`. Requests sent
 * at once: eight per worker, so that a worker finds the next one waiting
 * on its kept connections when it finishes one (a worker serves them in
 * turn); the CGI gateway, whose workers run a script at a time, one per
 * worker, so that a slow script holds up no request queued behind it.
 * Beyond that, requests wait in the front end's queue (503 after
 * --queue-timeout). --upstream-conns N sets it. */
static int front_argv(const struct pool_config *app, struct pool_config *fr,
                      const char *self, const char *upstream, char *err,
                      size_t errlen)
{
	char conns[16], timeout[32];
	unsigned n = app->mode == MODE_STATIC ? app->workers : app->max_workers;
	bool cgi = app->app && strcmp(app->app, "cgi") == 0;
	snprintf(conns, sizeof(conns), "%u", (n ? n : 1) * (cgi ? 1 : 8));
	if (add(fr, "program", self, err, errlen) < 0 ||
	    add(fr, "arg", "__front", err, errlen) < 0 ||
	    add(fr, "arg", "--upstream", err, errlen) < 0 ||
	    add(fr, "arg", upstream, err, errlen) < 0 ||
	    add(fr, "arg", "--upstream-conns", err, errlen) < 0 ||
	    add(fr, "arg", conns, err, errlen) < 0)
		return -1;
	if (app->request_timeout > 0) {
		snprintf(timeout, sizeof(timeout), "%.3f", app->request_timeout);
		if (add(fr, "arg", "--request-timeout", err, errlen) < 0 ||
		    add(fr, "arg", timeout, err, errlen) < 0)
			return -1;
	}
	for (size_t i = 0; i < app->n_front_args; i++)
		if (add(fr, "arg", app->front_args[i], err, errlen) < 0)
			return -1;
	return 0;
}

static int derive_one(struct pool_config *app, struct pool_config *fr,
                      const char *self, char *err, size_t errlen)
{
	pool_defaults(fr);
	if (strlen(app->name) + 5 >= sizeof(fr->name))
		return option_fail(err, errlen, "%s: name too long for its front end "
		                   "(%s-http)", app->name, app->name);
	snprintf(fr->name, sizeof(fr->name), "%.58s-http", app->name);
	snprintf(fr->front_of, sizeof(fr->front_of), "%s", app->name);
	fr->drain_timeout = app->drain_timeout;
	move_http(app, fr);
	if (front_user(app, fr, err, errlen) < 0)
		return -1;
	char upstream[sizeof(app->listeners[0].addr)];
	if (app->n_listeners && reachable(app, fr))
		snprintf(upstream, sizeof(upstream), "%s", app->listeners[0].addr);
	else if (app->n_listeners && !app->app)
		return option_fail(err, errlen, "the HTTP front end cannot connect to "
		                   "%s as its user: give --socket-mode 0666, or a TCP "
		                   "--fastcgi, or only --http", app->listeners[0].addr);
	else if (add_private(app, fr, upstream, sizeof(upstream), err,
	                     errlen) < 0)
		return -1;
	if (front_argv(app, fr, self, upstream, err, errlen) < 0)
		return -1;
	char why[256];
	if (pool_finish(fr, why, sizeof(why)) < 0)
		return option_fail(err, errlen, "%s", why);
	return 0;
}

static bool has_http(const struct pool_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].http)
			return true;
	return false;
}

int front_derive(struct master_config *mc, const char *self, char *err,
                 size_t errlen)
{
	size_t n = mc->n_pools, extra = 0;
	for (size_t i = 0; i < n; i++)
		extra += has_http(&mc->pools[i]);
	if (!extra)
		return 0;
	struct pool_config *pools = realloc(mc->pools,
	                                    (n + extra) * sizeof(*pools));
	if (!pools)
		return option_fail(err, errlen, "out of memory");
	mc->pools = pools;
	for (size_t i = 0; i < n; i++) {
		if (!has_http(&pools[i]))
			continue;
		struct pool_config *fr = &pools[mc->n_pools];
		int rc = derive_one(&pools[i], fr, self, err, errlen);
		mc->n_pools++; /* freed with the rest, even half made */
		if (rc < 0) {
			char why[512];
			snprintf(why, sizeof(why), "%s", err);
			return option_fail(err, errlen, "[%s] --http: %s", pools[i].name, why);
		}
	}
	return 0;
}
