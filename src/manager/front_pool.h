/* --http: each pool with HTTP listeners gets a second pool, NAME-http,
 * that runs the embedded front end on them (see front_pool.c). */
#ifndef ACGI_MANAGER_FRONT_POOL_H
#define ACGI_MANAGER_FRONT_POOL_H

#include <stddef.h>

#include "master.h"

/* For each pool of mc with --http listeners: moves them to a new pool
 * NAME-http, appended to mc, whose worker is `self __front`, connected to
 * the app pool's first FastCGI listener, or to a private Unix socket added
 * for it. Returns 0, or -1 with the reason in err. */
int front_derive(struct master_config *mc, const char *self, char *err,
                 size_t errlen);

/* Removes the private sockets' folder (once they are closed). */
void front_cleanup(void);

#endif
