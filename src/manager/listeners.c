/* Listening sockets for the pools. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "internal.h"
#include "listeners.h"
#include "mlog.h"

enum { MAX_INHERITED = 64 };

static int inherited[MAX_INHERITED]; /* -1 once given to a pool */
static size_t n_inherited;

int listeners_take_systemd(void)
{
	int n = sd_listen_fds(1);
	for (int i = 0; i < n && n_inherited < MAX_INHERITED; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		inherited[n_inherited++] = fd;
	}
	return n > 0 ? n : 0;
}

int listeners_systemd_fd(size_t i)
{
	return i < n_inherited ? inherited[i] : -1;
}

/* Does the socket fd listen on addr (unix:/path, HOST:PORT, [v6]:PORT)? */
static bool bound_to(int fd, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (strncmp(addr, "unix:", 5) == 0) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
		return ss.ss_family == AF_UNIX &&
		       strncmp(sun->sun_path, addr + 5, sizeof(sun->sun_path)) == 0;
	}
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return false;
	size_t hl = (size_t)(colon - addr);
	memcpy(host, addr, hl);
	host[hl] = '\0';
	char *h = host;
	if (h[0] == '[' && hl > 1 && h[hl - 1] == ']') {
		h[hl - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res) != 0)
		return false;
	bool match = false;
	for (struct addrinfo *a = res; a && !match; a = a->ai_next)
		match = a->ai_addrlen == len && memcmp(a->ai_addr, &ss, len) == 0;
	freeaddrinfo(res);
	return match;
}

/* An inherited socket for this address, taken out of the list. */
static int take_inherited(const char *addr)
{
	if (strncmp(addr, "fd:", 3) == 0) {
		int want = atoi(addr + 3);
		for (size_t i = 0; i < n_inherited; i++)
			if (inherited[i] == want) {
				inherited[i] = -1;
				return want;
			}
		return -1;
	}
	for (size_t i = 0; i < n_inherited; i++)
		if (inherited[i] >= 0 && bound_to(inherited[i], addr)) {
			int fd = inherited[i];
			inherited[i] = -1;
			return fd;
		}
	return -1;
}

/* --socket-mode, --socket-owner, --socket-group: who may connect (nginx
 * runs as www-data, the master often as root). */
static int set_socket_access(const struct pool_config *cfg, const char *path)
{
	if (cfg->socket_mode >= 0 && chmod(path, (mode_t)cfg->socket_mode) < 0) {
		mlog("error", cfg->name, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	if ((cfg->socket_uid != (uid_t)-1 || cfg->socket_gid != (gid_t)-1) &&
	    chown(path, cfg->socket_uid, cfg->socket_gid) < 0) {
		mlog("error", cfg->name, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The front end's private socket: only it may connect. */
static int set_private_access(const struct pool_config *cfg,
                              const struct pool_listener *l)
{
	const char *path = l->addr + 5;
	if (chmod(path, 0600) < 0 ||
	    (l->owner != (uid_t)-1 && chown(path, l->owner, (gid_t)-1) < 0)) {
		mlog("error", cfg->name, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int bind_new(struct pool_config *cfg, struct pool_listener *l)
{
	if (strncmp(l->addr, "fd:", 3) == 0) {
		mlog("error", cfg->name, "%s: no such socket from systemd",
		     l->addr);
		return -1;
	}
	bool tcp = false;
	int rc = listen_addr(l->addr, &l->fd, &tcp);
	if (rc < 0) {
		mlog("error", cfg->name, "cannot listen on %s: %s", l->addr,
		     rc == -EADDRINUSE ? "in use by a live server"
		                       : strerror(-rc));
		return -1;
	}
	l->created_unix = !tcp;
	if (tcp)
		return 0;
	return l->private_sock ? set_private_access(cfg, l)
	                       : set_socket_access(cfg, l->addr + 5);
}

static void settle(struct pool_listener *l)
{
	/* Up out of the way of fds 3.. that workers receive them on. */
	int high = fcntl(l->fd, F_DUPFD_CLOEXEC, 100);
	if (high >= 0) {
		close(l->fd);
		l->fd = high;
	}
	/* Foreign workers (libfcgi, php-cgi) accept in blocking mode and
	 * give up on EAGAIN; libanycgi workers make it non-blocking
	 * themselves. The master never accepts. */
	int fl = fcntl(l->fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(l->fd, F_SETFL, fl & ~O_NONBLOCK);
}

int listeners_open(struct pool_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct pool_listener *l = &cfg->listeners[i];
		if (l->fd >= 0)
			continue;
		l->fd = take_inherited(l->addr);
		l->inherited = l->fd >= 0;
		if (!l->inherited && bind_new(cfg, l) < 0)
			return -1;
		settle(l);
	}
	return 0;
}

void listeners_close(struct pool_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct pool_listener *l = &cfg->listeners[i];
		if (l->fd < 0)
			continue;
		close(l->fd);
		l->fd = -1;
		if (l->created_unix && !l->inherited)
			(void)unlink(l->addr + 5);
	}
}

void listeners_share(const struct pool_config *old, struct pool_config *new)
{
	for (size_t i = 0; i < new->n_listeners; i++)
		for (size_t j = 0; j < old->n_listeners; j++) {
			const struct pool_listener *o = &old->listeners[j];
			if (o->fd < 0 || strcmp(o->addr, new->listeners[i].addr) != 0)
				continue;
			new->listeners[i].fd = o->fd;
			new->listeners[i].created_unix = o->created_unix;
			new->listeners[i].inherited = o->inherited;
		}
}

void listeners_drop_unshared(struct pool_config *a,
                             const struct pool_config *b)
{
	for (size_t i = 0; i < a->n_listeners; i++) {
		struct pool_listener *l = &a->listeners[i];
		bool shared = false;
		for (size_t j = 0; b && j < b->n_listeners; j++)
			shared |= b->listeners[j].fd == l->fd;
		if (!shared && l->fd >= 0) {
			close(l->fd);
			if (l->created_unix && !l->inherited)
				(void)unlink(l->addr + 5);
		}
		l->fd = -1;
	}
}
