/* The server object: start-up detection, limits, the blocking accept loop
 * and the handler style with its threads. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

static const uint64_t limit_defaults[ACGI_LIMIT_COUNT_] = {
	[ACGI_LIMIT_PARAMS_BYTES] = 1024 * 1024,
	[ACGI_LIMIT_PARAMS_COUNT] = 1000,
	[ACGI_LIMIT_PARAM_LENGTH] = 64 * 1024,
	[ACGI_LIMIT_BODY_BYTES] = 0,
	[ACGI_LIMIT_REQS_PER_CONN] = 32,
	[ACGI_LIMIT_CONNS] = 1024,
	[ACGI_LIMIT_BODY_BUFFER] = 256 * 1024,
};

/* The server that SIGQUIT and SIGUSR1 stop: a signal handler has no other
 * way to find it. */
static acgi_server *signal_target;

const char *acgi_version(void)
{
	return ACGI_VERSION_STRING;
}

const char *acgi_strerror(int code)
{
	static const struct {
		int code;
		const char *text;
	} table[] = {
		{0, "success"},
		{-ENOMEM, "out of memory"},
		{-EINVAL, "invalid argument"},
		{-ECANCELED, "the request was aborted"},
		{-EPROTO, "protocol error"},
		{-EFBIG, "body over the limit"},
		{-EMSGSIZE, "params over the limit"},
		{-EPIPE, "the connection is gone"},
		{-ESHUTDOWN, "the server stopped"},
		{-ENOTSOCK, "nothing to serve: no listener and no CGI request"},
		{-EALREADY, "the response head was already sent"},
		{-ERANGE, "index out of range"},
		{-EADDRINUSE, "address in use by a live server"},
		{-EAGAIN, "resource temporarily unavailable"},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == code)
			return table[i].text;
	return code < 0 ? strerror(-code) : "unknown code";
}

/* ANYCGI_LISTEN_FDS="3,4": the pool's other listeners, passed by the
 * process manager beside fd 0. */
static void add_inherited(acgi_server *s, const char *list)
{
	while (list && *list) {
		char *end;
		long fd = strtol(list, &end, 10);
		bool tcp = false;
		if (end == list || fd < 3 || fd > 65535 || s->n_listeners >= 8 ||
		    listen_detect_fd((int)fd, &tcp) < 0) {
			lib_log(s, ACGI_LOG_WARNING, "ANYCGI_LISTEN_FDS: %.20s: not "
			        "a listening socket, ignored", list);
			end += strcspn(end, ",");
		} else {
			s->listeners[s->n_listeners++] =
				(struct listener){WATCH_LISTENER, (int)fd, tcp, false};
		}
		list = *end == ',' ? end + 1 : end;
	}
}

static void detect_start(acgi_server *s)
{
	const char *proto = getenv("ANYCGI_PROTOCOL");
	if (proto && strcmp(proto, "scgi") == 0)
		s->proto = ACGI_PROTO_SCGI;
	else if (proto && strcmp(proto, "fastcgi") == 0)
		s->proto = ACGI_PROTO_FASTCGI;
	else if (proto && *proto && strcmp(proto, "auto") != 0)
		lib_log(s, ACGI_LOG_WARNING, "ANYCGI_PROTOCOL=%s: unknown, "
		        "using auto", proto);

	bool tcp = false;
	const char *listen_env = getenv("ANYCGI_LISTEN");
	if (listen_detect_fd(0, &tcp) == 0) {
		s->listeners[0] = (struct listener){WATCH_LISTENER, 0, tcp, false};
		s->n_listeners = 1;
		s->mode = ACGI_MODE_LISTEN;
		add_inherited(s, getenv("ANYCGI_LISTEN_FDS"));
	} else if (listen_env && *listen_env) {
		int rc = acgi_server_listen(s, listen_env);
		if (rc < 0)
			lib_log(s, ACGI_LOG_ERROR, "ANYCGI_LISTEN=%s: %s",
			        listen_env, acgi_strerror(rc));
	} else if (getenv("GATEWAY_INTERFACE")) {
		s->mode = ACGI_MODE_CGI;
	}
	/* The process manager recycles a worker after this many requests
	 * (it adds the jitter): the worker stops gracefully on its own. */
	const char *max = getenv("ANYCGI_MAX_REQUESTS");
	if (max && *max)
		s->max_requests = strtoull(max, NULL, 10);
	/* The manager's health check, answered without the program. */
	const char *ping = getenv("ANYCGI_PING_PATH");
	if (ping && *ping)
		s->ping_path = strdup(ping);
	const char *addrs = getenv("FCGI_WEB_SERVER_ADDRS");
	if (addrs && *addrs && web_addrs_parse(s, addrs) < 0)
		lib_log(s, ACGI_LOG_WARNING, "FCGI_WEB_SERVER_ADDRS=%s: bad "
		        "entries ignored", addrs);
}

acgi_server *acgi_server_new(void)
{
	acgi_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->listeners = calloc(8, sizeof(*s->listeners));
	if (!s->listeners) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->ready_cond, NULL);
	memcpy(s->limits, limit_defaults, sizeof(s->limits));
	s->log_max = ACGI_LOG_INFO;
	s->epfd = -1;
	s->stop_fd = -1;
	s->handover_fd = -1;
	s->stop_kind = WATCH_STOP;
	detect_start(s);
	return s;
}

void acgi_server_free(acgi_server **sp)
{
	acgi_server *s = sp ? *sp : NULL;
	if (!s)
		return;
	if (signal_target == s)
		signal_target = NULL;
	scoreboard_close(s);
	while (s->conns)
		conn_close(s->conns, NULL);
	conn_free_zombies(s);
	for (size_t i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].fd >= 0)
			close(s->listeners[i].fd);
	if (s->cgi_req)
		req_free(s->cgi_req);
	if (s->epfd >= 0)
		close(s->epfd);
	handover_close(s);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	pthread_cond_destroy(&s->ready_cond);
	pthread_mutex_destroy(&s->lock);
	free(s->listeners);
	free(s->scratch);
	free(s->ping_path);
	free(s);
	*sp = NULL;
}

acgi_mode acgi_server_mode(const acgi_server *s)
{
	return s->mode;
}

int acgi_server_listen(acgi_server *s, const char *addr)
{
	if (s->mode == ACGI_MODE_CGI || s->n_listeners >= 8 || s->started)
		return -EINVAL;
	int fd = -1;
	bool tcp = false;
	int rc = listen_addr(addr, &fd, &tcp);
	if (rc < 0)
		return rc;
	s->listeners[s->n_listeners++] =
		(struct listener){WATCH_LISTENER, fd, tcp, false};
	s->mode = ACGI_MODE_LISTEN;
	return 0;
}

int acgi_server_set_protocol(acgi_server *s, acgi_protocol proto)
{
	if (proto != ACGI_PROTO_AUTO && proto != ACGI_PROTO_FASTCGI &&
	    proto != ACGI_PROTO_SCGI)
		return -EINVAL;
	s->proto = proto;
	return 0;
}

int acgi_server_set_limit(acgi_server *s, acgi_limit which, uint64_t value)
{
	if ((unsigned)which >= ACGI_LIMIT_COUNT_)
		return -EINVAL;
	/* These size arrays or wire fields: 0 cannot mean unlimited. */
	if (value == 0 && which != ACGI_LIMIT_BODY_BYTES)
		return -EINVAL;
	if (which == ACGI_LIMIT_REQS_PER_CONN && value > 65535)
		return -EINVAL;
	if (which == ACGI_LIMIT_PARAM_LENGTH && value > 0x7fffffff)
		return -EINVAL;
	s->limits[which] = value;
	return 0;
}

uint64_t acgi_server_get_limit(const acgi_server *s, acgi_limit which)
{
	return (unsigned)which < ACGI_LIMIT_COUNT_ ? s->limits[which] : 0;
}

void acgi_server_set_log(acgi_server *s, acgi_log_fn fn, void *data,
                         acgi_log_level max_level)
{
	s->log_fn = fn;
	s->log_data = data;
	s->log_max = max_level;
}

void acgi_server_stop(acgi_server *s)
{
	s->stop_asked = 1;
	if (s->stop_fd >= 0) {
		uint64_t one = 1;
		(void)!write(s->stop_fd, &one, sizeof(one));
	}
}

static void on_stop_signal(int sig)
{
	int saved = errno;
	if (signal_target)
		acgi_server_stop(signal_target);
	errno = saved;
}

/* SIGQUIT is the process manager's graceful stop, SIGUSR1 libfcgi's: both
 * finish what is in flight. A program's own handlers win. */
static void install_signals(acgi_server *s)
{
	signal_target = s;
	const int sigs[] = {SIGQUIT, SIGUSR1};
	for (size_t i = 0; i < 2; i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) < 0 || old.sa_handler != SIG_DFL)
			continue;
		struct sigaction sa = {.sa_handler = on_stop_signal};
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		(void)sigaction(sigs[i], &sa, NULL);
	}
}

static int start(acgi_server *s)
{
	if (s->started)
		return 0;
	if (s->mode == ACGI_MODE_CGI) {
		s->cgi_req = cgi_request_from_env(s);
		s->started = true;
		return s->cgi_req ? 0 : -ENOMEM;
	}
	if (s->mode != ACGI_MODE_LISTEN)
		return -ENOTSOCK;
	scoreboard_open(s);
	handover_open(s);
	s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->stop_fd < 0)
		return -errno;
	int rc = loop_start(s);
	if (rc < 0)
		return rc;
	install_signals(s);
	s->started = true;
	if (s->sb)
		scoreboard_set_ready(s, true);
	return 0;
}

static acgi_request *ready_pop(acgi_server *s)
{
	acgi_request *r = s->ready_head;
	if (!r)
		return NULL;
	s->ready_head = r->next;
	if (!s->ready_head)
		s->ready_tail = NULL;
	r->next = NULL;
	r->queued = false;
	r->dispatched = true;
	s->n_handling++;
	if (r->in_flight)
		scoreboard_req_state(r, ACGI_SB_HANDLING);
	return r;
}

enum { FRESH_GRACE_MS = 1000 }; /* for connections yet to send a byte */

/* True when a stopping server has nothing left to hand out. A connection
 * accepted just before the stop, whose request is still on its way, gets
 * FRESH_GRACE_MS to send it. */
static bool drained(acgi_server *s)
{
	if (!s->stopping || s->ready_head || s->n_live > 0)
		return false;
	bool late = loop_now_ms() - s->stop_ms >= FRESH_GRACE_MS;
	/* Reading the idle connections may have brought a request in. */
	return conn_close_idle(s, late) == 0 && s->n_live == 0 &&
	       !s->ready_head;
}

/* While stopping, the loop wakes now and then to check the grace. */
static int step_timeout(const acgi_server *s)
{
	return s->stopping ? 100 : -1;
}

static int accept_cgi(acgi_server *s, acgi_request **req)
{
	if (s->cgi_taken)
		return -ESHUTDOWN;
	s->cgi_taken = true;
	*req = s->cgi_req;
	s->cgi_req = NULL;
	(*req)->dispatched = true;
	return 0;
}

int acgi_accept(acgi_server *s, acgi_request **req)
{
	*req = NULL;
	pthread_mutex_lock(&s->lock);
	int rc = start(s);
	if (rc == 0 && s->mode == ACGI_MODE_CGI) {
		rc = accept_cgi(s, req);
	} else if (rc == 0) {
		while (!(*req = ready_pop(s))) {
			if (drained(s)) {
				rc = -ESHUTDOWN;
				break;
			}
			rc = loop_step(s, step_timeout(s));
			if (rc < 0)
				break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return *req ? 0 : rc;
}

struct pool {
	acgi_server *s;
	acgi_handler handler;
	void *data;
	bool done;               /* workers exit when the queue is empty */
};

static void run_handler(struct pool *p, acgi_request *r)
{
	r->worker_owned = true;
	p->handler(r, p->data);
	if (!r->finished) {
		acgi_request *tmp = r; /* acgi_finish clears its argument */
		(void)acgi_finish_status(&tmp, 0);
	}
	pthread_mutex_lock(&p->s->lock);
	req_free(r);
	pthread_mutex_unlock(&p->s->lock);
}

static void *worker_main(void *arg)
{
	struct pool *p = arg;
	acgi_server *s = p->s;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		acgi_request *r = ready_pop(s);
		if (!r) {
			if (p->done)
				break;
			pthread_cond_wait(&s->ready_cond, &s->lock);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		run_handler(p, r);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int serve_inline(acgi_server *s, acgi_handler handler, void *data)
{
	struct pool p = {s, handler, data, false};
	acgi_request *r;
	int rc;
	while ((rc = acgi_accept(s, &r)) == 0)
		run_handler(&p, r);
	return rc == -ESHUTDOWN ? 0 : rc;
}

static int serve_threads(acgi_server *s, acgi_handler handler, void *data,
                         unsigned n_threads)
{
	struct pool p = {s, handler, data, false};
	pthread_t *tids = calloc(n_threads, sizeof(*tids));
	if (!tids)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	int rc = start(s);
	s->threaded = true;
	unsigned n = 0;
	for (; rc == 0 && n < n_threads; n++)
		if (pthread_create(&tids[n], NULL, worker_main, &p) != 0)
			rc = -EAGAIN;
	while (rc == 0 && !drained(s))
		rc = loop_step(s, step_timeout(s));
	p.done = true;
	pthread_cond_broadcast(&s->ready_cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return rc;
}

int acgi_serve(acgi_server *s, acgi_handler handler, void *data,
               unsigned n_threads)
{
	if (s->mode == ACGI_MODE_CGI || n_threads <= 1)
		return serve_inline(s, handler, data);
	return serve_threads(s, handler, data, n_threads);
}
