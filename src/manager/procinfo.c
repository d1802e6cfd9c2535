/* What the kernel tells the master about a worker process (/proc) and
 * about a listening socket (TCP_INFO, unix_diag), without the worker's
 * help. Linux only; libc and the kernel's uapi headers only. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "procinfo.h"

/* Large enough for /proc/PID/stat (52 numbers, a comm of at most 64
 * bytes: under 1 KiB), statm and syscall; a cut-off tail of stat only
 * loses fields after stime, which we do not read. */
#define PROC_FILE_MAX 1024
/* /proc/PID/stack holds at most 64 frames (the kernel's own limit) of
 * about 60 bytes; a cut here drops the outermost frames, the syscall
 * entry code, which says the least. */
#define PROC_STACK_MAX 4096

/* Reads /proc/PID/NAME into buf as a C string. One read() suffices: these
 * files are seq_file single_open ones, produced whole on the first read.
 * Returns the length, or -errno (ENOENT or ESRCH: the process is gone). */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	(void)snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, cap - 1);
	if (n < 0)
		n = -errno;
	(void)close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static bool gone(ssize_t err)
{
	return err == -ENOENT || err == -ESRCH;
}

static const char *skip_fields(const char *p, int n)
{
	while (n-- > 0) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
	}
	return p;
}

/* Reads the number at *p and moves past it; false when there is none. */
static bool next_number(const char **p, unsigned long long *value)
{
	char *end;
	*value = strtoull(*p, &end, 10);
	if (end == *p)
		return false;
	*p = end;
	return true;
}

/* proc(5): "pid (comm) state ppid ... utime stime ...". Its rss field
 * (24) would save reading statm, but it is the kernel's quick per-CPU
 * counter read, off by up to 32 or more pages per CPU (6.18 here: 424
 * pages against statm's exact 451); statm and status sum the counters. */
static void parse_stat(const char *buf, struct proc_sample *out)
{
	/* comm may itself hold spaces and parentheses; only the last ')'
	 * surely ends it. */
	const char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return;
	out->state = p[2];
	/* Fields from 1: the state is 3, utime 14, stime 15. Both times
	 * cover all the threads. */
	unsigned long long utime, stime;
	p = skip_fields(p + 3, 14 - 4);
	if (!next_number(&p, &utime) || !next_number(&p, &stime))
		return;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz > 0)
		out->cpu_s = (double)(utime + stime) / (double)hz;
}

/* "size resident shared text lib data dt", in pages. */
static void parse_statm(const char *buf, struct proc_sample *out)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	if (next_number(&buf, &size) && next_number(&buf, &resident) &&
	    page > 0)
		out->rss_kb = (long long)(resident * (unsigned long long)page /
		                          1024);
}

static bool is_accept(long nr)
{
#ifdef SYS_accept
	if (nr == SYS_accept)
		return true;
#endif
	return nr == SYS_accept4;
}

/* "running", or "-1 SP PC" outside a system call (stopped, traced), or
 * "NR ARG0 ... ARG5 SP PC" with the arguments in hex. The number is the
 * task's own ABI's: a 32-bit worker on a 64-bit kernel reports i386
 * numbers, and one that reaches accept through socketcall(2) hides it;
 * both read as not accepting. */
static void parse_syscall(const char *buf, struct proc_sample *out)
{
	char *end;
	long nr = strtol(buf, &end, 10);
	if (end == buf)
		return;
	out->syscall = nr;
	if (nr < 0)
		return;
	const char *p = end;
	unsigned long long arg0 = strtoull(p, &end, 16);
	/* The kernel takes the fd as an int, so only the register's low 32
	 * bits count. A worker blocked in poll, select or epoll_wait may be
	 * just as idle, but which fds it waits on lives in its memory, not
	 * in these arguments: it reads as not accepting. */
	out->accepting = end != p && is_accept(nr) && (uint32_t)arg0 == 0;
}

typedef void parse_fn(const char *text, struct proc_sample *out);

/* Reads one /proc file and parses it into out. Returns -1 when the
 * process is gone, else 0, whether or not the file was readable. */
static int sample_file(pid_t pid, const char *name, parse_fn *parse,
                       struct proc_sample *out)
{
	char buf[PROC_FILE_MAX];
	ssize_t n = read_proc(pid, name, buf, sizeof(buf));
	if (n > 0)
		parse(buf, out);
	return gone(n) ? -1 : 0;
}

int proc_sample(pid_t pid, struct proc_sample *out)
{
	static const struct proc_sample unknown = {
		.rss_kb = -1, .cpu_s = -1, .syscall = -1,
	};
	*out = unknown;
	/* A process can exit between any two reads: if any says so, report
	 * it gone rather than half a sample. */
	if (sample_file(pid, "stat", parse_stat, out) < 0 ||
	    sample_file(pid, "statm", parse_statm, out) < 0 ||
	    sample_file(pid, "syscall", parse_syscall, out) < 0) {
		*out = unknown;
		return -1;
	}
	return 0;
}

/* An output buffer that keeps a terminating NUL and silently drops what
 * does not fit. */
struct cut {
	char *buf;
	size_t cap;  /* bytes at buf, at least 1 */
	size_t len;  /* bytes written, at most cap - 1 */
};

static void put(struct cut *c, const char *s, size_t len)
{
	size_t room = c->cap - 1 - c->len;
	if (len > room)
		len = room;
	memcpy(c->buf + c->len, s, len);
	c->len += len;
	c->buf[c->len] = '\0';
}

/* Lines like "[<0>] do_sys_poll+0x1f0/0x2d0": keeps the function names.
 * Returns the number of frames seen. */
static int put_frames(struct cut *c, const char *stack)
{
	int n_frames = 0;
	for (const char *line = stack; *line;) {
		const char *eol = strchr(line, '\n');
		size_t line_len = eol ? (size_t)(eol - line) : strlen(line);
		const char *name = memchr(line, ' ', line_len);
		if (name) {
			name++;
			size_t name_len = strcspn(name, "+ \n");
			if (n_frames++ > 0)
				put(c, ", ", 2);
			put(c, name, name_len);
		}
		line += line_len + (eol != NULL);
	}
	return n_frames;
}

static void put_syscall(struct cut *c, const char *line)
{
	char text[32];
	char *end;
	long nr = strtol(line, &end, 10);
	int n;
	if (strncmp(line, "running", 7) == 0)
		n = snprintf(text, sizeof(text), "running");
	else if (end != line && nr >= 0)
		n = snprintf(text, sizeof(text), "syscall %ld", nr);
	else
		return;
	put(c, text, (size_t)n);
}

size_t proc_stack(pid_t pid, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	out[0] = '\0';
	if (cap == 1)
		return 0;
	struct cut c = {.buf = out, .cap = cap};
	char buf[PROC_STACK_MAX];
	/* The stack needs CAP_SYS_ADMIN; the wait channel is "0" for a task
	 * that is running (or, for a non-root reader, not ours); the
	 * syscall line is the last resort. */
	if (read_proc(pid, "stack", buf, sizeof(buf)) > 0 &&
	    put_frames(&c, buf) > 0)
		return c.len;
	if (read_proc(pid, "wchan", buf, sizeof(buf)) > 0 &&
	    strcmp(buf, "0") != 0) {
		put(&c, buf, strcspn(buf, "\n"));
		return c.len;
	}
	if (read_proc(pid, "syscall", buf, sizeof(buf)) > 0)
		put_syscall(&c, buf);
	return c.len;
}

static int int_sockopt(int fd, int level, int name, int *value)
{
	socklen_t len = sizeof(*value);
	return getsockopt(fd, level, name, value, &len);
}

/* For a socket in LISTEN, the kernel's tcp_get_info() puts the accept
 * queue's length in tcpi_unacked and its limit in tcpi_sacked. */
static int tcp_queue(int fd, unsigned *queued, unsigned *backlog)
{
	struct tcp_info ti;
	const size_t need = offsetof(struct tcp_info, tcpi_sacked) +
	                    sizeof(ti.tcpi_sacked);
	socklen_t len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < need || ti.tcpi_state != TCP_LISTEN)
		return -1;
	*queued = ti.tcpi_unacked;
	*backlog = ti.tcpi_sacked;
	return 0;
}

/* Asks unix_diag for one socket by inode (unix_diag_get_exact in the
 * kernel): no dump, no walk over every socket on the host. */
static int diag_request(int nl, uint32_t ino)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST,
		},
		.req = {
			.sdiag_family = AF_UNIX,
			.udiag_states = 1u << TCP_LISTEN,
			.udiag_ino = ino,
			.udiag_show = UDIAG_SHOW_RQLEN,
			/* No cookie: the inode alone names the socket. */
			.udiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE},
		},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n = sendto(nl, &msg, sizeof(msg), 0,
	                   (const struct sockaddr *)&kernel, sizeof(kernel));
	return n == (ssize_t)sizeof(msg) ? 0 : -1;
}

/* Finds UNIX_DIAG_RQLEN among the attributes after a unix_diag_msg. For a
 * listener, udiag_rqueue counts connections not yet accepted and
 * udiag_wqueue is the backlog. */
static int parse_diag_msg(const struct nlmsghdr *h, uint32_t ino,
                          struct unix_diag_rqlen *rq)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_SPACE(sizeof(*m)) || m->udiag_ino != ino)
		return -1;
	const size_t hdr = NLA_ALIGN(sizeof(struct nlattr));
	const char *a = (const char *)h + NLMSG_SPACE(sizeof(*m));
	size_t left = h->nlmsg_len - NLMSG_SPACE(sizeof(*m));
	while (left >= hdr) {
		struct nlattr nla;
		memcpy(&nla, a, sizeof(nla));
		if (nla.nla_len < hdr || (size_t)nla.nla_len > left)
			break;
		if ((nla.nla_type & NLA_TYPE_MASK) == UNIX_DIAG_RQLEN &&
		    nla.nla_len >= hdr + sizeof(*rq)) {
			memcpy(rq, a + hdr, sizeof(*rq));
			return 0;
		}
		size_t step = NLA_ALIGN(nla.nla_len);
		if (step >= left)
			break;
		a += step;
		left -= step;
	}
	return -1;
}

static int diag_reply(int nl, uint32_t ino, struct unix_diag_rqlen *rq)
{
	union {
		struct nlmsghdr h;
		char bytes[1024];
	} u;
	/* The kernel answers within sendto(), so the reply is queued by now;
	 * not waiting keeps a lost reply from stalling the master. */
	long len = recv(nl, &u, sizeof(u), MSG_DONTWAIT);
	for (struct nlmsghdr *h = &u.h; NLMSG_OK(h, len);
	     h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
			return parse_diag_msg(h, ino, rq);
		/* ENOENT: no such listener (or no unix_diag in this kernel). */
		if (h->nlmsg_type == NLMSG_ERROR)
			return -1;
	}
	return -1;
}

/* A fresh netlink socket per call rather than a cached one: this runs per
 * pool, not per worker, and nothing then leaks into forked children or
 * outlives a reload. */
static int unix_queue(int fd, unsigned *queued, unsigned *backlog)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	                NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	/* Socket inodes come from get_next_ino(), an unsigned int, so the
	 * 32-bit udiag_ino holds them. */
	uint32_t ino = (uint32_t)st.st_ino;
	struct unix_diag_rqlen rq;
	int rc = -1;
	if (diag_request(nl, ino) == 0 && diag_reply(nl, ino, &rq) == 0) {
		*queued = rq.udiag_rqueue;
		*backlog = rq.udiag_wqueue;
		rc = 0;
	}
	(void)close(nl);
	return rc;
}

int listen_queue(int fd, unsigned *queued, unsigned *backlog)
{
	*queued = *backlog = 0;
	int domain, listening;
	/* SO_ACCEPTCONN is set only in LISTEN, which also rules out
	 * datagram sockets. */
	if (int_sockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain) < 0 ||
	    int_sockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) < 0 ||
	    !listening)
		return -1;
	switch (domain) {
	case AF_INET:
	case AF_INET6:
		return tcp_queue(fd, queued, backlog);
	case AF_UNIX:
		return unix_queue(fd, queued, backlog);
	default:
		return -1;
	}
}
