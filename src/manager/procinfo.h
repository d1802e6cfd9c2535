/* What the kernel tells the master about a worker process and about a
 * listening socket, without the worker's help: /proc for processes (the
 * only view of a foreign program such as php-cgi), TCP_INFO and sock_diag
 * for the accept queues. Every function fails soft: a field it cannot read
 * is left at its "unknown" value. */
#ifndef ACGI_MANAGER_PROCINFO_H
#define ACGI_MANAGER_PROCINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc_sample {
	long long rss_kb;     /* resident set, -1: unknown */
	double cpu_s;         /* user + system CPU seconds, -1: unknown */
	char state;           /* /proc/PID/stat's state letter, 0: unknown */
	long syscall;         /* the system call it blocks in, -1: running
	                         or unknown (from /proc/PID/syscall) */
	bool accepting;       /* blocked in accept/accept4 on fd 0, ready
	                         for a connection: a foreign worker's
	                         "idle". False for one that waits in poll,
	                         select or epoll_wait: their fds are in its
	                         memory, not in /proc/PID/syscall */
};

/* Samples one process with three small reads of /proc/PID: stat, statm
 * and syscall (the last needs ptrace access: root, for other users'
 * workers). Fields it cannot read stay unknown. The reads are moments
 * apart, so a process in transition may show state 'R' and yet a
 * blocking system call. Returns 0, or -1 when the process is gone
 * (reaped, or exited between the reads), with *out all unknown. A zombie
 * is not gone: it samples with state 'Z', rss 0 and syscall -1. */
int proc_sample(pid_t pid, struct proc_sample *out);

/* The kernel stack (/proc/PID/stack, root only), else the wait channel,
 * else the system call ("syscall N", or "running"), as one line with
 * ", " between function names, cut to fit cap bytes including the NUL
 * (nothing is written when cap is 0). Returns the length written, below
 * cap (0: nothing readable). */
size_t proc_stack(pid_t pid, char *out, size_t cap);

/* The accept queue of a listening socket: connections waiting to be
 * accepted and the backlog. TCP through TCP_INFO, Unix sockets through
 * NETLINK_SOCK_DIAG (unix_diag, UDIAG_SHOW_RQLEN), since ioctl(SIOCINQ)
 * refuses listening Unix sockets. The kernel refuses connections only
 * once the queue is longer than the backlog, so queued can reach
 * backlog + 1. Returns 0, or -1 for anything but a listening TCP or Unix
 * socket (both then left at 0). */
int listen_queue(int fd, unsigned *queued, unsigned *backlog);

#endif
