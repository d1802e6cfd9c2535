/* Client connections with a deadline, to a Unix or TCP address. */
#include "connect.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

long long cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline for poll(): -1 for none, 0 once it
 * has passed. */
static int left_ms(long long deadline)
{
	if (deadline == 0)
		return -1;
	long long left = deadline - cli_now_ms();
	return left < 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

static int connect_unix(const char *path, long long deadline, char *err,
                        size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (!*path || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "unix:%s: not a usable socket path", path);
		return CONNECT_BAD_ADDR;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return CONNECT_REFUSED;
	}
	/* A non-blocking connect to a Unix socket whose accept queue is full
	 * fails with EAGAIN at once: retry until the deadline, as the kernel
	 * retries a TCP SYN. */
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN && left_ms(deadline) != 0) {
			(void)poll(NULL, 0, 10);
			continue;
		}
		close(fd);
		snprintf(err, errlen, "cannot connect to unix:%s: %s", path,
		         e == EAGAIN ? "the server accepts no connection"
		                     : strerror(e));
		return e == EAGAIN ? CONNECT_TIMEOUT : CONNECT_REFUSED;
	}
	return fd;
}

int cli_split_host_port(const char *addr, char *host, size_t host_cap,
                           const char **port)
{
	const char *h = addr, *colon;
	size_t hlen;
	if (*addr == '[') {
		const char *br = strchr(addr, ']');
		if (!br || br[1] != ':')
			return -1;
		h = addr + 1;
		hlen = (size_t)(br - h);
		colon = br + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - addr);
	}
	if (hlen == 0 || hlen >= host_cap || !colon[1])
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	return 0;
}

/* One address: 0 connected, else an errno value (ETIMEDOUT past the
 * deadline). */
static int try_tcp(const struct addrinfo *ai, long long deadline, int *fd_out)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	                0);
	if (fd < 0)
		return errno;
	int e = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		e = errno;
		if (e == EINPROGRESS) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int n;
			do
				n = poll(&pfd, 1, left_ms(deadline));
			while (n < 0 && errno == EINTR);
			socklen_t len = sizeof(e);
			if (n == 0)
				e = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
				e = errno;
		}
	}
	if (e) {
		close(fd);
		return e;
	}
	/* One request, written in a few records: do not let Nagle hold the
	 * last one back. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd_out = fd;
	return 0;
}

static int connect_tcp(const char *addr, long long deadline, char *err,
                       size_t errlen)
{
	char host[256];
	const char *port;
	if (cli_split_host_port(addr, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "%s: not unix:/path, HOST:PORT or "
		         "[IPv6]:PORT", addr);
		return CONNECT_BAD_ADDR;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0 || !res) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(gai));
		return gai == EAI_SERVICE ? CONNECT_BAD_ADDR : CONNECT_RESOLVE;
	}
	int fd = -1, e = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && e != ETIMEDOUT; ai = ai->ai_next)
		if ((e = try_tcp(ai, deadline, &fd)) == 0)
			break;
	freeaddrinfo(res);
	if (e == 0)
		return fd;
	snprintf(err, errlen, "cannot connect to %s: %s", addr,
	         e == ETIMEDOUT ? "timed out" : strerror(e));
	return e == ETIMEDOUT ? CONNECT_TIMEOUT : CONNECT_REFUSED;
}

int cli_connect(const char *addr, int timeout_ms, char *err, size_t errlen)
{
	long long deadline = timeout_ms > 0 ? cli_now_ms() + timeout_ms : 0;
	if (strncmp(addr, "unix:", 5) == 0)
		return connect_unix(addr + 5, deadline, err, errlen);
	return connect_tcp(addr, deadline, err, errlen);
}
