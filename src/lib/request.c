/* Requests: params, body streams, the response and the end of a request.
 * Everything runs under the server lock except the CGI stdio calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client.h"
#include "internal.h"

acgi_request *req_new(acgi_server *s, struct conn *c, acgi_protocol proto)
{
	acgi_request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->srv = s;
	r->conn = c;
	r->proto = proto;
	r->role = ACGI_RESPONDER;
	r->content_length = -1;
	r->in[STREAM_BODY].expect = -1;
	r->in[STREAM_DATA].expect = -1;
	r->status = 200;
	r->cancel_fd = -1;
	pthread_cond_init(&r->cond, NULL);
	if (c) {
		c->refs++;
		s->n_live++;
		if (s->sb)
			scoreboard_req_begin(r);
	}
	return r;
}

void req_free(acgi_request *r)
{
	if (!r)
		return;
	if (r->conn) {
		/* Freed with its connection, or before it ended. */
		struct conn *c = r->conn;
		for (size_t i = 0; i < c->n_slots; i++)
			if (c->reqs[i] == r)
				c->reqs[i] = NULL;
		if (c->sreq == r)
			c->sreq = NULL;
		conn_unref(c);
	}
	if (r->in_flight) /* never ended: its connection went */
		scoreboard_req_end(r, false);
	if (r->dispatched && r->proto != ACGI_PROTO_CGI &&
	    r->srv->n_handling > 0)
		r->srv->n_handling--;
	if (r->dispatched && r->proto != ACGI_PROTO_CGI &&
	    ++r->srv->n_served == r->srv->max_requests) {
		lib_log(r->srv, ACGI_LOG_INFO, "served %llu requests: stopping",
		        (unsigned long long)r->srv->n_served);
		acgi_server_stop(r->srv);
	}
	if (r->proto != ACGI_PROTO_CGI && r->srv->n_live > 0 &&
	    --r->srv->n_live == 0 && r->srv->stopping && r->srv->threaded)
		acgi_server_stop(r->srv); /* wake the loop to see it drained */
	if (r->cancel_fd >= 0 && r->cancel_fd != r->srv->epfd)
		close(r->cancel_fd);
	pthread_cond_destroy(&r->cond);
	free(r->store);
	free(r->idx);
	buf_free(&r->in[0].buf);
	buf_free(&r->in[1].buf);
	buf_free(&r->head);
	buf_free(&r->out);
	free(r);
}

/* ---- Params ------------------------------------------------------------- */

static int store_reserve(acgi_request *r, size_t n)
{
	if (r->store_cap - r->store_len >= n)
		return 0;
	size_t cap = r->store_cap ? r->store_cap : 512;
	while (cap - r->store_len < n)
		cap *= 2;
	char *p = realloc(r->store, cap);
	if (!p)
		return -ENOMEM;
	r->store = p;
	r->store_cap = cap;
	return 0;
}

static int open_pair(acgi_request *r)
{
	if (r->pair_open)
		return 0;
	if (r->n_params == r->idx_cap) {
		size_t cap = r->idx_cap ? r->idx_cap * 2 : 32;
		size_t *p = realloc(r->idx, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->idx = p;
		r->idx_cap = cap;
	}
	r->idx[r->n_params] = r->store_len;
	r->pair_open = true;
	return 0;
}

int req_param_begin(acgi_request *r, size_t name_len, size_t value_len)
{
	/* The codec checked both lengths against the limits. */
	int rc = store_reserve(r, name_len + value_len + 2);
	if (rc == 0)
		rc = open_pair(r);
	r->name_left = (uint32_t)name_len;
	return rc;
}

int req_param_append(acgi_request *r, const uint8_t *data, size_t len)
{
	int rc = open_pair(r);
	if (rc == 0)
		rc = store_reserve(r, len + 2);
	if (rc < 0)
		return rc;
	memcpy(r->store + r->store_len, data, len);
	r->store_len += len;
	return 0;
}

int req_param_bytes(acgi_request *r, const uint8_t *data, size_t len)
{
	while (len > 0) {
		size_t n = len;
		if (r->name_left > 0 && n > r->name_left)
			n = r->name_left;
		int rc = req_param_append(r, data, n);
		if (rc < 0)
			return rc;
		if (r->name_left > 0) {
			r->name_left -= (uint32_t)n;
			if (r->name_left == 0 &&
			    req_param_append(r, (const uint8_t *)"", 1) < 0)
				return -ENOMEM;
		}
		data += n;
		len -= n;
	}
	return 0;
}

int req_param_end(acgi_request *r)
{
	/* A FastCGI pair with an empty value never got its name ended. */
	if (r->name_left > 0 || !r->pair_open)
		return -EPROTO;
	int rc = req_param_append(r, (const uint8_t *)"", 1);
	if (rc < 0)
		return rc;
	r->pair_open = false;
	r->n_params++;
	return 0;
}

/* Parses a CONTENT_LENGTH-like value: "" is 0, digits only. */
static int parse_length(const char *v, int64_t *out)
{
	uint64_t n = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || n > (UINT64_C(1) << 62) / 10)
			return -EPROTO;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = (int64_t)n;
	return 0;
}

/* The request's path: SCRIPT_NAME and PATH_INFO when the web server gave
 * them (FastCGI), else REQUEST_URI without its query (nginx's SCGI). */
static bool is_ping(const acgi_request *r, const char *ping)
{
	const char *script = acgi_param(r, "SCRIPT_NAME");
	if (script) {
		const char *info = acgi_param(r, "PATH_INFO");
		size_t n = strlen(script);
		return strncmp(ping, script, n) == 0 &&
		       strcmp(ping + n, info ? info : "") == 0;
	}
	const char *uri = acgi_param(r, "REQUEST_URI");
	size_t n = uri ? strcspn(uri, "?") : 0;
	return uri && strlen(ping) == n && memcmp(ping, uri, n) == 0;
}

int req_params_done(acgi_request *r)
{
	r->params_done = true;
	const char *cl = acgi_param(r, "CONTENT_LENGTH");
	if (cl && parse_length(cl, &r->content_length) < 0) {
		req_answer_error(r, -EPROTO, "CONTENT_LENGTH is not a number");
		return -1;
	}
	r->in[STREAM_BODY].expect = r->content_length;
	const char *dl = acgi_param(r, "FCGI_DATA_LENGTH");
	if (dl && parse_length(dl, &r->in[STREAM_DATA].expect) < 0)
		r->in[STREAM_DATA].expect = -1;
	if (r->srv->ping_path && is_ping(r, r->srv->ping_path)) {
		req_answer_ping(r);
		return -1;
	}
	if (r->in_flight)
		scoreboard_req_named(r);
	return 0;
}

/* ---- Dispatch and aborts ---------------------------------------------- */

void req_enqueue(acgi_request *r)
{
	acgi_server *s = r->srv;
	if (r->aborted || r->queued || r->dispatched)
		return;
	r->queued = true;
	if (s->ready_tail)
		s->ready_tail->next = r;
	else
		s->ready_head = r;
	s->ready_tail = r;
	pthread_cond_signal(&s->ready_cond);
}

void req_unqueue(acgi_request *r)
{
	acgi_server *s = r->srv;
	acgi_request **pp = &s->ready_head;
	s->ready_tail = NULL;
	while (*pp) {
		if (*pp == r) {
			*pp = r->next;
			continue;
		}
		s->ready_tail = *pp;
		pp = &(*pp)->next;
	}
	r->next = NULL;
	r->queued = false;
}

static void wake(acgi_request *r)
{
	pthread_cond_broadcast(&r->cond);
	if (r->conn)
		pthread_cond_broadcast(&r->conn->out_cond);
}

void req_abort(acgi_request *r)
{
	if (r->aborted || r->finished)
		return;
	r->aborted = true;
	lib_log(r->srv, ACGI_LOG_INFO, "request %u aborted%s", r->id,
	        r->conn && r->conn->closed ? ": the web server closed the "
	                                     "connection" : "");
	if (r->cancel_fd >= 0 && r->cancel_fd != r->srv->epfd) {
		uint64_t one = 1;
		(void)!write(r->cancel_fd, &one, sizeof(one));
	}
	wake(r);
	if (!r->dispatched) {
		/* Nobody holds it: answer the abort now (FastCGI 1.0,
		 * section 5.4) and drop it. */
		if (r->queued)
			req_unqueue(r);
		(void)req_end(r, 0);
		req_free(r);
	}
}

/* ---- Input ------------------------------------------------------------- */

void req_input(acgi_request *r, enum stream_id which, const uint8_t *data,
               size_t len)
{
	struct instream *in = &r->in[which];
	uint64_t max = r->srv->limits[ACGI_LIMIT_BODY_BYTES];
	if (in->error || r->aborted)
		return;
	if (which == STREAM_BODY && r->srv->sb)
		scoreboard_add(r->srv, &r->srv->sb->bytes_in, len);
	in->got += len;
	if (in->expect >= 0 && in->got > (uint64_t)in->expect) {
		in->error = -EPROTO;
		lib_log(r->srv, ACGI_LOG_WARNING, "request %u: body longer "
		        "than its announced %lld bytes", r->id,
		        (long long)in->expect);
	} else if (max && in->got > max) {
		in->error = -EFBIG;
		lib_log(r->srv, ACGI_LOG_WARNING, "request %u: body over the "
		        "limit of %llu bytes", r->id, (unsigned long long)max);
	} else if (buf_append(&in->buf, data, len) < 0) {
		in->error = -ENOMEM;
	}
	pthread_cond_broadcast(&r->cond);
}

void req_input_end(acgi_request *r, enum stream_id which)
{
	struct instream *in = &r->in[which];
	in->ended = true;
	if (!in->error && in->expect >= 0 && in->got < (uint64_t)in->expect) {
		in->error = -EPROTO;
		lib_log(r->srv, ACGI_LOG_WARNING, "request %u: body ended "
		        "after %llu of its announced %lld bytes", r->id,
		        (unsigned long long)in->got, (long long)in->expect);
	}
	pthread_cond_broadcast(&r->cond);
}

void req_input_error(acgi_request *r, int error)
{
	for (int i = 0; i < 2; i++)
		if (!r->in[i].error)
			r->in[i].error = error;
	pthread_cond_broadcast(&r->cond);
}

static ssize_t read_stream(acgi_request *r, enum stream_id which, void *buf,
                           size_t len, bool wait)
{
	acgi_server *s = r->srv;
	struct instream *in = &r->in[which];
	pthread_mutex_lock(&s->lock);
	ssize_t rc;
	for (;;) {
		if (r->aborted) {
			rc = -ECANCELED;
			break;
		}
		if (in->buf.len > 0 && len > 0) {
			size_t n = in->buf.len < len ? in->buf.len : len;
			memcpy(buf, buf_head(&in->buf), n);
			buf_consume(&in->buf, n);
			if (r->conn && in->buf.len <
			    s->limits[ACGI_LIMIT_BODY_BUFFER] / 2)
				conn_resume_input(r->conn);
			rc = (ssize_t)n;
			break;
		}
		if (in->error || in->ended || len == 0 || !r->conn) {
			rc = in->error ? in->error : 0;
			break;
		}
		if (!wait) {
			rc = -EAGAIN;
			break;
		}
		loop_wait(s, &r->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

ssize_t acgi_read(acgi_request *r, void *buf, size_t len)
{
	if (r->proto == ACGI_PROTO_CGI)
		return cgi_read(r, buf, len);
	return read_stream(r, STREAM_BODY, buf, len, true);
}

ssize_t req_read_nowait(acgi_request *r, void *buf, size_t len)
{
	if (r->proto == ACGI_PROTO_CGI)
		return cgi_read(r, buf, len);
	return read_stream(r, STREAM_BODY, buf, len, false);
}

ssize_t acgi_read_data(acgi_request *r, void *buf, size_t len)
{
	if (r->role != ACGI_FILTER || r->proto != ACGI_PROTO_FASTCGI)
		return 0;
	return read_stream(r, STREAM_DATA, buf, len, true);
}

/* ---- Accessors --------------------------------------------------------- */

acgi_role acgi_request_role(const acgi_request *r)
{
	return r->role;
}

acgi_protocol acgi_request_protocol(const acgi_request *r)
{
	return r->proto;
}

const char *acgi_param(const acgi_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_params; i++) {
		const char *n = r->store + r->idx[i];
		if (strcmp(n, name) == 0)
			return n + strlen(n) + 1;
	}
	return NULL;
}

size_t acgi_param_count(const acgi_request *r)
{
	return r->n_params;
}

int acgi_param_at(const acgi_request *r, size_t i, const char **name,
                  const char **value)
{
	if (i >= r->n_params)
		return -ERANGE;
	const char *n = r->store + r->idx[i];
	if (name)
		*name = n;
	if (value)
		*value = n + strlen(n) + 1;
	return 0;
}

int64_t acgi_content_length(const acgi_request *r)
{
	return r->content_length;
}

bool acgi_cancelled(const acgi_request *r)
{
	acgi_server *s = r->srv;
	if (r->aborted || !r->conn || s->threaded)
		return r->aborted;
	/* One event loop, no other thread: look at the sockets now. */
	pthread_mutex_lock(&s->lock);
	(void)loop_step(s, 0);
	pthread_mutex_unlock(&s->lock);
	return r->aborted;
}

int acgi_cancel_fd(acgi_request *r)
{
	acgi_server *s = r->srv;
	if (r->cancel_fd >= 0)
		return r->cancel_fd;
	if (!r->conn)
		return -ENOTSOCK;
	/* With one event loop and no I/O thread, nothing could write an
	 * eventfd while the handler runs: hand out the loop's own fd, which
	 * wakes for any event; acgi_cancelled then runs the loop and says
	 * whether it was this request's abort. */
	if (!s->threaded)
		return r->cancel_fd = s->epfd;
	int fd = eventfd(r->aborted ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	return r->cancel_fd = fd;
}
