/* Responses to the client: the status line and head made from the CGI
 * response head (RFC 3875, section 6; RFC 9112, section 6.3 framing),
 * and the front end's own short error responses. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "front_int.h"

const char *reply_reason(int status)
{
	const char *s = http_status_str((enum http_status)status);
	return strcmp(s, "<unknown>") == 0 ? "Unknown" : s;
}

/* RFC 9110, section 6.6.1: an origin server with a clock sends Date. */
const char *reply_date(void)
{
	static char buf[64];
	static time_t last = -1;
	time_t t = time(NULL);
	if (t != last) {
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = t;
	}
	return buf;
}

/* fields: more header lines, or NULL; head: the request was HEAD, the
 * answer has the length of the text but not the text. */
int reply_error_with(struct fbuf *out, int status, bool close,
                     const char *fields, bool head)
{
	const char *reason = reply_reason(status);
	int rc = fbuf_printf(out,
	                     "HTTP/1.1 %d %s\r\n"
	                     "Content-Type: text/plain\r\n"
	                     "Content-Length: %zu\r\n"
	                     "Date: %s\r\n"
	                     "%s%s\r\n",
	                     status, reason, strlen(reason) + 5, reply_date(),
	                     fields ? fields : "",
	                     close ? "Connection: close\r\n" : "");
	if (rc == 0 && !head)
		rc = fbuf_printf(out, "%d %s\n", status, reason);
	return rc;
}

int reply_error(struct fbuf *out, int status, bool close)
{
	return reply_error_with(out, status, close, NULL, false);
}

/* Fields the front end sets itself: the connection's and the framing's
 * (RFC 9110, section 7.6.1). */
static bool hop_by_hop(const char *name)
{
	static const char *const names[] = {
		"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
		"Proxy-Connection", "Upgrade", "TE", "Trailer",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Chooses the framing: the app's Content-Length, else chunked for an
 * HTTP/1.1 client, else the end of the connection. */
static void choose_framing(struct hreq *r, const struct http_head *h)
{
	int st = r->ch.status;
	r->no_body = h->head_method || st == 204 || st == 304 || st < 200;
	r->resp_left = -1;
	if (st == 204 || (st < 200))
		return;
	if (r->ch.content_length >= 0) {
		if (!r->no_body)
			r->resp_left = r->ch.content_length;
		return;
	}
	if (r->no_body)
		return;
	if (h->minor >= 1)
		r->chunked_out = true;
	else
		r->close_delimited = true;
}

static int write_fields(struct hreq *r, struct fbuf *out)
{
	bool date = false;
	for (size_t i = 0; i < r->ch.n_fields; i++) {
		const struct cgi_field *f = &r->ch.fields[i];
		if (hop_by_hop(f->name))
			continue;
		date = date || strcasecmp(f->name, "Date") == 0;
		if (fbuf_printf(out, "%s: %s\r\n", f->name, f->value) < 0)
			return -1;
	}
	if (!date && fbuf_printf(out, "Date: %s\r\n", reply_date()) < 0)
		return -1;
	return 0;
}

int reply_head(struct hreq *r, struct fbuf *out)
{
	struct hconn *c = r->c;
	const struct http_head *h = &c->hin->head;
	choose_framing(r, h);
	bool close = !r->keep_alive || front_drain_closes() || r->close_delimited ||
	             !r->body_done;
	if (close)
		c->closing = true;
	int st = r->ch.status;
	const char *reason = r->ch.reason && *r->ch.reason ? r->ch.reason
	                                                  : reply_reason(st);
	r->status = st;
	if (fbuf_printf(out, "HTTP/1.1 %d %s\r\n", st, reason) < 0 ||
	    write_fields(r, out) < 0)
		return -1;
	int rc = 0;
	if (r->ch.content_length >= 0 && st != 204 && st >= 200)
		rc = fbuf_printf(out, "Content-Length: %lld\r\n",
		                 (long long)r->ch.content_length);
	else if (r->chunked_out)
		rc = fbuf_printf(out, "Transfer-Encoding: chunked\r\n");
	if (rc == 0 && close)
		rc = fbuf_printf(out, "Connection: close\r\n");
	else if (rc == 0 && h->minor == 0)
		rc = fbuf_printf(out, "Connection: keep-alive\r\n");
	if (rc == 0)
		rc = fbuf_append(out, "\r\n", 2);
	return rc;
}
