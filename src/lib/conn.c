/* Connections: accept, read and parse (FastCGI or SCGI), queue output,
 * close. Runs under the server lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static void conn_free(struct conn *c)
{
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->reqs[i])
			req_free(c->reqs[i]);
	pthread_cond_destroy(&c->out_cond);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->gv);
	free(c->slots);
	free(c->reqs);
	free(c);
}

static void list_remove(struct conn **head, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

static void list_push(struct conn **head, struct conn *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

void conn_unref(struct conn *c)
{
	c->refs--;
	/* The struct itself goes at the next loop step: an epoll batch
	 * being processed may still point at it. */
}

void conn_free_zombies(acgi_server *s)
{
	struct conn *c = s->zombies;
	while (c) {
		struct conn *next = c->next;
		if (c->refs <= 0) {
			list_remove(&s->zombies, c);
			conn_free(c);
		}
		c = next;
	}
}

/* Requests at once on one connection. With one thread and one loop, a
 * request waiting for its body could wait behind another request's full
 * buffer that nobody reads: such a server does not multiplex, and says
 * so (FCGI_MPXS_CONNS=0, FCGI_CANT_MPX_CONN). */
static size_t conn_slots(const acgi_server *s)
{
	return s->threaded ? (size_t)s->limits[ACGI_LIMIT_REQS_PER_CONN] : 1;
}

static size_t slot_index(const struct conn *c, const struct fcgi_slot *slot)
{
	return (size_t)(slot - c->slots);
}

/* Aborts every live request of a closed connection: their handlers see
 * the cancellation, reads and writes fail. */
static void abort_all(struct conn *c)
{
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->reqs[i])
			req_abort(c->reqs[i]);
	if (c->sreq)
		req_abort(c->sreq);
}

void conn_close(struct conn *c, const char *why)
{
	if (c->closed)
		return;
	acgi_server *s = c->srv;
	if (why)
		lib_log(s, ACGI_LOG_DEBUG, "connection closed: %s", why);
	/* close() takes the fd out of the epoll set only when no other
	 * descriptor shares the socket. An accepted one is never dup'ed; a
	 * handed-over one may still be open in the worker that sent it,
	 * whose close can come after ours: the set would go on reporting a
	 * freed conn. */
	if (c->handed_in)
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->closed = true;
	abort_all(c);
	pthread_cond_broadcast(&c->out_cond);
	list_remove(&s->conns, c);
	list_push(&s->zombies, c);
	bool was_full = s->n_conns-- >= s->limits[ACGI_LIMIT_CONNS];
	if (was_full && !s->stopping)
		loop_listeners_arm(s, true);
	conn_unref(c);
}

static bool conn_idle(const struct conn *c)
{
	if (c->sreq)
		return false;
	for (size_t i = 0; i < c->n_slots; i++)
		if (c->reqs[i])
			return false;
	return true;
}

/* The response is out and the connection must close, but the web server
 * may still be sending a body that the program did not read: closing now
 * would reset the connection under it (nginx then answers 502). Half-close
 * instead, throw away what still arrives, and close at its end of file,
 * which comes as soon as the web server has the whole response. */
static void conn_linger(struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c, NULL);
		return;
	}
	buf_free(&c->in);
	loop_set_events(c, EPOLLIN | EPOLLRDHUP);
	c->lingering = true;
}

static void on_linger_readable(struct conn *c)
{
	char sink[16384];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c, NULL);
}

static void on_readable(struct conn *c);
static bool reading(const struct conn *c);

/* On a stop: a connection with no request closes, but first it is read
 * once more. A web server that just connected (or reused a kept
 * connection) has usually sent its request already, and closing under it
 * would turn it into a 502; read, it is served, then closed. One that has
 * sent nothing yet is left open unless fresh_too. Returns how many such
 * connections are left. */
int conn_close_idle(acgi_server *s, bool fresh_too)
{
	int n_fresh = 0;
	struct conn *c = s->conns;
	while (c) {
		struct conn *next = c->next;
		if (conn_idle(c) && c->out.len == 0 && !c->lingering &&
		    reading(c))
			on_readable(c);
		/* A connection that has not sent its first byte, or is in the
		 * middle of a record, was accepted (or reused) for a request on
		 * its way: it gets a moment, to be served and handed over. */
		bool fresh = !c->closed && (c->proto == ACGI_PROTO_AUTO ||
		             (c->proto == ACGI_PROTO_FASTCGI &&
		              !fcgi_server_at_record_start(&c->fs)));
		/* Handed over, a connection needs no grace: the next
		 * generation reads whatever comes on it. */
		if (!c->closed && conn_idle(c) && c->out.len == 0 &&
		    handover_send(s, c))
			;
		else if (fresh && !fresh_too)
			n_fresh++;
		else if (!c->closed && conn_idle(c) && c->out.len == 0)
			conn_close(c, NULL);
		c = next;
	}
	return n_fresh;
}

/* Reading stops while a request's body buffer is full or the peer does
 * not take our output: memory stays bounded by the limits, not by what a
 * peer sends. Level-triggered EPOLLRDHUP would fire without end then, so
 * it goes too; a close while paused shows as EPOLLHUP or on the next
 * write. */
static bool reading(const struct conn *c)
{
	return !c->read_paused && c->out.len < OUT_HIGH;
}

static uint32_t wanted_events(const struct conn *c)
{
	uint32_t ev = reading(c) ? EPOLLIN | EPOLLRDHUP : 0;
	if (c->out.len > 0)
		ev |= EPOLLOUT;
	return ev;
}

int conn_flush(struct conn *c)
{
	if (c->lingering)
		return 0;
	while (c->out.len > 0 && !c->closed) {
		ssize_t n = send(c->fd, buf_head(&c->out), c->out.len,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(c, n < 0 ? strerror(errno) : "send returned 0");
		return -EPIPE;
	}
	if (c->closed)
		return -EPIPE;
	if (c->out.len < OUT_LOW)
		pthread_cond_broadcast(&c->out_cond);
	if (c->out.len == 0 && c->close_when_done && conn_idle(c)) {
		if (c->unread_input)
			conn_linger(c);
		else if (!c->hand_over || !handover_send(c->srv, c))
			conn_close(c, NULL);
		return 0;
	}
	loop_set_events(c, wanted_events(c));
	return 0;
}

static int conn_send(struct conn *c, const void *data, size_t len)
{
	if (c->closed)
		return -EPIPE;
	return buf_append(&c->out, data, len);
}

/* ---- FastCGI events ---------------------------------------------------- */

static void send_end(struct conn *c, uint16_t id, uint32_t app_status,
                     uint8_t protocol_status)
{
	uint8_t rec[16];
	fcgi_encode_end(rec, id, app_status, protocol_status);
	(void)conn_send(c, rec, sizeof(rec));
}

static void on_begin(struct conn *c, const struct fcgi_server_event *ev)
{
	acgi_server *s = c->srv;
	acgi_request *r = req_new(s, c, ACGI_PROTO_FASTCGI);
	if (!r) {
		/* Out of memory: refuse this one request. */
		fcgi_server_end(&c->fs, ev->request_id);
		send_end(c, ev->request_id, 0, FCGI_OVERLOADED);
		return;
	}
	r->id = ev->request_id;
	r->role = (acgi_role)ev->role;
	r->flags = ev->flags;
	c->reqs[slot_index(c, ev->slot)] = r;
}

static void answer_get_values(struct conn *c)
{
	uint8_t hdr[FCGI_HEADER_LEN];
	size_t len = c->gv.len > FCGI_MAX_CONTENT ? 0 : c->gv.len;
	fcgi_encode_header(hdr, FCGI_GET_VALUES_RESULT, 0, (uint16_t)len, 0);
	(void)conn_send(c, hdr, sizeof(hdr));
	if (len > 0)
		(void)conn_send(c, buf_head(&c->gv), len);
	buf_free(&c->gv);
}

/* What the application takes, not this one process: a web server that
 * asks sizes its connections to the whole pool, whose live size the
 * master publishes on the scoreboard. */
static unsigned long long pool_wide(const acgi_server *s, uint64_t n)
{
	uint32_t workers = scoreboard_pool_workers(s);
	if (workers == 0)
		return n;
	return n > UINT64_MAX / workers ? UINT64_MAX : n * workers;
}

/* FastCGI 1.0, section 4.1: answer only the names we know, truthfully. */
static void on_get_value(struct conn *c, const uint8_t *name, size_t len)
{
	acgi_server *s = c->srv;
	char value[32];
	const char *known;
	if (len == 14 && memcmp(name, "FCGI_MAX_CONNS", 14) == 0) {
		known = "FCGI_MAX_CONNS";
		snprintf(value, sizeof(value), "%llu",
		         pool_wide(s, s->limits[ACGI_LIMIT_CONNS]));
	} else if (len == 13 && memcmp(name, "FCGI_MAX_REQS", 13) == 0) {
		known = "FCGI_MAX_REQS";
		snprintf(value, sizeof(value), "%llu",
		         pool_wide(s, s->limits[ACGI_LIMIT_CONNS] *
		                      conn_slots(s)));
	} else if (len == 15 && memcmp(name, "FCGI_MPXS_CONNS", 15) == 0) {
		known = "FCGI_MPXS_CONNS";
		snprintf(value, sizeof(value), "%d", conn_slots(s) > 1);
	} else {
		return;
	}
	uint8_t pair[64];
	int64_t n = fcgi_nv_encode(pair, sizeof(pair), known, strlen(known),
	                           value, strlen(value));
	if (n > 0 && (size_t)n <= sizeof(pair))
		(void)buf_append(&c->gv, pair, (size_t)n);
}

static void on_unknown_type(struct conn *c, uint8_t type)
{
	uint8_t rec[16];
	fcgi_encode_unknown_type(rec, type);
	(void)conn_send(c, rec, sizeof(rec));
}

/* Returns true when reading must pause after this event. */
static bool on_fcgi_event(struct conn *c, const struct fcgi_server_event *ev)
{
	acgi_request *r = ev->slot ? c->reqs[slot_index(c, ev->slot)] : NULL;
	switch (ev->kind) {
	case FCGI_EV_BEGIN:
		on_begin(c, ev);
		return false;
	case FCGI_EV_REFUSE:
		send_end(c, ev->request_id, 0, ev->protocol_status);
		return false;
	case FCGI_EV_GET_VALUES_NAME:
		on_get_value(c, ev->data, ev->len);
		return false;
	case FCGI_EV_GET_VALUES_END:
		answer_get_values(c);
		return false;
	case FCGI_EV_UNKNOWN_TYPE:
		on_unknown_type(c, ev->type);
		return false;
	default:
		break;
	}
	if (!r)
		return false;
	switch (ev->kind) {
	case FCGI_EV_PARAM_HEAD:
		if (req_param_begin(r, ev->name_len, ev->value_len) < 0)
			req_answer_error(r, -ENOMEM, "out of memory for params");
		break;
	case FCGI_EV_PARAM_BYTES:
		(void)req_param_bytes(r, ev->data, ev->len);
		break;
	case FCGI_EV_PARAM_END:
		(void)req_param_end(r);
		break;
	case FCGI_EV_PARAMS_END:
		if (req_params_done(r) == 0)
			req_enqueue(r);
		break;
	case FCGI_EV_STDIN:
	case FCGI_EV_DATA: {
		enum stream_id which = ev->kind == FCGI_EV_STDIN ? STREAM_BODY
		                                                 : STREAM_DATA;
		req_input(r, which, ev->data, ev->len);
		return r->in[which].buf.len >=
		       c->srv->limits[ACGI_LIMIT_BODY_BUFFER];
	}
	case FCGI_EV_STDIN_END:
		req_input_end(r, STREAM_BODY);
		break;
	case FCGI_EV_DATA_END:
		req_input_end(r, STREAM_DATA);
		break;
	case FCGI_EV_ABORT:
		req_abort(r);
		break;
	case FCGI_EV_REQUEST_ERROR:
		lib_log(c->srv, ACGI_LOG_WARNING, "request %u: %s",
		        ev->request_id, ev->reason);
		if (r->dispatched)
			req_input_error(r, ev->error);
		else
			req_answer_error(r, ev->error, ev->reason);
		break;
	default:
		break;
	}
	return false;
}

/* ---- SCGI events ------------------------------------------------------- */

static bool on_scgi_event(struct conn *c, const struct scgi_event *ev)
{
	acgi_request *r = c->sreq;
	if (!r)
		return false;
	switch (ev->kind) {
	case SCGI_EV_NAME:
		(void)req_param_append(r, ev->data, ev->len);
		break;
	case SCGI_EV_VALUE:
		if (!r->in_value) {
			r->in_value = true;
			(void)req_param_append(r, (const uint8_t *)"", 1);
		}
		(void)req_param_append(r, ev->data, ev->len);
		break;
	case SCGI_EV_PAIR_END:
		if (!r->in_value)
			(void)req_param_append(r, (const uint8_t *)"", 1);
		r->in_value = false;
		(void)req_param_end(r);
		break;
	case SCGI_EV_HEADERS_END:
		if (req_params_done(r) == 0)
			req_enqueue(r);
		break;
	case SCGI_EV_BODY:
		req_input(r, STREAM_BODY, ev->data, ev->len);
		return r->in[STREAM_BODY].buf.len >=
		       c->srv->limits[ACGI_LIMIT_BODY_BUFFER];
	case SCGI_EV_BODY_END:
		req_input_end(r, STREAM_BODY);
		c->scgi_done = true;
		break;
	default:
		break;
	}
	return false;
}

/* ---- Input ------------------------------------------------------------- */

static void param_limits_of(const acgi_server *s, struct param_limits *lim)
{
	uint64_t len = s->limits[ACGI_LIMIT_PARAM_LENGTH];
	lim->max_name = (uint32_t)len;
	lim->max_value = (uint32_t)len;
	lim->max_params_bytes = s->limits[ACGI_LIMIT_PARAMS_BYTES];
	lim->max_params = (uint32_t)s->limits[ACGI_LIMIT_PARAMS_COUNT];
}

static int setup_fastcgi(struct conn *c)
{
	acgi_server *s = c->srv;
	c->n_slots = conn_slots(s);
	c->slots = calloc(c->n_slots, sizeof(*c->slots));
	c->reqs = calloc(c->n_slots, sizeof(*c->reqs));
	if (!c->slots || !c->reqs)
		return -ENOMEM;
	struct param_limits lim;
	param_limits_of(s, &lim);
	fcgi_server_init(&c->fs, c->slots, c->n_slots, &lim);
	c->proto = ACGI_PROTO_FASTCGI;
	return 0;
}

static int setup_scgi(struct conn *c)
{
	struct param_limits lim;
	param_limits_of(c->srv, &lim);
	scgi_parser_init(&c->sp, &lim);
	c->sreq = req_new(c->srv, c, ACGI_PROTO_SCGI);
	if (!c->sreq)
		return -ENOMEM;
	c->proto = ACGI_PROTO_SCGI;
	return 0;
}

/* FastCGI records start with version 1; an SCGI netstring with a digit. */
static int choose_protocol(struct conn *c, uint8_t first)
{
	acgi_protocol p = c->srv->proto;
	if (p == ACGI_PROTO_AUTO)
		p = first == FCGI_VERSION_1 ? ACGI_PROTO_FASTCGI : ACGI_PROTO_SCGI;
	return p == ACGI_PROTO_FASTCGI ? setup_fastcgi(c) : setup_scgi(c);
}

/* Feeds one event's worth of in[0..len). Returns bytes consumed, -1 on a
 * protocol error (close), -2 when the error was answered; *pause says to
 * stop reading, *none that the codec had nothing more to say. */
static int feed_one(struct conn *c, const uint8_t *in, size_t len,
                    bool *pause, bool *none)
{
	int n;
	if (c->proto == ACGI_PROTO_FASTCGI) {
		struct fcgi_server_event ev;
		n = fcgi_server_feed(&c->fs, in, len, &ev);
		if (n < 0) {
			lib_log(c->srv, ACGI_LOG_WARNING, "FastCGI protocol "
			        "error at byte %llu: %s",
			        (unsigned long long)c->fs.error_offset,
			        c->fs.reason ? c->fs.reason : "?");
			return -1;
		}
		*none = ev.kind == FCGI_EV_NONE;
		*pause = on_fcgi_event(c, &ev);
		return n;
	}
	if (c->scgi_done || !c->sreq) {
		/* Past the body, or answered early: nothing more to parse. */
		*none = true;
		return (int)len;
	}
	struct scgi_event ev;
	n = scgi_feed(&c->sp, in, len, &ev);
	if (n < 0) {
		lib_log(c->srv, ACGI_LOG_WARNING, "SCGI protocol error at "
		        "byte %llu: %s", (unsigned long long)c->sp.error_offset,
		        c->sp.reason ? c->sp.reason : "?");
		if (c->sreq && !c->sreq->dispatched) {
			/* Answer 400 if nothing was handed out yet. */
			req_answer_error(c->sreq, n, c->sp.reason);
			return -2;
		}
		return -1;
	}
	*none = ev.kind == SCGI_EV_NONE;
	*pause = on_scgi_event(c, &ev);
	return n;
}

/* Parses in[0..len) until the codec has nothing more to say, reading
 * pauses, or the connection closes. Returns the bytes consumed. The codecs
 * may owe an event with no input left (the end of an empty record, of an
 * SCGI body): feeding goes on until they report none. */
static size_t parse(struct conn *c, const uint8_t *in, size_t len)
{
	size_t off = 0;
	if (c->proto == ACGI_PROTO_AUTO && len > 0 &&
	    choose_protocol(c, in[0]) < 0) {
		conn_close(c, "out of memory");
		return len;
	}
	while (!c->closed && !c->read_paused && c->proto != ACGI_PROTO_AUTO) {
		bool pause = false, none = false;
		int n = feed_one(c, in + off, len - off, &pause, &none);
		if (n == -2) {
			/* Answered with an error: drop the rest, then close. */
			c->scgi_done = true;
			return len;
		}
		if (n < 0) {
			conn_close(c, "protocol error");
			return len;
		}
		off += (size_t)n;
		if (pause)
			c->read_paused = true;
		if (none)
			break;
	}
	return off;
}

/* Parses in[0..len) (c->in itself, or fresh bytes when c->in is empty)
 * and keeps what is left in c->in. */
static void process(struct conn *c, const uint8_t *in, size_t len,
                    bool from_in)
{
	if (c->in_input)
		return;
	c->in_input = true;
	c->refs++;
	size_t used = parse(c, in, len);
	if (!c->closed && from_in)
		buf_consume(&c->in, used);
	else if (!c->closed && used < len &&
	         buf_append(&c->in, in + used, len - used) < 0)
		conn_close(c, "out of memory");
	c->in_input = false;
	if (!c->closed)
		(void)conn_flush(c);
	conn_unref(c);
}

static void process_input(struct conn *c)
{
	static const uint8_t nothing[1];
	if (c->in.len == 0)
		process(c, nothing, 0, false);
	else
		process(c, buf_head(&c->in), c->in.len, true);
}

/* Reads into the loop's one scratch buffer: a connection keeps a buffer of
 * its own only for bytes it could not parse yet, so idle connections cost
 * no buffer and a short request no allocation. */
static void on_readable(struct conn *c)
{
	uint8_t *scratch = c->srv->scratch;
	ssize_t n = recv(c->fd, scratch, CONN_READ_SIZE, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* nginx, Apache, lighttpd and Caddy abort a request by closing
		 * the connection: every live request on it is aborted. */
		conn_close(c, NULL);
		return;
	}
	if (c->in.len == 0) {
		process(c, scratch, (size_t)n, false);
		return;
	}
	if (buf_append(&c->in, scratch, (size_t)n) < 0) {
		conn_close(c, "out of memory");
		return;
	}
	process_input(c);
}

void conn_on_event(struct conn *c, uint32_t events)
{
	if (c->closed)
		return;
	if (events & EPOLLOUT)
		(void)conn_flush(c);
	if (c->closed || c->lingering) {
		if (c->lingering)
			on_linger_readable(c);
		return;
	}
	if (reading(c) && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		on_readable(c);
	else if (events & (EPOLLHUP | EPOLLERR))
		conn_close(c, NULL);
}

void conn_resume_input(struct conn *c)
{
	if (c->closed || !c->read_paused)
		return;
	c->read_paused = false;
	process_input(c);
}

void conn_request_done(struct conn *c, acgi_request *r)
{
	acgi_server *s = c->srv;
	if (r->proto == ACGI_PROTO_FASTCGI) {
		for (size_t i = 0; i < c->n_slots; i++)
			if (c->reqs[i] == r)
				c->reqs[i] = NULL;
		if (!c->closed)
			fcgi_server_end(&c->fs, r->id);
		/* FastCGI 1.0, section 5.1: without FCGI_KEEP_CONN the
		 * application closes the connection after its response. */
		if (!(r->flags & FCGI_KEEP_CONN) || s->stopping)
			c->close_when_done = true;
		c->hand_over = (r->flags & FCGI_KEEP_CONN) && s->stopping;
	} else {
		c->sreq = NULL;
		c->close_when_done = true;
	}
	bool input_ended = r->in[STREAM_BODY].ended &&
	                   (r->role != ACGI_FILTER || r->in[STREAM_DATA].ended);
	if (!input_ended && !r->aborted)
		c->unread_input = true;
	r->conn = NULL;
	if (!c->closed) {
		(void)conn_flush(c);
		/* A request that ended without reading its whole body may
		 * have paused the connection. */
		conn_resume_input(c);
	}
	conn_unref(c);
}

/* ---- Accept ------------------------------------------------------------ */

struct conn *conn_adopt(acgi_server *s, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->kind = WATCH_CONN;
	c->srv = s;
	c->fd = fd;
	c->refs = 1;
	pthread_cond_init(&c->out_cond, NULL);
	c->events = EPOLLIN | EPOLLRDHUP;
	struct epoll_event ev = {.events = c->events, .data.ptr = c};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		pthread_cond_destroy(&c->out_cond);
		free(c);
		return NULL;
	}
	list_push(&s->conns, c);
	if (s->sb)
		scoreboard_add(s, &s->sb->connections, 1);
	if (++s->n_conns >= s->limits[ACGI_LIMIT_CONNS])
		loop_listeners_arm(s, false);
	return c;
}

void conn_accept(acgi_server *s, struct listener *l)
{
	/* One connection per wake-up: worker processes sharing the socket
	 * then split a web server's kept connections between them, instead
	 * of the first one awake taking them all (a burst of 32 nginx
	 * keepalive connections went 32 to 0, and p99 to 135 ms). The
	 * socket stays readable, so the loop comes back for the rest. */
	for (int i = 0; i < 1 && s->n_conns < s->limits[ACGI_LIMIT_CONNS];
	     i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				lib_log(s, ACGI_LOG_WARNING, "accept: %s",
				        strerror(errno));
			return;
		}
		if (l->tcp && !web_addr_allowed(s, (struct sockaddr *)&ss)) {
			lib_log(s, ACGI_LOG_WARNING, "connection refused: "
			        "peer not in FCGI_WEB_SERVER_ADDRS");
			close(fd);
			continue;
		}
		conn_adopt(s, fd);
	}
}
