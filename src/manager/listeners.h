/* The pools' listening sockets: bound by the master, or handed over by
 * systemd socket activation (LISTEN_FDS/LISTEN_PID). */
#ifndef ACGI_MANAGER_LISTENERS_H
#define ACGI_MANAGER_LISTENERS_H

#include <stddef.h>

#include "master.h"

/* Takes the sockets systemd passed (sd_listen_fds, which unsets the
 * variables so that workers do not see them). Returns how many. */
int listeners_take_systemd(void);

/* The fd of an inherited socket not yet given to a pool, by index, or -1;
 * for `anycgi run` with no LISTEN: every one becomes a FastCGI listener
 * named "fd:N". */
int listeners_systemd_fd(size_t i);

/* Opens each listener of the pool whose fd is still -1: an inherited
 * socket bound to the same address when there is one ("fd:N" names one
 * directly), else a new socket (a stale Unix socket is replaced, a live
 * one refused). Applies --socket-mode/owner/group to Unix sockets it
 * creates, moves the fd to 100 and up, out of the way of the fds workers
 * receive, and makes it blocking for foreign workers. Returns 0, or -1
 * after logging why. */
int listeners_open(struct pool_config *cfg);

/* Closes the pool's listeners and removes the Unix paths it created. */
void listeners_close(struct pool_config *cfg);

/* Gives new the open listeners of old at the same addresses: both share
 * them while a reload runs (the listening socket never closes). */
void listeners_share(const struct pool_config *old, struct pool_config *new);

/* Closes the listeners of a that b does not share, then forgets all of
 * a's, so that freeing a closes nothing b uses. */
void listeners_drop_unshared(struct pool_config *a,
                             const struct pool_config *b);

#endif
