/* Scoreboard reporting: a worker started by the process manager keeps its
 * page (see scoreboard.h) up to date as connections and requests come and
 * go, and reads the pool's size from the master's half. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* More live workers than this is not a pool on one host but a damaged
 * page: GET_VALUES then answers for this worker alone. */
enum { POOL_WORKERS_MAX = 4096 };

/* The seqlock's writer side (one writer: the server lock is held): seq
 * turns odd before the first store and even after the last; the release
 * fence keeps the stores from moving before the odd one. */
static void write_begin(struct acgi_scoreboard *sb)
{
	__atomic_store_n(&sb->seq, sb->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct acgi_scoreboard *sb)
{
	__atomic_store_n(&sb->seq, sb->seq + 1, __ATOMIC_RELEASE);
}

/* ANYCGI_REQUEST_TIMEOUT=S, S maybe fractional ("2.5"), parsed by hand:
 * strtod would follow the program's locale. Returns ms, 0 when absent or
 * malformed. */
static long long parse_timeout(const char *v)
{
	long long ms = 0, unit = 1000;
	bool digits = false, frac = false;
	for (const char *p = v; p && *p; p++) {
		if (*p == '.' && !frac) {
			frac = true;
			continue;
		}
		if (*p < '0' || *p > '9' || ms > 1000000000000LL)
			return 0;
		digits = true;
		if (!frac) {
			ms = ms * 10 + (*p - '0') * 1000;
		} else {
			unit /= 10;
			ms += (*p - '0') * unit;
		}
	}
	return digits ? ms : 0;
}

/* Maps the page on fd, or returns NULL (and leaves fd alone) when fd is
 * not a file of at least a page. */
static struct acgi_scoreboard *map_page(acgi_server *s, const char *v)
{
	char *end;
	long fd = strtol(v, &end, 10);
	struct stat st;
	if (end == v || *end || fd < 0 || fd > INT_MAX ||
	    fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < ACGI_SB_SIZE) {
		lib_log(s, ACGI_LOG_WARNING, "ANYCGI_SCOREBOARD_FD=%.20s: not "
		        "a scoreboard, ignored", v);
		return NULL;
	}
	void *page = mmap(NULL, ACGI_SB_SIZE, PROT_READ | PROT_WRITE,
	                  MAP_SHARED, (int)fd, 0);
	close((int)fd);
	if (page == MAP_FAILED) {
		lib_log(s, ACGI_LOG_WARNING, "ANYCGI_SCOREBOARD_FD=%.20s: mmap "
		        "failed, running unmanaged", v);
		return NULL;
	}
	return page;
}

/* At start-up, in listen mode: takes the page named by
 * ANYCGI_SCOREBOARD_FD, shows the worker STARTING and starts the SIGTERM
 * watchdog. Without a usable page s->sb stays NULL and nothing else here
 * runs: the worker is unmanaged. */
void scoreboard_open(acgi_server *s)
{
	const char *v = getenv("ANYCGI_SCOREBOARD_FD");
	if (!v || !*v || s->sb)
		return;
	s->sb = map_page(s, v);
	/* Taken once: a second server, or a child, must not map whatever
	 * file gets this fd number next (sd_listen_fds does the same). */
	unsetenv("ANYCGI_SCOREBOARD_FD");
	if (!s->sb)
		return;
	s->timeout_ms = parse_timeout(getenv("ANYCGI_REQUEST_TIMEOUT"));
	write_begin(s->sb);
	s->sb->magic = ACGI_SB_MAGIC;
	s->sb->version = ACGI_SB_VERSION;
	s->sb->state = ACGI_SB_STARTING;
	s->sb->state_since_ms = loop_now_ms();
	write_end(s->sb);
	int rc = watchdog_start(s);
	if (rc < 0)
		lib_log(s, ACGI_LOG_WARNING, "no SIGTERM watchdog: %s",
		        acgi_strerror(rc));
}

/* Undoes scoreboard_open (s->sb may be NULL); requests still in flight
 * are forgotten, the page shows the worker not ready. */
void scoreboard_close(acgi_server *s)
{
	if (!s->sb)
		return;
	watchdog_stop();
	for (acgi_request *r = s->fl_head; r; r = r->fl_next)
		r->in_flight = false;
	s->fl_head = s->fl_tail = NULL;
	write_begin(s->sb);
	s->sb->ready = 0;
	write_end(s->sb);
	munmap(s->sb, ACGI_SB_SIZE);
	s->sb = NULL;
}

/* Draining once a stop began, else the oldest request's state, else
 * idle: with several requests in flight the page describes the oldest,
 * the one a deadline hits first. Call between write_begin and _end. */
static void update_state(acgi_server *s)
{
	uint32_t state = s->stopping ? ACGI_SB_DRAINING
	                 : s->fl_head ? s->fl_head->sb_state : ACGI_SB_IDLE;
	if (state == s->sb->state)
		return;
	s->sb->state = state;
	s->sb->state_since_ms = loop_now_ms();
}

/* The loop accepts (true), or a stop began (false, after s->stopping). */
void scoreboard_set_ready(acgi_server *s, bool ready)
{
	write_begin(s->sb);
	s->sb->ready = ready;
	update_state(s);
	write_end(s->sb);
}

/* Adds n to counter, a field of s->sb. */
void scoreboard_add(acgi_server *s, uint64_t *counter, uint64_t n)
{
	write_begin(s->sb);
	*counter += n;
	write_end(s->sb);
}

/* Appends src (NULL: nothing) to dst at *off, cut to leave room for the
 * NUL, which it writes. */
static void put_str(char *dst, size_t cap, size_t *off, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1 - *off) : 0;
	if (n > 0)
		memcpy(dst + *off, src, n);
	*off += n;
	dst[*off] = '\0';
}

/* Shows r (the oldest request in flight, or NULL for none): its start,
 * and once its params are in, its method and URI. Only when the oldest
 * changes or learns its params: not on every update. */
static void show(struct acgi_scoreboard *sb, const acgi_request *r)
{
	size_t m = 0, u = 0;
	sb->req_start_ms = r ? r->start_ms : 0;
	sb->method[0] = sb->uri[0] = '\0';
	if (!r || !r->params_done)
		return;
	put_str(sb->method, sizeof(sb->method), &m,
	        acgi_param(r, "REQUEST_METHOD"));
	const char *uri = acgi_param(r, "REQUEST_URI");
	if (uri) {
		put_str(sb->uri, sizeof(sb->uri), &u, uri);
		return;
	}
	put_str(sb->uri, sizeof(sb->uri), &u, acgi_param(r, "SCRIPT_NAME"));
	const char *query = acgi_param(r, "QUERY_STRING");
	if (query && *query) {
		put_str(sb->uri, sizeof(sb->uri), &u, "?");
		put_str(sb->uri, sizeof(sb->uri), &u, query);
	}
}

/* A request began (its first record): READING, at the list's end. */
void scoreboard_req_begin(acgi_request *r)
{
	acgi_server *s = r->srv;
	r->start_ms = loop_now_ms();
	r->sb_state = ACGI_SB_READING;
	r->in_flight = true;
	r->fl_next = NULL;
	r->fl_prev = s->fl_tail;
	if (s->fl_tail)
		s->fl_tail->fl_next = r;
	else
		s->fl_head = r;
	s->fl_tail = r;
	write_begin(s->sb);
	s->sb->active++;
	if (s->fl_head == r)
		show(s->sb, r);
	update_state(s);
	write_end(s->sb);
}

/* r's params are in: if it is the oldest, the page shows its names. */
void scoreboard_req_named(acgi_request *r)
{
	acgi_server *s = r->srv;
	if (s->fl_head != r)
		return;
	write_begin(s->sb);
	show(s->sb, r);
	write_end(s->sb);
}

/* r is now HANDLING or WRITING. */
void scoreboard_req_state(acgi_request *r, uint8_t state)
{
	acgi_server *s = r->srv;
	r->sb_state = state;
	if (s->fl_head != r)
		return;
	write_begin(s->sb);
	update_state(s);
	write_end(s->sb);
}

/* r leaves the list: finished (END_REQUEST sent, counted in requests),
 * or freed with its connection. The next oldest takes its place. */
void scoreboard_req_end(acgi_request *r, bool finished)
{
	acgi_server *s = r->srv;
	bool was_oldest = s->fl_head == r;
	if (r->fl_prev)
		r->fl_prev->fl_next = r->fl_next;
	else
		s->fl_head = r->fl_next;
	if (r->fl_next)
		r->fl_next->fl_prev = r->fl_prev;
	else
		s->fl_tail = r->fl_prev;
	r->fl_next = r->fl_prev = NULL;
	r->in_flight = false;
	write_begin(s->sb);
	if (s->sb->active > 0)
		s->sb->active--;
	if (finished)
		s->sb->requests++;
	if (was_oldest)
		show(s->sb, s->fl_head);
	update_state(s);
	write_end(s->sb);
}

/* Returns the pool's live workers as the master published them, or 0
 * when there is no page or no believable count. */
uint32_t scoreboard_pool_workers(const acgi_server *s)
{
	if (!s->sb)
		return 0;
	/* The master's half: trusted no more than it trusts ours. */
	const struct acgi_sb_pool *pool = (const struct acgi_sb_pool *)
		((const uint8_t *)s->sb + ACGI_SB_POOL_OFFSET);
	uint32_t magic = __atomic_load_n(&pool->magic, __ATOMIC_ACQUIRE);
	if (magic != ACGI_SB_POOL_MAGIC)
		return 0;
	uint32_t n = __atomic_load_n(&pool->live_workers, __ATOMIC_RELAXED);
	return n > 0 && n <= POOL_WORKERS_MAX ? n : 0;
}
