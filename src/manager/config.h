/* `anycgi daemon -c FILE`: the configuration file, INI read with Debian's
 * libinih. A [global] section (control, status, log) and one section per
 * pool, named after it, whose keys are the pool options without their
 * dashes (fastcgi = unix:/run/app.sock, workers = 4, env = A=B, ...), plus
 * `program` (the path) with repeatable `arg` keys, or `app = echo`. */
#ifndef ACGI_MANAGER_CONFIG_H
#define ACGI_MANAGER_CONFIG_H

#include <stddef.h>

#include "master.h"

/* Reads FILE into mc (pools finished with pool_finish). Returns 0, or -1
 * with "FILE:LINE: reason" (or "FILE: reason") in err and mc left empty.
 * Lines that libinih would silently cut (longer than its line buffer, or
 * a value holding an inline " ;" comment) are rejected, not guessed at. */
int config_load(const char *path, struct master_config *mc, char *err,
                size_t errlen);

#endif
