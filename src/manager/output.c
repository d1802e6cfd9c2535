/* Workers' stderr into the master's log: a line at a time, prefixed with
 * the pool and the worker's pid, never truncated below OUTPUT_LINE_MAX and
 * never interleaved with other lines (one writev each). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mlog.h"
#include "output.h"

int output_open(struct worker_output *o)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	o->fd = p[0];
	o->len = 0;
	return p[1];
}

static void emit(const struct worker_output *o, const char *pool,
                 const char *line, size_t len)
{
	char prefix[160];
	int n = snprintf(prefix, sizeof(prefix), "anycgi[%d] worker pool %s "
	                 "pid %d: ", (int)getpid(), pool, (int)o->pid);
	if (n < 0)
		return;
	mlog_line(prefix, line, len);
}

/* Logs every complete line in buf and keeps the rest; a full buffer with
 * no newline goes out as it is. */
static void flush_lines(struct worker_output *o, const char *pool)
{
	size_t start = 0;
	for (;;) {
		char *nl = memchr(o->buf + start, '\n', o->len - start);
		if (!nl)
			break;
		size_t end = (size_t)(nl - o->buf);
		emit(o, pool, o->buf + start, end - start);
		start = end + 1;
	}
	if (start == 0 && o->len == sizeof(o->buf)) {
		emit(o, pool, o->buf, o->len);
		start = o->len;
	}
	memmove(o->buf, o->buf + start, o->len - start);
	o->len -= start;
}

int output_read(struct worker_output *o, const char *pool)
{
	while (o->fd >= 0) {
		ssize_t n = read(o->fd, o->buf + o->len, sizeof(o->buf) - o->len);
		if (n > 0) {
			o->len += (size_t)n;
			flush_lines(o, pool);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		output_close(o, pool);
		return 1;
	}
	return 1;
}

void output_close(struct worker_output *o, const char *pool)
{
	if (o->fd < 0)
		return;
	int fd = o->fd;
	o->fd = -1;
	ssize_t n;
	while ((n = read(fd, o->buf + o->len, sizeof(o->buf) - o->len)) > 0) {
		o->len += (size_t)n;
		flush_lines(o, pool);
	}
	if (o->len > 0)
		emit(o, pool, o->buf, o->len);
	o->len = 0;
	close(fd);
}
