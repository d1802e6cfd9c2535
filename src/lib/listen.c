/* Listening sockets: the inherited fd 0, addresses to create, and the
 * FCGI_WEB_SERVER_ADDRS filter. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* FastCGI 1.0, section 2.2: fd 0 is a listening socket. SO_ACCEPTCONN says
 * so directly; the spec's own test (getpeername failing with ENOTCONN) also
 * matches unconnected sockets that do not listen. The listening fd may be
 * shared with other worker processes, so it must be non-blocking: a
 * readiness event can be taken by another process before this one calls
 * accept. */
int listen_detect_fd(int fd, bool *tcp_out)
{
	int val = 0;
	socklen_t len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) < 0 || !val)
		return -ENOTSOCK;
	int domain = 0;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	*tcp_out = domain == AF_INET || domain == AF_INET6;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return set_nonblock(fd);
}

/* A Unix socket path left by a dead server is replaced; one that still
 * accepts connections belongs to a live server and is refused. */
static int bind_unix(int fd, const struct sockaddr_un *sun)
{
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		return 0;
	if (errno != EADDRINUSE)
		return -errno;
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	int rc = connect(probe, (const struct sockaddr *)sun, sizeof(*sun));
	int err = errno;
	close(probe);
	if (rc == 0 || err != ECONNREFUSED)
		return -EADDRINUSE;
	if (unlink(sun->sun_path) < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0)
		return -errno;
	return 0;
}

static int listen_unix(const char *path, int *fd_out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (!*path || strlen(path) >= sizeof(sun.sun_path))
		return -EINVAL;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = bind_unix(fd, &sun);
	if (rc == 0 && listen(fd, SOMAXCONN) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

/* Splits "host:port" or "[v6]:port" into host and port. */
static int split_host_port(const char *addr, char *host, size_t host_cap,
                           const char **port)
{
	const char *colon;
	const char *h = addr;
	size_t hlen;
	if (*addr == '[') {
		const char *close_br = strchr(addr, ']');
		if (!close_br || close_br[1] != ':')
			return -EINVAL;
		h = addr + 1;
		hlen = (size_t)(close_br - h);
		colon = close_br + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - addr);
	}
	if (hlen == 0 || hlen >= host_cap || !colon[1])
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	return 0;
}

static int listen_tcp(const char *addr, int *fd_out)
{
	char host[256];
	const char *port;
	if (split_host_port(addr, host, sizeof(host), &port) < 0)
		return -EINVAL;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		return -EINVAL;
	int fd = socket(res->ai_family,
	                SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = fd < 0 ? -errno : 0;
	int one = 1;
	if (rc == 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rc == 0 && bind(fd, res->ai_addr, res->ai_addrlen) < 0)
		rc = -errno;
	if (rc == 0 && listen(fd, SOMAXCONN) < 0)
		rc = -errno;
	freeaddrinfo(res);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

int listen_addr(const char *addr, int *fd_out, bool *tcp_out)
{
	if (strncmp(addr, "unix:", 5) == 0) {
		*tcp_out = false;
		return listen_unix(addr + 5, fd_out);
	}
	*tcp_out = true;
	return listen_tcp(addr, fd_out);
}

/* FastCGI 1.0, section 3.2: a comma-separated list of IPv4 addresses;
 * IPv6 addresses are accepted too. */
int web_addrs_parse(acgi_server *s, const char *list)
{
	int rc = 0;
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		char item[INET6_ADDRSTRLEN + 1];
		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		size_t m = n;
		while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
			m--;
		struct web_addr *w = &s->web_addrs[s->n_web_addrs];
		if (m > 0 && m < sizeof(item) && s->n_web_addrs < MAX_WEB_ADDRS) {
			memcpy(item, p, m);
			item[m] = '\0';
			if (inet_pton(AF_INET, item, &w->a.v4) == 1) {
				w->family = AF_INET;
				s->n_web_addrs++;
			} else if (inet_pton(AF_INET6, item, &w->a.v6) == 1) {
				w->family = AF_INET6;
				s->n_web_addrs++;
			} else {
				rc = -EINVAL;
			}
		} else if (m > 0) {
			rc = -EINVAL;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return rc;
}

bool web_addr_allowed(const acgi_server *s, const struct sockaddr *sa)
{
	if (s->n_web_addrs == 0)
		return true;
	struct in_addr v4;
	bool is_v4 = false;
	const struct in6_addr *v6 = NULL;
	if (sa->sa_family == AF_INET) {
		v4 = ((const struct sockaddr_in *)sa)->sin_addr;
		is_v4 = true;
	} else if (sa->sa_family == AF_INET6) {
		v6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		/* An IPv4 peer on a dual-stack socket. */
		if (IN6_IS_ADDR_V4MAPPED(v6)) {
			memcpy(&v4, &v6->s6_addr[12], 4);
			is_v4 = true;
		}
	} else {
		return true;
	}
	for (size_t i = 0; i < s->n_web_addrs; i++) {
		const struct web_addr *w = &s->web_addrs[i];
		if (is_v4 && w->family == AF_INET && w->a.v4.s_addr == v4.s_addr)
			return true;
		if (!is_v4 && v6 && w->family == AF_INET6 &&
		    memcmp(&w->a.v6, v6, sizeof(*v6)) == 0)
			return true;
	}
	return false;
}
