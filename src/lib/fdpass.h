/* Passing one file descriptor over a Unix socket (SCM_RIGHTS), for the
 * handover of kept connections: the worker's side (handover.c) and the
 * master's (pool.c) send the same way. */
#ifndef ACGI_LIB_FDPASS_H
#define ACGI_LIB_FDPASS_H

/* Sends fd over the socket via, with one data byte, without blocking.
 * Returns 0, or -1 with errno (EAGAIN: the peer has not read yet). */
int fd_pass(int via, int fd);

/* Takes the fds of one message waiting on via, without blocking, into
 * fds[0..cap) (any beyond cap are closed). Returns how many, -2 when no
 * message is waiting, -1 when the peer's end is gone. */
int fd_receive(int via, int *fds, int cap);

#endif
