/* The scoreboard end to end: the test plays the master (it creates and
 * seals the memfd, maps it, reads the worker's half under the seqlock and
 * writes the pool's half) and the web server (FastCGI and SCGI over a
 * Unix socket); a server thread, or a forked child for SIGTERM, is the
 * worker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "anycgi.h"
#include "client.h"
#include "scoreboard.h"

struct fixture {
	char dir[64];
	char path[108];
	int memfd;                /* given to the worker, which closes it */
	uint8_t *page;            /* the master's view of the page */
	acgi_server *s;
	pthread_t tid;            /* runs acgi_serve */
	bool serving;             /* tid not joined yet */
	pid_t child;              /* a forked worker to reap, or 0 */
	int gate[2];              /* "wait" handlers block until a byte */
	int n_handled;            /* handler calls */
	char log[4096];
};

struct reply {
	char out[8192];           /* STDOUT bytes (SCGI: all bytes) */
	size_t out_len;
	bool ended;               /* END_REQUEST seen */
};

static void on_log(acgi_log_level level, const char *line, void *data)
{
	struct fixture *f = data;
	(void)level;
	size_t n = strlen(f->log);
	snprintf(f->log + n, sizeof(f->log) - n, "%s\n", line);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/acgi-sb-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	/* As the master does: a page that can neither shrink nor grow. */
	f->memfd = memfd_create("acgi-sb", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, ACGI_SB_SIZE), 0);
	assert_int_equal(fcntl(f->memfd, F_ADD_SEALS, F_SEAL_SHRINK |
	                       F_SEAL_GROW | F_SEAL_SEAL), 0);
	f->page = mmap(NULL, ACGI_SB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	               f->memfd, 0);
	assert_true(f->page != MAP_FAILED);
	char fd[16];
	snprintf(fd, sizeof(fd), "%d", f->memfd);
	setenv("ANYCGI_SCOREBOARD_FD", fd, 1);
	assert_int_equal(pipe(f->gate), 0);
	unsetenv("GATEWAY_INTERFACE");
	unsetenv("ANYCGI_LISTEN");
	*state = f;
	return 0;
}

static void join_server(struct fixture *f)
{
	if (!f->serving)
		return;
	pthread_join(f->tid, NULL);
	f->serving = false;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->child > 0) {
		/* The test failed half way: no worker outlives it. */
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	if (f->s)
		acgi_server_stop(f->s);
	join_server(f);
	acgi_server_free(&f->s);
	unsetenv("ANYCGI_SCOREBOARD_FD");
	unsetenv("ANYCGI_PING_PATH");
	unsetenv("ANYCGI_MAX_REQUESTS");
	unsetenv("ANYCGI_REQUEST_TIMEOUT");
	munmap(f->page, ACGI_SB_SIZE);
	close(f->gate[0]);
	close(f->gate[1]);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- The worker ------------------------------------------------------ */

/* Query words: "flush" writes and flushes a first byte of the response,
 * "wait" then blocks until the test opens the gate, "big" answers more
 * than the socket and the connection's queue hold. */
static void handler(acgi_request *r, void *data)
{
	struct fixture *f = data;
	__atomic_add_fetch(&f->n_handled, 1, __ATOMIC_SEQ_CST);
	const char *q = acgi_param(r, "QUERY_STRING");
	if (q && strstr(q, "flush")) {
		acgi_printf(r, "Content-Type: text/plain\r\n\r\npartial");
		acgi_flush(r);
	}
	if (q && strstr(q, "wait")) {
		char b;
		(void)!read(f->gate[0], &b, 1);
	}
	if (q && strstr(q, "big")) {
		static char chunk[65536];
		for (int i = 0; i < 64; i++)
			acgi_write(r, chunk, sizeof(chunk));
	}
	acgi_printf(r, "hello");
}

static void open_gate(struct fixture *f)
{
	(void)!write(f->gate[1], "x", 1);
}

static acgi_server *new_server(struct fixture *f)
{
	acgi_server *s = acgi_server_new();
	char addr[128];
	snprintf(addr, sizeof(addr), "unix:%s", f->path);
	if (s && acgi_server_listen(s, addr) < 0)
		acgi_server_free(&s);
	if (s)
		acgi_server_set_log(s, on_log, f, ACGI_LOG_DEBUG);
	return s;
}

static unsigned n_threads_arg;

static void *serve_main(void *arg)
{
	struct fixture *f = arg;
	(void)acgi_serve(f->s, handler, f, n_threads_arg);
	return NULL;
}

static void start_server(struct fixture *f, unsigned n_threads)
{
	f->s = new_server(f);
	assert_non_null(f->s);
	n_threads_arg = n_threads;
	assert_int_equal(pthread_create(&f->tid, NULL, serve_main, f), 0);
	f->serving = true;
}

/* ---- The master's side ------------------------------------------------- */

/* Copies the worker's half out under the sequence counter. */
static void snapshot(const struct fixture *f, struct acgi_scoreboard *out)
{
	const struct acgi_scoreboard *sb = (const void *)f->page;
	for (;;) {
		uint32_t seq = __atomic_load_n(&sb->seq, __ATOMIC_ACQUIRE);
		if (seq & 1)
			continue;
		memcpy(out, sb, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&sb->seq, __ATOMIC_RELAXED) == seq)
			return;
	}
}

/* Waits up to 5 s for the page to show state with active requests. */
static void wait_page(const struct fixture *f, uint32_t state, uint32_t active,
                      struct acgi_scoreboard *out)
{
	for (int i = 0; i < 5000; i++) {
		snapshot(f, out);
		if (out->state == state && out->active == active)
			return;
		usleep(1000);
	}
	fail_msg("page: state %u active %u, want %u and %u", out->state,
	         out->active, state, active);
}

static void set_pool(struct fixture *f, uint32_t magic, uint32_t live)
{
	struct acgi_sb_pool *pool = (void *)(f->page + ACGI_SB_POOL_OFFSET);
	pool->live_workers = live;
	pool->max_workers = live;
	__atomic_store_n(&pool->magic, magic, __ATOMIC_RELEASE);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- The web server's side --------------------------------------------- */

static int connect_to(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, path);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void to_pairs(struct cgi_pair *pairs, const char *const *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = kv[2 * i], *value = kv[2 * i + 1];
		pairs[i] = (struct cgi_pair){name, strlen(name), value,
		                             strlen(value)};
	}
}

/* Sends a whole FastCGI request with an empty body. */
static void send_fcgi(int fd, uint16_t id, uint8_t flags,
                      const char *const *kv, size_t n_pairs)
{
	uint8_t out[8192];
	struct cgi_pair pairs[16];
	to_pairs(pairs, kv, n_pairs);
	fcgi_encode_begin(out, id, FCGI_RESPONDER, flags);
	int64_t n = fcgi_encode_params(out + 16, sizeof(out) - 24, id, pairs,
	                               n_pairs);
	assert_true(n > 0 && (size_t)n <= sizeof(out) - 24);
	fcgi_encode_header(out + 16 + n, FCGI_STDIN, id, 0, 0);
	assert_int_equal(write(fd, out, 24 + (size_t)n), 24 + n);
}

static void send_scgi(int fd, const char *const *kv, size_t n_pairs)
{
	uint8_t out[4096];
	struct cgi_pair pairs[16];
	to_pairs(pairs, kv, n_pairs);
	int64_t n = scgi_encode_head(out, sizeof(out), 0, pairs, n_pairs);
	assert_true(n > 0 && (size_t)n <= sizeof(out));
	assert_int_equal(write(fd, out, (size_t)n), n);
}

/* Reads the answer to id until END_REQUEST or the connection's end. */
static void read_fcgi(int fd, uint16_t id, struct reply *rep)
{
	struct fcgi_client fc;
	fcgi_client_init(&fc, id);
	uint8_t buf[4096];
	while (!rep->ended) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got <= 0)
			return;
		size_t off = 0;
		struct fcgi_client_event ev;
		do {
			int n = fcgi_client_feed(&fc, buf + off,
			                         (size_t)got - off, &ev);
			if (n < 0)
				return;
			off += (size_t)n;
			char *end = rep->out + rep->out_len;
			size_t room = sizeof(rep->out) - rep->out_len;
			if (ev.kind == FCGI_CEV_STDOUT && ev.len < room) {
				memcpy(end, ev.data, ev.len);
				rep->out_len += ev.len;
			}
			rep->ended = ev.kind == FCGI_CEV_END;
		} while (ev.kind != FCGI_CEV_NONE && !rep->ended);
	}
}

/* SCGI: the answer is every byte until the worker closes. */
static void read_all(int fd, struct reply *rep)
{
	ssize_t n;
	while (rep->out_len + 1 < sizeof(rep->out) &&
	       (n = recv(fd, rep->out + rep->out_len,
	                 sizeof(rep->out) - 1 - rep->out_len, 0)) > 0)
		rep->out_len += (size_t)n;
}

/* ---- Tests ------------------------------------------------------------- */

static void test_life_of_a_request(void **state)
{
	struct fixture *f = *state;
	start_server(f, 1);
	struct acgi_scoreboard sb;
	wait_page(f, ACGI_SB_IDLE, 0, &sb);
	assert_int_equal(sb.magic, ACGI_SB_MAGIC);
	assert_int_equal(sb.version, ACGI_SB_VERSION);
	assert_int_equal(sb.ready, 1);
	assert_int_equal(sb.requests, 0);
	assert_int_equal(sb.req_start_ms, 0);
	/* Taken once, so a second server cannot take a reused fd number. */
	assert_null(getenv("ANYCGI_SCOREBOARD_FD"));

	long long before = now_ms();
	int fd = connect_to(f->path);
	/* No REQUEST_URI: SCRIPT_NAME and the query stand in. */
	const char *kv[] = {"REQUEST_METHOD", "POST", "SCRIPT_NAME", "/app",
	                    "QUERY_STRING", "wait=1"};
	send_fcgi(fd, 1, 0, kv, 3);
	wait_page(f, ACGI_SB_HANDLING, 1, &sb);
	assert_int_equal(sb.ready, 1);
	assert_string_equal(sb.method, "POST");
	assert_string_equal(sb.uri, "/app?wait=1");
	assert_true(sb.req_start_ms >= before && sb.req_start_ms <= now_ms());
	assert_true(sb.state_since_ms >= sb.req_start_ms);
	assert_int_equal(sb.connections, 1);

	open_gate(f);
	struct reply rep = {0};
	read_fcgi(fd, 1, &rep);
	close(fd);
	assert_true(rep.ended);
	assert_non_null(memmem(rep.out, rep.out_len, "hello", 5));
	/* END_REQUEST is out: the page already counts the request. */
	snapshot(f, &sb);
	assert_int_equal(sb.requests, 1);
	assert_int_equal(sb.active, 0);
	assert_int_equal(sb.state, ACGI_SB_IDLE);
	assert_int_equal(sb.req_start_ms, 0);
	assert_string_equal(sb.method, "");
	assert_string_equal(sb.uri, "");
	assert_int_equal(sb.bytes_out, rep.out_len);
}

static void test_long_uri_is_cut(void **state)
{
	struct fixture *f = *state;
	start_server(f, 1);
	char uri[2000];
	memset(uri, 'u', sizeof(uri) - 1);
	uri[0] = '/';
	uri[sizeof(uri) - 1] = '\0';
	const char *kv[] = {"REQUEST_METHOD", "AVERYLONGMETHODNAME",
	                    "REQUEST_URI", uri, "QUERY_STRING", "wait"};
	int fd = connect_to(f->path);
	send_fcgi(fd, 1, 0, kv, 3);
	struct acgi_scoreboard sb;
	wait_page(f, ACGI_SB_HANDLING, 1, &sb);
	assert_int_equal(strnlen(sb.uri, sizeof(sb.uri)), ACGI_SB_URI_MAX - 1);
	assert_memory_equal(sb.uri, uri, ACGI_SB_URI_MAX - 1);
	assert_string_equal(sb.method, "AVERYLONGMETHOD");
	open_gate(f);
	struct reply rep = {0};
	read_fcgi(fd, 1, &rep);
	close(fd);
	assert_true(rep.ended);
}

/* A handler stuck in acgi_write because the web server does not read is
 * WRITING, not HANDLING: a slow client, not a slow program. */
static void test_slow_client_shows_writing(void **state)
{
	struct fixture *f = *state;
	start_server(f, 1);
	int fd = connect_to(f->path);
	const char *kv[] = {"SCRIPT_NAME", "/big", "QUERY_STRING", "big"};
	send_fcgi(fd, 1, 0, kv, 2);
	struct acgi_scoreboard sb;
	wait_page(f, ACGI_SB_WRITING, 1, &sb);
	assert_string_equal(sb.uri, "/big?big");
	struct reply rep = {0};
	read_fcgi(fd, 1, &rep);
	close(fd);
	assert_true(rep.ended);
	snapshot(f, &sb);
	assert_int_equal(sb.state, ACGI_SB_IDLE);
	assert_true(sb.bytes_out > 64 * 65536);
}

static void ping_case(struct fixture *f, unsigned n_threads)
{
	setenv("ANYCGI_PING_PATH", "/ping", 1);
	setenv("ANYCGI_MAX_REQUESTS", "1", 1);
	start_server(f, n_threads);
	struct acgi_scoreboard sb;
	wait_page(f, ACGI_SB_IDLE, 0, &sb);

	/* FastCGI: the path is SCRIPT_NAME and PATH_INFO. */
	const char *kv[] = {"REQUEST_METHOD", "GET", "SCRIPT_NAME", "/pi",
	                    "PATH_INFO", "ng", "REQUEST_URI", "/elsewhere"};
	int fd = connect_to(f->path);
	send_fcgi(fd, 1, 0, kv, 4);
	struct reply rep = {0};
	read_fcgi(fd, 1, &rep);
	close(fd);
	assert_true(rep.ended);
	rep.out[rep.out_len] = '\0';
	assert_string_equal(rep.out, "Status: 200 OK\r\n"
	                    "Content-Type: text/plain\r\n"
	                    "Cache-Control: no-store\r\n\r\npong\n");

	/* SCGI from nginx has no SCRIPT_NAME: REQUEST_URI, query cut. */
	const char *skv[] = {"REQUEST_METHOD", "GET", "REQUEST_URI",
	                     "/ping?probe=1"};
	fd = connect_to(f->path);
	send_scgi(fd, skv, 2);
	struct reply srep = {0};
	read_all(fd, &srep);
	close(fd);
	assert_non_null(strstr(srep.out, "Status: 200 OK\r\n"));
	assert_non_null(strstr(srep.out, "\r\n\r\npong\n"));
	assert_int_equal(__atomic_load_n(&f->n_handled, __ATOMIC_SEQ_CST), 0);

	/* Pings do not count toward ANYCGI_MAX_REQUESTS=1: this one does,
	 * and the worker then stops by itself. */
	const char *other[] = {"SCRIPT_NAME", "/pingx"};
	fd = connect_to(f->path);
	send_fcgi(fd, 1, 0, other, 1);
	struct reply orep = {0};
	read_fcgi(fd, 1, &orep);
	close(fd);
	assert_non_null(memmem(orep.out, orep.out_len, "hello", 5));
	assert_int_equal(__atomic_load_n(&f->n_handled, __ATOMIC_SEQ_CST), 1);
	join_server(f);
	snapshot(f, &sb);
	assert_int_equal(sb.state, ACGI_SB_DRAINING);
	assert_int_equal(sb.ready, 0);
}

static void test_ping_blocking_style(void **state)
{
	ping_case(*state, 1);
}

static void test_ping_with_threads(void **state)
{
	ping_case(*state, 3);
}

/* Once draining, a ping on a connection that stays open (a request still
 * runs on it) says so. */
static void test_ping_while_draining(void **state)
{
	struct fixture *f = *state;
	setenv("ANYCGI_PING_PATH", "/ping", 1);
	start_server(f, 2);
	struct acgi_scoreboard sb;
	wait_page(f, ACGI_SB_IDLE, 0, &sb);
	int fd = connect_to(f->path);
	const char *slow[] = {"SCRIPT_NAME", "/slow", "QUERY_STRING", "wait"};
	send_fcgi(fd, 1, FCGI_KEEP_CONN, slow, 2);
	wait_page(f, ACGI_SB_HANDLING, 1, &sb);
	acgi_server_stop(f->s);
	wait_page(f, ACGI_SB_DRAINING, 1, &sb);
	assert_int_equal(sb.ready, 0);
	assert_string_equal(sb.uri, "/slow?wait");

	const char *ping[] = {"SCRIPT_NAME", "/ping"};
	send_fcgi(fd, 2, FCGI_KEEP_CONN, ping, 1);
	struct reply rep = {0};
	read_fcgi(fd, 2, &rep);
	assert_true(rep.ended);
	rep.out[rep.out_len] = '\0';
	assert_non_null(strstr(rep.out, "Status: 503 Service Unavailable\r\n"));
	assert_non_null(strstr(rep.out, "\r\n\r\ndraining\n"));

	open_gate(f);
	struct reply slow_rep = {0};
	read_fcgi(fd, 1, &slow_rep);
	close(fd);
	assert_true(slow_rep.ended);
	join_server(f);
}

static void put_text(char *out, size_t cap, size_t *len, const void *p,
                     size_t n)
{
	assert_true(*len + n < cap);
	memcpy(out + *len, p, n);
	*len += n;
	out[*len] = '\0';
}

/* Sends GET_VALUES on fd and returns the answer as "NAME=VALUE\n" lines. */
static void get_values(int fd, char *out, size_t cap)
{
	static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
	                                    "FCGI_MPXS_CONNS"};
	uint8_t req[256];
	int64_t n = fcgi_encode_get_values(req, sizeof(req), names, 3);
	assert_true(n > 0 && (size_t)n <= sizeof(req));
	assert_int_equal(write(fd, req, (size_t)n), n);
	struct fcgi_client fc;
	fcgi_client_init(&fc, 1);
	uint8_t buf[1024];
	size_t len = 0;
	out[0] = '\0';
	for (;;) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		assert_true(got > 0);
		size_t off = 0;
		struct fcgi_client_event ev;
		do {
			int used = fcgi_client_feed(&fc, buf + off,
			                            (size_t)got - off, &ev);
			assert_true(used >= 0);
			off += (size_t)used;
			if (ev.kind == FCGI_CEV_VALUES_END)
				return;
			if (ev.kind == FCGI_CEV_VALUE_VALUE)
				put_text(out, cap, &len, "=", 1);
			if (ev.kind == FCGI_CEV_VALUE_NAME ||
			    ev.kind == FCGI_CEV_VALUE_VALUE)
				put_text(out, cap, &len, ev.data, ev.len);
			if (ev.kind == FCGI_CEV_VALUE_END)
				put_text(out, cap, &len, "\n", 1);
		} while (ev.kind != FCGI_CEV_NONE);
	}
}

static void test_get_values_count_the_pool(void **state)
{
	struct fixture *f = *state;
	start_server(f, 1);
	struct acgi_scoreboard sb;
	wait_page(f, ACGI_SB_IDLE, 0, &sb);
	int fd = connect_to(f->path);
	char got[256];
	get_values(fd, got, sizeof(got));
	assert_string_equal(got, "FCGI_MAX_CONNS=1024\nFCGI_MAX_REQS=1024\n"
	                    "FCGI_MPXS_CONNS=0\n");
	set_pool(f, ACGI_SB_POOL_MAGIC, 3);
	get_values(fd, got, sizeof(got));
	assert_string_equal(got, "FCGI_MAX_CONNS=3072\nFCGI_MAX_REQS=3072\n"
	                    "FCGI_MPXS_CONNS=0\n");
	/* An absurd count, or no magic: the worker answers for itself. */
	set_pool(f, ACGI_SB_POOL_MAGIC, 5000);
	get_values(fd, got, sizeof(got));
	assert_non_null(strstr(got, "FCGI_MAX_CONNS=1024\n"));
	set_pool(f, 0, 3);
	get_values(fd, got, sizeof(got));
	assert_non_null(strstr(got, "FCGI_MAX_REQS=1024\n"));
	close(fd);
}

static void test_bad_fd_is_ignored(void **state)
{
	struct fixture *f = *state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	char fd_text[16];
	snprintf(fd_text, sizeof(fd_text), "%d", p[0]);
	setenv("ANYCGI_SCOREBOARD_FD", fd_text, 1);
	start_server(f, 1);
	int fd = -1;
	for (int i = 0; i < 500 && fd < 0; i++) {
		fd = connect_to(f->path);
		if (fd < 0)
			usleep(10000);
	}
	const char *kv[] = {"SCRIPT_NAME", "/x"};
	send_fcgi(fd, 1, 0, kv, 1);
	struct reply rep = {0};
	read_fcgi(fd, 1, &rep);
	close(fd);
	assert_true(rep.ended);
	assert_non_null(strstr(f->log, "not a scoreboard"));
	/* Not a file: left open, and the memfd's page left alone. */
	assert_true(fcntl(p[0], F_GETFD) >= 0);
	struct acgi_scoreboard sb;
	snapshot(f, &sb);
	assert_int_equal(sb.magic, 0);
	close(p[0]);
	close(p[1]);
}

/* The forked worker of test_sigterm: never returns. */
static void sigterm_child(struct fixture *f)
{
	setenv("ANYCGI_REQUEST_TIMEOUT", "0.5", 1);
	f->s = new_server(f);
	if (f->s)
		(void)acgi_serve(f->s, handler, f, 3);
	_exit(2); /* the watchdog exits with 1 */
}

/* Waits until fd has bytes to read. */
static void wait_readable(int fd)
{
	char b;
	assert_true(recv(fd, &b, 1, MSG_PEEK) == 1);
}

/* SIGTERM while handlers are stuck: a request past its deadline gets a
 * 504, a younger one a 503 (FastCGI with END_REQUEST, SCGI then closed),
 * and one whose response started is left to the close. */
static void test_sigterm_answers(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		sigterm_child(f);
	f->child = pid;
	struct acgi_scoreboard sb;
	wait_page(f, ACGI_SB_IDLE, 0, &sb);

	int old = connect_to(f->path);
	const char *a[] = {"SCRIPT_NAME", "/old", "QUERY_STRING", "wait"};
	send_fcgi(old, 1, FCGI_KEEP_CONN, a, 2);
	wait_page(f, ACGI_SB_HANDLING, 1, &sb);
	usleep(700 * 1000); /* past ANYCGI_REQUEST_TIMEOUT=0.5 */
	int young = connect_to(f->path);
	const char *b[] = {"REQUEST_URI", "/young?wait", "QUERY_STRING",
	                   "wait"};
	send_scgi(young, b, 2);
	wait_page(f, ACGI_SB_HANDLING, 2, &sb);
	int started = connect_to(f->path);
	const char *c[] = {"SCRIPT_NAME", "/started", "QUERY_STRING",
	                   "flush,wait"};
	send_fcgi(started, 1, 0, c, 2);
	wait_readable(started);
	wait_page(f, ACGI_SB_HANDLING, 3, &sb);
	assert_string_equal(sb.uri, "/old?wait");

	assert_int_equal(kill(pid, SIGTERM), 0);
	struct reply rep = {0};
	read_fcgi(old, 1, &rep);
	assert_true(rep.ended);
	rep.out[rep.out_len] = '\0';
	assert_string_equal(rep.out, "Status: 504 Gateway Timeout\r\n"
	                    "Content-Type: text/plain\r\n\r\nrequest timed out\n");
	struct reply srep = {0};
	read_all(young, &srep);
	assert_string_equal(srep.out, "Status: 503 Service Unavailable\r\n"
	                    "Content-Type: text/plain\r\n\r\nworker stopping\n");
	struct reply prep = {0};
	read_fcgi(started, 1, &prep);
	assert_false(prep.ended);
	assert_non_null(memmem(prep.out, prep.out_len, "partial", 7));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	f->child = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	close(old);
	close(young);
	close(started);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_life_of_a_request, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_long_uri_is_cut, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_slow_client_shows_writing,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_blocking_style, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_ping_with_threads, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_ping_while_draining, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_get_values_count_the_pool,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_fd_is_ignored, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_answers, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
