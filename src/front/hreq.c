/* One HTTP request from its head to its last response byte: the slot
 * upstream, the body as STDIN records, the answer as an HTTP response,
 * and every way it can end early (docs/http.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

enum { CGI_HEAD_MAX = 16384 };

static const struct http_head *head_of(const struct hreq *r)
{
	return &r->c->hin->head;
}

void hreq_free(struct hreq *r)
{
	if (!r)
		return;
	timer_stop(&r->rtimer);
	free(r->ch_buf);
	free(r->redirect_uri);
	free(r->path);
	free(r->script);
	free(r->path_info);
	free(r);
}

/* The connection is free for its next request once the answer is out
 * and the body is in (or the connection is closing anyway). */
static void maybe_complete(struct hreq *r)
{
	struct hconn *c = r->c;
	if (r->state != RQ_DONE || (!r->body_done && !c->closing))
		return;
	c->req = NULL;
	hreq_free(r);
	hconn_request_done(c);
}

static void answered(struct hreq *r)
{
	r->state = RQ_DONE;
	timer_stop(&r->rtimer);
	if (!r->body_done || !r->keep_alive)
		r->c->closing = true;
	alog_request(r);
	r->logged = true;
	maybe_complete(r);
}

/* Lets go of the queue or the app. */
static void detach(struct hreq *r)
{
	if (r->state == RQ_QUEUED)
		queue_remove(r);
	if (r->up)
		upstream_abort(r->up);
	r->up = NULL;
}

/* Answers r with a short text of its status (fields: more header
 * lines, or NULL), unless a head already went out: then only the end of
 * the connection can tell the client that this answer is cut short. */
void hreq_respond(struct hreq *r, int status, const char *fields)
{
	struct hconn *c = r->c;
	detach(r);
	r->status = status;
	if (r->head_sent) {
		c->closing = true;
		c->cut = true;
	} else {
		bool close = !r->body_done || !r->keep_alive || front_drain_closes();
		if (close)
			c->closing = true;
		(void)reply_error_with(&c->out, status, close, fields,
		                       head_of(r)->head_method);
		r->head_sent = true;
	}
	answered(r);
}

void hreq_error(struct hreq *r, int status, const char *why)
{
	const struct http_head *h = head_of(r);
	front_log("%s %.200s: %d (%s)", h->method ? h->method : "-",
	          h->target ? h->target : "-", status, why);
	hreq_respond(r, status, NULL);
}

/* A static file's head is out: the request is answered (its bytes follow
 * from the connection). */
void hreq_answered(struct hreq *r)
{
	answered(r);
}

void hreq_abort(struct hreq *r)
{
	detach(r);
	if (!r->logged) {
		r->status = 499; /* nginx's code for a client that went away */
		alog_request(r);
	}
	hreq_free(r);
}

static bool has_body(const struct http_head *h)
{
	return h->chunked || h->content_length > 0;
}

struct hreq *hreq_start(struct hconn *c)
{
	struct hreq *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	const struct http_head *h = &c->hin->head;
	r->c = c;
	r->rtimer.kind = -1;
	r->start_ms = now_ms();
	r->resp_left = -1;
	r->keep_alive = h->keep_alive && !front_drain_closes();
	r->state = RQ_QUEUED;
	/* With no body, the parser's end event is not waited for. */
	r->body_done = !has_body(h);
	c->req = r;
	if (F->opt.max_body >= 0 && h->content_length > F->opt.max_body) {
		hreq_error(r, 413, "body larger than --max-body");
		return r;
	}
	int st = params_path(h->path, h->path_len, &r->path);
	if (st != 0) {
		hreq_error(r, st < 0 ? 500 : st, st == 404 ? "outside --script-prefix"
		                                           : "bad path");
		return r;
	}
	if (static_route(r))
		return r;
	upstream_acquire(r);
	return r;
}

static int send_stdin(struct upconn *u, const uint8_t *data, size_t len)
{
	int64_t need = fcgi_encode_stream(NULL, 0, FCGI_STDIN, 1, data, len);
	if (need < 0 || fbuf_reserve(&u->out, (size_t)need) < 0)
		return -1;
	(void)fcgi_encode_stream(fbuf_tail(&u->out), (size_t)need, FCGI_STDIN,
	                         1, data, len);
	u->out.len += (size_t)need;
	return 0;
}

void hreq_on_slot(struct hreq *r, struct upconn *u)
{
	struct hconn *c = r->c;
	const struct http_head *h = head_of(r);
	uint8_t begin[16];
	r->state = RQ_UPSTREAM;
	fcgi_encode_begin(begin, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
	if (upstream_send(u, begin, sizeof(begin)) < 0 ||
	    params_encode(&u->out, c, h, r) < 0) {
		hreq_error(r, 500, "out of memory");
		return;
	}
	if (r->stdin_ended || r->redirect_uri || r->body_done) {
		r->stdin_ended = true;
		(void)send_stdin(u, NULL, 0);
	}
	/* RFC 9110, section 10.1.1: the body is asked for once the request
	 * has its slot, so that a queued request does not pull it in. */
	if (h->expect_continue && !r->continue_sent && has_body(h) &&
	    !r->body_done) {
		r->continue_sent = true;
		(void)fbuf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	if (upstream_flush(u) == 0) {
		upstream_update(u);
		hreq_timer_update(r);
	}
	hconn_process(c);
	hconn_update(c);
}

bool hreq_wants_body(const struct hreq *r)
{
	if (r->body_done)
		return false;
	if (r->body_discard)
		return true;
	return r->state == RQ_UPSTREAM && r->up && r->up->out.len < UP_HIGH;
}

void hreq_body(struct hreq *r, const uint8_t *data, size_t len)
{
	r->body_in += len;
	if (F->opt.max_body >= 0 && r->body_in > (uint64_t)F->opt.max_body) {
		if (r->state != RQ_DONE)
			hreq_error(r, 413, "body larger than --max-body");
		return;
	}
	if (r->body_discard || r->state != RQ_UPSTREAM || !r->up)
		return;
	struct upconn *u = r->up;
	u->sent_body = true;
	if (send_stdin(u, data, len) < 0) {
		hreq_error(r, 500, "out of memory");
		return;
	}
	if (upstream_flush(u) == 0 && r->up) {
		upstream_update(u);
		hreq_timer_update(r);
	}
}

void hreq_body_end(struct hreq *r)
{
	r->body_done = true;
	if (r->state == RQ_UPSTREAM && r->up && !r->stdin_ended &&
	    !r->body_discard) {
		struct upconn *u = r->up;
		r->stdin_ended = true;
		if (send_stdin(u, NULL, 0) < 0) {
			hreq_error(r, 500, "out of memory");
			return;
		}
		if (upstream_flush(u) < 0)
			return; /* r went with the failure */
		upstream_update(u);
		hreq_timer_update(r);
	}
	if (r->state == RQ_DONE)
		maybe_complete(r);
}

/* RFC 3875, section 6.2.2: the app asked for another path of this
 * server; it is served instead, as a GET, once. */
static void local_redirect(struct hreq *r)
{
	struct upconn *u = r->up;
	const char *loc = r->ch.fields[r->ch.location].value;
	char *uri = strdup(loc), *path = NULL;
	const char *q = strchr(loc, '?');
	int st = uri ? params_path(loc, q ? (size_t)(q - loc) : strlen(loc),
	                           &path) : 500;
	if (st != 0) {
		free(uri);
		hreq_error(r, 502, "bad local redirect");
		return;
	}
	/* The old answer is read to its end (or cut, if the app still
	 * waits for a body that will not come). */
	if (!r->stdin_ended) {
		upstream_abort(u);
	} else {
		u->req = NULL;
		u->draining = true;
	}
	r->up = NULL;
	free(r->redirect_uri);
	free(r->path);
	r->redirect_uri = uri;
	r->path = path;
	static_script(r);
	r->redirects++;
	r->body_discard = true;
	free(r->ch_buf);
	r->ch_buf = NULL;
	r->state = RQ_QUEUED;
	upstream_acquire(r);
}

/* Returns -1 when the answer goes no further (r may be gone). */
static int on_head(struct hreq *r)
{
	if (r->ch.kind == CGI_LOCAL_REDIRECT) {
		if (r->redirects > 0)
			hreq_error(r, 502, "a second local redirect");
		else
			local_redirect(r);
		return -1;
	}
	if (reply_head(r, &r->c->out) < 0) {
		hreq_error(r, 500, "out of memory");
		return -1;
	}
	r->head_sent = true;
	return 0;
}

static void body_out(struct hreq *r, const uint8_t *data, size_t len)
{
	struct hconn *c = r->c;
	if (r->no_body || len == 0)
		return;
	if (r->resp_left >= 0) {
		if ((int64_t)len > r->resp_left) {
			front_log("the app sent more than its Content-Length");
			len = (size_t)r->resp_left;
			c->closing = true;
		}
		r->resp_left -= (int64_t)len;
	}
	if (len == 0)
		return;
	if (r->chunked_out)
		(void)fbuf_printf(&c->out, "%zx\r\n", len);
	(void)fbuf_append(&c->out, data, len);
	if (r->chunked_out)
		(void)fbuf_append(&c->out, "\r\n", 2);
	r->bytes_out += len;
}

void hreq_on_stdout(struct hreq *r, const uint8_t *data, size_t len)
{
	if (r->state != RQ_UPSTREAM)
		return;
	if (!r->head_sent) {
		if (!r->ch_buf) {
			r->ch_buf = malloc(CGI_HEAD_MAX);
			if (!r->ch_buf) {
				hreq_error(r, 500, "out of memory");
				return;
			}
			cgi_head_init(&r->ch, r->ch_buf, CGI_HEAD_MAX, false);
		}
		int k = cgi_head_feed(&r->ch, data, len);
		if (k < 0) {
			hreq_error(r, 502, r->ch.error);
			return;
		}
		if (!r->ch.done)
			return;
		data += k;
		len -= (size_t)k;
		if (on_head(r) < 0)
			return;
	}
	body_out(r, data, len);
}

void hreq_on_end(struct hreq *r)
{
	if (r->state != RQ_UPSTREAM)
		return;
	if (!r->head_sent) {
		hreq_error(r, 502, r->ch_buf && r->ch.error ? r->ch.error
		                                            : "no response head");
		return;
	}
	if (r->chunked_out)
		(void)fbuf_append(&r->c->out, "0\r\n\r\n", 5);
	if (r->resp_left > 0) {
		front_log("the app sent less than its Content-Length");
		r->c->closing = true;
		r->c->cut = true;
	}
	if (r->close_delimited)
		r->c->closing = true;
	answered(r);
}

void hreq_on_upstream_error(struct hreq *r, const char *why)
{
	if (r->state == RQ_DONE)
		return;
	hreq_error(r, 502, why);
}

void hreq_on_timer(struct hreq *r)
{
	struct hconn *c = r->c;
	if (r->state == RQ_QUEUED) {
		hreq_error(r, 503, "no app slot within --queue-timeout");
	} else if (r->state == RQ_UPSTREAM) {
		hreq_error(r, 504, "the app did not answer within "
		                   "--request-timeout");
	}
	(void)hconn_flush(c);
	hconn_update(c);
}

/* The request timer runs while the front end waits on the app: not while
 * the client owes body bytes, nor while it does not read the answer. */
void hreq_timer_update(struct hreq *r)
{
	if (r->state != RQ_UPSTREAM || !r->up)
		return;
	bool client_owes = !r->stdin_ended && r->up->out.len == 0;
	if (client_owes || r->c->out.len >= OUT_HIGH)
		timer_stop(&r->rtimer);
	else
		timer_arm(&r->rtimer, T_REQUEST);
}
