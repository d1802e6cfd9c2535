/* Upstream FastCGI connections: at most --upstream-conns requests at the
 * app at once, one per connection (request id 1, FCGI_KEEP_CONN), kept
 * and reused; requests beyond that wait in a FIFO queue. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

#include "front_int.h"

/* ADDR = unix:/path | HOST:PORT | [IPv6]:PORT. */
int upstream_parse_addr(const char *addr, struct sockaddr_storage *ss,
                        socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		size_t n = strlen(addr + 5);
		if (n == 0 || n >= sizeof(un->sun_path))
			return -1;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, addr + 5, n + 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host) || !colon[1])
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	char *h = host;
	if (h[0] == '[') {
		size_t n = strlen(h);
		if (n < 2 || h[n - 1] != ']')
			return -1;
		h[n - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(h, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void on_failure(struct upconn *u, const char *why);
static void idle_remove(struct upconn *u);

static struct upconn *dead; /* closed this loop turn, freed at its end */
static struct upconn *all;  /* every open one, for the end of the process */

static void all_remove(struct upconn *u)
{
	if (u->aprev)
		u->aprev->anext = u->anext;
	else
		all = u->anext;
	if (u->anext)
		u->anext->aprev = u->aprev;
}

/* Closes u now; its memory goes at the end of the loop turn, since the
 * loop's batch of events or a caller up the stack may still hold it. */
static void close_conn(struct upconn *u)
{
	if (u->dead)
		return;
	u->dead = true;
	ev_del(&u->ev);
	close(u->ev.fd);
	u->ev.fd = -1;
	fbuf_free(&u->out);
	F->n_up--;
	if (u->req || u->draining)
		F->n_up_busy--;
	u->req = NULL;
	u->draining = false;
	all_remove(u);
	u->next = dead;
	dead = u;
}

void upstream_close_all(void)
{
	while (all) {
		if (!all->req && !all->draining)
			idle_remove(all);
		close_conn(all);
	}
	upstream_reap();
}

void upstream_reap(void)
{
	while (dead) {
		struct upconn *u = dead;
		dead = u->next;
		free(u);
	}
}

static struct upconn *connect_new(void)
{
	struct upconn *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->ev = (struct ev_item){.type = EV_UPSTREAM, .fd = -1};
	int fd = socket(F->up_addr.ss_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(u);
		return NULL;
	}
	u->ev.fd = fd;
	if (connect(fd, (struct sockaddr *)&F->up_addr, F->up_addrlen) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			front_log("upstream %s: connect: %s", F->opt.upstream,
			          strerror(errno));
			close(fd);
			free(u);
			return NULL;
		}
		u->connecting = true;
	}
	if (ev_add(&u->ev, u, EPOLLIN | EPOLLOUT | EPOLLRDHUP) < 0) {
		close(fd);
		free(u);
		return NULL;
	}
	F->n_up++;
	u->anext = all;
	if (all)
		all->aprev = u;
	all = u;
	return u;
}

static void attach(struct upconn *u, struct hreq *r)
{
	u->req = r;
	u->got_bytes = false;
	u->sent_body = false;
	fcgi_client_init(&u->fc, 1);
	F->n_up_busy++;
	r->up = u;
	hreq_on_slot(r, u);
}

static void queue_push(struct hreq *r)
{
	r->state = RQ_QUEUED;
	r->queued = true;
	r->qnext = NULL;
	r->qprev = F->queue_tail;
	if (F->queue_tail)
		F->queue_tail->qnext = r;
	else
		F->queue_head = r;
	F->queue_tail = r;
	timer_arm(&r->rtimer, T_QUEUE);
}

void queue_remove(struct hreq *r)
{
	if (!r->queued)
		return;
	r->queued = false;
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		F->queue_head = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		F->queue_tail = r->qprev;
	r->qprev = r->qnext = NULL;
	timer_stop(&r->rtimer);
}

static struct upconn *idle_pop(void)
{
	struct upconn *u = F->idle_up;
	if (u) {
		F->idle_up = u->next;
		if (u->next)
			u->next->prev = NULL;
		u->next = u->prev = NULL;
		u->reused = true;
	}
	return u;
}

static void idle_remove(struct upconn *u)
{
	if (u->prev)
		u->prev->next = u->next;
	else
		F->idle_up = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->next = u->prev = NULL;
}

void upstream_acquire(struct hreq *r)
{
	struct upconn *u = idle_pop();
	if (!u && F->n_up_busy < F->opt.upstream_conns) {
		u = connect_new();
		if (!u) {
			hreq_error(r, 502, "cannot connect to the app");
			return;
		}
	}
	if (!u) {
		queue_push(r);
		return;
	}
	attach(u, r);
}

/* A slot came free: the first request waiting gets it. */
static void serve_queue(struct upconn *u)
{
	struct hreq *r = F->queue_head;
	if (!r)
		return;
	queue_remove(r);
	if (!u)
		u = connect_new();
	if (!u) {
		hreq_error(r, 502, "cannot connect to the app");
		return;
	}
	attach(u, r);
}

void upstream_release(struct upconn *u, bool reusable)
{
	if (u->req)
		u->req->up = NULL;
	u->req = NULL;
	u->draining = false;
	F->n_up_busy--;
	if (!reusable || u->out.len > 0) {
		close_conn(u);
		if (F->queue_head && F->n_up_busy < F->opt.upstream_conns)
			serve_queue(NULL);
		return;
	}
	if (F->queue_head) {
		u->reused = true;
		serve_queue(u);
		return;
	}
	u->next = F->idle_up;
	u->prev = NULL;
	if (u->next)
		u->next->prev = u;
	F->idle_up = u;
	(void)ev_set(&u->ev, EPOLLIN | EPOLLRDHUP);
}

int upstream_send(struct upconn *u, const void *data, size_t len)
{
	if (fbuf_append(&u->out, data, len) < 0)
		return -ENOMEM;
	return 0;
}

/* Writes what it can. Returns 0, or -1 after a failure was handled. */
int upstream_flush(struct upconn *u)
{
	while (u->out.len > 0 && !u->connecting) {
		ssize_t n = send(u->ev.fd, fbuf_head(&u->out), u->out.len,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			fbuf_consume(&u->out, (size_t)n);
			if (u->req)
				hreq_timer_update(u->req);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		on_failure(u, n < 0 ? strerror(errno) : "send returned 0");
		return -1;
	}
	if (u->out.len == 0 && u->out.cap > 65536)
		fbuf_free(&u->out);
	return 0;
}

/* The client went away (or the request timed out): tell the app, then
 * read its answer to the end and keep the connection. A connection in
 * the middle of a record (or still connecting) cannot be cut cleanly: it
 * is closed, which the app also takes as an abort. */
void upstream_abort(struct upconn *u)
{
	if (u->req)
		u->req->up = NULL;
	u->req = NULL;
	uint8_t rec[FCGI_HEADER_LEN];
	fcgi_encode_header(rec, FCGI_ABORT_REQUEST, 1, 0, 0);
	if (u->connecting || u->out.len > 0 ||
	    upstream_send(u, rec, sizeof(rec)) < 0) {
		F->n_up_busy--;
		close_conn(u);
		if (F->queue_head && F->n_up_busy < F->opt.upstream_conns)
			serve_queue(NULL);
		return;
	}
	u->draining = true;
	if (upstream_flush(u) == 0)
		upstream_update(u);
}

void upstream_retry(struct hreq *r)
{
	struct upconn *u = connect_new();
	if (!u) {
		hreq_on_upstream_error(r, "cannot connect to the app");
		return;
	}
	attach(u, r);
}

/* Nothing of the answer has come and no body byte went out: the request
 * can go again on a new connection (a kept one the app had closed). */
static bool can_retry(const struct upconn *u)
{
	return u->req && u->reused && !u->got_bytes && !u->sent_body;
}

static void on_failure(struct upconn *u, const char *why)
{
	if (u->dead)
		return;
	struct hreq *r = u->req;
	if (!r) {
		if (!u->draining)
			idle_remove(u);
		close_conn(u);
		if (F->queue_head && F->n_up_busy < F->opt.upstream_conns)
			serve_queue(NULL);
		return;
	}
	bool retry = can_retry(u);
	r->up = NULL;
	u->req = NULL;
	F->n_up_busy--;
	close_conn(u);
	if (retry) {
		upstream_retry(r);
		return;
	}
	if (F->queue_head && F->n_up_busy < F->opt.upstream_conns)
		serve_queue(NULL);
	hreq_on_upstream_error(r, why);
}

/* One event of the app's answer. Returns 1 when the request ended. */
static int on_record(struct upconn *u, const struct fcgi_client_event *ev)
{
	struct hreq *r = u->req;
	switch (ev->kind) {
	case FCGI_CEV_STDOUT:
		if (r)
			hreq_on_stdout(r, ev->data, ev->len);
		return 0;
	case FCGI_CEV_STDERR:
		front_log("app stderr: %.*s", (int)(ev->len > 900 ? 900 : ev->len),
		          (const char *)ev->data);
		return 0;
	case FCGI_CEV_END:
		if (!r)
			return 1;
		/* The request lets go of the connection; feed() releases it. */
		r->up = NULL;
		u->req = NULL;
		if (ev->protocol_status != FCGI_REQUEST_COMPLETE)
			hreq_on_upstream_error(r, "the app refused the request");
		else
			hreq_on_end(r);
		return 1;
	default:
		return 0;
	}
}

/* Feeds in[0..len) to the answer's parser. Returns -1 when u is gone or
 * serves another request now. */
static int feed(struct upconn *u, const uint8_t *in, size_t len)
{
	size_t off = 0;
	u->got_bytes = true;
	while (off < len) {
		struct fcgi_client_event ev;
		int k = fcgi_client_feed(&u->fc, in + off, len - off, &ev);
		if (k < 0) {
			front_log("upstream: %s", u->fc.reason);
			on_failure(u, "malformed FastCGI answer");
			return -1;
		}
		off += (size_t)k;
		if (ev.kind == FCGI_CEV_NONE)
			break;
		int ended = on_record(u, &ev);
		if (u->dead)
			return -1;
		if (ended) {
			/* Bytes after END_REQUEST: the app is out of step. */
			upstream_release(u, off == len);
			return -1;
		}
	}
	return 0;
}

/* Whether the client can take more of the answer. */
static bool can_read(const struct upconn *u)
{
	return !u->req || u->req->c->out.len < OUT_HIGH;
}

/* Returns -1 when u is gone or serves another request now. */
static int on_readable(struct upconn *u)
{
	static uint8_t buf[65536];
	for (int i = 0; i < 8 && can_read(u); i++) {
		ssize_t n = recv(u->ev.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			if (u->req)
				hreq_timer_update(u->req);
			if (feed(u, buf, (size_t)n) < 0 || u->dead)
				return -1;
			if ((size_t)n < sizeof(buf))
				return 0; /* all there was: epoll says when more comes */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		on_failure(u, n == 0 ? "the app closed the connection"
		                     : strerror(errno));
		return -1;
	}
	return 0;
}

void upstream_update(struct upconn *u)
{
	if (u->dead)
		return;
	uint32_t ev = can_read(u) ? EPOLLIN | EPOLLRDHUP : 0;
	if (u->out.len > 0 || u->connecting)
		ev |= EPOLLOUT;
	(void)ev_set(&u->ev, ev);
}

static bool connected(struct upconn *u)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(u->ev.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		front_log("upstream %s: connect: %s", F->opt.upstream,
		          strerror(err));
		on_failure(u, "cannot connect to the app");
		return false;
	}
	u->connecting = false;
	return true;
}

void upstream_on_event(struct upconn *u, uint32_t events)
{
	if (u->dead)
		return;
	struct hconn *c = u->req ? u->req->c : NULL;
	if (u->connecting && !connected(u))
		goto client;
	if (events & (EPOLLOUT | EPOLLERR)) {
		if (upstream_flush(u) < 0)
			goto client;
		if (u->req)
			hconn_process(c);
		if (u->dead)
			goto client;
	}
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
	    on_readable(u) < 0)
		goto client;
	upstream_update(u);
client:
	/* u may be gone or serve another request now; the client it
	 * answered is flushed and checked last. */
	if (c) {
		(void)hconn_flush(c);
		hconn_update(c);
	}
}
