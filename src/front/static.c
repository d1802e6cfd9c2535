/* --document-root: each request's path is mapped beneath the root
 * (docroot.c); scripts go to the app with their SCRIPT_NAME and
 * PATH_INFO, other files are answered here and their bytes sent with
 * sendfile(2) once the head is out (docs/http.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "docroot.h"
#include "front_int.h"

/* At most this many bytes per sendfile call, so that one big file does
 * not hold the loop while the socket takes all it is given. */
enum { SENDFILE_CHUNK = 1 << 20 };

int static_open_root(void)
{
	F->root_fd = -1;
	if (!F->opt.document_root)
		return 0;
	F->root_fd = open(F->opt.document_root,
	                  O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (F->root_fd < 0) {
		front_log("--document-root %s: %s", F->opt.document_root,
		          strerror(errno));
		return -1;
	}
	return 0;
}

/* 301 to the folder's path with its slash, the query kept. */
static void redirect_to_folder(struct hreq *r, const struct http_head *h)
{
	struct fbuf loc = {0};
	if (fbuf_printf(&loc, "Location: %.*s/%s%.*s\r\n", (int)h->path_len,
	                h->path, h->query ? "?" : "",
	                h->query ? (int)h->query_len : 0,
	                h->query ? h->query : "") < 0 ||
	    fbuf_append(&loc, "", 1) < 0) {
		fbuf_free(&loc);
		hreq_error(r, 500, "out of memory");
		return;
	}
	hreq_respond(r, 301, (const char *)fbuf_head(&loc));
	fbuf_free(&loc);
}

static struct static_request request_of(const struct http_head *h)
{
	return (struct static_request){
		.head = h->head_method,
		.if_none_match = http_head_get(h, "If-None-Match"),
		.if_modified_since = http_head_get(h, "If-Modified-Since"),
		.range = http_head_get(h, "Range"),
		.if_range = http_head_get(h, "If-Range"),
	};
}

/* The head of a static file's response; its bytes are left on the
 * connection for static_flush. */
static void serve_file(struct hreq *r, const struct http_head *h,
                       struct docroot_map *m, const char *path)
{
	struct hconn *c = r->c;
	if (strcmp(h->method, "GET") != 0 && strcmp(h->method, "HEAD") != 0) {
		close(m->fd);
		hreq_respond(r, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	struct static_request rq = request_of(h);
	struct static_reply rep;
	(void)static_reply(&m->st, path, &rq, &rep);
	bool close_after = !r->keep_alive || F->stopping || !r->body_done;
	if (close_after)
		c->closing = true;
	if (fbuf_printf(&c->out, "HTTP/1.1 %d %s\r\n%.*sDate: %s\r\n%s\r\n",
	                rep.status, reply_reason(rep.status),
	                (int)rep.headers_len, rep.headers, reply_date(),
	                close_after ? "Connection: close\r\n"
	                : h->minor == 0 ? "Connection: keep-alive\r\n"
	                                : "") < 0) {
		close(m->fd);
		hreq_error(r, 500, "out of memory");
		return;
	}
	r->head_sent = true;
	r->status = rep.status;
	r->bytes_out = (uint64_t)rep.length;
	if (rep.length > 0) {
		c->file_fd = m->fd;
		c->file_off = rep.offset;
		c->file_left = rep.length;
	} else {
		close(m->fd);
	}
	hreq_answered(r);
}

/* Answers what the mapping decided without the app. */
static void answer(struct hreq *r, const struct http_head *h,
                   struct docroot_map *m, const char *path)
{
	switch (m->kind) {
	case DOC_STATIC:
		serve_file(r, h, m, path);
		return;
	case DOC_REDIRECT:
		redirect_to_folder(r, h);
		return;
	case DOC_NOT_FOUND:
		hreq_respond(r, 404, NULL);
		return;
	default:
		hreq_respond(r, 403, NULL);
		return;
	}
}

bool static_route(struct hreq *r)
{
	if (F->root_fd < 0)
		return false;
	const struct http_head *h = &r->c->hin->head;
	const char *path = r->path + strlen(F->opt.script_prefix);
	if (!*path)
		path = "/";
	struct docroot_map *m = malloc(sizeof(*m));
	if (!m) {
		hreq_error(r, 500, "out of memory");
		return true;
	}
	docroot_map(F->root_fd, F->opt.script_pattern, path, m);
	bool handled = true;
	if (m->kind == DOC_APP) {
		handled = false;
	} else if (m->kind == DOC_SCRIPT) {
		r->script = strdup(m->script);
		r->path_info = strdup(m->path_info);
		if (!r->script || !r->path_info)
			hreq_error(r, 500, "out of memory");
		else
			handled = false;
	} else {
		answer(r, h, m, path);
	}
	free(m);
	return handled;
}

/* Sends the static file's bytes once the head is out. Returns 1 when it
 * made progress, 0 when the socket is full or nothing is due, -1 when
 * the client is gone. */
int static_flush(struct hconn *c)
{
	int progress = 0;
	while (c->file_fd >= 0 && c->out.len == 0 && !c->dead) {
		size_t n = c->file_left > SENDFILE_CHUNK ? SENDFILE_CHUNK
		                                         : (size_t)c->file_left;
		ssize_t k = sendfile(c->ev.fd, c->file_fd, &c->file_off, n);
		if (k > 0) {
			c->file_left -= k;
			progress = 1;
		} else if (k < 0 && errno == EINTR) {
			continue;
		} else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			/* The client is gone, or the file shrank under us: the
			 * length sent cannot be kept, the connection must end. */
			if (k == 0)
				front_log("a static file shrank while sent");
			close(c->file_fd);
			c->file_fd = -1;
			c->file_left = 0;
			c->closing = c->cut = true;
			if (k < 0)
				c->eof = true;
			return -1;
		}
		if (c->file_left == 0) {
			close(c->file_fd);
			c->file_fd = -1;
		}
	}
	return progress;
}

/* A local redirect's new path: its script when it names one (it goes to
 * the app in any case: the redirect asked the server, through the app). */
void static_script(struct hreq *r)
{
	free(r->script);
	free(r->path_info);
	r->script = r->path_info = NULL;
	if (F->root_fd < 0)
		return;
	const char *path = r->path + strlen(F->opt.script_prefix);
	struct docroot_map *m = malloc(sizeof(*m));
	if (!m)
		return;
	docroot_map(F->root_fd, F->opt.script_pattern, *path ? path : "/", m);
	if (m->fd >= 0)
		close(m->fd);
	if (m->kind == DOC_SCRIPT) {
		r->script = strdup(m->script);
		r->path_info = strdup(m->path_info);
		if (!r->script || !r->path_info) {
			free(r->script);
			r->script = NULL;
		}
	}
	free(m);
}
