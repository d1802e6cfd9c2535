/* Starting a CGI script: posix_spawn on the fast path; vfork with the
 * script's limits and user set before the exec when the pool asks for
 * them (posix_spawn cannot change users or set rlimits). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgi_gateway.h"

static bool plain(const struct cgi_gateway *g)
{
	for (int i = 0; i < CGI_RL_COUNT; i++)
		if (g->rlimits[i] >= 0)
			return false;
	return g->uid == (uid_t)-1;
}

/* The child starts in its own process group (so an abort kills all it
 * started), with default signal actions and an empty mask, its stdio on
 * the pipes, in the script's folder, with no other fd of the worker. */
static int spawn_setup(posix_spawnattr_t *a, posix_spawn_file_actions_t *fa,
                       const struct cgi_spawn *sp)
{
	sigset_t all, none;
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	sigemptyset(&none);
	int rc = posix_spawnattr_setflags(a, POSIX_SPAWN_SETPGROUP |
	                                  POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF);
	rc = rc ? rc : posix_spawnattr_setpgroup(a, 0);
	rc = rc ? rc : posix_spawnattr_setsigmask(a, &none);
	rc = rc ? rc : posix_spawnattr_setsigdefault(a, &all);
	for (int i = 0; i < 3; i++)
		rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, sp->stdio[i], i);
	rc = rc ? rc : posix_spawn_file_actions_addfchdir_np(fa, sp->dir_fd);
	rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return rc;
}

static pid_t spawn_plain(const struct cgi_spawn *sp, char *path)
{
	char *argv[] = {path + 2, NULL};
	posix_spawnattr_t a;
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	posix_spawnattr_init(&a);
	posix_spawn_file_actions_init(&fa);
	int rc = spawn_setup(&a, &fa, sp);
	if (rc == 0)
		rc = posix_spawn(&pid, path, &fa, &a, argv, sp->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&a);
	return rc ? -rc : pid;
}

/* ---- The vfork path -------------------------------------------------- */

struct child_plan {
	const struct cgi_gateway *g;
	const struct cgi_spawn *sp;
	char *path;
	/* Set by the child, in the shared memory: volatile, since the
	 * compiler cannot see the child write them. */
	volatile int err;        /* why it could not exec */
	const char *volatile step;
};

/* RLIMIT_CPU's hard limit is a second above: the script gets SIGXCPU
 * (which it may catch to clean up) before the kernel's SIGKILL. */
static int set_limit(int resource, long long value)
{
	struct rlimit rl = {(rlim_t)value, (rlim_t)value};
	if (resource == RLIMIT_CPU)
		rl.rlim_max++;
	return value < 0 ? 0 : setrlimit(resource, &rl);
}

/* In the vfork child, sharing the worker's memory: only system calls, and
 * the user change through raw ones (glibc's setuid would ask the worker's
 * other threads, the watchdog, to change too). The order: limits (NPROC
 * counts against the new user at the exec), then the groups, the group
 * and the user, each kept by setres*id so none can be regained; then the
 * folder, as the script's user (it must be allowed in). Returns only on
 * an error, with plan->err set. */
static void child_setup(struct child_plan *pl)
{
	const struct cgi_gateway *g = pl->g;
	const struct cgi_spawn *sp = pl->sp;
	static const int res[CGI_RL_COUNT] = {
		[CGI_RL_CPU] = RLIMIT_CPU, [CGI_RL_AS] = RLIMIT_AS,
		[CGI_RL_NPROC] = RLIMIT_NPROC, [CGI_RL_FILES] = RLIMIT_NOFILE,
	};
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)signal(sig, SIG_DFL);
	pl->step = "setpgid";
	if (setpgid(0, 0) < 0)
		goto fail;
	pl->step = "setrlimit";
	for (int i = 0; i < CGI_RL_COUNT; i++)
		if (set_limit(res[i], g->rlimits[i]) < 0)
			goto fail;
	if (g->uid != (uid_t)-1) {
		pl->step = "the user change";
		gid_t gid = g->gid;
		if (syscall(SYS_setgroups, 1, &gid) < 0 ||
		    syscall(SYS_setresgid, gid, gid, gid) < 0 ||
		    syscall(SYS_setresuid, g->uid, g->uid, g->uid) < 0)
			goto fail;
	}
	pl->step = "dup2";
	for (int i = 0; i < 3; i++)
		if (dup2(sp->stdio[i], i) < 0)
			goto fail;
	pl->step = "the script's folder";
	if (fchdir(sp->dir_fd) < 0)
		goto fail;
	(void)close_range(3, ~0U, 0);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	pl->step = "exec";
	char *argv[] = {pl->path + 2, NULL};
	execve(pl->path, argv, sp->env);
fail:
	pl->err = errno;
}

static pid_t spawn_vfork(const struct cgi_gateway *g,
                         const struct cgi_spawn *sp, char *path)
{
	struct child_plan pl = {.g = g, .sp = sp, .path = path};
	sigset_t all, old;
	/* No handler of the worker may run in the child, on the shared
	 * memory: signals stay blocked until it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid_t pid = vfork();
	if (pid == 0) {
		child_setup(&pl);
		_exit(127);
	}
	int err = pid < 0 ? errno : pl.err;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid > 0 && err) {
		cgi_log("cgi: %s: %s failed", sp->name, pl.step);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	return err ? -err : pid;
}

pid_t cgi_spawn(const struct cgi_gateway *g, const struct cgi_spawn *sp)
{
	char path[NAME_MAX + 3];
	snprintf(path, sizeof(path), "./%s", sp->name);
	return plain(g) ? spawn_plain(sp, path) : spawn_vfork(g, sp, path);
}
