/* Handing kept connections over to the next generation.
 *
 * A draining worker must not close a connection that a web server keeps
 * to it (nginx's fastcgi_keep_conn): nginx may be sending a request on it
 * in that very instant, and retries only idempotent ones. So, when the
 * master passes ANYCGI_HANDOVER_FD (one end of a SOCK_SEQPACKET pair), a
 * draining worker sends each idle kept connection to the master with
 * SCM_RIGHTS, and the master passes it on to a worker of the new
 * generation: whatever nginx sends meanwhile waits in the socket, and the
 * new worker reads it. The connection never closes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"
#include "internal.h"

enum { HANDOVER_BATCH = 16 };

void handover_open(acgi_server *s)
{
	s->handover_fd = -1;
	s->handover_kind = WATCH_HANDOVER;
	const char *v = getenv("ANYCGI_HANDOVER_FD");
	if (!v)
		return;
	char *end;
	long fd = strtol(v, &end, 10);
	int type = 0;
	socklen_t len = sizeof(type);
	/* Taken once: a second server in this process, or a child, must not
	 * take whatever later sits on that fd number. */
	unsetenv("ANYCGI_HANDOVER_FD");
	if (*end || end == v || fd < 3 || fd > INT_MAX ||
	    getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET) {
		lib_log(s, ACGI_LOG_WARNING, "ANYCGI_HANDOVER_FD=%.20s: not a "
		        "SOCK_SEQPACKET socket; kept connections will be closed",
		        v);
		return;
	}
	(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	int fl = fcntl((int)fd, F_GETFL);
	(void)fcntl((int)fd, F_SETFL, fl | O_NONBLOCK);
	s->handover_fd = (int)fd;
}

int handover_arm(acgi_server *s)
{
	if (s->handover_fd < 0)
		return 0;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->handover_kind};
	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->handover_fd, &ev) < 0
	       ? -errno : 0;
}

void handover_close(acgi_server *s)
{
	if (s->handover_fd >= 0)
		close(s->handover_fd);
	s->handover_fd = -1;
}

int fd_pass(int via, int fd)
{
	char byte = 'c';
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
	                     .msg_control = u.space,
	                     .msg_controllen = sizeof(u.space)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(via, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 ? 0 : -1;
}

bool handover_possible(const acgi_server *s, const struct conn *c)
{
	return s->handover_fd >= 0 && !c->closed && !c->lingering &&
	       !c->in.len && !c->out.len && c->proto != ACGI_PROTO_SCGI &&
	       (c->proto != ACGI_PROTO_FASTCGI ||
	        fcgi_server_at_record_start(&c->fs));
}

bool handover_send(acgi_server *s, struct conn *c)
{
	/* Only a FastCGI connection between requests, with nothing of ours
	 * unsent and nothing of theirs read: the next worker starts it at a
	 * record boundary. */
	if (!handover_possible(s, c))
		return false;
	if (fd_pass(s->handover_fd, c->fd) < 0) {
		/* The master has not read yet: the worker drains anyway, so a
		 * short wait beats closing a kept connection. */
		struct pollfd p = {.fd = s->handover_fd, .events = POLLOUT};
		if (poll(&p, 1, 1000) <= 0 || fd_pass(s->handover_fd, c->fd) < 0)
			return false;
	}
	/* The description lives on (the message holds it), and with it its
	 * epoll registration: take it out, or the loop would hear of a
	 * connection already freed. */
	(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	conn_close(c, "handed over to the next generation");
	return true;
}

/* (Any beyond HANDOVER_BATCH in one message would be closed by the
 * kernel; the master sends one a message.) */
int fd_receive(int via, int *fds, int cap)
{
	char byte;
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * HANDOVER_BATCH)];
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
	                     .msg_control = u.space,
	                     .msg_controllen = sizeof(u.space)};
	ssize_t n = recvmsg(via, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -2;
	if (n <= 0)
		return -1;
	int got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
	     c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < cap)
				fds[got++] = fd;
			else
				close(fd);
		}
	}
	return got;
}

void handover_receive(acgi_server *s)
{
	int fds[HANDOVER_BATCH];
	for (;;) {
		int n = fd_receive(s->handover_fd, fds, HANDOVER_BATCH);
		if (n == -2)
			return;
		if (n < 0) {
			/* The master is gone: nothing more will come. */
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->handover_fd, NULL);
			handover_close(s);
			return;
		}
		for (int i = 0; i < n; i++) {
			int type = 0;
			socklen_t len = sizeof(type);
			if (getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
			    type != SOCK_STREAM) {
				close(fds[i]);
				continue;
			}
			/* Sent while this worker began to drain: back to the
			 * master, for another heir. */
			if (s->stopping) {
				struct pollfd p = {.fd = s->handover_fd, .events = POLLOUT};
				if (fd_pass(s->handover_fd, fds[i]) < 0 &&
				    poll(&p, 1, 1000) > 0)
					(void)fd_pass(s->handover_fd, fds[i]);
				close(fds[i]);
				continue;
			}
			int fl = fcntl(fds[i], F_GETFL);
			(void)fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
			struct conn *c = conn_adopt(s, fds[i]);
			if (c)
				c->handed_in = true;
		}
	}
}
