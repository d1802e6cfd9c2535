/* Starting worker processes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner.h"

enum { ENV_EXTRA = 8, ENV_BUF = 320 };

struct worker_env {
	const char *vars[POOL_MAX_ENV + 2 + ENV_EXTRA];
	char bufs[ENV_EXTRA][ENV_BUF];
	size_t n, nb;
};

static void env_add(struct worker_env *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void env_add(struct worker_env *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->bufs[e->nb], ENV_BUF, fmt, ap);
	va_end(ap);
	if (n > 0 && n < ENV_BUF)
		e->vars[e->n++] = e->bufs[e->nb++];
}

/* The pool's environment plus what libanycgi (and php-cgi) are told: the
 * request budget (ANYCGI_MAX_REQUESTS, PHP_FCGI_MAX_REQUESTS; other
 * programs cannot be told, only --max-lifetime recycles them), the other
 * listeners, the scoreboard, the ping path and the request timeout. */
static void build_env(const struct pool_config *cfg, int sb_at, int ho_at,
                      long long budget, struct worker_env *e)
{
	e->n = e->nb = 0;
	for (size_t i = 0; i < cfg->n_env; i++)
		e->vars[e->n++] = cfg->env[i];
	if (budget > 0) {
		env_add(e, "ANYCGI_MAX_REQUESTS=%lld", budget);
		env_add(e, "PHP_FCGI_MAX_REQUESTS=%lld", budget);
	}
	if (cfg->n_listeners > 1) {
		char list[64] = "";
		size_t o = 0;
		for (size_t i = 1; i < cfg->n_listeners; i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%zu",
			                      i > 1 ? "," : "", i + 2);
		env_add(e, "ANYCGI_LISTEN_FDS=%s", list);
	}
	if (sb_at >= 0)
		env_add(e, "ANYCGI_SCOREBOARD_FD=%d", sb_at);
	if (ho_at >= 0)
		env_add(e, "ANYCGI_HANDOVER_FD=%d", ho_at);
	if (cfg->ping_path)
		env_add(e, "ANYCGI_PING_PATH=%s", cfg->ping_path);
	if (cfg->request_timeout > 0)
		env_add(e, "ANYCGI_REQUEST_TIMEOUT=%.3f", cfg->request_timeout);
	e->vars[e->n] = NULL;
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
	/* The user's group was read with the configuration: no lookup here
	 * that could fail and leave the worker with root's groups. */
	gid_t gid = cfg->group != (gid_t)-1 ? cfg->group : cfg->user_gid;
	if (cfg->user != (uid_t)-1 && gid == (gid_t)-1) {
		errno = EINVAL;
		return -1;
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

/* The fds a worker gets: [0] listener, [1] /dev/null, [2] stderr pipe,
 * [3..] the other listeners, then the scoreboard and the handover socket
 * when there are; their positions go to *sb_at and *ho_at (-1: none). */
static size_t child_fds(const struct pool_config *cfg,
                        const struct worker_fds *w, int *fds, int *sb_at,
                        int *ho_at)
{
	size_t n = 0;
	fds[n++] = cfg->listeners[0].fd;
	fds[n++] = w->devnull;
	fds[n++] = w->err;
	for (size_t i = 1; i < cfg->n_listeners; i++)
		fds[n++] = cfg->listeners[i].fd;
	*sb_at = *ho_at = -1;
	if (w->scoreboard >= 0) {
		*sb_at = (int)n;
		fds[n++] = w->scoreboard;
	}
	if (w->handover >= 0) {
		*ho_at = (int)n;
		fds[n++] = w->handover;
	}
	return n;
}

/* The path with privileges to drop: fork, set up, exec. The master is
 * small, so the fork is cheap; an exec failure comes back through a pipe
 * so that the caller sees it like posix_spawn's. The fds to place are all
 * at 100 and up or at 0..2 (listeners moved high, pipes high), so the
 * dup2s in order never overwrite one not yet placed. */
static int spawn_forked(const struct pool_config *cfg, const int *fds,
                        size_t n_fds, struct worker_env *env, pid_t *pid)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return errno;
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
		(void)setpgid(0, 0);
		for (size_t i = 0; i < n_fds; i++)
			if (dup2(fds[i], (int)i) < 0)
				goto fail;
		/* All but the report pipe, which is close-on-exec. */
		(void)close_range((unsigned)n_fds, (unsigned)report[1] - 1, 0);
		(void)close_range((unsigned)report[1] + 1, ~0U, 0);
		if (drop_privileges(cfg) < 0)
			goto fail;
		execvpe(cfg->argv[0], cfg->argv, (char *const *)env->vars);
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

/* The dup2s run in order, so a source fd below n_fds would be overwritten
 * before its turn: such sources get a copy at 100 and up. Returns a mask
 * of the copies made. */
static unsigned raise_fds(int *fds, size_t n_fds)
{
	unsigned copies = 0;
	for (size_t i = 0; i < n_fds; i++) {
		if (fds[i] >= (int)n_fds)
			continue;
		int high = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
		if (high >= 0) {
			fds[i] = high;
			copies |= 1u << i;
		}
	}
	return copies;
}

static void drop_copies(const int *fds, size_t n_fds, unsigned copies)
{
	for (size_t i = 0; i < n_fds; i++)
		if (copies & (1u << i))
			close(fds[i]);
}

static int spawn_plain(const struct pool_config *cfg, const int *fds,
                       size_t n_fds, struct worker_env *env, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	for (size_t i = 0; i < n_fds; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], (int)i);
	/* Nothing else: not an fd that whatever started the master left
	 * open without FD_CLOEXEC. */
	posix_spawn_file_actions_addclosefrom_np(&fa, (int)n_fds);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	/* Its own process group: a kill at a deadline reaches whatever the
	 * worker started too (php-cgi's children, a CGI script). */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	                         POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK |
	                         POSIX_SPAWN_SETPGROUP);
	int rc = posix_spawnp(pid, cfg->argv[0], &fa, &attr, cfg->argv,
	                      (char *const *)env->vars);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

int spawn_worker(const struct pool_config *cfg, const struct worker_fds *w,
                 long long budget, pid_t *pid)
{
	int fds[POOL_MAX_LISTENERS + 4], sb_at, ho_at;
	size_t n_fds = child_fds(cfg, w, fds, &sb_at, &ho_at);
	struct worker_env env;
	build_env(cfg, sb_at, ho_at, budget, &env);
	unsigned copies = raise_fds(fds, n_fds);
	int rc = needs_setup(cfg) ? spawn_forked(cfg, fds, n_fds, &env, pid)
	                          : spawn_plain(cfg, fds, n_fds, &env, pid);
	drop_copies(fds, n_fds, copies);
	return rc;
}
