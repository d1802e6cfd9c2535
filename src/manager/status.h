/* The status of the master's pools, rendered for a person (a text table
 * or an HTML page) or a program (JSON, Prometheus text). The master fills
 * a snapshot from what it knows and from the scoreboards it validated;
 * rendering escapes every string anyway, since URIs and methods come from
 * clients through workers. */
#ifndef ACGI_MANAGER_STATUS_H
#define ACGI_MANAGER_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A growable output buffer; on allocation failure it stops growing and
 * sets failed. */
struct strbuf {
	char *data;
	size_t len, cap;
	bool failed;
};
void sb_add(struct strbuf *b, const char *s, size_t n);
void sb_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_free(struct strbuf *b);

struct status_proc {
	pid_t pid;
	unsigned generation;     /* the pool's generation it belongs to */
	const char *state;       /* "starting", "idle", "reading", "handling",
	                            "writing", "draining", or "unknown" (a
	                            foreign program), "accepting"/"busy" when
	                            only /proc tells */
	bool libanycgi;          /* reports through the scoreboard */
	bool ready;
	bool retiring;           /* asked to stop (reload, recycling, scale) */
	bool requests_known;     /* false for foreign programs */
	uint64_t requests;       /* finished requests (libanycgi) */
	uint64_t connections;
	uint32_t active;         /* requests in flight */
	double started_unix;     /* wall clock, seconds since the epoch */
	double age_s;
	long long rss_kb;        /* -1: unknown */
	double cpu_s;            /* -1: unknown */
	char method[16];         /* the oldest request in flight, "" if none */
	char uri[512];
	double request_s;        /* its age in seconds, 0 if none */
};

struct status_listener {
	const char *addr;        /* unix:/path, HOST:PORT, [v6]:PORT */
	const char *protocol;    /* "fastcgi" or "scgi" */
	unsigned queued;         /* connections waiting in the accept queue */
	unsigned backlog;
	bool queue_known;
};

struct status_pool {
	const char *name;
	const char *mode;        /* "static", "dynamic", "ondemand" */
	const char *health;      /* "ok", "reloading", "degraded", "stopping" */
	const char *reason;      /* why degraded, "" otherwise */
	const char *program;
	unsigned generation;
	unsigned workers;        /* --workers */
	unsigned min_spare, max_spare, max_workers;
	unsigned idle, busy;     /* counted from the processes */
	uint64_t requests;       /* finished, all processes ever (libanycgi) */
	uint64_t spawned;        /* workers started since the pool began */
	uint64_t crashes;        /* workers that died unasked */
	uint64_t timeouts;       /* requests killed at --request-timeout */
	uint64_t slow;           /* requests past --slow-log */
	uint64_t reloads;
	double started_unix;
	const struct status_listener *listeners;
	size_t n_listeners;
	const struct status_proc *procs;
	size_t n_procs;
};

struct status_snapshot {
	pid_t master_pid;
	const char *version;
	double started_unix;
	double uptime_s;
	const struct status_pool *pools;
	size_t n_pools;
};

enum status_format {
	STATUS_TEXT,       /* aligned tables for a terminal */
	STATUS_JSON,       /* {"pools": [{"name", ..., "processes": [...]}]} */
	STATUS_PROMETHEUS, /* text exposition format 0.0.4 */
	STATUS_HTML,       /* one self-contained page, no scripts */
};

/* Appends the snapshot in the format; pool, when not NULL, keeps only
 * that pool. Returns 0, or -1 when pool names no pool (nothing added). */
int status_render(const struct status_snapshot *s, enum status_format fmt,
                  const char *pool, struct strbuf *out);

/* "text", "json", "prometheus" (or "metrics"), "html": 0, else -1. */
int status_format_parse(const char *name, enum status_format *out);

#endif
