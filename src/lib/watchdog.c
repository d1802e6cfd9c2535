/* SIGTERM in a managed worker: the master sends it when a request passed
 * its deadline (or on a fast stop). Dying at once would leave the web
 * server with requests half answered (a 502 at best); instead every
 * request that can still get a well-formed answer gets a 504 (past the
 * deadline) or a 503, then the worker exits.
 *
 * The signal handler only writes a byte to a pipe; a thread started with
 * the scoreboard reads it, takes the server lock, answers and exits. One
 * scoreboard per process (its fd is taken once), so one watchdog: the
 * handler can only find it through these statics. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "internal.h"

enum {
	LOCK_WAIT_MS = 200,  /* the lock is held only briefly; if not, exit
	                        without answering rather than hang */
	BYTE_STOP = 0,       /* watchdog_stop: end the thread */
	BYTE_TERM = 1,       /* the handler: SIGTERM came */
};

static int pipe_rd = -1;
static volatile sig_atomic_t pipe_wr = -1;
static pid_t worker_pid;     /* a child forked by the program differs */
static pthread_t thread;
static bool running;
static bool handler_ours;    /* SIGTERM's action is on_term */

static const char timed_out[] = "Status: 504 Gateway Timeout\r\n"
	"Content-Type: text/plain\r\n\r\nrequest timed out\n";
static const char stopping[] = "Status: 503 Service Unavailable\r\n"
	"Content-Type: text/plain\r\n\r\nworker stopping\n";

static void on_term(int sig)
{
	int saved = errno;
	if (getpid() != worker_pid || pipe_wr < 0) {
		/* A child the program forked shares the pipe but not the
		 * thread: SIGTERM keeps its usual meaning there. */
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigemptyset(&dfl.sa_mask);
		(void)sigaction(sig, &dfl, NULL);
		(void)raise(sig);
	} else {
		char byte = BYTE_TERM;
		(void)!write(pipe_wr, &byte, 1);
	}
	errno = saved;
}

/* The connection's one request in flight, or NULL (none, or several: a
 * multiplexed connection is left to close). */
static acgi_request *only_request(const struct conn *c)
{
	acgi_request *found = c->sreq;
	for (size_t i = 0; i < c->n_slots; i++) {
		if (!c->reqs[i])
			continue;
		if (found)
			return NULL;
		found = c->reqs[i];
	}
	return found;
}

/* Queues a whole response after what c already queued (whole records,
 * so the stream stays framed). FastCGI 1.0, section 6.1: the streams
 * end with empty records, then END_REQUEST. */
static int queue_answer(struct conn *c, acgi_request *r, const char *text)
{
	size_t len = strlen(text);
	if (r->proto == ACGI_PROTO_SCGI)
		return buf_append(&c->out, text, len);
	/* The text's record, then room for two empty ones and END. */
	uint8_t recs[256];
	size_t room = sizeof(recs) - 2 * FCGI_HEADER_LEN - 16;
	int64_t n = fcgi_encode_stream(recs, room, FCGI_STDOUT, r->id,
	                               (const uint8_t *)text, len);
	if (n < 0 || (size_t)n > room)
		return -ENOMEM;
	size_t off = (size_t)n;
	fcgi_encode_header(recs + off, FCGI_STDOUT, r->id, 0, 0);
	off += FCGI_HEADER_LEN;
	if (r->err_used) {
		fcgi_encode_header(recs + off, FCGI_STDERR, r->id, 0, 0);
		off += FCGI_HEADER_LEN;
	}
	fcgi_encode_end(recs + off, r->id, 1, FCGI_REQUEST_COMPLETE);
	return buf_append(&c->out, recs, off + 16);
}

/* Sends what the socket takes now; never waits. A complete answer is
 * followed by a FIN, so the web server has it before the exit's close
 * can reset a connection with unread input. */
static void send_now(struct conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, buf_head(&c->out), c->out.len,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf_consume(&c->out, (size_t)n);
	}
	(void)shutdown(c->fd, SHUT_WR);
}

/* Answers every connection's one request whose response has not started;
 * a started one cannot be finished well and is left to the close. */
static void answer_all(acgi_server *s)
{
	long long now = loop_now_ms();
	for (struct conn *c = s->conns; c; c = c->next) {
		acgi_request *r = only_request(c);
		if (!r || r->wrote)
			continue;
		bool late = s->timeout_ms > 0 &&
		            now - r->start_ms >= s->timeout_ms;
		if (queue_answer(c, r, late ? timed_out : stopping) == 0)
			send_now(c);
	}
}

static void *watchdog_main(void *arg)
{
	acgi_server *s = arg;
	char byte;
	ssize_t n;
	do
		n = read(pipe_rd, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || byte != BYTE_TERM)
		return NULL;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += LOCK_WAIT_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/* The lock is never released: the process ends here. */
	if (pthread_mutex_timedlock(&s->lock, &until) == 0)
		answer_all(s);
	_exit(1);
}

/* Starts the thread, then installs the handler (unless the program has
 * its own: as with SIGQUIT, the program's wins). Returns 0, or a negative
 * errno with nothing started. */
int watchdog_start(acgi_server *s)
{
	int fds[2];
	if (running)
		return -EALREADY;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* Only the handler's write must not block; the thread waits. */
	(void)fcntl(fds[0], F_SETFL, 0);
	pipe_rd = fds[0];
	pipe_wr = fds[1];
	worker_pid = getpid();
	/* The thread takes no signal: they stay the program's threads'. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&thread, NULL, watchdog_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(fds[0]);
		close(fds[1]);
		pipe_rd = pipe_wr = -1;
		return -rc;
	}
	running = true;
	struct sigaction prev;
	if (sigaction(SIGTERM, NULL, &prev) == 0 &&
	    prev.sa_handler == SIG_DFL) {
		struct sigaction sa = {.sa_handler = on_term};
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		handler_ours = sigaction(SIGTERM, &sa, NULL) == 0;
	}
	return 0;
}

/* Undoes watchdog_start. The stop travels as a byte, not as the pipe's
 * end of file: a child the program forked may hold the write end. */
void watchdog_stop(void)
{
	if (!running)
		return;
	if (handler_ours) {
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigemptyset(&dfl.sa_mask);
		(void)sigaction(SIGTERM, &dfl, NULL);
		handler_ours = false;
	}
	int wr = pipe_wr;
	pipe_wr = -1;
	char byte = BYTE_STOP;
	(void)!write(wr, &byte, 1);
	pthread_join(thread, NULL);
	close(wr);
	close(pipe_rd);
	pipe_rd = -1;
	running = false;
}
