/* The control socket: how `anycgi status|reload|stop` reach a master.
 *
 * One request per connection: a line "status FORMAT [POOL]", "reload
 * [POOL]", "stop [now]" or "listeners"; the answer is a line "ok" or
 * "error: REASON", then the body, then the master closes. Any local user
 * may connect and read the status; reload and stop need the master's own
 * uid or root (SO_PEERCRED). Masters also leave a symlink to their socket
 * in a registry directory, so that a TCP address finds its master. */
#ifndef ACGI_MANAGER_CONTROL_H
#define ACGI_MANAGER_CONTROL_H

#include <stddef.h>

#include "master.h"

/* The default control path: the first Unix listener's path with ".ctl",
 * else REGISTRY/POOL.ctl. */
void control_default_path(const struct master_config *mc, char *out,
                          size_t cap);

/* /run/anycgi for root, else $XDG_RUNTIME_DIR/anycgi, else
 * /tmp/anycgi-UID; created (0755 or 0700) when missing. */
const char *control_registry(void);

/* Listens on path (a stale socket is replaced, a live master's refused).
 * Returns the fd, or -1 after logging why. */
int control_listen(const char *path);

/* Client side: finds the master for ADDR (its control path, a Unix
 * listener's path or address, or a TCP address of any of its pools),
 * sends the command and copies the body to stdout. Returns the exit
 * status: 0, 1 (the master said no; its reason on stderr) or 2 (no
 * master found). */
int control_call(const char *addr, const char *command);

#endif
