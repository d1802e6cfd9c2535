/* Pool options: one parser for the command line (--name VALUE) and the
 * configuration file (name = value in the pool's section). */
#ifndef ACGI_MANAGER_OPTIONS_H
#define ACGI_MANAGER_OPTIONS_H

#include <stddef.h>

#include "master.h"

/* Writes the reason into err[0..errlen) and returns -1, for
 * `return option_fail(err, errlen, "...", ...)`. */
int option_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The defaults: static, one worker, SIGQUIT, 30 s drain, nothing else. */
void pool_defaults(struct pool_config *cfg);

/* Applies one option, named without its dashes ("workers"), to the pool;
 * the value is copied. Returns 0, or -1 with the reason in err. */
int pool_option(struct pool_config *cfg, const char *name, const char *val,
                char *err, size_t errlen);

/* Checks what no single option can (a listener at all, dynamic sizes that
 * fit together), fills in the derived defaults (the name from the
 * program, a PATH) and makes the environment NULL-terminated. Returns 0,
 * or -1 with the reason in err. */
int pool_finish(struct pool_config *cfg, char *err, size_t errlen);

/* Frees what pool_option copied. */
void pool_free(struct pool_config *cfg);

/* Applies one [global] option (control, status, log, pid-file).
 * Returns 0, or -1 with the reason in err. */
int global_option(struct master_config *mc, const char *name,
                  const char *val, char *err, size_t errlen);

void master_config_free(struct master_config *mc);

/* The CGI gateway's options (src/manager/cgi_options.c): --root,
 * --script-timeout, --max-scripts, --script-wait, --script-user,
 * --script-group, --script-rlimit-*, --script-stderr, passed to its
 * workers as ANYCGI_CGI_* variables. Returns 0, -1 with the reason in
 * err, or CGI_OPTION_UNKNOWN for a name that is not one of them. */
enum { CGI_OPTION_UNKNOWN = 1 };
int cgi_pool_option(struct pool_config *cfg, const char *name,
                    const char *val, char *err, size_t errlen);

/* Checks what needs the whole pool: the root where the workers will see
 * it (inside --chroot), --script-user with workers that stay root. */
int cgi_pool_finish(struct pool_config *cfg, char *err, size_t errlen);

#endif
