/* The front end's process: listeners, signals, the epoll loop and the
 * timer lists. */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "front.h"
#include "front_int.h"

struct front *F;

void front_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n] = '\n';
	/* One write per line, so that lines from processes sharing stderr
	 * do not interleave. */
	(void)!write(2, "front: ", 7);
	(void)!write(2, line, (size_t)n + 1);
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- epoll ------------------------------------------------------------ */

int ev_add(struct ev_item *ev, void *ptr, uint32_t events)
{
	struct epoll_event e = {.events = events, .data.ptr = ptr};
	if (epoll_ctl(F->epfd, EPOLL_CTL_ADD, ev->fd, &e) < 0)
		return -errno;
	ev->events = events;
	return 0;
}

int ev_set(struct ev_item *ev, uint32_t events)
{
	if (ev->events == events)
		return 0;
	struct epoll_event e = {.events = events, .data.ptr = ev};
	if (epoll_ctl(F->epfd, EPOLL_CTL_MOD, ev->fd, &e) < 0)
		return -errno;
	ev->events = events;
	return 0;
}

void ev_del(struct ev_item *ev)
{
	if (ev->fd >= 0)
		(void)epoll_ctl(F->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
}

/* ---- timers ------------------------------------------------------------ */

void timer_stop(struct timer *t)
{
	if (t->kind < 0)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		F->timers[t->kind] = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		F->timer_tails[t->kind] = t->prev;
	t->prev = t->next = NULL;
	t->kind = -1;
}

void timer_arm(struct timer *t, enum timer_kind kind)
{
	timer_stop(t);
	t->kind = (int8_t)kind;
	t->deadline = now_ms() + F->timeouts_ms[kind];
	t->prev = F->timer_tails[kind];
	t->next = NULL;
	if (t->prev)
		t->prev->next = t;
	else
		F->timers[kind] = t;
	F->timer_tails[kind] = t;
}

static int next_timeout(void)
{
	int64_t first = -1;
	for (int k = 0; k < N_TIMERS; k++)
		if (F->timers[k] && (first < 0 || F->timers[k]->deadline < first))
			first = F->timers[k]->deadline;
	if (first < 0)
		return -1;
	int64_t d = first - now_ms();
	return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

static void fire(struct timer *t)
{
	int kind = t->kind;
	timer_stop(t);
	if (kind == T_QUEUE || kind == T_REQUEST) {
		struct hreq *r = (struct hreq *)((char *)t -
		                                 offsetof(struct hreq, rtimer));
		hreq_on_timer(r);
	} else {
		struct hconn *c = (struct hconn *)((char *)t -
		                                   offsetof(struct hconn, ctimer));
		hconn_on_timer(c, kind);
	}
}

static void run_timers(void)
{
	int64_t now = now_ms();
	for (int k = 0; k < N_TIMERS; k++)
		while (F->timers[k] && F->timers[k]->deadline <= now)
			fire(F->timers[k]);
}

/* ---- listeners --------------------------------------------------------- */

/* A socket file nobody listens on is left from an earlier run: it goes.
 * One in use stays, and bind then says so. */
static void remove_stale(const struct sockaddr_un *un, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct stat st;
	if (fd < 0 || stat(un->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (connect(fd, (const struct sockaddr *)un, len) < 0 &&
	    errno == ECONNREFUSED)
		(void)unlink(un->sun_path);
	close(fd);
}

static int bind_one(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (upstream_parse_addr(addr, &ss, &len) < 0) {
		front_log("--listen %s: bad address", addr);
		return -1;
	}
	if (ss.ss_family == AF_UNIX)
		remove_stale((struct sockaddr_un *)&ss, len);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0 && ss.ss_family != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 4096) < 0) {
		front_log("--listen %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Keeps the listener's address when every connection will have it. */
static void note_local(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(l->ev.fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	l->is_unix = ss.ss_family == AF_UNIX;
	if (ss.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&ss)->sin_addr.s_addr != htonl(INADDR_ANY))
		memcpy(&l->local, &ss, sizeof(struct sockaddr_in));
	if (ss.ss_family == AF_INET6 &&
	    !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr) &&
	    !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&ss)->sin6_addr))
		memcpy(&l->local, &ss, sizeof(struct sockaddr_in6));
}

static int add_listener(int fd)
{
	struct listener *l = realloc(F->listeners,
	                             (size_t)(F->n_listeners + 1) * sizeof(*l));
	if (!l)
		return -1;
	F->listeners = l;
	int flags = fcntl(fd, F_GETFL);
	(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	l += F->n_listeners++;
	*l = (struct listener){.ev = {.type = EV_LISTEN, .fd = fd}};
	note_local(l);
	return 0;
}

/* fd 0 and ANYCGI_LISTEN_FDS from the manager, or --listen. */
static int open_listeners(void)
{
	for (int i = 0; i < F->opt.n_listen; i++) {
		int fd = bind_one(F->opt.listen[i]);
		if (fd < 0 || add_listener(fd) < 0)
			return -1;
	}
	if (F->opt.n_listen)
		return 0;
	int type;
	socklen_t tl = sizeof(type);
	if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &tl) < 0) {
		front_log("fd 0 is not a listening socket and no --listen given");
		return -1;
	}
	if (add_listener(0) < 0)
		return -1;
	const char *more = getenv("ANYCGI_LISTEN_FDS");
	for (const char *s = more; s && *s;) {
		char *end;
		long fd = strtol(s, &end, 10);
		if (end == s || fd < 0 || add_listener((int)fd) < 0)
			return -1;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

void front_listen_arm(bool on)
{
	if (F->listening == on)
		return;
	for (int i = 0; i < F->n_listeners; i++) {
		struct listener *l = &F->listeners[i];
		if (on)
			(void)ev_add(&l->ev, l, EPOLLIN);
		else
			ev_del(&l->ev);
	}
	F->listening = on;
}

/* ---- signals ------------------------------------------------------------ */

/* SIGUSR1 (the manager passes its own on): logrotate moved the file. */
static void reopen_access_log(void)
{
	const char *path = F->opt.access_log;
	if (!path || strcmp(path, "-") == 0 || F->opt.access_log_fd >= 0)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		front_log("--access-log %s: %s; still writing the old file", path,
		          strerror(errno));
		return;
	}
	(void)dup3(fd, F->alog_fd, O_CLOEXEC);
	close(fd);
}

static int open_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	F->sig = (struct ev_item){.type = EV_SIGNAL, .fd = fd};
	return ev_add(&F->sig, &F->sig, EPOLLIN);
}

/* Returns 1 to leave the loop now. */
static int on_signal(void)
{
	struct signalfd_siginfo si;
	while (read(F->sig.fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			reopen_access_log();
			continue;
		}
		if (si.ssi_signo != SIGQUIT)
			return 1;
		if (!F->stopping)
			front_log("SIGQUIT: finishing the requests in flight");
		F->stopping = true;
		front_listen_arm(false);
		hconn_close_idle();
	}
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static void dispatch(struct epoll_event *e)
{
	struct ev_item *it = e->data.ptr;
	switch (it->type) {
	case EV_LISTEN:
		hconn_accept((struct listener *)it);
		break;
	case EV_CLIENT:
		hconn_on_event((struct hconn *)it, e->events);
		break;
	case EV_UPSTREAM:
		upstream_on_event((struct upconn *)it, e->events);
		break;
	case EV_HANDOVER:
		front_handover_on_event();
		break;
	default:
		break;
	}
}

/* A burst of requests leaves its buffers in the heap after they are
 * freed: once nothing is in flight, at most once a second, the heap goes
 * back to the system, so that idle keep-alive connections cost their
 * struct and no more. */
static bool trim_pending; /* a trim was put off: wake up for it */

static void trim_when_quiet(void)
{
	static int64_t last;
	if (F->n_up_busy > 0 || F->queue_head) {
		trim_pending = true;
		return;
	}
	int64_t now = now_ms();
	if (now - last < 1000)
		return;
	last = now;
	trim_pending = false;
	(void)malloc_trim(0);
}

static int loop_timeout(void)
{
	int t = next_timeout();
	return trim_pending && (t < 0 || t > 1000) ? 1000 : t;
}

static int run(void)
{
	struct epoll_event evs[256];
	for (;;) {
		if (F->stopping && F->n_conns == 0)
			return 0;
		int n = epoll_wait(F->epfd, evs, 256, loop_timeout());
		if (n < 0 && errno != EINTR) {
			front_log("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if (((struct ev_item *)evs[i].data.ptr)->type == EV_SIGNAL) {
				if (on_signal())
					return 0;
				continue;
			}
			dispatch(&evs[i]);
		}
		run_timers();
		hconn_reap();
		upstream_reap();
		trim_when_quiet();
	}
}

/* Thousands of idle connections need as many descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void set_timeouts(void)
{
	const struct front_opts *o = &F->opt;
	double s[N_TIMERS] = {
		[T_HEADER] = o->header_timeout, [T_BODY] = o->body_timeout,
		[T_KEEPALIVE] = o->keepalive_timeout, [T_SEND] = o->send_timeout,
		[T_LINGER] = 2, [T_QUEUE] = o->queue_timeout,
		[T_REQUEST] = o->request_timeout,
	};
	for (int k = 0; k < N_TIMERS; k++)
		F->timeouts_ms[k] = (int64_t)(s[k] * 1000 + 0.5);
}

static int open_access_log(void)
{
	F->alog_fd = -1;
	if (F->opt.access_log_fd >= 0)
		F->alog_fd = F->opt.access_log_fd;
	else if (F->opt.access_log && strcmp(F->opt.access_log, "-") == 0)
		F->alog_fd = 1;
	else if (F->opt.access_log) {
		F->alog_fd = open(F->opt.access_log,
		                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (F->alog_fd < 0) {
			front_log("--access-log %s: %s", F->opt.access_log,
			          strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int setup(void)
{
	set_timeouts();
	F->lim = (struct http_in_limits){
		.max_header_bytes = F->opt.max_header_bytes,
		.max_headers = F->opt.max_headers,
	};
	if (upstream_parse_addr(F->opt.upstream, &F->up_addr,
	                        &F->up_addrlen) < 0) {
		front_log("--upstream %s: bad address", F->opt.upstream);
		return -1;
	}
	raise_nofile();
	F->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (F->epfd < 0 || open_signals() < 0 || open_access_log() < 0 ||
	    static_open_root() < 0 ||
	    open_listeners() < 0 || front_handover_open() < 0)
		return -1;
	front_listen_arm(true);
	return 0;
}

int front_main(int argc, char **argv)
{
	static struct front front;
	F = &front;
	for (int k = 0; k < N_TIMERS; k++)
		F->timers[k] = F->timer_tails[k] = NULL;
	if (front_opts_parse(&F->opt, argc, argv) < 0)
		return 2;
	if (setup() < 0)
		return 1;
	int rc = run();
	hconn_close_all();
	upstream_close_all();
	for (int i = 0; i < F->n_listeners; i++)
		close(F->listeners[i].ev.fd);
	free(F->listeners);
	/* The socket files this process made go with it. */
	for (int i = 0; i < F->opt.n_listen; i++)
		if (strncmp(F->opt.listen[i], "unix:", 5) == 0)
			(void)unlink(F->opt.listen[i] + 5);
	front_log("stopped");
	return rc;
}
