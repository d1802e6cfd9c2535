/* Classic CGI (RFC 3875): one request, params from the environment, the
 * body on stdin, the response on stdout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

acgi_request *cgi_request_from_env(acgi_server *s)
{
	acgi_request *r = req_new(s, NULL, ACGI_PROTO_CGI);
	if (!r)
		return NULL;
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e)
			continue;
		size_t nl = (size_t)(eq - *e);
		if (req_param_append(r, (const uint8_t *)*e, nl) < 0 ||
		    req_param_append(r, (const uint8_t *)"", 1) < 0 ||
		    req_param_append(r, (const uint8_t *)eq + 1, strlen(eq + 1)) < 0 ||
		    req_param_end(r) < 0) {
			req_free(r);
			return NULL;
		}
	}
	r->params_done = true;
	const char *cl = acgi_param(r, "CONTENT_LENGTH");
	r->content_length = -1;
	if (cl) {
		char *end;
		errno = 0;
		long long v = strtoll(cl, &end, 10);
		r->content_length = (*cl && (*end || v < 0 || errno)) ? -1
		                    : (*cl ? v : 0);
	}
	/* RFC 3875, section 4.1.2: no CONTENT_LENGTH, no body, and the
	 * server need not close stdin. Only a chunked upload, which some
	 * servers pass on without a length, is read to the end of stdin. */
	if (r->content_length < 0 && !acgi_param(r, "HTTP_TRANSFER_ENCODING"))
		r->content_length = 0;
	r->in[STREAM_BODY].expect = r->content_length;
	return r;
}

/* RFC 3875, section 4.2: the server sends exactly CONTENT_LENGTH bytes
 * and need not send an end of file, so never read past it. */
ssize_t cgi_read(acgi_request *r, void *buf, size_t len)
{
	struct instream *in = &r->in[STREAM_BODY];
	if (in->expect >= 0) {
		uint64_t left = (uint64_t)in->expect - in->got;
		if (left == 0)
			return 0;
		if (len > left)
			len = (size_t)left;
	}
	if (len == 0)
		return 0;
	ssize_t n;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0 && in->expect >= 0)
		return -EPROTO; /* stdin ended before CONTENT_LENGTH */
	in->got += (uint64_t)n;
	return n;
}

int cgi_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
