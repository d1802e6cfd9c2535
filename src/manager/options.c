/* Pool options, from the command line or the configuration file. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "options.h"

int option_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void pool_defaults(struct pool_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = MODE_STATIC;
	cfg->workers = 1;
	cfg->idle_timeout = 10;
	cfg->stop_signal = SIGQUIT;
	cfg->socket_mode = -1;
	cfg->user = (uid_t)-1;
	cfg->group = (gid_t)-1;
	cfg->user_gid = (gid_t)-1;
	cfg->rlimit_files = cfg->rlimit_as = cfg->rlimit_nproc = -1;
	cfg->socket_uid = (uid_t)-1;
	cfg->socket_gid = (gid_t)-1;
	cfg->drain_timeout = 30;
}

static int parse_signal(const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} table[] = {{"TERM", SIGTERM}, {"QUIT", SIGQUIT}, {"INT", SIGINT},
	             {"HUP", SIGHUP}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
	             {"KILL", SIGKILL}};
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].sig;
	char *end;
	long n = strtol(name, &end, 10);
	return *name && !*end && n > 0 && n < NSIG ? (int)n : -1;
}

static int parse_uint(const char *val, unsigned long max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(val, &end, 10);
	if (!*val || *end || errno || val[0] == '-' || n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* Seconds, with a fraction: "30", "0.5". */
static int parse_seconds(const char *val, double *out)
{
	char *end;
	double s = strtod(val, &end);
	if (!*val || *end || !(s >= 0) || s > 1e7)
		return -1;
	*out = s;
	return 0;
}

static int set_string(char **field, const char *val)
{
	char *copy = strdup(val);
	if (!copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

static int add_listener(struct pool_config *cfg, const char *addr,
                        const char *kind, char *err, size_t errlen)
{
	if (cfg->n_listeners >= POOL_MAX_LISTENERS)
		return option_fail(err, errlen, "more than %d listeners",
		                   POOL_MAX_LISTENERS);
	if (strlen(addr) >= sizeof(cfg->listeners[0].addr))
		return option_fail(err, errlen, "%s: address too long", addr);
	struct pool_listener *l = &cfg->listeners[cfg->n_listeners++];
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->scgi = strcmp(kind, "scgi") == 0;
	l->http = strcmp(kind, "http") == 0;
	l->fd = -1;
	l->owner = (uid_t)-1;
	return 0;
}

/* The HTTP front end's options: checked by `anycgi __front` itself when
 * it starts (a bad value fails the pool's start, with its message). */
static const char *const front_options[] = {
	"document-root", "script-prefix", "script-pattern", "access-log",
	"access-log-format", "max-conns", "max-header-bytes", "max-headers",
	"max-body", "header-timeout", "body-timeout", "keepalive-timeout",
	"queue-timeout", "server-name", "underscores-in-headers",
	"send-timeout", "upstream-conns",
};

static bool is_front_option(const char *name)
{
	for (size_t i = 0; i < sizeof(front_options) / sizeof(*front_options);
	     i++)
		if (strcmp(name, front_options[i]) == 0)
			return true;
	return false;
}

static int add_front_arg(struct pool_config *cfg, const char *name,
                         const char *val, char *err, size_t errlen)
{
	if (cfg->n_front_args + 2 > POOL_MAX_FRONT_ARGS)
		return option_fail(err, errlen, "too many HTTP front end options");
	if (!*val)
		return option_fail(err, errlen, "empty value");
	char opt[64];
	snprintf(opt, sizeof(opt), "--%s", name);
	char *a = strdup(opt), *b = strdup(val);
	if (!a || !b) {
		free(a);
		free(b);
		return option_fail(err, errlen, "out of memory");
	}
	cfg->front_args[cfg->n_front_args++] = a;
	cfg->front_args[cfg->n_front_args++] = b;
	return 0;
}

static int lookup_user(const char *name, uid_t *out, char *err,
                       size_t errlen)
{
	struct passwd *pw = getpwnam(name);
	if (!pw)
		return option_fail(err, errlen, "%s: no such user", name);
	*out = pw->pw_uid;
	return 0;
}

static int lookup_group(const char *name, gid_t *out, char *err,
                        size_t errlen)
{
	struct group *gr = getgrnam(name);
	if (!gr)
		return option_fail(err, errlen, "%s: no such group", name);
	*out = gr->gr_gid;
	return 0;
}

static int add_env(struct pool_config *cfg, const char *val, char *err,
                   size_t errlen)
{
	if (!strchr(val, '=') || val[0] == '=')
		return option_fail(err, errlen, "%s: NAME=VALUE", val);
	if (cfg->n_env >= POOL_MAX_ENV)
		return option_fail(err, errlen, "more than %d variables", POOL_MAX_ENV);
	cfg->env[cfg->n_env] = strdup(val);
	return cfg->env[cfg->n_env++] ? 0 : option_fail(err, errlen, "out of memory");
}

static int add_arg(struct pool_config *cfg, const char *val, char *err,
                   size_t errlen)
{
	if (cfg->argc >= POOL_MAX_ARGS)
		return option_fail(err, errlen, "more than %d arguments", POOL_MAX_ARGS);
	cfg->argv[cfg->argc] = strdup(val);
	return cfg->argv[cfg->argc++] ? 0 : option_fail(err, errlen, "out of memory");
}

static int set_mode(struct pool_config *cfg, const char *val, char *err,
                    size_t errlen)
{
	if (strcmp(val, "static") == 0)
		cfg->mode = MODE_STATIC;
	else if (strcmp(val, "dynamic") == 0)
		cfg->mode = MODE_DYNAMIC;
	else if (strcmp(val, "ondemand") == 0)
		cfg->mode = MODE_ONDEMAND;
	else
		return option_fail(err, errlen, "%s: static, dynamic or ondemand", val);
	return 0;
}

static int set_rlimit(long long *field, const char *val, char *err,
                      size_t errlen)
{
	char *end;
	errno = 0;
	long long n = strtoll(val, &end, 10);
	if (!*val || *end || errno || n < 0)
		return option_fail(err, errlen, "%s: a number", val);
	*field = n;
	return 0;
}

static int set_socket_mode(struct pool_config *cfg, const char *val,
                           char *err, size_t errlen)
{
	char *end;
	long mode = strtol(val, &end, 8);
	if (!*val || *end || mode < 0 || mode > 07777)
		return option_fail(err, errlen, "%s: octal, e.g. 0660", val);
	cfg->socket_mode = (int)mode;
	return 0;
}

/* Options that are a count. */
static unsigned *count_field(struct pool_config *cfg, const char *name,
                             unsigned long *max)
{
	*max = POOL_MAX_WORKERS;
	if (strcmp(name, "workers") == 0)
		return &cfg->workers;
	if (strcmp(name, "min-spare") == 0)
		return &cfg->min_spare;
	if (strcmp(name, "max-spare") == 0)
		return &cfg->max_spare;
	if (strcmp(name, "max-workers") == 0)
		return &cfg->max_workers;
	*max = 1000000000;
	if (strcmp(name, "max-requests") == 0)
		return &cfg->max_requests;
	return NULL;
}

/* Options that are a duration in seconds. */
static double *seconds_field(struct pool_config *cfg, const char *name)
{
	static const struct {
		const char *name;
		size_t off;
	} table[] = {
		{"drain-timeout", offsetof(struct pool_config, drain_timeout)},
		{"max-lifetime", offsetof(struct pool_config, max_lifetime)},
		{"idle-timeout", offsetof(struct pool_config, idle_timeout)},
		{"request-timeout", offsetof(struct pool_config, request_timeout)},
		{"slow-log", offsetof(struct pool_config, slow_log)},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return (double *)((char *)cfg + table[i].off);
	return NULL;
}

/* Options that are a string kept as given. */
static char **string_field(struct pool_config *cfg, const char *name)
{
	if (strcmp(name, "chroot") == 0)
		return &cfg->chroot_dir;
	if (strcmp(name, "ping-path") == 0)
		return &cfg->ping_path;
	if (strcmp(name, "control") == 0)
		return &cfg->control;
	if (strcmp(name, "status") == 0)
		return &cfg->status;
	if (strcmp(name, "log") == 0)
		return &cfg->log;
	if (strcmp(name, "app") == 0)
		return &cfg->app;
	return NULL;
}

static int other_option(struct pool_config *cfg, const char *name,
                        const char *val, char *err, size_t errlen)
{
	if (strcmp(name, "fastcgi") == 0 || strcmp(name, "scgi") == 0 ||
	    strcmp(name, "http") == 0)
		return add_listener(cfg, val, name, err, errlen);
	if (is_front_option(name))
		return add_front_arg(cfg, name, val, err, errlen);
	if (strcmp(name, "name") == 0) {
		if (!*val || strlen(val) >= sizeof(cfg->name) ||
		    strpbrk(val, " \t/\"\\"))
			return option_fail(err, errlen, "%s: a short word", val);
		snprintf(cfg->name, sizeof(cfg->name), "%s", val);
		return 0;
	}
	if (strcmp(name, "mode") == 0)
		return set_mode(cfg, val, err, errlen);
	if (strcmp(name, "env") == 0)
		return add_env(cfg, val, err, errlen);
	if (strcmp(name, "program") == 0 || strcmp(name, "arg") == 0) {
		if (name[0] == 'p' && cfg->argc)
			return option_fail(err, errlen, "program given twice");
		if (name[0] == 'a' && !cfg->argc)
			return option_fail(err, errlen, "arg before program");
		return add_arg(cfg, val, err, errlen);
	}
	if (strcmp(name, "stop-signal") == 0) {
		cfg->stop_signal = parse_signal(val);
		return cfg->stop_signal < 0
		       ? option_fail(err, errlen, "%s: unknown signal", val) : 0;
	}
	if (strcmp(name, "user") == 0) {
		if (lookup_user(val, &cfg->user, err, errlen) < 0)
			return -1;
		struct passwd *pw = getpwuid(cfg->user);
		cfg->user_gid = pw ? pw->pw_gid : (gid_t)-1;
		return 0;
	}
	if (strcmp(name, "group") == 0)
		return lookup_group(val, &cfg->group, err, errlen);
	if (strcmp(name, "socket-owner") == 0)
		return lookup_user(val, &cfg->socket_uid, err, errlen);
	if (strcmp(name, "socket-group") == 0)
		return lookup_group(val, &cfg->socket_gid, err, errlen);
	if (strcmp(name, "socket-mode") == 0)
		return set_socket_mode(cfg, val, err, errlen);
	if (strcmp(name, "rlimit-files") == 0)
		return set_rlimit(&cfg->rlimit_files, val, err, errlen);
	if (strcmp(name, "rlimit-as") == 0)
		return set_rlimit(&cfg->rlimit_as, val, err, errlen);
	if (strcmp(name, "rlimit-nproc") == 0)
		return set_rlimit(&cfg->rlimit_nproc, val, err, errlen);
	return option_fail(err, errlen, "unknown option");
}

int pool_option(struct pool_config *cfg, const char *name, const char *val,
                char *err, size_t errlen)
{
	unsigned long max;
	unsigned *count = count_field(cfg, name, &max);
	if (count)
		return parse_uint(val, max, count) < 0
		       ? option_fail(err, errlen, "%s: a number up to %lu", val, max) : 0;
	double *secs = seconds_field(cfg, name);
	if (secs)
		return parse_seconds(val, secs) < 0
		       ? option_fail(err, errlen, "%s: seconds", val) : 0;
	char **str = string_field(cfg, name);
	if (str) {
		if (!*val)
			return option_fail(err, errlen, "empty value");
		if (strcmp(name, "ping-path") == 0 && val[0] != '/')
			return option_fail(err, errlen, "%s: a path starting with /", val);
		return set_string(str, val) < 0
		       ? option_fail(err, errlen, "out of memory") : 0;
	}
	int cgi = cgi_pool_option(cfg, name, val, err, errlen);
	if (cgi != CGI_OPTION_UNKNOWN)
		return cgi;
	return other_option(cfg, name, val, err, errlen);
}

/* Dynamic: PHP-FPM's rules (min spare <= start <= max workers, max spare
 * above min spare); ondemand starts with none. */
static int check_sizes(struct pool_config *cfg, char *err, size_t errlen)
{
	if (cfg->mode == MODE_STATIC) {
		if (cfg->workers == 0)
			return option_fail(err, errlen, "workers: at least 1");
		return 0;
	}
	if (!cfg->max_workers)
		cfg->max_workers = cfg->workers > 5 ? cfg->workers : 5;
	if (cfg->mode == MODE_ONDEMAND)
		return 0;
	if (!cfg->min_spare)
		cfg->min_spare = 1;
	if (!cfg->max_spare)
		cfg->max_spare = cfg->min_spare + 2;
	if (cfg->max_spare < cfg->min_spare)
		return option_fail(err, errlen, "max-spare %u below min-spare %u",
		                   cfg->max_spare, cfg->min_spare);
	if (cfg->workers < cfg->min_spare)
		cfg->workers = cfg->min_spare;
	if (cfg->workers > cfg->max_workers || cfg->min_spare > cfg->max_workers)
		return option_fail(err, errlen, "workers %u and min-spare %u must not "
		                   "exceed max-workers %u", cfg->workers, cfg->min_spare,
		                   cfg->max_workers);
	return 0;
}

int pool_finish(struct pool_config *cfg, char *err, size_t errlen)
{
	if (cfg->n_listeners == 0)
		return option_fail(err, errlen, "no listener: give --fastcgi ADDR, "
		                   "--scgi ADDR or --http ADDR");
	if (!cfg->argc && !cfg->app)
		return option_fail(err, errlen, "no program");
	if (check_sizes(cfg, err, errlen) < 0 ||
	    cgi_pool_finish(cfg, err, errlen) < 0)
		return -1;
	if (!cfg->name[0]) {
		const char *prog = cfg->app ? cfg->app : cfg->argv[0];
		const char *base = strrchr(prog, '/');
		snprintf(cfg->name, sizeof(cfg->name), "%s", base ? base + 1 : prog);
	}
	bool has_path = false;
	for (size_t i = 0; i < cfg->n_env; i++)
		has_path |= strncmp(cfg->env[i], "PATH=", 5) == 0;
	if (!has_path &&
	    add_env(cfg, "PATH=/usr/local/bin:/usr/bin:/bin", err, errlen) < 0)
		return -1;
	cfg->env[cfg->n_env] = NULL;
	cfg->argv[cfg->argc] = NULL;
	return 0;
}

void pool_free(struct pool_config *cfg)
{
	for (size_t i = 0; i < cfg->argc; i++)
		free(cfg->argv[i]);
	for (size_t i = 0; i < cfg->n_env; i++)
		free(cfg->env[i]);
	for (size_t i = 0; i < cfg->n_front_args; i++)
		free(cfg->front_args[i]);
	cfg->n_front_args = 0;
	free(cfg->app);
	free(cfg->chroot_dir);
	free(cfg->ping_path);
	free(cfg->control);
	free(cfg->status);
	free(cfg->log);
	cfg->argc = cfg->n_env = 0;
	cfg->app = cfg->chroot_dir = cfg->ping_path = NULL;
	cfg->control = cfg->status = cfg->log = NULL;
}

int global_option(struct master_config *mc, const char *name,
                  const char *val, char *err, size_t errlen)
{
	char **field = strcmp(name, "control") == 0 ? &mc->control
	               : strcmp(name, "status") == 0 ? &mc->status
	               : strcmp(name, "log") == 0    ? &mc->log
	                                             : NULL;
	if (!field)
		return option_fail(err, errlen, "unknown option");
	if (!*val)
		return option_fail(err, errlen, "empty value");
	return set_string(field, val) < 0
	       ? option_fail(err, errlen, "out of memory") : 0;
}

void master_config_free(struct master_config *mc)
{
	for (size_t i = 0; i < mc->n_pools; i++)
		pool_free(&mc->pools[i]);
	free(mc->pools);
	free(mc->control);
	free(mc->status);
	free(mc->log);
	free(mc->config_path);
	free(mc->self);
	memset(mc, 0, sizeof(*mc));
}
