/* One pool: its generations of workers, kept at their target, recycled,
 * scaled, reloaded, timed out and watched through their scoreboards and
 * /proc. The master (master.c) owns the pools and the event loop and
 * calls in. */
#ifndef ACGI_MANAGER_POOL_H
#define ACGI_MANAGER_POOL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "master.h"
#include "output.h"
#include "procinfo.h"
#include "scoreboard.h"
#include "status.h"

struct worker {
	struct worker *next;
	pid_t pid;                 /* 0 once reaped */
	unsigned gen;              /* the generation it belongs to */
	long long started_ms;
	double started_unix;
	long long retire_at_ms;    /* --max-lifetime deadline (or 90% of its
	                              request budget reached), 0: none */
	long long budget;          /* --max-requests, jittered, 0: none */
	bool retiring;             /* leaving: not counted toward a target */
	bool signalled;            /* its stop signal was sent */
	long long kill_at_ms;      /* SIGKILL then, 0: no deadline */
	int stop_signal;           /* of the configuration it started with */
	double drain_timeout;
	struct acgi_scoreboard *sb;      /* its page, NULL: none */
	struct acgi_scoreboard snap;     /* the last validated copy */
	bool snap_ok;
	struct proc_sample ps;     /* what /proc said at the last sample */
	bool ps_ok;
	long long busy_since_ms;   /* foreign: first seen busy, 0: idle */
	long long idle_since_ms;   /* since when it is idle, 0: busy */
	int timeout_stage;         /* 0, 1: SIGTERM sent, 2: SIGKILL sent */
	long long timeout_next_ms; /* when the next stage is due */
	int64_t timed_req;         /* the request being timed out */
	int64_t slow_req;          /* the request already slow-logged */
	uint64_t counted;          /* its requests already in the pool's sum */
	bool was_ready;            /* seen ready or serving: its death is not
	                              a death at start */
	int handover;              /* the master's end of its handover
	                              socket, -1: none */
	struct worker_output out;
};

struct generation {
	unsigned id;
	struct pool_config *cfg;
	long long next_spawn_ms;   /* backoff: no spawn before */
	unsigned backoff_ms;
	unsigned deaths_at_start;  /* in a row */
	unsigned quick_exits;      /* clean exits right after start, in a row */
	bool ever_up;              /* a worker outlived its start */
	unsigned target;           /* a reload's new generation: how many */
};

struct pool {
	struct pool *next;
	struct generation cur;
	struct generation new;     /* while reloading */
	unsigned last_gen;         /* generation numbers are never reused */
	pid_t last_heir;           /* took the last handed-over connection */
	bool reloading;
	long long reload_started_ms;
	struct pool_config *queued; /* a reload asked for during one */
	bool queued_same;          /* ... with the current configuration */
	bool leaving;              /* removed by a reload, or stopping */
	bool internal;             /* the status listener's pool: not in the
	                              configuration file, not reloaded */
	struct worker *workers;
	bool libanycgi;            /* its workers have shown a scoreboard */
	bool demand;               /* ondemand: a listener was readable */
	char health[16];           /* ok, reloading, degraded, stopping */
	char reason[256];
	double started_unix;
	uint64_t requests, spawned, crashes, timeouts, slow, reloads;
	int devnull;
};

/* A pool for cfg (taken over); its listeners are opened and one worker
 * started at once, so that a program that cannot start fails now.
 * Returns NULL after logging why. */
struct pool *pool_start(struct pool_config *cfg, int devnull);

/* Frees a pool with no worker left; closes its listeners. */
void pool_free_all(struct pool *p);

/* Finds the worker with this pid. */
struct worker *pool_find(struct pool *p, pid_t pid);

/* A worker exited with this wait status: logged, counted, and replaced by
 * the next pool_maintain (at once, or after backoff when it died at
 * start). */
void pool_on_exit(struct pool *p, struct worker *w, int status);

/* Reads scoreboards and /proc, applies --request-timeout and --slow-log,
 * moves a reload on. */
void pool_sample(struct pool *p, long long now);

/* Starts, retires and kills what is due. Returns ms until the next
 * deadline it knows of, or -1. */
long long pool_maintain(struct pool *p, long long now);

/* Rolling reload: a new generation with cfg (NULL: the current one again,
 * for a new build of the same program), ready before the old one drains. */
void pool_reload(struct pool *p, struct pool_config *cfg);

/* Asks every worker to stop: its stop signal (graceful) or SIGTERM. */
void pool_stop(struct pool *p, bool fast);

/* Sends sig to every worker past its start. */
void pool_signal(struct pool *p, int sig);

/* SIGKILL to every worker left. */
void pool_kill(struct pool *p);

/* Worker processes alive. */
unsigned pool_alive(const struct pool *p);

/* True when the pool's first generation never came up and keeps dying at
 * start: the master gives up on it. */
bool pool_hopeless(const struct pool *p);

/* Marks the pool degraded with the reason (logged once). */
void pool_degraded(struct pool *p, const char *why);

/* Needs sampling often (a reload, timeouts, scaling): the tick is short. */
bool pool_busy_ticking(const struct pool *p);

/* Adds the fds the loop must watch: workers' stderr, and for ondemand the
 * listeners while no worker is idle. Returns how many were added. */
size_t pool_poll_fds(struct pool *p, struct pollfd *fds, void **who,
                     size_t cap);

/* The loop saw an event on fd, which pool_poll_fds added with who. */
void pool_poll_event(struct pool *p, void *who, int fd, short revents);

/* Fills a status record; procs and listeners point into the arrays
 * given, which hold at least cap_procs and POOL_MAX_LISTENERS entries. */
void pool_status(struct pool *p, struct status_pool *sp,
                 struct status_proc *procs, size_t cap_procs,
                 struct status_listener *ls);

static inline const char *pool_name(const struct pool *p)
{
	return p->cur.cfg->name;
}

#endif
