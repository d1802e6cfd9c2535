/* The CGI gateway's handler: spawns the script that cgi_resolve found and
 * relays its I/O in one poll loop (the body to its stdin while its stdout
 * is read, so a script that writes before it reads never deadlocks), with
 * the response head checked before anything is forwarded. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgi_gateway.h"
#include "cgi_head.h"
#include "internal.h"

enum {
	IO_CHUNK = 65536,
	HEAD_MAX = 32768,   /* the longest response head accepted */
	ERR_LINE_MAX = 2048,/* a stderr line longer than this is cut */
	IDLE_BACKOFF_MS = 5,/* see poll_once */
	REAP_WAIT_MS = 5000,/* after the output ends, before SIGKILL */
};

struct child {
	pid_t pid;             /* also its process group; -1 when reaped */
	bool killed;           /* we killed it: its signal is no news */
	int in, out, err;      /* our ends of its stdio pipes, -1 when closed */
};

/* One run: the request, the child and the state of each stream. */
struct run {
	acgi_request *r;
	const struct cgi_gateway *g;
	const struct cgi_script *sc;
	const struct cgi_redirect *rd; /* this run follows a local redirect */
	char *redirect_to;       /* a local redirect asked for (malloc) */
	struct child ch;
	char body[IO_CHUNK];     /* body bytes on their way to the child */
	size_t body_len, body_off;
	bool body_done;          /* acgi_read has nothing more for us */
	bool idle_wake;          /* the loop's fd woke us for nothing */
	struct cgi_head_parser head;
	char head_buf[HEAD_MAX];
	bool head_sent;          /* the response head went to the library */
	bool discard;            /* the script's body is not forwarded */
	bool failed;             /* we answered an error: stop relaying */
	bool aborted;            /* the client went away */
	bool timed_out;          /* --script-timeout passed: child killed */
	long long deadline_ms;   /* CLOCK_MONOTONIC, 0: no timeout */
	char err_line[ERR_LINE_MAX + 1]; /* + its newline */
	size_t err_len;
};

static void answer(acgi_request *r, int code, const char *text)
{
	(void)acgi_set_status(r, code, NULL);
	(void)acgi_set_content_type(r, "text/plain; charset=utf-8");
	(void)acgi_printf(r, "%s\n", text);
}

/* The running script's process group, for the SIGTERM handler. */
static volatile sig_atomic_t running_pgid;
static volatile sig_atomic_t terminating; /* SIGTERM came: the watchdog answers */
static pid_t worker_pid;
static struct sigaction prev_term;

static void on_term(int sig, siginfo_t *info, void *uc)
{
	int saved = errno;
	pid_t pg = running_pgid;
	if (pg > 0 && getpid() == worker_pid)
		(void)kill(-pg, SIGKILL);
	terminating = 1;
	if (prev_term.sa_flags & SA_SIGINFO) {
		prev_term.sa_sigaction(sig, info, uc);
	} else if (prev_term.sa_handler == SIG_DFL) {
		(void)signal(sig, SIG_DFL);
		(void)raise(sig);
	} else if (prev_term.sa_handler != SIG_IGN) {
		prev_term.sa_handler(sig);
	}
	errno = saved;
}

static void guard_sigterm(void)
{
	struct sigaction sa = {.sa_sigaction = on_term,
	                       .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	worker_pid = getpid();
	if (sigaction(SIGTERM, NULL, &prev_term) == 0)
		(void)sigaction(SIGTERM, &sa, NULL);
}

/* ---- The child ----------------------------------------------------------- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int make_pipes(int p[3][2])
{
	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0)
			return -errno;
	return 0;
}

/* Spawns ./NAME from the folder fd that was checked (no path lookup from
 * the root again, so nothing can swap a directory in between). Returns 0
 * or a negative errno (the exec's own error too). */
static int spawn_child(const struct cgi_gateway *g,
                       const struct cgi_script *sc, char **env,
                       struct child *ch)
{
	int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	int rc = make_pipes(p);
	if (rc == 0) {
		struct cgi_spawn sp = {
			.stdio = {p[0][0], p[1][1], p[2][1]},
			.dir_fd = sc->dir_fd, .name = sc->name, .env = env,
		};
		pid_t pid = cgi_spawn(g, &sp);
		rc = pid < 0 ? (int)pid : 0;
		ch->pid = pid;
	}
	ch->in = p[0][1];
	ch->out = p[1][0];
	ch->err = p[2][0];
	close_fd(&p[0][0]);
	close_fd(&p[1][1]);
	close_fd(&p[2][1]);
	if (rc < 0) {
		ch->pid = -1;
		close_fd(&ch->in);
		close_fd(&ch->out);
		close_fd(&ch->err);
		return rc;
	}
	for (int i = 0; i < 3; i++)
		(void)fcntl(i == 0 ? ch->in : i == 1 ? ch->out : ch->err,
		            F_SETFL, O_NONBLOCK);
	running_pgid = ch->pid;
	return 0;
}

static void kill_child(struct child *ch)
{
	if (ch->pid > 0)
		(void)kill(-ch->pid, SIGKILL);
	ch->killed = true;
}

/* Waits for the child (a script that closed its output but lingers gets
 * REAP_WAIT_MS, then its group is killed), then kills whatever it left in
 * its process group: a CGI run leaves nothing behind. */
static int reap(struct child *ch, const char *name)
{
	int status = 0;
	if (ch->pid <= 0)
		return 0;
	int pfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		if (poll(&p, 1, REAP_WAIT_MS) == 0) {
			cgi_log("cgi: %s: still running after its output ended: "
			        "killed", name);
			kill_child(ch);
		}
		close(pfd);
	}
	while (waitpid(ch->pid, &status, 0) < 0 && errno == EINTR)
		;
	(void)kill(-ch->pid, SIGKILL);
	running_pgid = 0;
	ch->pid = -1;
	return status;
}

/* ---- The response ---------------------------------------------------- */

static void add_fields(struct run *run)
{
	const struct cgi_head_parser *p = &run->head;
	for (size_t i = 0; i < p->n_fields; i++) {
		const struct cgi_field *f = &p->fields[i];
		int rc = (int)i == p->content_type
		         ? acgi_set_content_type(run->r, f->value)
		         : acgi_add_header(run->r, f->name, f->value);
		if (rc < 0)
			cgi_log("cgi: %s: header %s dropped: %s", run->sc->name,
			        f->name, acgi_strerror(rc));
	}
}

/* RFC 3875, 6.2.2: a local redirect is followed once, after this run
 * ends (what it still writes is dropped); a second one is refused, which
 * also ends any loop. */
static void local_redirect(struct run *run, const char *location)
{
	run->discard = true;
	if (run->rd) {
		cgi_log("cgi: %s: a second local redirect (to %s, after %s) "
		        "refused", run->sc->name, location, run->rd->uri);
		answer(run->r, 500, "the CGI script redirected locally twice");
		run->failed = true;
		return;
	}
	run->redirect_to = strdup(location);
	if (!run->redirect_to) {
		answer(run->r, 500, "out of memory");
		run->failed = true;
	}
}

/* RFC 3875, section 6.2: a document or a client redirect with a document
 * is relayed; a client redirect becomes a 302 with no body; a local
 * redirect is followed by the handler once this run ends. */
static void send_head(struct run *run)
{
	const struct cgi_head_parser *p = &run->head;
	run->head_sent = true;
	if (p->kind == CGI_LOCAL_REDIRECT)
		return local_redirect(run, p->fields[p->location].value);
	const char *reason = p->reason && *p->reason ? p->reason : NULL;
	(void)acgi_set_status(run->r, p->status, reason);
	add_fields(run);
	if (p->kind == CGI_CLIENT_REDIRECT)
		run->discard = true;
}

static void bad_head(struct run *run, const char *why)
{
	cgi_log("cgi: %s: bad response head: %s", run->sc->name, why);
	answer(run->r, 502, "the CGI script sent a malformed response");
	run->failed = run->discard = true;
	kill_child(&run->ch);
}

static int relay(struct run *run, const uint8_t *data, size_t len)
{
	if (run->discard || len == 0)
		return 0;
	if (acgi_write(run->r, data, len) < 0 || acgi_flush(run->r) < 0) {
		run->aborted = true;
		return -1;
	}
	return 0;
}

/* Stdout bytes: the head first (checked whole), then the body. */
static void on_output(struct run *run, const uint8_t *data, size_t len)
{
	if (run->failed || run->aborted)
		return;
	if (!run->head_sent) {
		int used = cgi_head_feed(&run->head, data, len);
		if (used < 0)
			return bad_head(run, run->head.error);
		if (!run->head.done)
			return;
		if (run->sc->nph && strncmp(run->head_buf, "HTTP/", 5) != 0)
			return bad_head(run, "an nph- script must start with an "
			                "HTTP status line");
		send_head(run);
		data += used;
		len -= (size_t)used;
	}
	if (relay(run, data, len) < 0)
		kill_child(&run->ch);
}

static void on_output_end(struct run *run)
{
	if (run->failed || run->aborted || run->head_sent || terminating)
		return;
	if (cgi_head_finish(&run->head) < 0)
		bad_head(run, run->head.error);
}

/* ---- Streams ----------------------------------------------------------- */

/* --script-stderr fastcgi: the line goes to the web server as
 * FCGI_STDERR (nginx logs it in its error log with the request); under
 * SCGI, which has no such stream, the library logs it. */
static void err_flush(struct run *run)
{
	if (!run->err_len)
		return;
	if (run->g->stderr_fcgi && !run->aborted) {
		run->err_line[run->err_len] = '\n';
		(void)acgi_write_err(run->r, run->err_line, run->err_len + 1);
	} else {
		cgi_log("cgi: %s: %.*s", run->sc->name, (int)run->err_len,
		        run->err_line);
	}
	run->err_len = 0;
}

/* Stderr, a line at a time, to the log with the script's name (or to the
 * web server). */
static void on_stderr(struct run *run, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' || run->err_len == ERR_LINE_MAX)
			err_flush(run);
		if (data[i] != '\n')
			run->err_line[run->err_len++] = data[i];
	}
}

static void read_fd(struct run *run, int *fd, bool is_err)
{
	char buf[IO_CHUNK];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close_fd(fd);
		if (is_err)
			err_flush(run);
		else
			on_output_end(run);
		return;
	}
	if (is_err)
		on_stderr(run, buf, (size_t)n);
	else
		on_output(run, (const uint8_t *)buf, (size_t)n);
}

/* The end of what the child gets: nothing more is read for it (the
 * library drains the rest of the body at acgi_finish). */
static void stdin_done(struct run *run)
{
	close_fd(&run->ch.in);
	run->body_done = true;
	run->body_len = run->body_off = 0;
}

/* Takes body bytes that already arrived; never waits. */
static void fill_body(struct run *run)
{
	if (run->body_done || run->body_off < run->body_len)
		return;
	ssize_t n = req_read_nowait(run->r, run->body, sizeof(run->body));
	if (n == -EAGAIN)
		return;
	if (n == -ECANCELED)
		run->aborted = true;
	else if (n < 0)
		cgi_log("cgi: %s: request body: %s", run->sc->name,
		        acgi_strerror((int)n));
	if (n <= 0)
		return stdin_done(run);
	run->body_len = (size_t)n;
	run->body_off = 0;
}

static void write_body(struct run *run)
{
	ssize_t n = write(run->ch.in, run->body + run->body_off,
	                  run->body_len - run->body_off);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		return stdin_done(run); /* EPIPE: it will not read the rest */
	run->body_off += (size_t)n;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The poll timeout: the back-off, the deadline, or none (-1). */
static int wait_ms(const struct run *run)
{
	long long ms = run->idle_wake ? IDLE_BACKOFF_MS : -1;
	if (run->deadline_ms) {
		long long left = run->deadline_ms - now_ms();
		left = left < 0 ? 0 : left > 60000 ? 60000 : left;
		if (ms < 0 || left < ms)
			ms = left;
	}
	return (int)ms;
}

/* Issue 4, point 4: past --script-timeout the process group dies and the
 * client gets a 504, or, once the head was sent, a cut response. */
static void on_timeout(struct run *run)
{
	run->timed_out = true;
	kill_child(&run->ch);
	if (run->head_sent || run->failed) {
		cgi_log("cgi: %s: timed out after its response started: killed, "
		        "the response is cut", run->sc->name);
	} else {
		cgi_log("cgi: %s: timed out: killed", run->sc->name);
		answer(run->r, 504, "the CGI script timed out");
	}
	run->failed = run->discard = true;
}

/* One wait. The library's fd (acgi_cancel_fd: its epoll fd here) wakes
 * for body bytes and aborts, but also for connections waiting in the
 * shared accept queue, which this busy worker leaves to the others: when
 * a wake brought nothing, it is left out for IDLE_BACKOFF_MS. */
static void poll_once(struct run *run, int lib_fd)
{
	bool want_body = run->ch.in >= 0 && run->body_off == run->body_len;
	struct pollfd p[4] = {
		{.fd = run->ch.out, .events = POLLIN},
		{.fd = run->ch.err, .events = POLLIN},
		{.fd = run->ch.in >= 0 && !want_body ? run->ch.in : -1,
		 .events = POLLOUT},
		{.fd = run->idle_wake ? -1 : lib_fd, .events = POLLIN},
	};
	int n = poll(p, 4, wait_ms(run));
	run->idle_wake = false;
	if (n < 0)
		return;
	if (p[0].revents)
		read_fd(run, &run->ch.out, false);
	if (p[1].revents)
		read_fd(run, &run->ch.err, true);
	if (p[2].revents && run->ch.in >= 0)
		write_body(run);
	if (n == 0 || p[3].revents) {
		if (acgi_cancelled(run->r)) {
			run->aborted = true;
			return;
		}
		size_t had = run->body_len - run->body_off;
		fill_body(run);
		/* Once the body is all in, any wake but an abort is idle. */
		run->idle_wake = p[3].revents && !run->aborted &&
		                 run->body_len - run->body_off == had;
	}
}

static void relay_loop(struct run *run)
{
	int lib_fd = acgi_cancel_fd(run->r);
	while (run->ch.out >= 0 || run->ch.err >= 0) {
		if (run->deadline_ms && now_ms() >= run->deadline_ms) {
			on_timeout(run);
			break;
		}
		fill_body(run);
		if (run->aborted) {
			cgi_log("cgi: %s: the client went away: child killed",
			        run->sc->name);
			kill_child(&run->ch);
			break;
		}
		poll_once(run, lib_fd);
	}
	close_fd(&run->ch.in);
	close_fd(&run->ch.out);
	close_fd(&run->ch.err);
}

/* ---- The handler ------------------------------------------------------- */

/* Runs one script for r (rd: as a local redirect's target) and answers,
 * unless it asked for a local redirect: then returns where to (malloc)
 * with nothing answered yet. */
static char *run_script(acgi_request *r, const struct cgi_gateway *g,
                        const struct cgi_script *sc,
                        const struct cgi_redirect *rd)
{
	char *redirect_to = NULL;
	struct run *run = calloc(1, sizeof(*run));
	char **env = cgi_env_new(r, sc, rd);
	if (!run || !env) {
		answer(r, 500, "out of memory");
		goto out;
	}
	run->r = r;
	run->g = g;
	run->sc = sc;
	run->rd = rd;
	run->deadline_ms = g->timeout_ms ? now_ms() + g->timeout_ms : 0;
	cgi_head_init(&run->head, run->head_buf, sizeof(run->head_buf),
	              sc->nph);
	int rc = spawn_child(g, sc, env, &run->ch);
	if (rc < 0) {
		cgi_log("cgi: %s: cannot run: %s", sc->filename, strerror(-rc));
		answer(r, rc == -EACCES ? 403 : 502,
		       rc == -EACCES ? "the script may not be run"
		                     : "the script could not be started");
		goto out;
	}
	if (rd)
		stdin_done(run); /* a redirect's GET has no body */
	relay_loop(run);
	int status = reap(&run->ch, sc->name);
	if (terminating) {
		/* The watchdog answers this request (504 or 503) and ends the
		 * worker; an answer of ours would race with it. */
		(void)poll(NULL, 0, 2000);
	}
	/* Our kills are SIGKILLs; any other signal is the script's news
	 * (SIGXCPU at --script-rlimit-cpu, SIGSEGV). */
	if (WIFSIGNALED(status) &&
	    !(run->ch.killed && WTERMSIG(status) == SIGKILL))
		cgi_log("cgi: %s: killed by signal %d", sc->name,
		        WTERMSIG(status));
	if (!run->aborted && !run->failed && !run->timed_out && !terminating) {
		redirect_to = run->redirect_to;
		run->redirect_to = NULL;
	}
out:
	if (run)
		free(run->redirect_to);
	cgi_env_free(env);
	free(run);
	return redirect_to;
}

/* The first run's URL path, for REDIRECT_URL: what it resolved to. */
static char *url_of(const struct cgi_script *sc)
{
	const char *info = sc->path_info ? sc->path_info : "";
	size_t n = strlen(sc->script_name) + strlen(info) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s", sc->script_name, info);
	return s;
}

/* RFC 3875, 6.2.2: the response is what a GET of the new path would get:
 * its script is resolved as a request for it would be (beneath the root,
 * or DOCUMENT_ROOT) and run once with no body. */
static void follow_redirect(acgi_request *r, const struct cgi_gateway *g,
                            const struct cgi_script *first, char *location)
{
	const char *q = strchr(location, '?');
	const char *docroot = acgi_param(r, "DOCUMENT_ROOT");
	const char *prev_query = acgi_param(r, "QUERY_STRING");
	const char *method = acgi_param(r, "REQUEST_METHOD");
	char *prev_url = url_of(first);
	struct cgi_target t = {
		.script_name = "", .path_info = "", .request_uri = location,
		.script_filename = "", .document_root = docroot ? docroot : "",
	};
	struct cgi_redirect rd = {
		.uri = location, .query = q ? q + 1 : "",
		.prev_url = prev_url ? prev_url : "",
		.prev_query = prev_query ? prev_query : "",
		.prev_method = method ? method : "GET",
	};
	struct cgi_script sc;
	cgi_resolve_target(g, &t, &sc);
	if (sc.status) {
		cgi_log("cgi: %s: local redirect to %s: %d %s", first->name,
		        location, sc.status, sc.why);
		answer(r, sc.status, sc.why);
	} else {
		char *again = run_script(r, g, &sc, &rd);
		free(again); /* run_script answered a second redirect */
	}
	cgi_script_free(&sc);
	free(prev_url);
}

static void run_in_slot(acgi_request *r, const struct cgi_gateway *g,
                        const struct cgi_script *sc)
{
	int slot = cgi_slot_take(g, r);
	if (slot == -ECANCELED)
		return;
	if (slot < 0) {
		if (slot == -EBUSY)
			cgi_log("cgi: %s: all %u script slots busy for %.1f s "
			        "(--max-scripts): 503", sc->name, g->max_scripts,
			        (double)g->slot_wait_ms / 1000);
		else
			cgi_log("cgi: %s: script slot: %s", sc->name,
			        strerror(-slot));
		answer(r, 503, "too many CGI scripts are running");
		return;
	}
	char *location = run_script(r, g, sc, NULL);
	if (location)
		follow_redirect(r, g, sc, location);
	free(location);
	cgi_slot_put(slot);
}

void cgi_gateway_handle(acgi_request *r, void *data)
{
	const struct cgi_gateway *g = data;
	struct cgi_script sc;
	if (!worker_pid)
		guard_sigterm();
	cgi_resolve(g, r, &sc);
	if (sc.status)
		answer(r, sc.status, sc.why);
	else
		run_in_slot(r, g, &sc);
	cgi_script_free(&sc);
}
