/* The control socket, both ends. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "internal.h"
#include "mlog.h"

enum { REPLY_TIMEOUT_S = 10 };

const char *control_registry(void)
{
	static char dir[PATH_MAX];
	if (geteuid() == 0) {
		snprintf(dir, sizeof(dir), "/run/anycgi");
		(void)mkdir(dir, 0755);
		return dir;
	}
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		snprintf(dir, sizeof(dir), "%s/anycgi", xdg);
	else
		snprintf(dir, sizeof(dir), "/tmp/anycgi-%u", (unsigned)geteuid());
	(void)mkdir(dir, 0700);
	/* In /tmp another user could have made it first: only a directory
	 * of our own that nobody else may write is used. */
	struct stat st;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 022)) {
		mlog("warning", NULL, "%s is not a private directory of this "
		     "user: no control socket registry", dir);
		snprintf(dir, sizeof(dir), "/nonexistent/anycgi-registry");
	}
	return dir;
}

void control_default_path(const struct master_config *mc, char *out,
                          size_t cap)
{
	for (size_t i = 0; i < mc->n_pools; i++)
		for (size_t j = 0; j < mc->pools[i].n_listeners; j++) {
			const char *a = mc->pools[i].listeners[j].addr;
			if (strncmp(a, "unix:", 5) == 0 &&
			    !mc->pools[i].listeners[j].private_sock) {
				snprintf(out, cap, "%s.ctl", a + 5);
				return;
			}
		}
	snprintf(out, cap, "%s/%s.ctl", control_registry(),
	         mc->n_pools ? mc->pools[0].name : "anycgi");
}

int control_listen(const char *path)
{
	char addr[PATH_MAX + 8];
	snprintf(addr, sizeof(addr), "unix:%s", path);
	int fd = -1;
	bool tcp;
	int rc = listen_addr(addr, &fd, &tcp);
	if (rc < 0) {
		mlog("error", NULL, "control socket %s: %s", path,
		     rc == -EADDRINUSE ? "in use by a live master" : strerror(-rc));
		return -1;
	}
	/* Anyone may ask for the status; the master checks who asks for
	 * more (SO_PEERCRED). */
	(void)chmod(path, 0666);
	return fd;
}

/* ---- the client ---- */

static int connect_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {REPLY_TIMEOUT_S, 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Sends the command and reads the whole answer (bounded). Returns a
 * malloc'd NUL-terminated string, or NULL. */
static char *ask(const char *path, const char *command)
{
	int fd = connect_unix(path);
	if (fd < 0)
		return NULL;
	char line[512];
	int n = snprintf(line, sizeof(line), "%s\n", command);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) == n) {
		for (;;) {
			if (len + 4096 + 1 > cap) {
				char *b = cap > (64u << 20) ? NULL
				          : realloc(buf, cap = cap ? cap * 2 : 8192);
				if (!b)
					break;
				buf = b;
			}
			ssize_t r = read(fd, buf + len, cap - len - 1);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

static bool is_socket(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Does the master at ctl listen on addr? */
static bool master_has(const char *ctl, const char *addr)
{
	char *reply = ask(ctl, "listeners");
	bool found = false;
	if (reply && strncmp(reply, "ok\n", 3) == 0)
		for (char *l = strtok(reply + 3, "\n"); l && !found;
		     l = strtok(NULL, "\n"))
			found = strcmp(l, addr) == 0;
	free(reply);
	return found;
}

/* Every master in the registry, asked whether addr is one of its. */
static int scan_registry(const char *addr, char *out, size_t cap)
{
	const char *dir = control_registry();
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = -1;
	while (rc < 0 && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".ctl") != 0)
			continue;
		snprintf(out, cap, "%s/%s", dir, e->d_name);
		if (master_has(out, addr))
			rc = 0;
	}
	closedir(d);
	return rc;
}

static int find_master(const char *addr, char *out, size_t cap)
{
	const char *path = strncmp(addr, "unix:", 5) == 0 ? addr + 5
	                   : strchr(addr, '/') ? addr : NULL;
	if (path) {
		size_t n = strlen(path);
		if (n > 4 && strcmp(path + n - 4, ".ctl") == 0 && is_socket(path)) {
			snprintf(out, cap, "%s", path);
			return 0;
		}
		snprintf(out, cap, "%s.ctl", path);
		if (is_socket(out))
			return 0;
	}
	return scan_registry(addr, out, cap);
}

int control_call(const char *addr, const char *command)
{
	char ctl[PATH_MAX];
	if (find_master(addr, ctl, sizeof(ctl)) < 0) {
		fprintf(stderr, "anycgi: no master found for %s (looked for its "
		        "control socket beside a Unix listener and in %s)\n", addr,
		        control_registry());
		return 2;
	}
	char *reply = ask(ctl, command);
	if (!reply) {
		fprintf(stderr, "anycgi: %s: %s\n", ctl, strerror(errno));
		return 2;
	}
	int rc = 0;
	if (strncmp(reply, "ok\n", 3) == 0) {
		fputs(reply + 3, stdout);
	} else {
		fputs(strncmp(reply, "error: ", 7) == 0 ? reply + 7 : reply, stderr);
		rc = 1;
	}
	free(reply);
	return rc;
}
