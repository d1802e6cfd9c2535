/* The master: opens the pool's listeners, keeps its workers running and
 * stops them. It never reads or writes a request. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "master.h"
#include "options.h"
#include "output.h"

enum {
	START_GRACE_MS = 1000,     /* a worker dying sooner died "at start" */
	BACKOFF_FIRST_MS = 100,    /* first respawn delay after such a death */
	BACKOFF_MAX_MS = 10000,
	FAIL_FAST_DEATHS = 5,      /* deaths at start, with none ever up */
	FAST_STOP_MS = 900,        /* SIGTERM to SIGKILL on a fast stop */
	QUICK_EXIT_MS = 100,       /* a clean exit sooner is suspicious */
	QUICK_EXITS_MAX = 20,      /* in a row, before backing off */
};

struct worker {
	pid_t pid;                 /* 0: not running */
	long long started_ms;      /* when it was spawned */
	long long respawn_at_ms;   /* when not running: when to start it,
	                              -1: a free slot */
	long long retire_at_ms;    /* --max-lifetime deadline, 0: none */
	bool retiring;             /* asked to stop for recycling */
	struct worker_output out;  /* its stderr */
};

struct master {
	struct pool_config *cfg;
	struct worker *workers;
	int sigfd;
	int devnull;
	unsigned backoff_ms;       /* next delay after a death at start */
	unsigned deaths_at_start;  /* in a row */
	unsigned quick_exits;      /* clean exits right after start, in a row */
	unsigned n_slots;          /* 2 x workers: room for replacements that
	                              start before the worker they replace
	                              stops */
	bool ever_up;              /* a worker outlived START_GRACE_MS */
	const char *stopping;      /* NULL, "fast" or "graceful" */
	long long stop_deadline_ms;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void mlog(const struct master *m, const char *level, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

/* One line per event, with the level and the pool: one write, so that
 * lines from workers sharing stderr do not interleave with it. */
static void mlog(const struct master *m, const char *level, const char *fmt,
                 ...)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "anycgi[%d] %s pool %s: ",
	                 (int)getpid(), level, m->cfg->name);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

/* --socket-mode, --socket-owner, --socket-group: who may connect (nginx
 * runs as www-data, the master often as root). */
static int set_socket_access(const struct pool_config *cfg, const char *path)
{
	if (cfg->socket_mode >= 0 && chmod(path, (mode_t)cfg->socket_mode) < 0) {
		fprintf(stderr, "anycgi: chmod %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((cfg->socket_uid != (uid_t)-1 || cfg->socket_gid != (gid_t)-1) &&
	    chown(path, cfg->socket_uid, cfg->socket_gid) < 0) {
		fprintf(stderr, "anycgi: chown %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_listeners(struct master *m)
{
	struct pool_config *cfg = m->cfg;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct pool_listener *l = &cfg->listeners[i];
		bool tcp = false;
		int rc = listen_addr(l->addr, &l->fd, &tcp);
		if (rc < 0) {
			fprintf(stderr, "anycgi: cannot listen on %s: %s\n", l->addr,
			        rc == -EADDRINUSE ? "in use by a live server"
			                          : strerror(-rc));
			return -1;
		}
		l->created_unix = !tcp;
		if (!tcp && set_socket_access(cfg, l->addr + 5) < 0)
			return -1;
		/* Up out of the way of fds 3.. that workers receive them on. */
		int high = fcntl(l->fd, F_DUPFD_CLOEXEC, 100);
		if (high >= 0) {
			close(l->fd);
			l->fd = high;
		}
		/* Foreign workers (libfcgi, php-cgi) accept in blocking mode and
		 * give up on EAGAIN; libanycgi workers make it non-blocking
		 * themselves. The master never accepts. */
		int fl = fcntl(l->fd, F_GETFL);
		if (fl >= 0)
			(void)fcntl(l->fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	return 0;
}

static void close_listeners(struct master *m)
{
	struct pool_config *cfg = m->cfg;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct pool_listener *l = &cfg->listeners[i];
		if (l->fd < 0)
			continue;
		close(l->fd);
		l->fd = -1;
		if (l->created_unix)
			(void)unlink(l->addr + 5);
	}
}

/* The worker gets the first listener on fd 0 (FCGI_LISTENSOCK_FILENO), no
 * stdout, the master's stderr, default signal dispositions, an empty mask
 * and only the pool's environment. */
/* Up to 10% less than limit, so that workers started together are not
 * recycled together. */
static long long jitter(long long limit)
{
	return limit - (limit > 10 ? random() % (limit / 10 + 1) : 0);
}

/* The pool's environment plus the worker's own request budget, for
 * libanycgi (ANYCGI_MAX_REQUESTS) and php-cgi (PHP_FCGI_MAX_REQUESTS).
 * Other programs cannot be told; only --max-lifetime recycles them. */
static void worker_env(const struct master *m, const char **env,
                       char bufs[3][48])
{
	size_t n = 0;
	for (; n < m->cfg->n_env; n++)
		env[n] = m->cfg->env[n];
	if (m->cfg->max_requests) {
		long long budget = jitter(m->cfg->max_requests);
		snprintf(bufs[0], 48, "ANYCGI_MAX_REQUESTS=%lld", budget);
		snprintf(bufs[1], 48, "PHP_FCGI_MAX_REQUESTS=%lld", budget);
		env[n++] = bufs[0];
		env[n++] = bufs[1];
	}
	if (m->cfg->n_listeners > 1) {
		/* The other listeners sit on fds 3, 4, ... (see spawn). */
		size_t o = (size_t)snprintf(bufs[2], 48, "ANYCGI_LISTEN_FDS=");
		for (size_t i = 1; i < m->cfg->n_listeners && o < 44; i++)
			o += (size_t)snprintf(bufs[2] + o, 48 - o, "%s%zu",
			                      i > 1 ? "," : "", i + 2);
		env[n++] = bufs[2];
	}
	env[n] = NULL;
}

static bool needs_setup(const struct pool_config *cfg)
{
	return cfg->chroot_dir || cfg->user != (uid_t)-1 ||
	       cfg->group != (gid_t)-1 ||
	       cfg->rlimit_files >= 0 || cfg->rlimit_as >= 0 ||
	       cfg->rlimit_nproc >= 0;
}

static int set_limit(int resource, long long value)
{
	struct rlimit rl = {(rlim_t)value, (rlim_t)value};
	return value < 0 ? 0 : setrlimit(resource, &rl);
}

/* In the forked child: limits first (RLIMIT_NPROC is checked against the
 * new user), then the group, the supplementary groups and the user, in
 * the order that keeps the right to drop each. Returns -1 with errno. */
static int drop_privileges(const struct pool_config *cfg)
{
	if (set_limit(RLIMIT_NOFILE, cfg->rlimit_files) < 0 ||
	    set_limit(RLIMIT_AS, cfg->rlimit_as) < 0 ||
	    set_limit(RLIMIT_NPROC, cfg->rlimit_nproc) < 0)
		return -1;
	gid_t gid = cfg->group;
	if (gid == (gid_t)-1 && cfg->user != (uid_t)-1) {
		struct passwd *pw = getpwuid(cfg->user);
		gid = pw ? pw->pw_gid : (gid_t)-1;
	}
	/* The chroot needs root, so it comes before the user changes; the
	 * program is then looked up inside it. */
	if (cfg->chroot_dir && (chroot(cfg->chroot_dir) < 0 || chdir("/") < 0))
		return -1;
	if (gid != (gid_t)-1 && (setgroups(1, &gid) < 0 || setgid(gid) < 0))
		return -1;
	if (cfg->user != (uid_t)-1 && setuid(cfg->user) < 0)
		return -1;
	return 0;
}

/* The path with privileges to drop: fork, set up, exec. The master is
 * small, so the fork is cheap; an exec failure comes back through a pipe
 * so that the caller sees it like posix_spawn's. */
static int spawn_forked(struct master *m, pid_t *pid, int err_fd,
                        const char **env)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return errno;
	/* Its write end must survive the child's dup2s onto fds 3.. */
	int high = fcntl(report[1], F_DUPFD_CLOEXEC, 100);
	if (high >= 0) {
		close(report[1]);
		report[1] = high;
	}
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		close(report[0]);
		close(report[1]);
		return e;
	}
	if (child == 0) {
		sigset_t none;
		sigemptyset(&none);
		for (int sig = 1; sig < NSIG; sig++)
			(void)signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(m->cfg->listeners[0].fd, 0) < 0 ||
		    dup2(m->devnull, 1) < 0 || dup2(err_fd, 2) < 0)
			goto fail;
		for (size_t i = 1; i < m->cfg->n_listeners; i++)
			if (dup2(m->cfg->listeners[i].fd, (int)i + 2) < 0)
				goto fail;
		if (drop_privileges(m->cfg) < 0)
			goto fail;
		execvpe(m->cfg->argv[0], m->cfg->argv, (char *const *)env);
fail:;
		int e = errno;
		(void)!write(report[1], &e, sizeof(e));
		_exit(127);
	}
	close(report[1]);
	int e = 0;
	ssize_t n = read(report[0], &e, sizeof(e));
	close(report[0]);
	if (n == (ssize_t)sizeof(e)) {
		(void)waitpid(child, NULL, 0);
		return e;
	}
	*pid = child;
	return 0;
}

static int spawn(struct master *m, pid_t *pid, int err_fd)
{
	const char *env[POOL_MAX_ENV + 5];
	char bufs[3][48];
	worker_env(m, env, bufs);
	if (needs_setup(m->cfg))
		return spawn_forked(m, pid, err_fd, env);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, m->cfg->listeners[0].fd, 0);
	posix_spawn_file_actions_adddup2(&fa, m->devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	for (size_t i = 1; i < m->cfg->n_listeners; i++)
		posix_spawn_file_actions_adddup2(&fa, m->cfg->listeners[i].fd,
		                                 (int)i + 2);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	                         POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
	int rc = posix_spawnp(pid, m->cfg->argv[0], &fa, &attr, m->cfg->argv,
	                      (char *const *)env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

static int start_worker(struct master *m, struct worker *w)
{
	int err_fd = output_open(&w->out);
	if (err_fd < 0) {
		mlog(m, "error", "pipe: %s", strerror(-err_fd));
		return err_fd;
	}
	int rc = spawn(m, &w->pid, err_fd);
	close(err_fd);
	w->out.pid = w->pid;
	if (rc != 0) {
		output_close(&w->out, m->cfg->name);
		w->pid = 0;
		mlog(m, "error", "cannot start %s: %s", m->cfg->argv[0],
		     strerror(rc));
		return -rc;
	}
	w->started_ms = now_ms();
	w->respawn_at_ms = 0;
	w->retiring = false;
	w->retire_at_ms = m->cfg->max_lifetime > 0
	                  ? w->started_ms +
	                    jitter((long long)(m->cfg->max_lifetime * 1000))
	                  : 0;
	return 0;
}

static struct worker *find_worker(struct master *m, pid_t pid)
{
	for (unsigned i = 0; i < m->n_slots; i++)
		if (m->workers[i].pid == pid)
			return &m->workers[i];
	return NULL;
}

static void describe_status(int status, char *out, size_t cap)
{
	if (WIFSIGNALED(status))
		snprintf(out, cap, "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
}

/* Exit status 0 is deliberate (a worker recycling itself after its
 * requests), so such a worker is replaced at once even if it was young,
 * unless it keeps doing so right after its start: /bin/true must not make
 * the master spin. */
static bool replace_at_once(struct master *m, const struct worker *w,
                            bool clean, long long age_ms)
{
	/* With --max-requests a busy worker may use its budget in a few
	 * milliseconds: its clean exit is the plan, never a failure. */
	bool recycled = clean && m->cfg->max_requests > 0;
	if (recycled || age_ms >= START_GRACE_MS ||
	    (clean && age_ms >= QUICK_EXIT_MS)) {
		m->quick_exits = 0;
		return true;
	}
	return clean && ++m->quick_exits <= QUICK_EXITS_MAX;
}

/* A worker that died is replaced at once, unless it died at start: then
 * after a delay that doubles each time, so a broken program does not spin. */
static void on_worker_exit(struct master *m, struct worker *w, int status)
{
	long long now = now_ms();
	bool at_start = now - w->started_ms < START_GRACE_MS;
	char why[96];
	describe_status(status, why, sizeof(why));
	/* Its last words first, then the news of its death. */
	output_close(&w->out, m->cfg->name);
	w->pid = 0;
	if (m->stopping || w->retiring) {
		/* A retired worker's replacement is already running. */
		mlog(m, "info", "worker %s%s", why, w->retiring ? " (retired)" : "");
		w->respawn_at_ms = -1;
		return;
	}
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (replace_at_once(m, w, clean, now - w->started_ms)) {
		if (!at_start || (clean && m->cfg->max_requests)) {
			m->ever_up = true;
			m->deaths_at_start = 0;
			m->backoff_ms = BACKOFF_FIRST_MS;
		}
		mlog(m, clean ? "info" : "warning",
		     "worker %s; starting another", why);
		w->respawn_at_ms = 0;
		return;
	}
	m->deaths_at_start++;
	w->respawn_at_ms = now + m->backoff_ms;
	mlog(m, "warning", "worker %s %lld ms after its start; next try in "
	     "%u ms", why, now - w->started_ms, m->backoff_ms);
	m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
	                                                   : m->backoff_ms * 2;
}

static void reap(struct master *m)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w = find_worker(m, pid);
		if (w)
			on_worker_exit(m, w, status);
	}
}

static unsigned n_running(const struct master *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->n_slots; i++)
		n += m->workers[i].pid > 0;
	return n;
}

static void signal_workers(struct master *m, int sig)
{
	for (unsigned i = 0; i < m->n_slots; i++)
		if (m->workers[i].pid > 0)
			(void)kill(m->workers[i].pid, sig);
}

static void begin_stop(struct master *m, bool fast)
{
	if (m->stopping && (!fast || strcmp(m->stopping, "fast") == 0))
		return;
	m->stopping = fast ? "fast" : "graceful";
	long long wait = fast ? FAST_STOP_MS
	                      : (long long)(m->cfg->drain_timeout * 1000);
	m->stop_deadline_ms = now_ms() + wait;
	mlog(m, "info", "%s stop of %u workers", m->stopping, n_running(m));
	signal_workers(m, fast ? SIGTERM : m->cfg->stop_signal);
}

static void on_signal(struct master *m)
{
	struct signalfd_siginfo si;
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
		default:
			break;
		}
	}
}

static struct worker *free_slot(struct master *m)
{
	for (unsigned i = 0; i < m->n_slots; i++)
		if (m->workers[i].pid == 0 && m->workers[i].respawn_at_ms < 0)
			return &m->workers[i];
	return NULL;
}

/* --max-lifetime: a replacement starts first, then the old worker is asked
 * to finish what it has and exit, so capacity never drops. Returns ms
 * until it is due, or -1. */
static long long retire_due(struct master *m, struct worker *w,
                            long long now)
{
	if (!w->retire_at_ms || w->retiring)
		return -1;
	if (w->retire_at_ms > now)
		return w->retire_at_ms - now;
	struct worker *next = free_slot(m);
	if (!next || start_worker(m, next) < 0)
		return 1000; /* try again; the old one serves meanwhile */
	mlog(m, "info", "worker %d reached its lifetime: worker %d replaces it",
	     (int)w->pid, (int)next->pid);
	w->retiring = true;
	(void)kill(w->pid, m->cfg->stop_signal);
	return -1;
}

/* Starts the workers that are due and retires the old ones; returns the
 * ms until the next such event, or -1. */
static int respawn_due(struct master *m)
{
	long long now = now_ms(), next = -1;
	for (unsigned i = 0; i < m->n_slots; i++) {
		struct worker *w = &m->workers[i];
		if (w->pid > 0) {
			long long t = retire_due(m, w, now);
			if (t >= 0 && (next < 0 || t < next))
				next = t;
			continue;
		}
		if (w->respawn_at_ms < 0)
			continue;
		if (w->respawn_at_ms <= now) {
			(void)start_worker(m, w);
			continue;
		}
		if (next < 0 || w->respawn_at_ms - now < next)
			next = w->respawn_at_ms - now;
	}
	return (int)next;
}

/* Waits up to timeout ms for a signal or a worker's output. */
static void wait_events(struct master *m, int timeout)
{
	struct pollfd p[1 + 2 * 4096];
	struct worker *who[1 + 2 * 4096];
	nfds_t n = 0;
	p[n++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
	for (unsigned i = 0; i < m->n_slots; i++) {
		if (m->workers[i].out.fd < 0)
			continue;
		who[n] = &m->workers[i];
		p[n++] = (struct pollfd){.fd = m->workers[i].out.fd,
		                         .events = POLLIN};
	}
	if (poll(p, n, timeout) <= 0)
		return;
	for (nfds_t i = 1; i < n; i++)
		if (p[i].revents)
			(void)output_read(&who[i]->out, m->cfg->name);
	if (p[0].revents)
		on_signal(m);
}

static int loop(struct master *m)
{
	for (;;) {
		int timeout = -1;
		if (!m->stopping) {
			if (!m->ever_up && m->deaths_at_start >= FAIL_FAST_DEATHS) {
				mlog(m, "error", "%s keeps dying at start: giving up",
				     m->cfg->argv[0]);
				begin_stop(m, true);
				return 1;
			}
			timeout = respawn_due(m);
		} else {
			if (n_running(m) == 0)
				return 0;
			long long left = m->stop_deadline_ms - now_ms();
			if (left <= 0) {
				mlog(m, "warning", "%u workers still running: "
				     "SIGKILL", n_running(m));
				signal_workers(m, SIGKILL);
				m->stop_deadline_ms = now_ms() + 1000;
				left = 1000;
			}
			timeout = (int)left;
		}
		wait_events(m, timeout);
	}
}

static void wait_all(struct master *m)
{
	/* After giving up: the last workers get the fast stop's grace. */
	while (n_running(m) > 0 && now_ms() < m->stop_deadline_ms)
		wait_events(m, 100);
	signal_workers(m, SIGKILL);
	reap(m);
}

int master_run(struct master_config *mc)
{
	struct pool_config *cfg = &mc->pools[0];
	struct master m = {.cfg = cfg, .sigfd = -1, .devnull = -1,
	                   .backoff_ms = BACKOFF_FIRST_MS};
	int rc = 1;
	sigset_t set;
	sigemptyset(&set);
	const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	m.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	srandom((unsigned)getpid() ^ (unsigned)now_ms());
	m.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	m.n_slots = 2 * cfg->workers;
	m.workers = calloc(m.n_slots, sizeof(*m.workers));
	if (m.sigfd < 0 || m.devnull < 0 || !m.workers) {
		perror("anycgi");
		goto out;
	}
	for (unsigned i = 0; i < m.n_slots; i++) {
		m.workers[i].out.fd = -1;
		m.workers[i].respawn_at_ms = i < cfg->workers ? 0 : -1;
	}
	if (open_listeners(&m) < 0)
		goto out;
	/* A program that cannot be started at all fails the command now. */
	if (start_worker(&m, &m.workers[0]) < 0)
		goto out;
	mlog(&m, "info", "serving %s with %u workers on %s", cfg->argv[0],
	     cfg->workers, cfg->listeners[0].addr);
	rc = loop(&m);
	if (rc != 0)
		wait_all(&m);
out:
	close_listeners(&m);
	if (m.sigfd >= 0)
		close(m.sigfd);
	if (m.devnull >= 0)
		close(m.devnull);
	for (unsigned i = 0; m.workers && i < m.n_slots; i++)
		output_close(&m.workers[i].out, cfg->name);
	free(m.workers);
	master_config_free(mc);
	return rc;
}
