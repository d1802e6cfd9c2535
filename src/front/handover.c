/* Kept connections across a rolling reload. The manager rolls a front end
 * by starting a new one on the same sockets and sending the old one
 * SIGQUIT. Closing the old one's idle keep-alive connections would race
 * with each client's next request, and clients retry only idempotent
 * ones: a POST sent just as the connection closes is lost. So a draining
 * front end sends each idle client connection (nothing read and not yet
 * parsed, nothing left to write) to the master over ANYCGI_HANDOVER_FD
 * with SCM_RIGHTS; the master checks it and passes it to the new front
 * end, which adopts it. Bytes the client sent meanwhile wait in the
 * socket for the new owner. The same socket and the same checks as a
 * libanycgi worker's (src/lib/handover.c, src/manager/pool.c). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"
#include "front_int.h"

enum { HANDOVER_BATCH = 8 };

int front_handover_open(void)
{
	F->ho = (struct ev_item){.type = EV_HANDOVER, .fd = -1};
	const char *v = getenv("ANYCGI_HANDOVER_FD");
	if (!v)
		return 0;
	char *end;
	long fd = strtol(v, &end, 10);
	unsetenv("ANYCGI_HANDOVER_FD");
	int type = 0;
	socklen_t len = sizeof(type);
	if (*end || end == v || fd < 3 || fd > 1 << 20 ||
	    getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET) {
		front_log("ANYCGI_HANDOVER_FD=%.20s: not a handover socket", v);
		return 0;
	}
	F->ho.fd = (int)fd;
	return ev_add(&F->ho, &F->ho, EPOLLIN);
}

bool front_handover_possible(void)
{
	return F->ho.fd >= 0;
}

bool front_handover_send(int fd)
{
	if (F->ho.fd < 0)
		return false;
	if (fd_pass(F->ho.fd, fd) == 0)
		return true;
	/* The master has not read yet: a short wait beats closing a kept
	 * connection (the front end is leaving anyway). */
	struct pollfd p = {.fd = F->ho.fd, .events = POLLOUT};
	return poll(&p, 1, 200) > 0 && fd_pass(F->ho.fd, fd) == 0;
}

void front_handover_on_event(void)
{
	int fds[HANDOVER_BATCH];
	for (int m = 0; m < 64; m++) {
		int n = fd_receive(F->ho.fd, fds, HANDOVER_BATCH);
		if (n == -2)
			return;
		if (n < 0) {
			ev_del(&F->ho);
			close(F->ho.fd);
			F->ho.fd = -1;
			return;
		}
		for (int i = 0; i < n; i++) {
			/* Leaving too: back to the master, for another heir. */
			if (F->stopping) {
				(void)front_handover_send(fds[i]);
				close(fds[i]);
				continue;
			}
			hconn_adopt(fds[i]);
		}
	}
}
