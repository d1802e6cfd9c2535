/* Client connections: reading requests (with http_in), writing
 * responses, keep-alive, pipelining, lingering close and the client-side
 * timeouts. An idle connection holds no buffer. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front_int.h"

static struct hconn *dead; /* killed this loop turn, freed at its end */

static void unlink_conn(struct hconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		F->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Ends the connection now; its memory goes at the end of the loop turn,
 * since callers up the stack may still hold it. */
static void kill_conn(struct hconn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->req) {
		struct hreq *r = c->req;
		c->req = NULL;
		hreq_abort(r);
	}
	timer_stop(&c->ctimer);
	ev_del(&c->ev);
	unlink_conn(c);
	c->next = dead;
	dead = c;
	F->n_conns--;
	if (!F->stopping && F->n_conns < F->opt.max_conns)
		front_listen_arm(true);
}

void hconn_reap(void)
{
	while (dead) {
		struct hconn *c = dead;
		dead = c->next;
		close(c->ev.fd);
		if (c->file_fd >= 0)
			close(c->file_fd);
		if (c->hin) {
			http_in_deinit(c->hin);
			free(c->hin);
		}
		fbuf_free(&c->in);
		fbuf_free(&c->out);
		free(c);
	}
}

/* A new client connection on fd, from listener l, the peer at ss.
 * Returns it, or NULL after closing fd. */
static struct hconn *add_conn(int fd, struct listener *l,
                              const struct sockaddr_storage *ss)
{
	struct hconn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->ev = (struct ev_item){.type = EV_CLIENT, .fd = fd};
	c->ctimer.kind = -1;
	c->file_fd = -1;
	c->l = l;
	if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6)
		memcpy(&c->peer, ss, ss->ss_family == AF_INET
		                         ? sizeof(struct sockaddr_in)
		                         : sizeof(struct sockaddr_in6));
	else
		c->peer.sa.sa_family = AF_UNIX;
	int one = 1;
	if (ss->ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ev_add(&c->ev, c, EPOLLIN | EPOLLRDHUP) < 0) {
		close(fd);
		free(c);
		return NULL;
	}
	c->next = F->conns;
	if (c->next)
		c->next->prev = c;
	F->conns = c;
	F->n_conns++;
	timer_arm(&c->ctimer, T_HEADER);
	return c;
}

/* The listener whose address fd was accepted on (the handover does not
 * say), else the first. */
static struct listener *listener_of(int fd)
{
	struct sockaddr_storage mine, theirs;
	socklen_t ml = sizeof(mine);
	if (getsockname(fd, (struct sockaddr *)&mine, &ml) == 0)
		for (int i = 0; i < F->n_listeners; i++) {
			socklen_t tl = sizeof(theirs);
			if (getsockname(F->listeners[i].ev.fd,
			                (struct sockaddr *)&theirs, &tl) == 0 &&
			    tl == ml && memcmp(&mine, &theirs, ml) == 0)
				return &F->listeners[i];
		}
	return &F->listeners[0];
}

/* A kept connection handed over by the previous front end: between two
 * requests, so it waits for the next one as a kept connection does. */
void hconn_adopt(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (F->n_conns >= F->opt.max_conns ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);
		return;
	}
	int fl = fcntl(fd, F_GETFL);
	(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	struct hconn *c = add_conn(fd, listener_of(fd), &ss);
	if (!c)
		return;
	c->served = 1;
	timer_arm(&c->ctimer, T_KEEPALIVE);
}

void hconn_accept(struct listener *l)
{
	for (int i = 0; i < 64; i++) {
		if (F->n_conns >= F->opt.max_conns) {
			front_listen_arm(false);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->ev.fd, (struct sockaddr *)&ss, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				front_log("accept: %s", strerror(errno));
				if (F->n_conns > 0)
					front_listen_arm(false);
			}
			return;
		}
		if (!add_conn(fd, l, &ss))
			return;
	}
}

/* Whether bytes are still due to the client: the buffer, or a static
 * file after it. */
static bool sending(const struct hconn *c)
{
	return c->out.len > 0 || c->file_fd >= 0;
}

int hconn_flush(struct hconn *c)
{
	bool progress = false;
again:
	while (c->out.len > 0 && !c->dead) {
		ssize_t n = send(c->ev.fd, fbuf_head(&c->out), c->out.len,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			fbuf_consume(&c->out, (size_t)n);
			progress = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		/* The client is gone: what it did not take is lost. */
		c->eof = true;
		fbuf_consume(&c->out, c->out.len);
		return -1;
	}
	if (c->file_fd >= 0 && c->out.len == 0) {
		int k = static_flush(c);
		if (k < 0)
			return -1;
		progress = progress || k > 0;
		/* Requests pipelined behind the file waited for its end. */
		if (c->file_fd < 0 && !c->processing && !c->dead) {
			hconn_process(c);
			if (c->out.len > 0)
				goto again;
		}
	}
	if (progress && c->ctimer.kind == T_SEND)
		timer_arm(&c->ctimer, T_SEND);
	if (progress && c->req && c->req->up) {
		upstream_update(c->req->up);
		hreq_timer_update(c->req);
	}
	return 0;
}

static void on_linger_readable(struct hconn *c)
{
	static char sink[16384];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->ev.fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		kill_conn(c);
		return;
	}
}

static void on_readable(struct hconn *c)
{
	while (c->in.len < IN_BUF) {
		if (fbuf_reserve(&c->in, IN_BUF - c->in.len) < 0)
			return;
		size_t room = c->in.cap - c->in.off - c->in.len;
		ssize_t n = recv(c->ev.fd, fbuf_tail(&c->in), room, MSG_DONTWAIT);
		if (n > 0) {
			c->in.len += (size_t)n;
			/* A short read took all there was: no second call to
			 * hear EAGAIN (epoll is level-triggered). */
			if ((size_t)n < room)
				return;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			c->eof = true;
		return;
	}
}

void hconn_on_event(struct hconn *c, uint32_t events)
{
	if (c->dead)
		return;
	if (events & EPOLLOUT)
		(void)hconn_flush(c);
	if (c->lingering && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		on_linger_readable(c);
	else if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		on_readable(c);
	if (events & (EPOLLHUP | EPOLLERR))
		c->eof = true;
	hconn_process(c);
	(void)hconn_flush(c);
	hconn_update(c);
}

/* A request that could not be parsed: its status, and the end of the
 * connection (its framing is lost). */
static void bad_request(struct hconn *c, int rc)
{
	if (rc == -ENOMEM || !c->hin) {
		kill_conn(c);
		return;
	}
	if (c->req) {
		hreq_error(c->req, c->hin->status, c->hin->reason);
		return;
	}
	front_log("bad request: %d (%s)", c->hin->status, c->hin->reason);
	(void)reply_error(&c->out, c->hin->status, true);
	c->closing = true;
	fbuf_consume(&c->in, c->in.len);
}

/* Hands one parser event to the request. Returns -1 to stop. */
static int on_parsed(struct hconn *c, const struct http_in_event *ev)
{
	switch (ev->kind) {
	case HTTP_IN_HEAD:
		c->served++;
		timer_stop(&c->ctimer);
		if (!hreq_start(c)) {
			kill_conn(c);
			return -1;
		}
		return 0;
	case HTTP_IN_BODY:
		hreq_body(c->req, ev->data, ev->len);
		if (c->req && hreq_wants_body(c->req))
			timer_arm(&c->ctimer, T_BODY);
		return 0;
	case HTTP_IN_END:
		hreq_body_end(c->req);
		return 0;
	default:
		return 0;
	}
}

/* Whether the parser may be fed now. */
static bool can_parse(const struct hconn *c)
{
	if (c->dead)
		return false;
	if (c->req)
		return hreq_wants_body(c->req);
	/* A pipelined request waits while the client is not taking the
	 * answers already made: they stay bounded. */
	return !c->closing && c->out.len < OUT_HIGH && c->file_fd < 0 &&
	       (c->in.len > 0 || (c->hin && !http_in_idle(c->hin)));
}

void hconn_process(struct hconn *c)
{
	if (c->processing)
		return;
	c->processing = true;
	while (can_parse(c)) {
		if (!c->hin) {
			c->hin = malloc(sizeof(*c->hin));
			if (!c->hin) {
				kill_conn(c);
				break;
			}
			http_in_init(c->hin, &F->lim);
		}
		struct http_in_event ev;
		int k = http_in_feed(c->hin, c->in.len ? fbuf_head(&c->in) : NULL,
		                     c->in.len, &ev);
		if (k < 0) {
			bad_request(c, k);
			break;
		}
		int stop = on_parsed(c, &ev);
		if (!c->dead)
			fbuf_consume(&c->in, (size_t)k);
		if (stop < 0 || (ev.kind == HTTP_IN_NONE && (k == 0 || !c->in.len)))
			break;
	}
	c->processing = false;
}

void hconn_request_done(struct hconn *c)
{
	if (c->closing || c->dead || front_drain_closes()) {
		c->closing = true;
		return;
	}
	http_in_next(c->hin);
	/* A pipelined request may be waiting in the buffer. */
	hconn_process(c);
}

static void start_linger(struct hconn *c)
{
	if (shutdown(c->ev.fd, SHUT_WR) < 0) {
		kill_conn(c);
		return;
	}
	c->lingering = true;
	fbuf_free(&c->in);
	timer_arm(&c->ctimer, T_LINGER);
}

static bool idle(const struct hconn *c)
{
	return !c->req && c->in.len == 0 && (!c->hin || http_in_idle(c->hin));
}

/* Draining: an idle kept connection goes to the next front end (see
 * handover.c); this process only lets go of its descriptor. */
static void hand_over_or_close(struct hconn *c)
{
	if (!c->lingering && !c->closing && !c->eof &&
	    front_handover_send(c->ev.fd))
		c->cut = true; /* no shutdown: the socket lives on elsewhere */
	kill_conn(c);
}

/* Closes what has to close; otherwise sets the epoll events and the
 * timer the connection's state calls for. */
static bool settle(struct hconn *c)
{
	if (c->eof && !c->lingering) {
		if (c->req && c->req->state != RQ_DONE) {
			kill_conn(c); /* the client went away: abort upstream */
			return false;
		}
		c->closing = true;
	}
	if (c->closing && !c->req && !sending(c)) {
		if (c->lingering)
			return true;
		if (c->cut || c->eof)
			kill_conn(c);
		else
			start_linger(c);
		return !c->dead;
	}
	if (F->stopping && idle(c) && !sending(c)) {
		hand_over_or_close(c);
		return false;
	}
	return true;
}

static void set_timer(struct hconn *c)
{
	int want = -1;
	if (c->lingering)
		want = T_LINGER;
	else if (sending(c))
		want = T_SEND;
	else if (!c->req)
		want = c->served == 0 || !idle(c) ? T_HEADER : T_KEEPALIVE;
	else if (hreq_wants_body(c->req))
		want = T_BODY;
	if (want < 0)
		timer_stop(&c->ctimer);
	else if (c->ctimer.kind != want)
		timer_arm(&c->ctimer, (enum timer_kind)want);
}

void hconn_update(struct hconn *c)
{
	if (c->dead || !settle(c))
		return;
	if (idle(c) && !c->lingering) {
		/* Keep-alive costs only the struct: the buffers go. */
		if (c->hin) {
			http_in_deinit(c->hin);
			free(c->hin);
			c->hin = NULL;
		}
		fbuf_free(&c->in);
		if (c->out.len == 0)
			fbuf_free(&c->out);
	}
	uint32_t ev = 0;
	if (!c->eof)
		ev = (c->in.len < IN_BUF || c->lingering ? EPOLLIN : 0) | EPOLLRDHUP;
	if (sending(c))
		ev |= EPOLLOUT;
	(void)ev_set(&c->ev, ev);
	set_timer(c);
}

void hconn_on_timer(struct hconn *c, int kind)
{
	if (c->dead)
		return;
	switch (kind) {
	case T_HEADER:
		if (!idle(c)) {
			front_log("request head not received within --header-timeout");
			(void)reply_error(&c->out, 408, true);
		}
		c->closing = c->cut = true;
		fbuf_consume(&c->in, c->in.len);
		if (c->hin)
			http_in_next(c->hin);
		break;
	case T_BODY:
		if (c->req) {
			c->cut = true;
			hreq_error(c->req, 408, "body not received within "
			                        "--body-timeout");
			break;
		}
		/* fall through */
	default:
		kill_conn(c);
		return;
	}
	(void)hconn_flush(c);
	hconn_update(c);
}

void hconn_close_all(void)
{
	while (F->conns)
		kill_conn(F->conns);
	hconn_reap();
}

void hconn_close_idle(void)
{
	struct hconn *c = F->conns;
	while (c) {
		struct hconn *next = c->next;
		if (idle(c) && !sending(c))
			hand_over_or_close(c);
		c = next;
	}
}
