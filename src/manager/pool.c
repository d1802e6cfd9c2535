/* A pool's workers: started, counted, recycled, scaled, reloaded and
 * watched. It never reads or writes a request. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdpass.h"
#include "listeners.h"
#include "mlog.h"
#include "options.h"
#include "pool.h"
#include "spawner.h"

enum {
	START_GRACE_MS = 1000,     /* a worker dying sooner died "at start" */
	BACKOFF_FIRST_MS = 100,    /* first respawn delay after such a death */
	BACKOFF_MAX_MS = 10000,
	FAIL_FAST_DEATHS = 5,      /* deaths at start, with none ever up */
	RELOAD_DEATHS = 3,         /* a new generation's deaths before ready */
	RELOAD_READY_MS = 60000,   /* a new generation must be ready by then */
	QUICK_EXIT_MS = 100,       /* a clean exit sooner is suspicious */
	QUICK_EXITS_MAX = 20,      /* in a row, before backing off */
	TIMEOUT_GRACE_MS = 2000,   /* SIGTERM to SIGKILL at a request timeout */
	SUCCESSOR_WAIT_MS = 2000,  /* a recycled worker waits this long at most
	                              for its successor to be ready */
	STACK_MAX = 512,
};

/* Up to 10% less than limit, so that workers started together are not
 * recycled together. */
static long long jitter(long long limit)
{
	return limit - (limit > 10 ? random() % (limit / 10 + 1) : 0);
}

static void gen_init(struct generation *g, unsigned id,
                     struct pool_config *cfg)
{
	*g = (struct generation){.id = id, .cfg = cfg,
	                         .backoff_ms = BACKOFF_FIRST_MS};
}

/* ---- the scoreboard page ---- */

/* A sealed page: the worker can neither shrink nor grow it, so the
 * master's mapping never faults. Returns the fd for the worker, -1 when
 * there is none (the worker runs without). */
static int sb_create(struct worker *w)
{
	int fd = memfd_create("anycgi-scoreboard",
	                      MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	void *page = MAP_FAILED;
	if (ftruncate(fd, ACGI_SB_SIZE) == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
		page = mmap(NULL, ACGI_SB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		            fd, 0);
	if (page == MAP_FAILED) {
		close(fd);
		return -1;
	}
	w->sb = page;
	return fd;
}

/* The worker's half, copied out under its sequence counter and checked:
 * whatever a worker wrote is untrusted input. */
static bool sb_read(const struct worker *w, struct acgi_scoreboard *dst)
{
	const struct acgi_scoreboard *page = w->sb;
	struct acgi_scoreboard copy, *out = &copy;
	for (int tries = 0; page && tries < 4; tries++) {
		uint32_t s1 = __atomic_load_n(&page->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(out, (const void *)page, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&page->seq, __ATOMIC_RELAXED) != s1)
			continue;
		if (out->magic != ACGI_SB_MAGIC || out->version != ACGI_SB_VERSION ||
		    out->state >= ACGI_SB_STATE_COUNT)
			return false;
		out->method[sizeof(out->method) - 1] = '\0';
		out->uri[sizeof(out->uri) - 1] = '\0';
		out->ready = out->ready == 1;
		if (out->active > 1000000)
			out->active = 1000000;
		*dst = copy; /* only a page that passed the checks */
		return true;
	}
	return false;
}

/* The master's half: what the pool is now, for FCGI_GET_VALUES. */
static void sb_tell(struct worker *w, uint32_t live, uint32_t max)
{
	if (!w->sb)
		return;
	struct acgi_sb_pool *pool =
		(struct acgi_sb_pool *)((char *)w->sb + ACGI_SB_POOL_OFFSET);
	pool->live_workers = live;
	pool->max_workers = max;
	__atomic_store_n(&pool->magic, ACGI_SB_POOL_MAGIC, __ATOMIC_RELEASE);
}

/* ---- handing kept connections over ---- */

/* A SOCK_SEQPACKET pair: the worker's end is returned for it, the
 * master's kept in w->handover. -1 when there is none (the worker then
 * closes kept connections when it drains). */
static int handover_create(struct worker *w)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	w->handover = sv[0];
	return sv[1];
}

static bool sb_read(const struct worker *w, struct acgi_scoreboard *out);

/* Can this worker take a connection now? Its page is read afresh: the
 * last sample may be a second old, and a draining worker would drop it. */
static bool can_inherit(const struct pool *p, const struct worker *w,
                        const struct worker *from)
{
	struct acgi_scoreboard now;
	if (w == from || w->pid <= 0 || w->handover < 0 || w->retiring ||
	    w->gen != p->cur.id)
		return false;
	/* An HTTP front end keeps no page: ready is what the master saw. */
	if (p->cur.cfg->front_of[0])
		return w->was_ready && !w->signalled;
	return sb_read(w, &now) && now.ready && now.state != ACGI_SB_DRAINING;
}

/* Passes fd to the ready workers in turn, trying the next one when a
 * send fails. Returns 0 when one took it. */
static int bequeath(struct pool *p, const struct worker *from, int fd)
{
	struct worker *start = NULL;
	for (struct worker *w = p->workers; w && !start; w = w->next)
		if (w->pid == p->last_heir)
			start = w->next;
	for (int pass = 0; pass < 2; pass++)
		for (struct worker *w = pass ? p->workers : start; w; w = w->next) {
			if (!can_inherit(p, w, from) || fd_pass(w->handover, fd) < 0)
				continue;
			p->last_heir = w->pid;
			return 0;
		}
	return -1;
}

/* What a worker hands over must be a connection accepted on one of the
 * pool's listeners: a stream socket, not listening, whose local address
 * is a listener's. A hostile worker cannot slip in a socketpair end that
 * the heir would take for the web server. */
static bool from_listener(const struct pool_config *cfg, int fd)
{
	int type = 0, listening = 1;
	socklen_t len = sizeof(type);
	struct sockaddr_storage mine, theirs;
	socklen_t ml = sizeof(mine);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return false;
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    listening || getsockname(fd, (struct sockaddr *)&mine, &ml) < 0)
		return false;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		socklen_t tl = sizeof(theirs);
		if (getsockname(cfg->listeners[i].fd, (struct sockaddr *)&theirs,
		                &tl) == 0 && tl == ml &&
		    memcmp(&mine, &theirs, ml) == 0)
			return true;
	}
	return false;
}

enum { HANDOVER_MESSAGES_MAX = 64 }; /* per wake-up: the loop goes on */

/* Kept connections a draining worker sent: on to the new generation. The
 * master holds each only for the moment it takes; without an heir the
 * connection closes (the worker would have closed it). Every fd that
 * arrives is closed here, whatever the message looks like. */
static void forward_handover(struct pool *p, struct worker *w)
{
	unsigned n = 0, lost = 0, bad = 0;
	for (int m = 0; m < HANDOVER_MESSAGES_MAX; m++) {
		int fds[8];
		int got = fd_receive(w->handover, fds, 8);
		if (got == -2)
			break;
		for (int i = 0; i < got; i++) {
			if (!w->retiring || !from_listener(p->cur.cfg, fds[i]))
				bad++;
			else if (bequeath(p, w, fds[i]) == 0)
				n++;
			else
				lost++;
			close(fds[i]);
		}
		if (got == -1) {
			/* The worker's end is gone: nothing more comes. */
			close(w->handover);
			w->handover = -1;
			break;
		}
	}
	if (n || lost)
		mlog("info", pool_name(p), "worker %d handed over %u kept "
		     "connections%s", (int)w->pid, n, lost ? " (some closed: no "
		     "worker to take them)" : "");
	if (bad)
		mlog("warning", pool_name(p), "worker %d sent %u file descriptors "
		     "that are not connections it may hand over: closed",
		     (int)w->pid, bad);
}

/* ---- starting and stopping workers ---- */

/* The worker and whatever it started (it leads its own process group; a
 * forked one may not yet: then the worker alone). */
static void kill_group(const struct worker *w, int sig)
{
	if (kill(-w->pid, sig) < 0)
		(void)kill(w->pid, sig);
}

static struct worker *worker_new(struct pool *p, struct generation *g)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->gen = g->id;
	w->out.fd = -1;
	w->handover = -1;
	w->stop_signal = g->cfg->stop_signal;
	w->drain_timeout = g->cfg->drain_timeout;
	w->next = p->workers;
	p->workers = w;
	return w;
}

static void worker_unlink(struct pool *p, struct worker *w)
{
	for (struct worker **pp = &p->workers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (w->sb)
		munmap(w->sb, ACGI_SB_SIZE);
	if (w->handover >= 0)
		close(w->handover);
	output_close(&w->out, pool_name(p));
	free(w);
}

static int start_worker(struct pool *p, struct generation *g)
{
	struct pool_config *cfg = g->cfg;
	struct worker *w = worker_new(p, g);
	if (!w)
		return -ENOMEM;
	int err_fd = output_open(&w->out);
	if (err_fd < 0) {
		mlog("error", cfg->name, "pipe: %s", strerror(-err_fd));
		worker_unlink(p, w);
		return err_fd;
	}
	struct worker_fds fds = {.devnull = p->devnull, .err = err_fd,
	                         .scoreboard = sb_create(w),
	                         .handover = handover_create(w)};
	w->budget = cfg->max_requests ? jitter(cfg->max_requests) : 0;
	int rc = spawn_worker(cfg, &fds, w->budget, &w->pid);
	close(err_fd);
	if (fds.scoreboard >= 0)
		close(fds.scoreboard);
	if (fds.handover >= 0)
		close(fds.handover);
	if (rc != 0) {
		mlog("error", cfg->name, "cannot start %s: %s", cfg->argv[0],
		     strerror(rc));
		w->pid = 0;
		worker_unlink(p, w);
		return -rc;
	}
	w->out.pid = w->pid;
	w->started_ms = mono_ms();
	w->started_unix = wall_now();
	w->retire_at_ms = cfg->max_lifetime > 0
	                  ? w->started_ms +
	                    jitter((long long)(cfg->max_lifetime * 1000))
	                  : 0;
	p->spawned++;
	return 0;
}

/* Asks a worker to finish what it has and exit, within its drain
 * deadline. */
static void worker_signal_stop(struct worker *w, long long now)
{
	w->retiring = true;
	if (w->signalled || w->pid <= 0)
		return;
	w->signalled = true;
	w->kill_at_ms = now + (long long)(w->drain_timeout * 1000);
	(void)kill(w->pid, w->stop_signal);
}

struct pool *pool_start(struct pool_config *cfg, int devnull)
{
	struct pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	gen_init(&p->cur, p->last_gen = 1, cfg);
	p->devnull = devnull;
	p->started_unix = wall_now();
	snprintf(p->health, sizeof(p->health), "ok");
	if (listeners_open(cfg) < 0 || start_worker(p, &p->cur) < 0) {
		pool_free_all(p);
		return NULL;
	}
	return p;
}

void pool_free_all(struct pool *p)
{
	while (p->workers)
		worker_unlink(p, p->workers);
	if (p->reloading && p->new.cfg != p->cur.cfg) {
		listeners_drop_unshared(p->new.cfg, p->cur.cfg);
		pool_free(p->new.cfg);
		free(p->new.cfg);
	}
	if (p->queued) {
		pool_free(p->queued);
		free(p->queued);
	}
	listeners_close(p->cur.cfg);
	pool_free(p->cur.cfg);
	free(p->cur.cfg);
	free(p);
}

struct worker *pool_find(struct pool *p, pid_t pid)
{
	for (struct worker *w = p->workers; w; w = w->next)
		if (w->pid == pid)
			return w;
	return NULL;
}

static struct generation *gen_of(struct pool *p, const struct worker *w)
{
	if (p->reloading && w->gen == p->new.id)
		return &p->new;
	return w->gen == p->cur.id ? &p->cur : NULL;
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
static bool replace_at_once(struct generation *g, bool clean, bool served,
                            long long age)
{
	/* With --max-requests a busy worker may use its budget in a few
	 * milliseconds: its clean exit is the plan, never a failure. */
	bool recycled = clean && g->cfg->max_requests > 0 && served;
	if (recycled || age >= START_GRACE_MS || (clean && age >= QUICK_EXIT_MS)) {
		g->quick_exits = 0;
		return true;
	}
	return clean && ++g->quick_exits <= QUICK_EXITS_MAX;
}

/* An unplanned exit: replaced at once, or after a delay that doubles when
 * it died at start, so that a broken program does not spin. */
static void on_unplanned_exit(struct pool *p, struct generation *g,
                              struct worker *w, int status, long long now)
{
	char why[96];
	describe_status(status, why, sizeof(why));
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	/* A worker that was serving died of a request, not at its start. */
	long long age = w->was_ready ? START_GRACE_MS : now - w->started_ms;
	if (!clean)
		p->crashes++;
	/* Served: seen ready, or (a foreign program, which shows little)
	 * alive long enough to have done some work. /bin/true is neither. */
	bool served = w->was_ready ||
	              (!w->snap_ok && now - w->started_ms >= QUICK_EXIT_MS);
	if (replace_at_once(g, clean, served, age)) {
		if (age >= START_GRACE_MS ||
		    (clean && g->cfg->max_requests && served)) {
			g->ever_up = true;
			g->deaths_at_start = 0;
			g->backoff_ms = BACKOFF_FIRST_MS;
		}
		mlog(clean ? "info" : "warning", pool_name(p),
		     "worker %d %s; starting another", (int)w->pid, why);
		return;
	}
	g->deaths_at_start++;
	g->next_spawn_ms = now + g->backoff_ms;
	mlog("warning", pool_name(p), "worker %d %s %lld ms after its start; "
	     "next try in %u ms", (int)w->pid, why, age, g->backoff_ms);
	g->backoff_ms = g->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
	                                                   : g->backoff_ms * 2;
}

void pool_on_exit(struct pool *p, struct worker *w, int status)
{
	long long now = mono_ms();
	/* Its last words first, then the news of its death; and the kept
	 * connections it handed over on its way out. */
	output_close(&w->out, pool_name(p));
	if (w->handover >= 0)
		forward_handover(p, w);
	struct acgi_scoreboard last;
	if (sb_read(w, &last)) {
		if (last.requests > w->counted)
			p->requests += last.requests - w->counted < 1000000
			               ? last.requests - w->counted : 1000000;
		w->was_ready |= last.ready || last.requests > 0;
	}
	struct generation *g = gen_of(p, w);
	if (w->retiring || p->leaving || !g) {
		char why[96];
		describe_status(status, why, sizeof(why));
		mlog("info", pool_name(p), "worker %d %s (%s)", (int)w->pid, why,
		     p->leaving ? "stopping" : "retired");
	} else {
		on_unplanned_exit(p, g, w, status, now);
	}
	w->pid = 0;
	worker_unlink(p, w);
}

/* ---- what each worker is doing ---- */

enum activity { ACT_STARTING, ACT_IDLE, ACT_BUSY };

/* An HTTP front end in epoll_wait: its signals and listeners are set up
 * (it waits only once they are), and it has nothing to do. */
static bool front_waiting(const struct pool *p, const struct worker *w)
{
	return p->cur.cfg->front_of[0] && w->ps_ok &&
	       (w->ps.syscall == SYS_epoll_wait ||
	        w->ps.syscall == SYS_epoll_pwait);
}

static enum activity activity(const struct pool *p, const struct worker *w,
                              long long now)
{
	if (w->snap_ok) {
		switch (w->snap.state) {
		case ACGI_SB_STARTING:
			return ACT_STARTING;
		case ACGI_SB_IDLE:
			return w->snap.active ? ACT_BUSY : ACT_IDLE;
		default:
			return ACT_BUSY;
		}
	}
	if (p->libanycgi || !w->ps_ok)
		return ACT_STARTING;
	if (w->ps.accepting)
		return ACT_IDLE;
	/* An HTTP front end waiting for events has nothing to do. */
	if (front_waiting(p, w))
		return ACT_IDLE;
	return now - w->started_ms < START_GRACE_MS ? ACT_STARTING : ACT_BUSY;
}

/* Ready for a reload's switch-over: a libanycgi worker says so; a foreign
 * one is ready when it blocks in accept, or has stayed alive past its
 * start (a program that waits in poll or select shows nothing else). */
static bool is_ready(const struct pool *p, const struct worker *w,
                     long long now)
{
	if (w->snap_ok)
		return w->snap.ready;
	if (p->libanycgi)
		return false;
	return (w->ps_ok && w->ps.accepting) || front_waiting(p, w) ||
	       now - w->started_ms >= START_GRACE_MS;
}

static void sample_worker(struct pool *p, struct worker *w, long long now)
{
	w->snap_ok = sb_read(w, &w->snap);
	if (w->snap_ok) {
		p->libanycgi = true;
		/* --max-requests: a libanycgi worker would stop itself at its
		 * budget; at 90% of it a successor starts, and the worker
		 * leaves once that one is ready, so capacity never drops. */
		if (w->budget && !w->retiring &&
		    (!w->retire_at_ms || w->retire_at_ms > now) &&
		    w->snap.requests * 10 >= (uint64_t)w->budget * 9)
			w->retire_at_ms = now;
		if (w->snap.req_start_ms > now ||
		    w->snap.req_start_ms < w->started_ms - 1000)
			w->snap.req_start_ms = 0;
		if (w->snap.requests > w->counted) {
			/* A worker may lie about itself, not blow up the pool's
			 * total: no more than a million a sample. */
			uint64_t more = w->snap.requests - w->counted;
			p->requests += more < 1000000 ? more : 1000000;
			w->counted = w->snap.requests;
		}
	}
	/* /proc: the only view of a foreign program (some 30 us a worker);
	 * a libanycgi worker's RSS and CPU are read when status asks. */
	if (!w->snap_ok)
		w->ps_ok = proc_sample(w->pid, &w->ps) == 0;
	if (is_ready(p, w, now)) {
		w->was_ready = true;
		struct generation *g = gen_of(p, w);
		if (g)
			g->ever_up = true;
		if (g == &p->cur && strcmp(p->reason, "keeps dying at start") == 0) {
			snprintf(p->health, sizeof(p->health), "ok");
			p->reason[0] = '\0';
		}
	}
	enum activity a = activity(p, w, now);
	if (a == ACT_IDLE) {
		w->busy_since_ms = 0;
		if (!w->idle_since_ms)
			w->idle_since_ms = now;
	} else {
		w->idle_since_ms = 0;
		if (a == ACT_BUSY && !w->busy_since_ms)
			w->busy_since_ms = now;
	}
}

/* The start of the request a worker has been on the longest, 0: none. */
static long long request_start(const struct worker *w)
{
	if (w->snap_ok)
		return w->snap.active ? w->snap.req_start_ms : 0;
	return w->busy_since_ms;
}

static void describe_request(const struct worker *w, char *out, size_t cap)
{
	if (w->snap_ok && w->snap.uri[0])
		snprintf(out, cap, "%s %s", w->snap.method, w->snap.uri);
	else
		snprintf(out, cap, "(a foreign program: the URI is not known)");
	/* Client bytes go to the log: no control characters. */
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* --request-timeout: log, SIGTERM (a libanycgi worker answers 504 to a
 * request it has not started answering), then SIGKILL. */
static void check_timeout(struct pool *p, struct worker *w, long long now)
{
	double limit = p->cur.cfg->request_timeout;
	long long start = request_start(w);
	if (w->timeout_stage == 1 && now >= w->timeout_next_ms) {
		mlog("warning", pool_name(p), "worker %d still running %lld ms "
		     "after SIGTERM: SIGKILL", (int)w->pid, now - w->timeout_next_ms
		     + TIMEOUT_GRACE_MS);
		kill_group(w, SIGKILL);
		w->timeout_stage = 2;
		return;
	}
	if (limit <= 0 || !start || w->timeout_stage ||
	    now - start < (long long)(limit * 1000))
		return;
	char req[ACGI_SB_URI_MAX + 32];
	describe_request(w, req, sizeof(req));
	mlog("warning", pool_name(p), "request timeout: worker %d, %s, %.1f s: "
	     "SIGTERM", (int)w->pid, req, (now - start) / 1000.0);
	p->timeouts++;
	w->timed_req = start;
	w->timeout_stage = 1;
	w->timeout_next_ms = now + TIMEOUT_GRACE_MS;
	w->retiring = w->signalled = true; /* its replacement starts now */
	kill_group(w, SIGTERM);
}

/* --slow-log: once per request, with where the worker is blocked. */
static void check_slow(struct pool *p, struct worker *w, long long now)
{
	double limit = p->cur.cfg->slow_log;
	long long start = request_start(w);
	if (limit <= 0 || !start || w->slow_req == start ||
	    now - start < (long long)(limit * 1000))
		return;
	w->slow_req = start;
	p->slow++;
	char req[ACGI_SB_URI_MAX + 32], stack[STACK_MAX];
	describe_request(w, req, sizeof(req));
	if (!proc_stack(w->pid, stack, sizeof(stack)))
		snprintf(stack, sizeof(stack), "not readable");
	mlog("notice", pool_name(p), "slow request: worker %d, %s, %.1f s; "
	     "kernel stack: %s", (int)w->pid, req, (now - start) / 1000.0,
	     stack);
}

/* ---- reload ---- */

static unsigned count_gen(const struct pool *p, unsigned gen, bool ready,
                          long long now)
{
	unsigned n = 0;
	for (const struct worker *w = p->workers; w; w = w->next)
		if (w->pid > 0 && w->gen == gen && !w->retiring &&
		    (!ready || is_ready(p, w, now)))
			n++;
	return n;
}

static void reload_finish(struct pool *p, long long now);

static void reload_begin(struct pool *p, struct pool_config *cfg)
{
	long long now = mono_ms();
	struct pool_config *next = cfg ? cfg : p->cur.cfg;
	if (next != p->cur.cfg) {
		listeners_share(p->cur.cfg, next);
		if (listeners_open(next) < 0) {
			snprintf(p->health, sizeof(p->health), "degraded");
			snprintf(p->reason, sizeof(p->reason), "reload: cannot open "
			         "the new listeners; the old generation serves");
			listeners_drop_unshared(next, p->cur.cfg);
			pool_free(next);
			free(next);
			return;
		}
	}
	gen_init(&p->new, ++p->last_gen, next);
	unsigned alive = count_gen(p, p->cur.id, false, now);
	unsigned want = next->mode == MODE_STATIC ? next->workers
	                : alive > next->workers ? alive : next->workers;
	if (next->mode != MODE_STATIC && want > next->max_workers)
		want = next->max_workers;
	p->new.target = want ? want : 1;
	p->reloading = true;
	p->reload_started_ms = now;
	p->reloads++;
	snprintf(p->health, sizeof(p->health), "reloading");
	mlog("info", pool_name(p), "reload: starting generation %u with %u "
	     "workers beside generation %u", p->new.id, p->new.target,
	     p->cur.id);
}

void pool_reload(struct pool *p, struct pool_config *cfg)
{
	if (p->leaving) {
		if (cfg) {
			pool_free(cfg);
			free(cfg);
		}
		return;
	}
	if (p->reloading) {
		/* One at a time; the latest request waits for this one. */
		if (p->queued) {
			pool_free(p->queued);
			free(p->queued);
		}
		p->queued = cfg;
		p->queued_same = !cfg;
		mlog("info", pool_name(p), "reload queued behind generation %u",
		     p->new.id);
		return;
	}
	reload_begin(p, cfg);
}

/* The new generation is ready: the old one stops accepting, finishes what
 * it has within its drain deadline, and exits. */
static void reload_commit(struct pool *p, long long now)
{
	unsigned old = 0;
	for (struct worker *w = p->workers; w; w = w->next)
		if (w->gen == p->cur.id) {
			worker_signal_stop(w, now);
			old++;
		}
	mlog("info", pool_name(p), "reload: generation %u ready in %lld ms; %u "
	     "workers of generation %u draining", p->new.id,
	     now - p->reload_started_ms, old, p->cur.id);
	if (p->new.cfg != p->cur.cfg) {
		listeners_drop_unshared(p->cur.cfg, p->new.cfg);
		pool_free(p->cur.cfg);
		free(p->cur.cfg);
	}
	p->cur = p->new;
	p->cur.ever_up = true;
	snprintf(p->health, sizeof(p->health), "ok");
	p->reason[0] = '\0';
	reload_finish(p, now);
}

/* The new generation cannot come up: it goes, the old one keeps serving,
 * and the pool says why. A bad deploy is not an outage. */
static void reload_abort(struct pool *p, long long now, const char *why)
{
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->gen != p->new.id || w->pid <= 0)
			continue;
		/* One already serving finishes its requests and hands its
		 * kept connections on; one not up yet just goes. */
		if (is_ready(p, w, now)) {
			worker_signal_stop(w, now);
			continue;
		}
		w->retiring = true;
		w->signalled = true;
		w->kill_at_ms = now + 1000;
		kill_group(w, SIGTERM);
	}
	snprintf(p->health, sizeof(p->health), "degraded");
	snprintf(p->reason, sizeof(p->reason), "generation %u %s; generation "
	         "%u keeps serving", p->new.id, why, p->cur.id);
	mlog("error", pool_name(p), "reload failed: %s", p->reason);
	if (p->new.cfg != p->cur.cfg) {
		listeners_drop_unshared(p->new.cfg, p->cur.cfg);
		pool_free(p->new.cfg);
		free(p->new.cfg);
	}
	reload_finish(p, now);
}

static void reload_finish(struct pool *p, long long now)
{
	(void)now;
	p->reloading = false;
	p->new = (struct generation){0};
	if (p->queued || p->queued_same) {
		struct pool_config *cfg = p->queued;
		p->queued = NULL;
		p->queued_same = false;
		reload_begin(p, cfg);
	}
}

static void reload_progress(struct pool *p, long long now)
{
	if (!p->reloading)
		return;
	if (p->new.deaths_at_start >= RELOAD_DEATHS) {
		reload_abort(p, now, "keeps dying at start");
		return;
	}
	if (now - p->reload_started_ms > RELOAD_READY_MS) {
		reload_abort(p, now, "was not ready within 60 s");
		return;
	}
	if (count_gen(p, p->new.id, true, now) >= p->new.target)
		reload_commit(p, now);
}

void pool_sample(struct pool *p, long long now)
{
	unsigned live = pool_alive(p);
	uint32_t max = p->cur.cfg->mode == MODE_STATIC ? p->cur.cfg->workers
	               : p->cur.cfg->max_workers;
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->pid <= 0)
			continue;
		sample_worker(p, w, now);
		sb_tell(w, live, max);
		check_timeout(p, w, now);
		check_slow(p, w, now);
	}
	reload_progress(p, now);
}

/* ---- keeping each generation at its size ---- */

struct census {
	unsigned alive;     /* not retiring */
	unsigned idle;      /* idle or starting: able to take a connection */
	struct worker *longest_idle;
};

static struct census take_census(struct pool *p, unsigned gen, long long now)
{
	struct census c = {0};
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->pid <= 0 || w->gen != gen || w->retiring)
			continue;
		c.alive++;
		enum activity a = activity(p, w, now);
		if (a == ACT_BUSY)
			continue;
		c.idle++;
		if (a == ACT_IDLE && (!c.longest_idle ||
		    w->idle_since_ms < c.longest_idle->idle_since_ms))
			c.longest_idle = w;
	}
	return c;
}

static unsigned queued_connections(const struct pool_config *cfg)
{
	unsigned total = 0;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		unsigned queued, backlog;
		if (listen_queue(cfg->listeners[i].fd, &queued, &backlog) == 0)
			total += queued;
	}
	return total;
}

/* How many workers the generation should have now, and which idle worker
 * should leave (dynamic above max spare, ondemand past its idle timeout). */
static unsigned wanted(struct pool *p, struct generation *g, long long now,
                       struct worker **leave)
{
	struct pool_config *cfg = g->cfg;
	*leave = NULL;
	if (p->reloading && g == &p->new)
		return g->target;
	if (cfg->mode == MODE_STATIC)
		return cfg->workers;
	struct census c = take_census(p, g->id, now);
	if (cfg->mode == MODE_DYNAMIC) {
		/* Short of spare workers, or connections waiting in the accept
		 * queue (the kernel says how many) beyond the idle ones: as
		 * many more as that, at once. */
		unsigned queued = queued_connections(g->cfg);
		unsigned need = queued > c.idle ? queued - c.idle : 0;
		if (c.idle < cfg->min_spare && cfg->min_spare - c.idle > need)
			need = cfg->min_spare - c.idle;
		if (need && c.alive < cfg->max_workers)
			return c.alive + need < cfg->max_workers ? c.alive + need
			                                         : cfg->max_workers;
		if (c.idle > cfg->max_spare && c.longest_idle) {
			*leave = c.longest_idle;
			return c.alive - 1;
		}
		return c.alive;
	}
	if (c.longest_idle && now - c.longest_idle->idle_since_ms >=
	    (long long)(cfg->idle_timeout * 1000)) {
		*leave = c.longest_idle;
		return c.alive - 1;
	}
	if (p->demand && c.idle == 0 && c.alive < cfg->max_workers)
		return c.alive + 1;
	return c.alive;
}

static long long fill(struct pool *p, struct generation *g, long long now)
{
	if (now < g->next_spawn_ms)
		return g->next_spawn_ms - now;
	struct worker *leave;
	unsigned want = wanted(p, g, now, &leave);
	if (g == &p->cur)
		p->demand = false;
	if (leave) {
		mlog("info", pool_name(p), "worker %d idle: stopping it (%s)",
		     (int)leave->pid, g->cfg->mode == MODE_DYNAMIC
		     ? "above max-spare" : "idle timeout");
		worker_signal_stop(leave, now);
	}
	unsigned have = count_gen(p, g->id, false, now);
	while (have < want && start_worker(p, g) == 0)
		have++;
	if (have < want) {
		g->next_spawn_ms = now + 1000; /* spawn failed: try again */
		return 1000;
	}
	return -1;
}

static long long earliest(long long a, long long b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* --max-lifetime: a successor starts first, then the old worker gets its
 * stop signal once the generation is back at full readiness (or after
 * SUCCESSOR_WAIT_MS), so capacity never drops. */
static long long recycle(struct pool *p, struct worker *w, long long now)
{
	struct generation *g = gen_of(p, w);
	if (w->retire_at_ms && !w->retiring) {
		if (w->retire_at_ms > now)
			return w->retire_at_ms - now;
		if (!g || p->leaving || start_worker(p, g) < 0)
			return 1000; /* try again; the old one serves meanwhile */
		w->retiring = true;
		w->retire_at_ms = now; /* from now on: when it began retiring */
		bool budget = w->budget && w->snap_ok &&
		              w->snap.requests * 10 >= (uint64_t)w->budget * 9;
		mlog("info", pool_name(p), "worker %d reached its %s: worker %d "
		     "replaces it", (int)w->pid, budget ? "request budget"
		     : "lifetime", (int)p->workers->pid);
		return 50;
	}
	if (!w->retiring || w->signalled)
		return -1;
	struct worker *leave;
	bool ready = !g ||
	             count_gen(p, g->id, true, now) >= wanted(p, g, now, &leave);
	if (ready || now - w->retire_at_ms >= SUCCESSOR_WAIT_MS) {
		worker_signal_stop(w, now);
		return -1;
	}
	return 50;
}

static long long enforce_deadline(struct pool *p, struct worker *w,
                                  long long now)
{
	if (!w->signalled || !w->kill_at_ms || w->timeout_stage)
		return -1;
	if (now < w->kill_at_ms)
		return w->kill_at_ms - now;
	mlog("warning", pool_name(p), "worker %d still running at its drain "
	     "deadline: SIGKILL", (int)w->pid);
	kill_group(w, SIGKILL);
	w->kill_at_ms = 0;
	return -1;
}

long long pool_maintain(struct pool *p, long long now)
{
	long long next = -1;
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->pid <= 0)
			continue;
		next = earliest(next, recycle(p, w, now));
		next = earliest(next, enforce_deadline(p, w, now));
	}
	if (p->leaving)
		return next;
	next = earliest(next, fill(p, &p->cur, now));
	if (p->reloading)
		next = earliest(next, fill(p, &p->new, now));
	return next;
}

void pool_stop(struct pool *p, bool fast)
{
	long long now = mono_ms();
	p->leaving = true;
	snprintf(p->health, sizeof(p->health), "stopping");
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->pid <= 0)
			continue;
		if (fast) {
			w->retiring = w->signalled = true;
			w->kill_at_ms = now + 900;
			kill_group(w, SIGTERM);
		} else {
			worker_signal_stop(w, now);
		}
	}
}

void pool_signal(struct pool *p, int sig)
{
	/* Not one still starting: it may not handle sig yet (SIGUSR1's
	 * default kills), and it opens its files after this anyway. Its
	 * readiness is looked at afresh: the last sample may be a second
	 * old. */
	long long now = mono_ms();
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->pid <= 0)
			continue;
		if (!w->was_ready && !w->snap_ok)
			w->ps_ok = proc_sample(w->pid, &w->ps) == 0;
		if (w->was_ready || is_ready(p, w, now))
			(void)kill(w->pid, sig);
	}
}

void pool_kill(struct pool *p)
{
	for (struct worker *w = p->workers; w; w = w->next)
		if (w->pid > 0)
			kill_group(w, SIGKILL);
}

unsigned pool_alive(const struct pool *p)
{
	unsigned n = 0;
	for (const struct worker *w = p->workers; w; w = w->next)
		n += w->pid > 0;
	return n;
}

bool pool_hopeless(const struct pool *p)
{
	if (p->cur.ever_up || p->cur.deaths_at_start < FAIL_FAST_DEATHS)
		return false;
	/* A worker alive past its start proves the program can run, even if
	 * no sample saw it yet. */
	long long now = mono_ms();
	for (const struct worker *w = p->workers; w; w = w->next)
		if (w->pid > 0 && w->gen == p->cur.id &&
		    now - w->started_ms >= START_GRACE_MS)
			return false;
	return true;
}

void pool_degraded(struct pool *p, const char *why)
{
	if (strcmp(p->health, "degraded") == 0)
		return;
	snprintf(p->health, sizeof(p->health), "degraded");
	snprintf(p->reason, sizeof(p->reason), "%s", why);
	mlog("error", pool_name(p), "%s: degraded, still trying", why);
}

bool pool_busy_ticking(const struct pool *p)
{
	const struct pool_config *cfg = p->cur.cfg;
	/* Until a worker was seen ready, a death counts as one at start. */
	return p->reloading || !p->cur.ever_up || cfg->mode != MODE_STATIC ||
	       cfg->request_timeout > 0 || cfg->slow_log > 0;
}

/* ---- the event loop's view ---- */

static bool wants_listeners(struct pool *p)
{
	const struct pool_config *cfg = p->cur.cfg;
	if (cfg->mode != MODE_ONDEMAND || p->leaving || p->demand)
		return false;
	struct census c = take_census(p, p->cur.id, mono_ms());
	return c.idle == 0 && c.alive < cfg->max_workers;
}

size_t pool_poll_fds(struct pool *p, struct pollfd *fds, void **who,
                     size_t cap)
{
	size_t n = 0;
	for (struct worker *w = p->workers; w && n + 2 <= cap; w = w->next) {
		if (w->out.fd >= 0) {
			who[n] = w;
			fds[n++] = (struct pollfd){.fd = w->out.fd, .events = POLLIN};
		}
		if (w->handover >= 0 && w->pid > 0) {
			who[n] = w;
			fds[n++] = (struct pollfd){.fd = w->handover,
			                           .events = POLLIN};
		}
	}
	if (!wants_listeners(p))
		return n;
	for (size_t i = 0; i < p->cur.cfg->n_listeners && n < cap; i++) {
		who[n] = p;
		fds[n++] = (struct pollfd){.fd = p->cur.cfg->listeners[i].fd,
		                           .events = POLLIN};
	}
	return n;
}

void pool_poll_event(struct pool *p, void *who, int fd, short revents)
{
	if (who == p) {
		p->demand = true;
		return;
	}
	struct worker *w = who;
	(void)revents;
	if (fd == w->handover)
		forward_handover(p, w);
	else
		(void)output_read(&w->out, pool_name(p));
}

/* ---- status ---- */

static const char *state_name(const struct pool *p, const struct worker *w,
                              long long now)
{
	static const char *names[ACGI_SB_STATE_COUNT] = {
		"starting", "idle", "reading", "handling", "writing", "draining"};
	if (w->snap_ok)
		return names[w->snap.state];
	if (p->libanycgi)
		return "starting";
	/* A foreign program: /proc shows it waiting in accept, or nothing
	 * the master can tell apart. */
	(void)now;
	return w->ps_ok && w->ps.accepting ? "idle" : "unknown";
}

static void proc_status(const struct pool *p, const struct worker *w,
                        long long now, double wall, struct status_proc *sp)
{
	*sp = (struct status_proc){
		.pid = w->pid, .generation = w->gen,
		.state = state_name(p, w, now), .libanycgi = w->snap_ok,
		.ready = is_ready(p, w, now), .retiring = w->retiring,
		.requests_known = w->snap_ok, .started_unix = w->started_unix,
		.age_s = wall - w->started_unix, .rss_kb = -1, .cpu_s = -1,
	};
	if (w->ps_ok) {
		sp->rss_kb = w->ps.rss_kb;
		sp->cpu_s = w->ps.cpu_s;
	}
	if (!w->snap_ok)
		return;
	sp->requests = w->snap.requests;
	sp->connections = w->snap.connections;
	sp->active = w->snap.active;
	if (w->snap.active && w->snap.req_start_ms) {
		snprintf(sp->method, sizeof(sp->method), "%s", w->snap.method);
		snprintf(sp->uri, sizeof(sp->uri), "%s", w->snap.uri);
		sp->request_s = (now - w->snap.req_start_ms) / 1000.0;
	}
}

void pool_status(struct pool *p, struct status_pool *sp,
                 struct status_proc *procs, size_t cap_procs,
                 struct status_listener *ls)
{
	static const char *modes[] = {"static", "dynamic", "ondemand"};
	const struct pool_config *cfg = p->cur.cfg;
	long long now = mono_ms();
	double wall = wall_now();
	size_t n = 0;
	unsigned idle = 0, busy = 0;
	for (struct worker *w = p->workers; w && n < cap_procs; w = w->next) {
		if (w->pid <= 0)
			continue;
		sample_worker(p, w, now); /* fresh: a tick may be a second old */
		if (w->snap_ok)
			w->ps_ok = proc_sample(w->pid, &w->ps) == 0;
		proc_status(p, w, now, wall, &procs[n++]);
		enum activity a = activity(p, w, now);
		idle += a != ACT_BUSY;
		busy += a == ACT_BUSY;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct pool_listener *l = &cfg->listeners[i];
		ls[i] = (struct status_listener){.addr = l->addr,
			.protocol = l->http ? "http" : l->scgi ? "scgi" : "fastcgi"};
		ls[i].queue_known =
			listen_queue(l->fd, &ls[i].queued, &ls[i].backlog) == 0;
	}
	*sp = (struct status_pool){
		.name = cfg->name, .mode = modes[cfg->mode], .health = p->health,
		.reason = p->reason, .program = cfg->app ? cfg->app : cfg->argv[0],
		.generation = p->cur.id, .workers = cfg->workers,
		.min_spare = cfg->min_spare, .max_spare = cfg->max_spare,
		.max_workers = cfg->max_workers, .idle = idle, .busy = busy,
		.requests = p->requests, .spawned = p->spawned,
		.crashes = p->crashes, .timeouts = p->timeouts, .slow = p->slow,
		.reloads = p->reloads, .started_unix = p->started_unix,
		.listeners = ls, .n_listeners = cfg->n_listeners,
		.procs = procs, .n_procs = n,
	};
}
