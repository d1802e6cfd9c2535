/* The CGI gateway's configuration (from the environment the manager
 * writes: src/manager/cgi_options.c) and --max-scripts' pool-wide slots. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cgi_gateway.h"

enum { SLOT_RETRY_MS = 10 };

static long long env_number(const char *name, long long dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	long long n = strtoll(v, &end, 10);
	return *end ? dflt : n;
}

static long long env_ms(const char *name, long long dflt)
{
	const char *v = getenv(name);
	long long ms = v ? (long long)(strtod(v, NULL) * 1000) : dflt;
	return ms < 0 ? 0 : ms;
}

/* ANYCGI_CGI_USER=UID:GID, resolved by the master. Running scripts as
 * another user needs the right to change users: the worker must be root
 * (the master checked that it runs as root and the pool has no --user). */
static int script_user(struct cgi_gateway *g)
{
	const char *v = getenv("ANYCGI_CGI_USER");
	g->uid = (uid_t)-1;
	g->gid = (gid_t)-1;
	if (!v || !*v)
		return 0;
	unsigned long uid, gid;
	if (sscanf(v, "%lu:%lu", &uid, &gid) != 2) {
		cgi_log("cgi: ANYCGI_CGI_USER=%s: not UID:GID", v);
		return -EINVAL;
	}
	if (geteuid() != 0) {
		cgi_log("cgi: --script-user needs the worker to run as root "
		        "(a root master and no --user); it runs as uid %u",
		        (unsigned)geteuid());
		return -EPERM;
	}
	g->uid = (uid_t)uid;
	g->gid = (gid_t)gid;
	const char *group = getenv("ANYCGI_CGI_GROUP"); /* --script-group */
	if (group && *group)
		g->gid = (gid_t)strtoul(group, NULL, 10);
	return 0;
}

static int read_root(struct cgi_gateway *g)
{
	const char *root = getenv("ANYCGI_CGI_ROOT");
	g->root[0] = '\0';
	g->root_fd = -1;
	if (!root || !*root)
		return 0;
	if (strlen(root) >= sizeof(g->root)) {
		cgi_log("cgi: the root is too long");
		return -ENAMETOOLONG;
	}
	g->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g->root_fd < 0) {
		int err = errno;
		cgi_log("cgi: root %s: %s", root, strerror(err));
		return -err;
	}
	snprintf(g->root, sizeof(g->root), "%s", root);
	/* "/srv/cgi/" and "/srv/cgi" map URIs alike. */
	size_t n = strlen(g->root);
	while (n > 1 && g->root[n - 1] == '/')
		g->root[--n] = '\0';
	return 0;
}

int cgi_gateway_init(struct cgi_gateway *g)
{
	static const char *const rlimit_vars[CGI_RL_COUNT] = {
		[CGI_RL_CPU] = "ANYCGI_CGI_RLIMIT_CPU",
		[CGI_RL_AS] = "ANYCGI_CGI_RLIMIT_AS",
		[CGI_RL_NPROC] = "ANYCGI_CGI_RLIMIT_NPROC",
		[CGI_RL_FILES] = "ANYCGI_CGI_RLIMIT_FILES",
	};
	/* A script that exits before it read its body must cost an EPIPE,
	 * not the worker (children get every default back at spawn). */
	(void)signal(SIGPIPE, SIG_IGN);
	memset(g, 0, sizeof(*g));
	g->timeout_ms = env_ms("ANYCGI_CGI_TIMEOUT", 0);
	long long max = env_number("ANYCGI_CGI_MAX_SCRIPTS", 0);
	g->max_scripts = max > 0 && max < 100000 ? (unsigned)max : 0;
	g->slot_wait_ms = env_ms("ANYCGI_CGI_SCRIPT_WAIT", 10000);
	for (int i = 0; i < CGI_RL_COUNT; i++)
		g->rlimits[i] = env_number(rlimit_vars[i], -1);
	const char *err = getenv("ANYCGI_CGI_STDERR");
	g->stderr_fcgi = err && strcmp(err, "fastcgi") == 0;
	int rc = script_user(g);
	rc = rc ? rc : read_root(g);
	rc = rc ? rc : cgi_slots_init(g);
	return rc;
}

/* ---- --max-scripts --------------------------------------------------------
 *
 * The pool's workers are separate processes, each running one script at a
 * time; the cap holds across them with slots that are abstract Unix socket
 * names: binding one takes the slot, closing the socket (or dying: the
 * kernel closes it) gives it back, so a crashed worker never leaks a slot,
 * nothing is left on disk, and it works in a chroot and after the user
 * drop. The names hold a random key that the master made (so another local
 * user cannot guess and squat them) and the inode of the pool's listener,
 * which every worker of the pool shares, across reloads too. */

int cgi_slots_init(struct cgi_gateway *g)
{
	if (!g->max_scripts)
		return 0;
	const char *key = getenv("ANYCGI_CGI_SLOT_KEY");
	struct stat st;
	if (fstat(0, &st) < 0)
		st.st_ino = 0;
	snprintf(g->slot_prefix, sizeof(g->slot_prefix), "anycgi-cgi-%.32s-%lu",
	         key ? key : "", (unsigned long)st.st_ino);
	return 0;
}

/* Tries each slot once; returns the bound socket or -1. */
static int try_slots(const struct cgi_gateway *g, int s)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	for (unsigned i = 0; i < g->max_scripts; i++) {
		/* sun_path[0] = 0: the abstract namespace. */
		int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "%s-%u",
		                 g->slot_prefix, i);
		socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path)
		                            + 1 + (size_t)n);
		if (bind(s, (struct sockaddr *)&a, len) == 0)
			return s;
	}
	return -1;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A request over the cap waits here, retrying every SLOT_RETRY_MS (no
 * queue: whichever worker tries first after a slot frees takes it), up
 * to --script-wait, watching for the client going away. */
int cgi_slot_take(const struct cgi_gateway *g, acgi_request *r)
{
	if (!g->max_scripts)
		return INT_MAX;
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	long long deadline = mono_ms() + g->slot_wait_ms;
	for (;;) {
		if (try_slots(g, s) >= 0)
			return s;
		if (acgi_cancelled(r)) {
			close(s);
			return -ECANCELED;
		}
		if (mono_ms() >= deadline) {
			close(s);
			return -EBUSY;
		}
		(void)poll(NULL, 0, SLOT_RETRY_MS);
	}
}

void cgi_slot_put(int slot)
{
	if (slot >= 0 && slot != INT_MAX)
		close(slot);
}
