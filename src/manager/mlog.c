/* The master's log. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mlog.h"

static char *log_path; /* NULL: stderr as it was given to us */

static int open_onto_stderr(const char *file)
{
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		close(fd);
	}
	return 0;
}

int mlog_open(const char *file)
{
	if (!file)
		return 0;
	if (open_onto_stderr(file) < 0)
		return -1;
	free(log_path);
	log_path = strdup(file);
	return 0;
}

void mlog_reopen(void)
{
	if (log_path && open_onto_stderr(log_path) < 0)
		mlog("error", NULL, "cannot reopen %s: %s", log_path,
		     strerror(errno));
}

/* A file has no journald to stamp its lines: the time goes first. */
static size_t stamp(char *out, size_t cap)
{
	if (!log_path)
		return 0;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(out + n, cap - n, ".%03ld ", ts.tv_nsec / 1000000);
	return m > 0 && (size_t)m < cap - n ? n + (size_t)m : n;
}

void mlog(const char *level, const char *pool, const char *fmt, ...)
{
	char line[2048];
	size_t n = stamp(line, sizeof(line));
	int k = pool ? snprintf(line + n, sizeof(line) - n,
	                        "anycgi[%d] %s pool %s: ", (int)getpid(), level,
	                        pool)
	             : snprintf(line + n, sizeof(line) - n, "anycgi[%d] %s: ",
	                        (int)getpid(), level);
	if (k > 0)
		n += (size_t)k;
	va_list ap;
	va_start(ap, fmt);
	if (n < sizeof(line)) {
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (k > 0)
			n += (size_t)k;
	}
	va_end(ap);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void mlog_line(const char *prefix, const char *text, size_t len)
{
	char ts[64];
	size_t tn = stamp(ts, sizeof(ts));
	struct iovec iov[4] = {
		{ts, tn},
		{(void *)prefix, strlen(prefix)},
		{(void *)text, len},
		{"\n", 1},
	};
	(void)!writev(STDERR_FILENO, iov, 4);
}
