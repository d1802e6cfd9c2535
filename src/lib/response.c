/* The response side of a request: the CGI head, the body and error
 * streams, backpressure, and the end of the request. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "client.h"
#include "internal.h"

static const char *reason_phrase(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

static int writable(const acgi_request *r)
{
	if (r->aborted)
		return -ECANCELED;
	if (r->finished)
		return -EINVAL;
	if (r->proto != ACGI_PROTO_CGI && (!r->conn || r->conn->closed))
		return -EPIPE;
	return r->write_error;
}

/* A large write with nothing queued before it leaves straight from the
 * program's buffer (no copy into the queue): up to 16 records in one
 * sendmsg, and only what the socket did not take is queued. Returns the
 * bytes of data that are on their way. */
static size_t send_direct(struct conn *c, uint8_t type, uint16_t id,
                          const uint8_t *data, size_t len)
{
	enum { MAX_RECS = 16 };
	uint8_t hdrs[MAX_RECS][FCGI_HEADER_LEN];
	struct iovec iov[2 * MAX_RECS];
	size_t n_recs = 0, off = 0;
	while (off < len && n_recs < MAX_RECS) {
		size_t n = len - off < FCGI_MAX_CONTENT ? len - off : FCGI_MAX_CONTENT;
		fcgi_encode_header(hdrs[n_recs], type, id, (uint16_t)n, 0);
		iov[2 * n_recs] = (struct iovec){hdrs[n_recs], FCGI_HEADER_LEN};
		iov[2 * n_recs + 1] = (struct iovec){(void *)(data + off), n};
		off += n;
		n_recs++;
	}
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2 * n_recs};
	ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* Errors show again, and are handled, when the queue is flushed. */
	size_t skip = w > 0 ? (size_t)w : 0;
	for (size_t i = 0; i < 2 * n_recs; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		if (buf_append(&c->out, (uint8_t *)iov[i].iov_base + skip,
		               iov[i].iov_len - skip) < 0) {
			/* Half a record is out: the stream cannot go on. */
			conn_close(c, "out of memory");
			break;
		}
		skip = 0;
	}
	return off;
}

/* Puts bytes of one stream on the wire (or in the connection's queue). */
static int emit(acgi_request *r, uint8_t type, const uint8_t *data,
                size_t len)
{
	if (r->proto == ACGI_PROTO_CGI)
		return cgi_write(type == FCGI_STDOUT ? 1 : 2, data, len);
	if (type == FCGI_STDOUT && r->srv->sb)
		scoreboard_add(r->srv, &r->srv->sb->bytes_out, len);
	struct conn *c = r->conn;
	if (r->proto == ACGI_PROTO_SCGI) {
		if (type == FCGI_STDERR) {
			lib_log(r->srv, ACGI_LOG_WARNING, "app: %.*s",
			        (int)(len > 900 ? 900 : len), data);
			return 0;
		}
		return buf_append(&c->out, data, len);
	}
	if (c->out.len == 0 && len >= REQ_OUT_FLUSH) {
		size_t sent = send_direct(c, type, r->id, data, len);
		data += sent;
		len -= sent;
		if (len == 0)
			return 0;
	}
	int64_t need = fcgi_encode_stream(NULL, 0, type, r->id, data, len);
	if (need < 0 || buf_reserve(&c->out, (size_t)need) < 0)
		return -ENOMEM;
	(void)fcgi_encode_stream(buf_tail(&c->out), (size_t)need, type, r->id,
	                         data, len);
	c->out.len += (size_t)need;
	return 0;
}

static int push_out(acgi_request *r)
{
	if (r->out.len == 0)
		return 0;
	int rc = emit(r, FCGI_STDOUT, buf_head(&r->out), r->out.len);
	buf_free(&r->out);
	return rc;
}

/* Stages the head in r->out once, if the program asked for one. */
static int ensure_head(acgi_request *r)
{
	if (r->head_sent || !r->head_used)
		return 0;
	char line[128];
	const char *reason = r->reason[0] ? r->reason : reason_phrase(r->status);
	int n = snprintf(line, sizeof(line), "Status: %d %s\r\n", r->status,
	                 reason);
	int rc = buf_append(&r->out, line, (size_t)n);
	if (rc == 0 && !r->has_ctype)
		rc = buf_append(&r->out, "Content-Type: text/html\r\n", 25);
	if (rc == 0)
		rc = buf_append(&r->out, buf_head(&r->head), r->head.len);
	if (rc == 0)
		rc = buf_append(&r->out, "\r\n", 2);
	buf_free(&r->head);
	r->head_sent = true;
	r->wrote = true;
	return rc;
}

/* Waits while the connection's queue is over its high mark: the web
 * server is not taking the response, which the scoreboard shows as
 * WRITING (a slow client, not a slow program). */
static int wait_drain(acgi_request *r)
{
	struct conn *c = r->conn;
	bool waited = false;
	while (c && !c->closed && !r->aborted && c->out.len >= OUT_HIGH) {
		(void)conn_flush(c);
		if (c->closed || c->out.len < OUT_HIGH)
			break;
		if (!waited && r->in_flight)
			scoreboard_req_state(r, ACGI_SB_WRITING);
		waited = true;
		loop_wait(r->srv, &c->out_cond);
	}
	if (waited && r->in_flight)
		scoreboard_req_state(r, ACGI_SB_HANDLING);
	return writable(r);
}

static ssize_t write_locked(acgi_request *r, const void *buf, size_t len)
{
	int rc = writable(r);
	if (rc == 0)
		rc = ensure_head(r);
	if (rc < 0 || len == 0)
		return rc;
	r->wrote = true;
	if (r->out.len + len > REQ_OUT_FLUSH) {
		rc = push_out(r);
		if (rc == 0 && len >= REQ_OUT_FLUSH)
			rc = emit(r, FCGI_STDOUT, buf, len);
		else if (rc == 0)
			rc = buf_append(&r->out, buf, len);
	} else {
		rc = buf_append(&r->out, buf, len);
	}
	if (rc == 0 && r->conn && r->conn->out.len >= REQ_OUT_FLUSH) {
		(void)conn_flush(r->conn);
		rc = wait_drain(r);
	}
	if (rc < 0 && !r->write_error)
		r->write_error = rc;
	return rc < 0 ? rc : (ssize_t)len;
}

ssize_t acgi_write(acgi_request *r, const void *buf, size_t len)
{
	pthread_mutex_lock(&r->srv->lock);
	ssize_t rc = write_locked(r, buf, len);
	pthread_mutex_unlock(&r->srv->lock);
	return rc;
}

int acgi_vprintf(acgi_request *r, const char *fmt, va_list ap)
{
	char small[1024];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return -EINVAL;
	}
	char *text = small;
	if ((size_t)n >= sizeof(small)) {
		text = malloc((size_t)n + 1);
		if (!text) {
			va_end(ap2);
			return -ENOMEM;
		}
		(void)vsnprintf(text, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	ssize_t rc = acgi_write(r, text, (size_t)n);
	if (text != small)
		free(text);
	return rc < 0 ? (int)rc : n;
}

int acgi_printf(acgi_request *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = acgi_vprintf(r, fmt, ap);
	va_end(ap);
	return rc;
}

int acgi_flush(acgi_request *r)
{
	pthread_mutex_lock(&r->srv->lock);
	int rc = writable(r);
	if (rc == 0)
		rc = ensure_head(r);
	if (rc == 0)
		rc = push_out(r);
	if (rc == 0 && r->conn)
		rc = conn_flush(r->conn);
	if (rc == 0)
		rc = wait_drain(r);
	pthread_mutex_unlock(&r->srv->lock);
	return rc;
}

ssize_t acgi_write_err(acgi_request *r, const void *buf, size_t len)
{
	pthread_mutex_lock(&r->srv->lock);
	int rc = writable(r);
	if (rc == 0 && len > 0) {
		r->err_used = true;
		rc = emit(r, FCGI_STDERR, buf, len);
	}
	pthread_mutex_unlock(&r->srv->lock);
	return rc < 0 ? rc : (ssize_t)len;
}

int acgi_eprintf(acgi_request *r, const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	ssize_t rc = acgi_write_err(r, text, (size_t)n);
	return rc < 0 ? (int)rc : n;
}

/* ---- The head ------------------------------------------------------------- */

/* RFC 9110, section 5.6.2: a token. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
			return false;
	return true;
}

static bool is_field_value(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

int acgi_set_status(acgi_request *r, int code, const char *reason)
{
	if (code < 100 || code > 999 || (reason && !is_field_value(reason)) ||
	    (reason && strlen(reason) >= sizeof(r->reason)))
		return -EINVAL;
	pthread_mutex_lock(&r->srv->lock);
	int rc = r->head_sent ? -EALREADY : 0;
	if (rc == 0) {
		r->status = code;
		snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
		r->head_used = true;
	}
	pthread_mutex_unlock(&r->srv->lock);
	return rc;
}

int acgi_add_header(acgi_request *r, const char *name, const char *value)
{
	if (!is_token(name) || !is_field_value(value))
		return -EINVAL;
	if (strcasecmp(name, "Status") == 0)
		return -EINVAL;
	pthread_mutex_lock(&r->srv->lock);
	int rc = r->head_sent ? -EALREADY : 0;
	if (rc == 0) {
		size_t nl = strlen(name), vl = strlen(value);
		rc = buf_reserve(&r->head, nl + vl + 4);
	}
	if (rc == 0) {
		(void)buf_append(&r->head, name, strlen(name));
		(void)buf_append(&r->head, ": ", 2);
		(void)buf_append(&r->head, value, strlen(value));
		(void)buf_append(&r->head, "\r\n", 2);
		r->head_used = true;
		if (strcasecmp(name, "Content-Type") == 0)
			r->has_ctype = true;
	}
	pthread_mutex_unlock(&r->srv->lock);
	return rc;
}

int acgi_set_content_type(acgi_request *r, const char *type)
{
	return acgi_add_header(r, "Content-Type", type);
}

/* ---- The end ---------------------------------------------------------------- */

static void end_streams(acgi_request *r, int app_status)
{
	struct conn *c = r->conn;
	if (r->proto != ACGI_PROTO_FASTCGI || !c || c->closed)
		return;
	uint8_t rec[16];
	/* FastCGI 1.0, section 6.1: every stream ends with an empty record;
	 * STDERR only if it was used. */
	if (!r->aborted) {
		fcgi_encode_header(rec, FCGI_STDOUT, r->id, 0, 0);
		(void)buf_append(&c->out, rec, FCGI_HEADER_LEN);
		if (r->err_used) {
			fcgi_encode_header(rec, FCGI_STDERR, r->id, 0, 0);
			(void)buf_append(&c->out, rec, FCGI_HEADER_LEN);
		}
	}
	fcgi_encode_end(rec, r->id, (uint32_t)app_status, FCGI_REQUEST_COMPLETE);
	(void)buf_append(&c->out, rec, sizeof(rec));
}

int req_end(acgi_request *r, int app_status)
{
	if (r->finished)
		return r->write_error;
	if (!r->aborted && writable(r) == 0) {
		/* A request that wrote nothing still gets a valid head. */
		if (!r->wrote)
			r->head_used = true;
		int rc = ensure_head(r);
		if (rc == 0)
			rc = push_out(r);
		if (rc < 0 && !r->write_error)
			r->write_error = rc;
	}
	end_streams(r, app_status);
	r->finished = true;
	/* Before the flush: once the web server has END_REQUEST, the page
	 * already counts the request. */
	if (r->in_flight)
		scoreboard_req_end(r, true);
	if (r->conn)
		conn_request_done(r->conn, r);
	return r->write_error;
}

void req_answer_error(acgi_request *r, int error, const char *reason)
{
	if (r->queued)
		req_unqueue(r);
	if (!r->aborted && !r->finished && writable(r) == 0) {
		int status = error == -EMSGSIZE ? 431 : error == -ENOMEM ? 503
		                                                         : 400;
		char body[256];
		int n = snprintf(body, sizeof(body), "%s\n",
		                 reason ? reason : acgi_strerror(error));
		r->status = status;
		r->reason[0] = '\0';
		r->head_used = true;
		r->has_ctype = true;
		buf_free(&r->head);
		(void)buf_append(&r->head, "Content-Type: text/plain\r\n", 26);
		(void)write_locked(r, body, (size_t)n);
	}
	(void)req_end(r, 1);
	req_free(r);
}

/* ANYCGI_PING_PATH: the process manager's (or a load balancer's) health
 * check, answered by the library so it works whatever the program does,
 * and never counted toward ANYCGI_MAX_REQUESTS (it is not dispatched). */
void req_answer_ping(acgi_request *r)
{
	acgi_server *s = r->srv;
	bool draining = s->stopping || s->stop_asked;
	const char *body = draining ? "draining\n" : "pong\n";
	r->status = draining ? 503 : 200;
	r->head_used = true;
	r->has_ctype = true;
	static const char head[] = "Content-Type: text/plain\r\n"
	                           "Cache-Control: no-store\r\n";
	int rc = buf_append(&r->head, head, sizeof(head) - 1);
	if (rc == 0)
		rc = ensure_head(r);
	if (rc == 0)
		rc = buf_append(&r->out, body, strlen(body));
	if (rc < 0)
		r->write_error = rc;
	(void)req_end(r, 0);
	req_free(r);
}

int acgi_finish_status(acgi_request **rp, int app_status)
{
	acgi_request *r = rp ? *rp : NULL;
	if (!r)
		return 0;
	acgi_server *s = r->srv;
	pthread_mutex_lock(&s->lock);
	int rc = req_end(r, app_status);
	if (!r->worker_owned)
		req_free(r);
	pthread_mutex_unlock(&s->lock);
	*rp = NULL;
	return rc;
}

int acgi_finish(acgi_request **rp)
{
	return acgi_finish_status(rp, 0);
}
