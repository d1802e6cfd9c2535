/* The master: owns the pools, the signals and the control socket, and
 * runs the one event loop. It never reads or writes a request. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "anycgi.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "listeners.h"
#include "mlog.h"
#include "options.h"
#include "pool.h"
#include "status.h"
#include "front_pool.h"

enum {
	FAST_STOP_MS = 900,        /* SIGTERM to SIGKILL on a fast stop */
	TICK_MS = 1000,            /* sampling when nothing needs watching */
	TICK_BUSY_MS = 100,        /* during reloads, timeouts, scaling */
	MAX_CLIENTS = 16,          /* control connections at once */
	CLIENT_MS = 5000,          /* a control client's whole exchange */
	MAX_POLL = 8192,
};

struct client {
	int fd;                    /* -1: a free entry */
	bool privileged;           /* root or the master's own uid */
	char in[512];
	size_t in_len;
	struct strbuf out;         /* the answer, once the line is in */
	size_t sent;
	long long deadline_ms;
};

struct master {
	struct master_config *mc;
	struct pool *pools;
	int sigfd, devnull, ctl_fd;
	char ctl_path[PATH_MAX];
	char reg_link[PATH_MAX];   /* our symlink in the registry, or "" */
	struct client clients[MAX_CLIENTS];
	const char *stopping;      /* NULL, "fast" or "graceful" */
	long long stop_deadline_ms;
	long long next_sample_ms;
	double started_unix;
	bool was_reloading;        /* for systemd's READY=1 after a reload */
	bool came_up;              /* every first pool had a worker up */
	int exit_code;
};

static unsigned alive_all(const struct master *m)
{
	unsigned n = 0;
	for (const struct pool *p = m->pools; p; p = p->next)
		n += pool_alive(p);
	return n;
}

static bool any_reloading(const struct master *m)
{
	for (const struct pool *p = m->pools; p; p = p->next)
		if (p->reloading)
			return true;
	return false;
}

static void notify_status(const struct master *m, const char *state)
{
	unsigned pools = 0;
	for (const struct pool *p = m->pools; p; p = p->next)
		pools++;
	sd_notifyf(0, "%sSTATUS=%s: %u pools, %u workers", state,
	           m->stopping ? "stopping" : "serving", pools, alive_all(m));
}

/* The pool of that name that is not on its way out. */
static struct pool *find_pool(struct master *m, const char *name)
{
	for (struct pool *p = m->pools; p; p = p->next)
		if (!p->leaving && strcmp(pool_name(p), name) == 0)
			return p;
	return NULL;
}

/* A pool renamed, or removed and added back while its workers drain, wants
 * the sockets the leaving pool holds: it takes them over (the leaving
 * workers keep their own copies), so the address never closes. */
static void take_from_leaving(struct master *m, struct pool_config *cfg)
{
	for (struct pool *p = m->pools; p; p = p->next) {
		if (!p->leaving)
			continue;
		struct pool_config *old = p->cur.cfg;
		listeners_share(old, cfg);
		for (size_t i = 0; i < old->n_listeners; i++)
			for (size_t j = 0; j < cfg->n_listeners; j++)
				if (old->listeners[i].fd >= 0 &&
				    old->listeners[i].fd == cfg->listeners[j].fd) {
					old->listeners[i].fd = -1;
					old->listeners[i].created_unix = false;
				}
	}
}

/* Takes a pool's configuration out of an array that master_config_free
 * will free. */
static struct pool_config *take_config(struct pool_config *slot)
{
	struct pool_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return NULL;
	*cfg = *slot;
	memset(slot, 0, sizeof(*slot));
	return cfg;
}

static int add_pool(struct master *m, struct pool_config *slot)
{
	struct pool_config *cfg = take_config(slot);
	struct pool *p = cfg ? pool_start(cfg, m->devnull) : NULL;
	if (!p)
		return -1;
	struct pool **tail = &m->pools;
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
	if (cfg->front_of[0]) {
		mlog("info", pool_name(p), "HTTP front end of pool %s on %s",
		     cfg->front_of, cfg->listeners[0].addr);
		return 0;
	}
	mlog("info", pool_name(p), "serving %s on %s (%s, %u workers)",
	     cfg->app ? cfg->app : cfg->argv[0], cfg->listeners[0].addr,
	     cfg->mode == MODE_STATIC ? "static" : cfg->mode == MODE_DYNAMIC
	     ? "dynamic" : "ondemand", cfg->workers);
	return 0;
}

/* ---- stopping ---- */

static void begin_stop(struct master *m, bool fast)
{
	if (m->stopping && (!fast || strcmp(m->stopping, "fast") == 0))
		return;
	m->stopping = fast ? "fast" : "graceful";
	double drain = 0;
	for (struct pool *p = m->pools; p; p = p->next) {
		if (p->cur.cfg->drain_timeout > drain)
			drain = p->cur.cfg->drain_timeout;
		pool_stop(p, fast);
	}
	m->stop_deadline_ms = mono_ms() + (fast ? FAST_STOP_MS
	                                       : (long long)(drain * 1000) + 100);
	mlog("info", NULL, "%s stop of %u workers", m->stopping, alive_all(m));
	sd_notify(0, "STOPPING=1");
}

/* ---- reload ---- */

/* `reload POOL` reloads the pool and its HTTP front end. */
static bool in_reload(const struct pool_config *cfg, const char *only)
{
	return strcmp(cfg->name, only) == 0 || strcmp(cfg->front_of, only) == 0;
}

/* The configuration file again; for `anycgi run`, the same command line
 * (the program's new build is what changes). Returns 0, or -1 when the
 * file is bad: then nothing changes. */
static int reload(struct master *m, const char *only, char *err,
                  size_t errlen)
{
	if (only && !find_pool(m, only)) {
		snprintf(err, errlen, "no pool named %s", only);
		return -1;
	}
	sd_notify(0, "RELOADING=1");
	m->was_reloading = true;
	m->came_up = true; /* the start is over: a broken pool degrades */
	m->next_sample_ms = 0; /* watch the new generation now, not in a second */
	if (!m->mc->config_path) {
		for (struct pool *p = m->pools; p; p = p->next)
			if (only ? in_reload(p->cur.cfg, only) : !p->internal)
				pool_reload(p, NULL);
		return 0;
	}
	struct master_config next = {.self = m->mc->self ? strdup(m->mc->self)
	                                                 : NULL};
	if (config_load(m->mc->config_path, &next, err, errlen) < 0 ||
	    front_derive(&next, next.self, err, errlen) < 0) {
		mlog("error", NULL, "reload: %s; the running pools keep serving",
		     err);
		return -1;
	}
	/* Pools gone from the file stop gracefully (before the others are
	 * taken out of next, while their names are still there). */
	for (struct pool *p = m->pools; p && !only; p = p->next) {
		bool kept = false;
		for (size_t i = 0; i < next.n_pools; i++)
			kept |= strcmp(next.pools[i].name, pool_name(p)) == 0;
		if (!kept && !p->leaving && !p->internal) {
			mlog("info", pool_name(p), "gone from %s: stopping it",
			     m->mc->config_path);
			pool_stop(p, false);
		}
	}
	for (size_t i = 0; i < next.n_pools; i++) {
		const char *name = next.pools[i].name;
		if (only && !in_reload(&next.pools[i], only))
			continue;
		struct pool *p = find_pool(m, name);
		if (p) {
			pool_reload(p, take_config(&next.pools[i]));
			continue;
		}
		take_from_leaving(m, &next.pools[i]);
		if (add_pool(m, &next.pools[i]) < 0)
			mlog("error", name, "the new pool could not start");
	}
	master_config_free(&next);
	return 0;
}

/* ---- the control socket ---- */

static void render_status(struct master *m, enum status_format fmt,
                          const char *only, struct strbuf *out)
{
	size_t n_pools = 0, n_procs = 0;
	for (struct pool *p = m->pools; p; p = p->next) {
		n_pools++;
		n_procs += pool_alive(p);
	}
	/* Sized to what there is: a master with 16 workers stays small
	 * (glibc would keep a big freed block's pages). */
	struct status_pool *sp = calloc(n_pools ? n_pools : 1, sizeof(*sp));
	struct status_listener *ls =
		calloc((n_pools ? n_pools : 1) * POOL_MAX_LISTENERS, sizeof(*ls));
	struct status_proc *procs = calloc(n_procs ? n_procs : 1,
	                                   sizeof(*procs));
	if (!sp || !ls || !procs) {
		sb_printf(out, "error: out of memory\n");
		goto out;
	}
	size_t i = 0, used = 0;
	for (struct pool *p = m->pools; p; p = p->next, i++) {
		pool_status(p, &sp[i], procs + used, n_procs - used,
		            ls + i * POOL_MAX_LISTENERS);
		used += sp[i].n_procs;
	}
	struct status_snapshot snap = {
		.master_pid = getpid(), .version = acgi_version(),
		.started_unix = m->started_unix,
		.uptime_s = wall_now() - m->started_unix,
		.pools = sp, .n_pools = n_pools,
	};
	struct strbuf body = {0};
	if (status_render(&snap, fmt, only, &body) < 0)
		sb_printf(out, "error: no pool named %s\n", only);
	else {
		sb_printf(out, "ok\n");
		sb_add(out, body.data ? body.data : "", body.len);
	}
	sb_free(&body);
out:
	free(sp);
	free(ls);
	free(procs);
}

static void list_listeners(struct master *m, struct strbuf *out)
{
	sb_printf(out, "ok\n");
	for (struct pool *p = m->pools; p; p = p->next)
		for (size_t i = 0; i < p->cur.cfg->n_listeners; i++)
			sb_printf(out, "%s\n", p->cur.cfg->listeners[i].addr);
	if (m->mc->status)
		sb_printf(out, "%s\n", m->mc->status);
}

/* Splits "verb arg1 arg2" in place. */
static int split_words(char *line, char **words, int max)
{
	int n = 0;
	for (char *t = strtok(line, " \t\r"); t && n < max; t = strtok(NULL, " \t\r"))
		words[n++] = t;
	return n;
}

static void command(struct master *m, struct client *c, char *line)
{
	char *w[4] = {0};
	int n = split_words(line, w, 4);
	char err[512];
	if (n >= 2 && strcmp(w[0], "status") == 0) {
		enum status_format fmt;
		if (status_format_parse(w[1], &fmt) < 0)
			sb_printf(&c->out, "error: unknown format %s\n", w[1]);
		else
			render_status(m, fmt, n > 2 ? w[2] : NULL, &c->out);
	} else if (n == 1 && strcmp(w[0], "listeners") == 0) {
		list_listeners(m, &c->out);
	} else if (!c->privileged && n >= 1 &&
	           (strcmp(w[0], "reload") == 0 || strcmp(w[0], "stop") == 0)) {
		sb_printf(&c->out, "error: %s needs root or the master's user\n",
		          w[0]);
	} else if (m->stopping && n >= 1 && strcmp(w[0], "reload") == 0) {
		sb_printf(&c->out, "error: the master is stopping\n");
	} else if (n >= 1 && n <= 2 && strcmp(w[0], "reload") == 0) {
		mlog("info", NULL, "reload asked through the control socket");
		if (reload(m, n == 2 ? w[1] : NULL, err, sizeof(err)) < 0)
			sb_printf(&c->out, "error: %s\n", err);
		else
			sb_printf(&c->out, "ok\n");
	} else if (n >= 1 && strcmp(w[0], "stop") == 0 &&
	           (n == 1 || (n == 2 && strcmp(w[1], "now") == 0))) {
		sb_printf(&c->out, "ok\n");
		mlog("info", NULL, "stop asked through the control socket");
		begin_stop(m, n == 2);
	} else {
		sb_printf(&c->out, "error: unknown command; try status FORMAT "
		          "[POOL], reload [POOL], stop [now], listeners\n");
	}
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	sb_free(&c->out);
	*c = (struct client){.fd = -1};
}

/* Root or the master's own user may reload and stop; not the status
 * app's workers, even when they run as the master's user. */
static bool privileged(struct master *m, const struct ucred *cred)
{
	if (cred->uid != 0 && cred->uid != geteuid())
		return false;
	for (struct pool *p = m->pools; p; p = p->next)
		if (p->internal && pool_find(p, cred->pid))
			return false;
	return true;
}

/* A free entry; when there is none, a privileged caller takes the one of
 * an unprivileged client, so that anyone hammering the socket cannot keep
 * `anycgi stop` out. */
static struct client *client_slot(struct master *m, bool priv)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->clients[i].fd < 0)
			return &m->clients[i];
	for (int i = 0; priv && i < MAX_CLIENTS; i++)
		if (!m->clients[i].privileged) {
			client_close(&m->clients[i]);
			return &m->clients[i];
		}
	return NULL;
}

static void client_accept(struct master *m)
{
	int fd = accept4(m->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	bool priv = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	            privileged(m, &cred);
	struct client *c = client_slot(m, priv);
	if (!c) {
		close(fd);
		return;
	}
	/* A command line comes at once or not at all: 1 s for it, then
	 * CLIENT_MS for the whole exchange. */
	*c = (struct client){.fd = fd, .deadline_ms = mono_ms() + 1000,
	                     .privileged = priv};
}

static void client_io(struct master *m, struct client *c, short revents)
{
	if (!c->out.len) {
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
		if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
			client_close(c);
			return;
		}
		c->in_len += n > 0 ? (size_t)n : 0;
		c->in[c->in_len] = '\0';
		char *nl = strchr(c->in, '\n');
		if (!nl && c->in_len < sizeof(c->in) - 1)
			return;
		if (nl)
			*nl = '\0';
		c->deadline_ms = mono_ms() + CLIENT_MS;
		command(m, c, c->in);
	}
	(void)revents;
	while (c->sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		c->sent += (size_t)n;
	}
	client_close(c);
}

/* A symlink in the registry, so that `anycgi status HOST:PORT` finds a
 * master whose control socket lives elsewhere. */
static void register_master(struct master *m)
{
	const char *reg = control_registry();
	if (strncmp(m->ctl_path, reg, strlen(reg)) == 0)
		return;
	char target[PATH_MAX];
	if (!realpath(m->ctl_path, target))
		snprintf(target, sizeof(target), "%s", m->ctl_path);
	snprintf(m->reg_link, sizeof(m->reg_link), "%s/master-%d.ctl", reg,
	         (int)getpid());
	(void)unlink(m->reg_link);
	if (symlink(target, m->reg_link) < 0)
		m->reg_link[0] = '\0';
}

static int open_control(struct master *m)
{
	if (m->mc->control)
		snprintf(m->ctl_path, sizeof(m->ctl_path), "%s", m->mc->control);
	else
		control_default_path(m->mc, m->ctl_path, sizeof(m->ctl_path));
	m->ctl_fd = control_listen(m->ctl_path);
	if (m->ctl_fd < 0)
		return -1;
	register_master(m);
	return 0;
}

static void close_control(struct master *m)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		client_close(&m->clients[i]);
	if (m->ctl_fd >= 0) {
		close(m->ctl_fd);
		(void)unlink(m->ctl_path);
	}
	if (m->reg_link[0])
		(void)unlink(m->reg_link);
}

/* ---- signals and children ---- */

static void reap(struct master *m)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (struct pool *p = m->pools; p; p = p->next) {
			struct worker *w = pool_find(p, pid);
			if (w) {
				pool_on_exit(p, w, status);
				break;
			}
		}
}

static void on_signal(struct master *m)
{
	struct signalfd_siginfo si;
	char err[512];
	while (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(m);
			break;
		case SIGTERM:
		case SIGINT:
			begin_stop(m, true);
			break;
		case SIGQUIT:
			begin_stop(m, false);
			break;
		case SIGHUP:
		case SIGUSR2:
			if (!m->stopping) {
				mlog("info", NULL, "%s: reload",
				     si.ssi_signo == SIGHUP ? "SIGHUP" : "SIGUSR2");
				(void)reload(m, NULL, err, sizeof(err));
			}
			break;
		case SIGUSR1:
			mlog_reopen();
			/* The front ends' access logs too. */
			for (struct pool *p = m->pools; p; p = p->next)
				if (p->cur.cfg->front_of[0])
					pool_signal(p, SIGUSR1);
			mlog("info", NULL, "SIGUSR1: log reopened");
			break;
		default:
			break;
		}
	}
}

/* ---- the loop ---- */

struct poll_set {
	struct pollfd fds[MAX_POLL];
	void *who[MAX_POLL];
	struct pool *pool[MAX_POLL];
	size_t n;
};

static void poll_add(struct poll_set *ps, int fd, short events, void *who,
                     struct pool *p)
{
	if (ps->n >= MAX_POLL)
		return;
	ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = events};
	ps->who[ps->n] = who;
	ps->pool[ps->n++] = p;
}

static void build_poll(struct master *m, struct poll_set *ps)
{
	ps->n = 0;
	poll_add(ps, m->sigfd, POLLIN, NULL, NULL);
	if (m->ctl_fd >= 0)
		poll_add(ps, m->ctl_fd, POLLIN, m, NULL);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->clients[i].fd >= 0)
			poll_add(ps, m->clients[i].fd,
			         m->clients[i].out.len ? POLLOUT : POLLIN,
			         &m->clients[i], NULL);
	for (struct pool *p = m->pools; p; p = p->next) {
		size_t first = ps->n;
		size_t k = pool_poll_fds(p, ps->fds + ps->n, ps->who + ps->n,
		                         MAX_POLL - ps->n);
		for (size_t i = 0; i < k; i++)
			ps->pool[first + i] = p;
		ps->n += k;
	}
}

static void dispatch(struct master *m, struct poll_set *ps)
{
	/* Output first: a worker's last words come before news of its
	 * death, which the signal fd brings. */
	for (size_t i = 1; i < ps->n; i++) {
		if (!ps->fds[i].revents)
			continue;
		if (ps->pool[i])
			pool_poll_event(ps->pool[i], ps->who[i], ps->fds[i].fd,
			                ps->fds[i].revents);
		else if (ps->who[i] == m)
			client_accept(m);
		else
			client_io(m, ps->who[i], ps->fds[i].revents);
	}
	if (ps->fds[0].revents)
		on_signal(m);
}

static long long earliest(long long a, long long b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Pools removed by a reload leave once their last worker is gone. */
static void drop_empty_pools(struct master *m)
{
	for (struct pool **pp = &m->pools; *pp;) {
		struct pool *p = *pp;
		if (p->leaving && !m->stopping && pool_alive(p) == 0) {
			mlog("info", pool_name(p), "stopped");
			*pp = p->next;
			pool_free_all(p);
			continue;
		}
		pp = &p->next;
	}
}

/* Samples, keeps the pools at size, and says how long to sleep. */
static long long step(struct master *m)
{
	long long now = mono_ms();
	bool busy = false;
	if (now >= m->next_sample_ms) {
		for (struct pool *p = m->pools; p; p = p->next) {
			pool_sample(p, now);
			busy |= pool_busy_ticking(p);
		}
		m->next_sample_ms = now + (busy ? TICK_BUSY_MS : TICK_MS);
	}
	long long timeout = m->next_sample_ms - now;
	bool up = true;
	for (struct pool *p = m->pools; p; p = p->next) {
		timeout = earliest(timeout, pool_maintain(p, now));
		up &= p->cur.ever_up;
	}
	m->came_up |= up;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->clients[i].fd >= 0 && now >= m->clients[i].deadline_ms)
			client_close(&m->clients[i]);
	if (m->was_reloading && !any_reloading(m)) {
		m->was_reloading = false;
		notify_status(m, "READY=1\n");
	}
	drop_empty_pools(m);
	return timeout < 0 ? TICK_MS : timeout;
}

static bool stop_step(struct master *m, long long *timeout)
{
	if (alive_all(m) == 0)
		return true;
	long long left = m->stop_deadline_ms - mono_ms();
	if (left <= 0) {
		mlog("warning", NULL, "%u workers still running: SIGKILL",
		     alive_all(m));
		for (struct pool *p = m->pools; p; p = p->next)
			pool_kill(p);
		m->stop_deadline_ms = mono_ms() + 1000;
		left = 1000;
	}
	*timeout = left;
	return false;
}

/* A pool whose program never comes up: at start the master gives up
 * (`anycgi run` fails with the reason); a pool added later by a reload is
 * only reported degraded, and keeps trying with backoff, since the others
 * serve. */
static void give_up_if_hopeless(struct master *m)
{
	for (struct pool *p = m->pools; p && !m->stopping; p = p->next) {
		if (!pool_hopeless(p))
			continue;
		if (m->came_up) {
			pool_degraded(p, "keeps dying at start");
			continue;
		}
		mlog("error", pool_name(p), "%s keeps dying at start: giving up",
		     p->cur.cfg->argv[0]);
		m->exit_code = 1;
		begin_stop(m, true);
	}
}

static void loop(struct master *m)
{
	static struct poll_set ps;
	for (;;) {
		give_up_if_hopeless(m);
		long long timeout;
		if (!m->stopping) {
			timeout = step(m);
		} else {
			for (struct pool *p = m->pools; p; p = p->next)
				(void)pool_maintain(p, mono_ms());
			if (stop_step(m, &timeout))
				return;
		}
		build_poll(m, &ps);
		if (poll(ps.fds, ps.n, (int)(timeout > 60000 ? 60000 : timeout)) > 0)
			dispatch(m, &ps);
	}
}

/* ---- setting up ---- */

static int block_signals(struct master *m)
{
	sigset_t set;
	sigemptyset(&set);
	const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
	                    SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* A control client that goes away must not kill the master. */
	signal(SIGPIPE, SIG_IGN);
	m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return m->sigfd < 0 ? -1 : 0;
}

/* The status pool's configuration: the built-in status app, asking the
 * control socket, never as root. Returns 0, or -1 with err set. */
static int status_config(struct master *m, struct pool_config *cfg,
                         char *err, size_t errlen)
{
	const char *addr = m->mc->status;
	bool http = strncmp(addr, "http://", 7) == 0;
	char env[PATH_MAX + 32];
	snprintf(env, sizeof(env), "ANYCGI_CONTROL=%s", m->ctl_path);
	struct passwd *nobody = geteuid() == 0 ? getpwnam("nobody") : NULL;
	if (geteuid() == 0 && !nobody) {
		/* The status app faces the web server: never as root. */
		snprintf(err, errlen, "no user nobody to run the status app as");
		return -1;
	}
	pool_defaults(cfg);
	if (pool_option(cfg, "name", "anycgi-status", err, errlen) < 0 ||
	    pool_option(cfg, http ? "http" : "fastcgi", http ? addr + 7 : addr,
	                err, errlen) < 0 ||
	    pool_option(cfg, "app", "status", err, errlen) < 0 ||
	    pool_option(cfg, "program", m->mc->self, err, errlen) < 0 ||
	    pool_option(cfg, "arg", "__app", err, errlen) < 0 ||
	    pool_option(cfg, "arg", "status", err, errlen) < 0 ||
	    pool_option(cfg, "env", env, err, errlen) < 0 ||
	    (nobody && pool_option(cfg, "user", "nobody", err, errlen) < 0))
		return -1;
	return pool_finish(cfg, err, errlen);
}

/* --status ADDR: a pool of its own, the built-in status app, which asks
 * the control socket for each page; unprivileged when the master is
 * root. --status http://HOST:PORT serves it over HTTP, through a front
 * end of its own. */
static int add_status_pool(struct master *m)
{
	if (!m->mc->status)
		return 0;
	char err[512] = "";
	struct master_config one = {.pools = calloc(1, sizeof(*one.pools)),
	                            .n_pools = 1};
	int rc = -1;
	if (!one.pools)
		snprintf(err, sizeof(err), "out of memory");
	else if (status_config(m, &one.pools[0], err, sizeof(err)) == 0 &&
	         front_derive(&one, m->mc->self, err, sizeof(err)) == 0)
		rc = 0;
	for (size_t i = 0; rc == 0 && i < one.n_pools; i++) {
		rc = add_pool(m, &one.pools[i]);
		struct pool *p = m->pools;
		while (rc == 0 && p->next)
			p = p->next;
		if (rc == 0)
			p->internal = true;
	}
	if (rc < 0 && err[0])
		mlog("error", NULL, "--status %s: %s", m->mc->status, err);
	master_config_free(&one);
	return rc;
}

static int start(struct master *m)
{
	m->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (block_signals(m) < 0 || m->devnull < 0) {
		mlog("error", NULL, "start: %s", strerror(errno));
		return -1;
	}
	if (mlog_open(m->mc->log) < 0) {
		fprintf(stderr, "anycgi: --log %s: %s\n", m->mc->log,
		        strerror(errno));
		return -1;
	}
	listeners_take_systemd();
	char err[512];
	if (front_derive(m->mc, m->mc->self, err, sizeof(err)) < 0) {
		mlog("error", NULL, "%s", err);
		return -1;
	}
	srandom((unsigned)getpid() ^ (unsigned)mono_ms());
	/* The listeners first: a live server on one of them is the error
	 * to report, not its control socket. */
	for (size_t i = 0; i < m->mc->n_pools; i++)
		if (listeners_open(&m->mc->pools[i]) < 0)
			return -1;
	if (open_control(m) < 0)
		return -1;
	for (size_t i = 0; i < m->mc->n_pools; i++)
		if (add_pool(m, &m->mc->pools[i]) < 0)
			return -1;
	if (add_status_pool(m) < 0)
		return -1;
	notify_status(m, "READY=1\n");
	return 0;
}

int master_run(struct master_config *mc)
{
	struct master m = {.mc = mc, .sigfd = -1, .devnull = -1, .ctl_fd = -1,
	                   .started_unix = wall_now()};
	for (int i = 0; i < MAX_CLIENTS; i++)
		m.clients[i].fd = -1;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (!mc->self && n > 0) {
		self[n] = '\0';
		mc->self = strdup(self);
	}
	if (start(&m) == 0) {
		loop(&m);
	} else {
		m.exit_code = 1;
		begin_stop(&m, true);
		long long timeout;
		while (!stop_step(&m, &timeout)) {
			(void)poll(NULL, 0, timeout > 50 ? 50 : (int)timeout);
			reap(&m);
		}
	}
	while (m.pools) {
		struct pool *p = m.pools;
		m.pools = p->next;
		pool_free_all(p);
	}
	for (size_t i = 0; i < mc->n_pools; i++)
		listeners_close(&mc->pools[i]);
	front_cleanup();
	close_control(&m);
	if (m.sigfd >= 0)
		close(m.sigfd);
	if (m.devnull >= 0)
		close(m.devnull);
	master_config_free(mc);
	return m.exit_code;
}
