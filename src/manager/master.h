/* The master process: pools of worker processes sharing each pool's
 * listening sockets, kept running, scaled, recycled, reloaded and watched;
 * a control socket for `anycgi status|reload|stop`. */
#ifndef ACGI_MANAGER_MASTER_H
#define ACGI_MANAGER_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { POOL_MAX_LISTENERS = 8, POOL_MAX_ENV = 64, POOL_MAX_ARGS = 64,
       POOL_MAX_WORKERS = 4096, POOL_MAX_FRONT_ARGS = 48 };

enum pool_mode { MODE_STATIC, MODE_DYNAMIC, MODE_ONDEMAND };

struct pool_listener {
	char addr[256];      /* as given: unix:/path, HOST:PORT, [v6]:PORT */
	bool scgi;           /* --scgi rather than --fastcgi */
	bool http;           /* --http: the front end's, not the workers' */
	bool private_sock;   /* the front end's way in to an --http-only
	                        pool: mode 0600, owned by owner */
	uid_t owner;         /* private_sock: the front end's user, or -1 */
	int fd;              /* listening socket, -1 until opened */
	bool created_unix;   /* this master bound the Unix path */
	bool inherited;      /* from systemd (LISTEN_FDS): never unlinked */
};

struct pool_config {
	char name[64];                    /* --name, or the program's name */
	struct pool_listener listeners[POOL_MAX_LISTENERS];
	size_t n_listeners;
	enum pool_mode mode;              /* --mode */
	unsigned workers;                 /* static: the count; dynamic: the
	                                     start count */
	unsigned min_spare, max_spare;    /* dynamic: idle workers kept */
	unsigned max_workers;             /* dynamic and ondemand ceiling */
	double idle_timeout;              /* ondemand: an idle worker stops
	                                     after this many seconds */
	char *argv[POOL_MAX_ARGS + 1];    /* PROGRAM and its arguments, owned */
	size_t argc;
	char *app;                        /* a built-in app ("echo"), owned */
	char *env[POOL_MAX_ENV + 2];      /* NAME=VALUE, NULL-terminated, owned */
	size_t n_env;
	int stop_signal;                  /* graceful stop for a worker */
	int socket_mode;                  /* Unix listeners' mode, -1: umask */
	uid_t socket_uid;                 /* their owner, (uid_t)-1: keep */
	gid_t socket_gid;                 /* their group, (gid_t)-1: keep */
	char *chroot_dir;                 /* workers' root, NULL: none, owned */
	uid_t user;                       /* workers' user, (uid_t)-1: keep */
	gid_t user_gid;                   /* that user's group, read when the
	                                     option was (not in the child) */
	gid_t group;                      /* workers' group, (gid_t)-1: keep */
	long long rlimit_files;           /* RLIMIT_NOFILE, -1: inherit */
	long long rlimit_as;              /* RLIMIT_AS bytes, -1: inherit */
	long long rlimit_nproc;           /* RLIMIT_NPROC, -1: inherit */
	double drain_timeout;             /* seconds a graceful stop waits */
	unsigned max_requests;            /* recycle after this many, 0: never */
	double max_lifetime;              /* recycle after seconds, 0: never */
	double request_timeout;           /* seconds, 0: none */
	double slow_log;                  /* seconds, 0: none */
	char *ping_path;                  /* e.g. /ping, NULL: none, owned */
	/* --http: the front end's own options (--document-root DIR ...),
	 * passed to `anycgi __front` as they were given; owned. */
	char *front_args[POOL_MAX_FRONT_ARGS + 1];
	size_t n_front_args;
	char front_of[64];                /* a front end: its app pool's name */
	/* Given as pool options on the command line, global for the master
	 * (the first pool's win); owned. */
	char *control;                    /* --control PATH */
	char *status;                     /* --status ADDR */
	char *log;                        /* --log FILE */
};

struct master_config {
	struct pool_config *pools;
	size_t n_pools;
	char *control;          /* control socket path, NULL: the default */
	char *status;           /* status listener ADDR, NULL: none */
	char *log;              /* log file, NULL: stderr */
	char *config_path;      /* anycgi daemon -c FILE, NULL for run */
	char *self;             /* /proc/self/exe at start: built-in apps */
};

/* Runs the pools until a stop: opens the listeners (or takes them from
 * systemd), starts the workers, keeps them running and serves the control
 * socket; SIGHUP/SIGUSR2 reload, SIGQUIT stops gracefully, SIGTERM/SIGINT
 * fast (within a second). Takes ownership of mc. Returns the process exit
 * status: 0 after a stop, 1 when a pool could not start (the reason was
 * printed). */
int master_run(struct master_config *mc);

#endif
