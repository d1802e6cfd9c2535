/* Tests for src/manager/procinfo.c against the running kernel: forked
 * children blocked in known system calls, and listeners with connections
 * nobody accepts. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "procinfo.h"

/* Long enough for a freshly forked child to reach its blocking call on a
 * loaded CI machine, in 10 ms steps. */
#define WAIT_STEPS 200
#define WAIT_STEP_US 10000

/* Forks a child that runs fn(arg) and exits; it dies with the test. The
 * child must not call cmocka: a failed assertion there would unwind into
 * a copy of the test runner. */
static pid_t spawn(void (*fn)(int), int arg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		fn(arg);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	(void)kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* Samples pid until want() holds; returns whether it did in time. */
static bool wait_sample(pid_t pid, bool (*want)(const struct proc_sample *),
                        struct proc_sample *s)
{
	for (int i = 0; i < WAIT_STEPS; i++) {
		if (proc_sample(pid, s) == 0 && want(s))
			return true;
		(void)usleep(WAIT_STEP_US);
	}
	return false;
}

/* Both: stat is read before syscall, so a child on its way into accept4
 * can sample as 'R' in stat and yet as blocked in accept4. */
static bool is_accepting(const struct proc_sample *s)
{
	return s->accepting && s->state == 'S';
}

static bool in_accept4(const struct proc_sample *s)
{
	return s->state == 'S' && s->syscall == SYS_accept4;
}

static bool in_read(const struct proc_sample *s)
{
	return s->state == 'S' && s->syscall == SYS_read;
}

static void child_accept_fd0(int lfd)
{
	if (dup2(lfd, 0) == 0)
		(void)accept4(0, NULL, NULL, 0);
}

static void child_accept(int lfd)
{
	(void)accept4(lfd, NULL, NULL, 0);
}

static void child_read(int fd)
{
	char c;
	(void)!read(fd, &c, 1);
}

static void child_exit(int unused)
{
	(void)unused;
}

/* comm is the one free-form field of /proc/PID/stat. */
static void child_read_odd_name(int fd)
{
	(void)prctl(PR_SET_NAME, "a) (b ) S 1 2", 0, 0, 0);
	child_read(fd);
}

static int tcp_listener(int backlog, struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd > 0);
	*addr = (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(*addr);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, len), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

/* An abstract address picked by the kernel (autobind): nothing to clean
 * up on disk, no clash between concurrent test runs. */
static int unix_listener(int backlog, struct sockaddr_un *addr,
                         socklen_t *len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd > 0);
	*addr = (struct sockaddr_un){.sun_family = AF_UNIX};
	assert_int_equal(bind(fd, (struct sockaddr *)addr,
	                      sizeof(sa_family_t)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	*len = sizeof(*addr);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, len), 0);
	return fd;
}

static int connect_to(int family, const void *addr, socklen_t len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, addr, len), 0);
	return fd;
}

/* Polls the queue until it holds want connections: a loopback handshake
 * may finish in softirq just after connect() returns. */
static void expect_queue(int lfd, unsigned want, unsigned want_backlog)
{
	unsigned queued = 0, backlog = 0;
	for (int i = 0; i < WAIT_STEPS; i++) {
		assert_int_equal(listen_queue(lfd, &queued, &backlog), 0);
		if (queued == want)
			break;
		(void)usleep(WAIT_STEP_US);
	}
	assert_int_equal(queued, want);
	assert_int_equal(backlog, want_backlog);
}

static void expect_no_queue(int fd)
{
	unsigned queued = 7, backlog = 7;
	assert_int_equal(listen_queue(fd, &queued, &backlog), -1);
	assert_int_equal(queued, 0);
	assert_int_equal(backlog, 0);
}

/* Reading its own /proc/self/syscall, a process sees itself inside that
 * very read(). */
static void sample_self(void **state)
{
	struct proc_sample s;
	(void)state;
	assert_int_equal(proc_sample(getpid(), &s), 0);
	assert_true(s.rss_kb > 0);
	assert_true(s.cpu_s >= 0);
	assert_int_equal(s.state, 'R');
	assert_int_equal(s.syscall, SYS_read);
	assert_false(s.accepting);
}

static void sample_accept_on_fd0(void **state)
{
	struct sockaddr_in addr;
	int lfd = tcp_listener(16, &addr);
	(void)state;
	pid_t pid = spawn(child_accept_fd0, lfd);
	struct proc_sample s;
	assert_true(wait_sample(pid, is_accepting, &s));
	assert_int_equal(s.state, 'S');
	assert_int_equal(s.syscall, SYS_accept4);
	assert_true(s.rss_kb > 0);
	reap(pid);
	(void)close(lfd);
}

/* Blocked in accept4, but not on the pool's fd 0. */
static void sample_accept_on_other_fd(void **state)
{
	struct sockaddr_in addr;
	int lfd = tcp_listener(16, &addr);
	(void)state;
	assert_true(lfd != 0);
	pid_t pid = spawn(child_accept, lfd);
	struct proc_sample s;
	assert_true(wait_sample(pid, in_accept4, &s));
	assert_false(s.accepting);
	reap(pid);
	(void)close(lfd);
}

/* statm's resident set, read apart: /proc/PID/stat's rss field is a
 * cheaper but inexact count, and must not be what proc_sample reports. */
static long long statm_rss_kb(pid_t pid)
{
	char path[64];
	long long size, resident = -1;
	(void)snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lld %lld", &size, &resident), 2);
	(void)fclose(f);
	return resident * sysconf(_SC_PAGESIZE) / 1024;
}

static void sample_read(void **state)
{
	int p[2];
	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = spawn(child_read, p[0]);
	struct proc_sample s;
	assert_true(wait_sample(pid, in_read, &s));
	assert_false(s.accepting);
	assert_true(s.cpu_s >= 0);
	assert_true(s.rss_kb > 0);
	assert_int_equal(s.rss_kb, statm_rss_kb(pid));
	reap(pid);
	(void)close(p[0]);
	(void)close(p[1]);
}

static void sample_odd_comm(void **state)
{
	int p[2];
	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = spawn(child_read_odd_name, p[0]);
	struct proc_sample s;
	assert_true(wait_sample(pid, in_read, &s));
	assert_true(s.cpu_s >= 0);
	assert_true(s.cpu_s < 60);
	reap(pid);
	(void)close(p[0]);
	(void)close(p[1]);
}

static bool is_zombie(const struct proc_sample *s)
{
	return s->state == 'Z';
}

static void sample_zombie_then_reaped(void **state)
{
	(void)state;
	pid_t pid = spawn(child_exit, 0);
	struct proc_sample s;
	assert_true(wait_sample(pid, is_zombie, &s));
	assert_false(s.accepting);
	assert_int_equal(s.rss_kb, 0);
	assert_int_equal(s.syscall, -1);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	s.state = 'x';
	assert_int_equal(proc_sample(pid, &s), -1);
	assert_int_equal(s.state, 0);
	assert_int_equal(s.rss_kb, -1);
	assert_true(s.cpu_s < 0);
	assert_int_equal(s.syscall, -1);
	assert_false(s.accepting);
}

static void stack_of_sleeper(void **state)
{
	int p[2];
	char buf[512];
	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = spawn(child_read, p[0]);
	struct proc_sample s;
	assert_true(wait_sample(pid, in_read, &s));
	size_t n = proc_stack(pid, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(n < sizeof(buf));
	assert_int_equal(strlen(buf), n);
	assert_null(strstr(buf, "[<"));
	assert_null(strstr(buf, "+0x"));
	assert_null(strchr(buf, '\n'));
	reap(pid);
	(void)close(p[0]);
	(void)close(p[1]);
}

/* Each cap: nothing written past cap bytes, always a NUL inside them. */
static void stack_tiny_caps(void **state)
{
	int p[2];
	char buf[8];
	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = spawn(child_read, p[0]);
	struct proc_sample s;
	assert_true(wait_sample(pid, in_read, &s));

	memset(buf, '#', sizeof(buf));
	assert_int_equal(proc_stack(pid, buf, 0), 0);
	assert_int_equal(buf[0], '#');

	assert_int_equal(proc_stack(pid, buf, 1), 0);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], '#');

	memset(buf, '#', sizeof(buf));
	assert_int_equal(proc_stack(pid, buf, 5), 4);
	assert_int_equal(buf[4], '\0');
	assert_int_equal(buf[5], '#');
	assert_int_equal(strlen(buf), 4);

	reap(pid);
	(void)close(p[0]);
	(void)close(p[1]);
}

static void stack_of_reaped(void **state)
{
	char buf[64];
	(void)state;
	pid_t pid = spawn(child_exit, 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	memset(buf, '#', sizeof(buf));
	assert_int_equal(proc_stack(pid, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], '\0');
}

static void queue_tcp(void **state)
{
	struct sockaddr_in addr;
	int c[3];
	(void)state;
	int lfd = tcp_listener(16, &addr);
	expect_queue(lfd, 0, 16);
	for (int i = 0; i < 3; i++)
		c[i] = connect_to(AF_INET, &addr, sizeof(addr));
	expect_queue(lfd, 3, 16);
	int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	expect_queue(lfd, 2, 16);
	(void)close(a);
	for (int i = 0; i < 3; i++)
		(void)close(c[i]);
	(void)close(lfd);
}

static void queue_unix(void **state)
{
	struct sockaddr_un addr;
	socklen_t len;
	int c[3];
	(void)state;
	int lfd = unix_listener(16, &addr, &len);
	expect_queue(lfd, 0, 16);
	for (int i = 0; i < 3; i++)
		c[i] = connect_to(AF_UNIX, &addr, len);
	expect_queue(lfd, 3, 16);
	int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	expect_queue(lfd, 2, 16);
	(void)close(a);
	for (int i = 0; i < 3; i++)
		(void)close(c[i]);
	(void)close(lfd);
}

static void queue_not_a_listener(void **state)
{
	int p[2], sp[2];
	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	expect_no_queue(p[0]);
	expect_no_queue(-1);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	                            sp), 0);
	expect_no_queue(sp[0]);

	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(tcp >= 0);
	expect_no_queue(tcp);
	int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(udp >= 0);
	expect_no_queue(udp);

	(void)close(p[0]);
	(void)close(p[1]);
	(void)close(sp[0]);
	(void)close(sp[1]);
	(void)close(tcp);
	(void)close(udp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sample_self),
		cmocka_unit_test(sample_accept_on_fd0),
		cmocka_unit_test(sample_accept_on_other_fd),
		cmocka_unit_test(sample_read),
		cmocka_unit_test(sample_odd_comm),
		cmocka_unit_test(sample_zombie_then_reaped),
		cmocka_unit_test(stack_of_sleeper),
		cmocka_unit_test(stack_tiny_caps),
		cmocka_unit_test(stack_of_reaped),
		cmocka_unit_test(queue_tcp),
		cmocka_unit_test(queue_unix),
		cmocka_unit_test(queue_not_a_listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
