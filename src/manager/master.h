/* The master process: one pool of worker processes sharing the pool's
 * listening sockets (a first step: static pools). */
#ifndef ACGI_MANAGER_MASTER_H
#define ACGI_MANAGER_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { POOL_MAX_LISTENERS = 8, POOL_MAX_ENV = 64 };

struct pool_listener {
	char addr[256];      /* as given: unix:/path, HOST:PORT, [v6]:PORT */
	bool scgi;           /* --scgi rather than --fastcgi */
	int fd;              /* listening socket, -1 until opened */
	bool created_unix;   /* this master bound the Unix path */
};

struct pool_config {
	char name[64];                    /* --name, or the program's name */
	struct pool_listener listeners[POOL_MAX_LISTENERS];
	size_t n_listeners;
	unsigned workers;                 /* --workers: static count */
	char *const *argv;                /* PROGRAM and its arguments */
	const char *env[POOL_MAX_ENV + 2];/* NAME=VALUE, NULL-terminated */
	size_t n_env;
	int stop_signal;                  /* graceful stop for a worker */
	int socket_mode;                  /* Unix listeners' mode, -1: umask */
	uid_t socket_uid;                 /* their owner, (uid_t)-1: keep */
	gid_t socket_gid;                 /* their group, (gid_t)-1: keep */
	const char *chroot_dir;           /* workers' root, NULL: none */
	uid_t user;                       /* workers' user, (uid_t)-1: keep */
	gid_t group;                      /* workers' group, (gid_t)-1: keep */
	long long rlimit_files;           /* RLIMIT_NOFILE, -1: inherit */
	long long rlimit_as;              /* RLIMIT_AS bytes, -1: inherit */
	long long rlimit_nproc;           /* RLIMIT_NPROC, -1: inherit */
	double drain_timeout;             /* seconds a graceful stop waits */
	unsigned max_requests;            /* recycle after this many, 0: never */
	double max_lifetime;              /* recycle after seconds, 0: never */
};

/* Runs the pool until a stop: opens the listeners, starts the workers,
 * replaces those that die (with backoff when they die at start) and stops
 * on SIGTERM/SIGINT (fast: within a second) or SIGQUIT (graceful).
 * Returns the process exit status: 0 after a stop, 1 when the pool could
 * not start (the reason was printed). */
int master_run(struct pool_config *cfg);

#endif
