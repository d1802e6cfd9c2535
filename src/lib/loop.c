/* The event loop (epoll): listeners, connections and the stop eventfd. It
 * runs on whichever thread waits (the blocking styles) or on the I/O thread
 * (handler threads); the server lock is held except inside epoll_wait. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int arm_listener(acgi_server *s, struct listener *l, bool on)
{
	if (l->armed == on || l->fd < 0)
		return 0;
	/* EPOLLEXCLUSIVE: when several worker processes share the socket,
	 * one connection wakes one of them. It cannot be modified, so
	 * pausing is a delete and resuming an add. */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
	                         .data.ptr = l};
	int rc = on ? epoll_ctl(s->epfd, EPOLL_CTL_ADD, l->fd, &ev)
	            : epoll_ctl(s->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	if (rc < 0)
		return -errno;
	l->armed = on;
	return 0;
}

void loop_listeners_arm(acgi_server *s, bool on)
{
	for (size_t i = 0; i < s->n_listeners; i++)
		(void)arm_listener(s, &s->listeners[i], on);
}

int loop_start(acgi_server *s)
{
	s->scratch = malloc(CONN_READ_SIZE);
	if (!s->scratch)
		return -ENOMEM;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->stop_kind};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stop_fd, &ev) < 0)
		return -errno;
	for (size_t i = 0; i < s->n_listeners; i++) {
		int rc = arm_listener(s, &s->listeners[i], true);
		if (rc < 0)
			return rc;
	}
	return handover_arm(s);
}

void loop_set_events(struct conn *c, uint32_t events)
{
	if (c->closed || c->events == events || c->lingering)
		return;
	struct epoll_event ev = {.events = events, .data.ptr = c};
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
}

/* A graceful stop: no new connection; idle ones close now, busy ones when
 * their last request ends. The listening fds stay open (a process manager
 * may share them with other workers); this process just stops taking
 * from them. */
static void on_stop(acgi_server *s)
{
	uint64_t n;
	(void)!read(s->stop_fd, &n, sizeof(n));
	if (!s->stop_asked || s->stopping)
		return;
	s->stopping = true;
	s->stop_ms = loop_now_ms();
	if (s->sb)
		scoreboard_set_ready(s, false);
	loop_listeners_arm(s, false);
	(void)conn_close_idle(s, false);
	lib_log(s, ACGI_LOG_INFO, "stopping: %zu requests in flight",
	        s->n_live);
}

long long loop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void loop_wait(acgi_server *s, pthread_cond_t *cond)
{
	if (s->threaded)
		pthread_cond_wait(cond, &s->lock);
	else
		(void)loop_step(s, -1);
}

int loop_step(acgi_server *s, int timeout_ms)
{
	struct epoll_event evs[64];
	conn_free_zombies(s);
	if (s->listeners_parked && !s->ready_head && s->n_handling == 0 &&
	    !s->stopping) {
		s->listeners_parked = false;
		if (s->n_conns < s->limits[ACGI_LIMIT_CONNS])
			loop_listeners_arm(s, true);
	}
	if (s->stop_asked && !s->stopping) {
		/* A stop asked before the loop existed, or from this thread. */
		uint64_t one = 1;
		(void)!write(s->stop_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&s->lock);
	int n = epoll_wait(s->epfd, evs, 64, timeout_ms);
	int err = errno;
	pthread_mutex_lock(&s->lock);
	if (n < 0)
		return err == EINTR ? 0 : -err;
	for (int i = 0; i < n; i++) {
		uint8_t kind = *(uint8_t *)evs[i].data.ptr;
		if (kind == WATCH_STOP)
			on_stop(s);
		else if (kind == WATCH_CONN)
			conn_on_event(evs[i].data.ptr, evs[i].events);
		else if (kind == WATCH_HANDOVER)
			handover_receive(s);
	}
	/* New connections last, and not at all while a single-threaded
	 * server has a request to handle (a request still arriving does not
	 * count: a slow client must not stop the worker accepting): one
	 * accepted now would wait behind it (and die with it if the program
	 * crashes) while an idle worker of the pool could take it. */
	bool busy = !s->threaded && (s->ready_head || s->n_handling > 0);
	for (int i = 0; i < n && !s->stopping; i++) {
		if (*(uint8_t *)evs[i].data.ptr != WATCH_LISTENER)
			continue;
		if (busy) {
			/* Out of the set until idle again: a level-triggered
			 * listener would wake every step (and whoever polls
			 * acgi_cancel_fd) for a connection left to others. */
			loop_listeners_arm(s, false);
			s->listeners_parked = true;
			break;
		}
		conn_accept(s, evs[i].data.ptr);
	}
	return 0;
}
