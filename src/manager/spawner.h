/* Starting one worker process of a pool. */
#ifndef ACGI_MANAGER_SPAWNER_H
#define ACGI_MANAGER_SPAWNER_H

#include <sys/types.h>

#include "master.h"

/* What the master hands a worker besides the pool's listeners. */
struct worker_fds {
	int devnull;      /* its stdout */
	int err;          /* its stderr: the master's pipe */
	int scoreboard;   /* its scoreboard page, -1: none */
	int handover;     /* its end of the handover socket, -1: none */
};

/* The worker gets the pool's first listener on fd 0 (libfcgi's
 * FCGI_LISTENSOCK_FILENO), /dev/null on fd 1, its stderr pipe on fd 2, the
 * other listeners on fds 3.. (ANYCGI_LISTEN_FDS), then its scoreboard page
 * (ANYCGI_SCOREBOARD_FD) and its end of the handover socket
 * (ANYCGI_HANDOVER_FD); default signal dispositions, an empty mask and
 * only the pool's environment plus what the master tells libanycgi.
 * With a user, group, chroot or rlimits it is forked and set up before the
 * exec; otherwise posix_spawn (vfork) keeps a big master cheap.
 * budget > 0: the requests it may serve (ANYCGI_MAX_REQUESTS and php-cgi's
 * PHP_FCGI_MAX_REQUESTS).
 * Returns 0 with *pid set, or an errno value (the exec's included). */
int spawn_worker(const struct pool_config *cfg, const struct worker_fds *w,
                 long long budget, pid_t *pid);

#endif
