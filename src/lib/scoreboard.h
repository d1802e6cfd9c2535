/* The scoreboard: one shared page per worker process, written by the
 * libanycgi worker and read by the master.
 *
 * The master creates a sealed memfd of ACGI_SB_SIZE bytes for every worker
 * it starts (it can neither shrink nor grow, so a worker cannot make the
 * master's mapping fault), passes it on the fd named by ANYCGI_SCOREBOARD_FD,
 * and maps it read-only. Each worker has its own page: a worker can lie
 * only about itself, and the master treats every field as untrusted input
 * (PHP-FPM's CVE-2021-21703 was a root master trusting worker-written
 * shared memory): it copies the page out under the sequence counter,
 * checks the magic, the version and every enum, bounds and terminates the
 * strings, and escapes them on output.
 *
 * A foreign program (libfcgi, php-cgi) never writes it: magic stays 0. */
#ifndef ACGI_LIB_SCOREBOARD_H
#define ACGI_LIB_SCOREBOARD_H

#include <stdint.h>

#define ACGI_SB_MAGIC 0x42534761u /* "aGSB" */

enum {
	ACGI_SB_VERSION = 1,
	ACGI_SB_SIZE = 4096,
	ACGI_SB_METHOD_MAX = 16,
	ACGI_SB_URI_MAX = 512,
};

/* With several requests in flight (handler threads, queued requests), a
 * libanycgi worker shows the oldest one's state, as it shows its method
 * and URI; STARTING and DRAINING are the worker's own. */
enum acgi_sb_state {
	ACGI_SB_STARTING = 0, /* set up, not yet accepting */
	ACGI_SB_IDLE,         /* accepting, no request in flight */
	ACGI_SB_READING,      /* a request's params or body are arriving */
	ACGI_SB_HANDLING,     /* the program's handler has the request */
	ACGI_SB_WRITING,      /* the response is being sent */
	ACGI_SB_DRAINING,     /* asked to stop: no new connections */
	ACGI_SB_STATE_COUNT
};

/* Writers: bump seq to odd, write, bump seq to even (release order);
 * one writer at a time within the process (the server's lock). Readers
 * retry while seq is odd or changed. Times are CLOCK_MONOTONIC in ms,
 * which the master shares. */
struct acgi_scoreboard {
	uint32_t magic;          /* ACGI_SB_MAGIC once the worker set it up */
	uint32_t version;        /* ACGI_SB_VERSION */
	uint32_t seq;            /* seqlock counter */
	uint32_t state;          /* enum acgi_sb_state */
	uint32_t ready;          /* 1: accepting on its listeners */
	uint32_t active;         /* requests in flight */
	uint64_t requests;       /* requests finished */
	uint64_t connections;    /* connections accepted */
	uint64_t bytes_in;       /* body bytes received */
	uint64_t bytes_out;      /* response bytes sent */
	int64_t state_since_ms;  /* when state last changed */
	int64_t req_start_ms;    /* the oldest request in flight: its start,
	                            0 when none */
	char method[ACGI_SB_METHOD_MAX]; /* that request's REQUEST_METHOD */
	char uri[ACGI_SB_URI_MAX];       /* its REQUEST_URI (or SCRIPT_NAME),
	                                    cut to fit, NUL-terminated */
};

/* The second half of the page is the master's, for the worker to read:
 * what the pool is now, so that FCGI_GET_VALUES answers reflect the live
 * pool (FCGI_MAX_CONNS and FCGI_MAX_REQS: live workers times what one
 * worker takes). The worker trusts it no more than the master trusts the
 * first half: zero or absurd values mean "answer for yourself". */
#define ACGI_SB_POOL_MAGIC 0x4c505361u /* "aSPL" */
enum { ACGI_SB_POOL_OFFSET = ACGI_SB_SIZE / 2 };

struct acgi_sb_pool {
	uint32_t magic;          /* ACGI_SB_POOL_MAGIC once written */
	uint32_t live_workers;   /* worker processes of the pool now */
	uint32_t max_workers;    /* the pool's ceiling */
};

_Static_assert(sizeof(struct acgi_scoreboard) <= ACGI_SB_POOL_OFFSET,
               "the worker's half fits");

#endif
