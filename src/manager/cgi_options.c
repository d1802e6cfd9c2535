/* The CGI gateway's pool options (anycgi cgi, or app = cgi in a file).
 * They reach its workers as ANYCGI_CGI_* variables in the pool's
 * environment, which src/apps/cgi_setup.c reads. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "options.h"

static int find_env(const struct pool_config *cfg, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < cfg->n_env; i++)
		if (strncmp(cfg->env[i], name, n) == 0 && cfg->env[i][n] == '=')
			return (int)i;
	return -1;
}

static const char *get_env(const struct pool_config *cfg, const char *name)
{
	int i = find_env(cfg, name);
	return i < 0 ? NULL : cfg->env[i] + strlen(name) + 1;
}

/* NAME=value, replacing an earlier one (an option given twice). */
static int set_env(struct pool_config *cfg, const char *name,
                   const char *value, char *err, size_t errlen)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *var = malloc(n);
	if (!var)
		return option_fail(err, errlen, "out of memory");
	snprintf(var, n, "%s=%s", name, value);
	int i = find_env(cfg, name);
	if (i < 0 && cfg->n_env >= POOL_MAX_ENV) {
		free(var);
		return option_fail(err, errlen, "more than %d variables", POOL_MAX_ENV);
	}
	if (i < 0)
		i = (int)cfg->n_env++;
	else
		free(cfg->env[i]);
	cfg->env[i] = var;
	return 0;
}

/* --root: kept as given when absolute (pool_finish checks it, inside the
 * chroot when there is one); a relative one is made absolute here. */
static int set_root(struct pool_config *cfg, const char *val, char *err,
                    size_t errlen)
{
	char path[PATH_MAX];
	if (!*val)
		return option_fail(err, errlen, "empty value");
	if (val[0] != '/' && !realpath(val, path))
		return option_fail(err, errlen, "%s: %s", val, strerror(errno));
	return set_env(cfg, "ANYCGI_CGI_ROOT", val[0] == '/' ? val : path, err,
	               errlen);
}

static int set_seconds(struct pool_config *cfg, const char *var,
                       const char *val, char *err, size_t errlen)
{
	char *end, buf[64];
	double s = strtod(val, &end);
	if (!*val || *end || !(s >= 0) || s > 1e7)
		return option_fail(err, errlen, "%s: seconds", val);
	snprintf(buf, sizeof(buf), "%.3f", s);
	return set_env(cfg, var, buf, err, errlen);
}

static int set_number(struct pool_config *cfg, const char *var,
                      const char *val, long long min, char *err,
                      size_t errlen)
{
	char *end, buf[32];
	errno = 0;
	long long n = strtoll(val, &end, 10);
	if (!*val || *end || errno || n < min)
		return option_fail(err, errlen, "%s: a number of at least %lld", val, min);
	snprintf(buf, sizeof(buf), "%lld", n);
	return set_env(cfg, var, buf, err, errlen);
}

/* The slots' names hold a key that only the pool's workers see: made once
 * per master, so a reload's new generation shares the old one's slots. */
static int set_max_scripts(struct pool_config *cfg, const char *val,
                           char *err, size_t errlen)
{
	static char key[33];
	if (!key[0]) {
		unsigned char raw[16];
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
			return option_fail(err, errlen, "getrandom: %s", strerror(errno));
		for (int i = 0; i < 16; i++)
			snprintf(key + 2 * i, 3, "%02x", raw[i]);
	}
	if (set_number(cfg, "ANYCGI_CGI_MAX_SCRIPTS", val, 1, err, errlen) < 0)
		return -1;
	return set_env(cfg, "ANYCGI_CGI_SLOT_KEY", key, err, errlen);
}

/* --script-user: the uid and its primary group, looked up here (no lookup
 * in the worker, which may be chrooted). */
static int set_user(struct pool_config *cfg, const char *val, char *err,
                    size_t errlen)
{
	struct passwd *pw = getpwnam(val);
	char buf[64];
	if (!pw)
		return option_fail(err, errlen, "%s: no such user", val);
	if (geteuid() != 0)
		return option_fail(err, errlen, "running scripts as another user needs "
		                   "a master started as root");
	snprintf(buf, sizeof(buf), "%u:%u", (unsigned)pw->pw_uid,
	         (unsigned)pw->pw_gid);
	return set_env(cfg, "ANYCGI_CGI_USER", buf, err, errlen);
}

static int set_group(struct pool_config *cfg, const char *val, char *err,
                     size_t errlen)
{
	struct group *gr = getgrnam(val);
	char buf[32];
	if (!gr)
		return option_fail(err, errlen, "%s: no such group", val);
	snprintf(buf, sizeof(buf), "%u", (unsigned)gr->gr_gid);
	return set_env(cfg, "ANYCGI_CGI_GROUP", buf, err, errlen);
}

int cgi_pool_option(struct pool_config *cfg, const char *name,
                    const char *val, char *err, size_t errlen)
{
	static const struct {
		const char *name, *var;
		long long min;
	} numbers[] = {
		{"script-rlimit-cpu", "ANYCGI_CGI_RLIMIT_CPU", 1},
		{"script-rlimit-as", "ANYCGI_CGI_RLIMIT_AS", 4096},
		{"script-rlimit-nproc", "ANYCGI_CGI_RLIMIT_NPROC", 1},
		{"script-rlimit-files", "ANYCGI_CGI_RLIMIT_FILES", 4},
	};
	for (size_t i = 0; i < sizeof(numbers) / sizeof(*numbers); i++)
		if (strcmp(name, numbers[i].name) == 0)
			return set_number(cfg, numbers[i].var, val, numbers[i].min, err,
			                  errlen);
	if (strcmp(name, "root") == 0)
		return set_root(cfg, val, err, errlen);
	if (strcmp(name, "script-timeout") == 0)
		return set_seconds(cfg, "ANYCGI_CGI_TIMEOUT", val, err, errlen);
	if (strcmp(name, "script-wait") == 0)
		return set_seconds(cfg, "ANYCGI_CGI_SCRIPT_WAIT", val, err, errlen);
	if (strcmp(name, "max-scripts") == 0)
		return set_max_scripts(cfg, val, err, errlen);
	if (strcmp(name, "script-user") == 0)
		return set_user(cfg, val, err, errlen);
	if (strcmp(name, "script-group") == 0)
		return set_group(cfg, val, err, errlen);
	if (strcmp(name, "script-stderr") == 0) {
		if (strcmp(val, "log") != 0 && strcmp(val, "fastcgi") != 0)
			return option_fail(err, errlen, "%s: log or fastcgi", val);
		return set_env(cfg, "ANYCGI_CGI_STDERR", val, err, errlen);
	}
	return CGI_OPTION_UNKNOWN;
}

/* The root must be a directory where the workers will see it: inside the
 * chroot (looked up as if chrooted: RESOLVE_IN_ROOT), or on the host. */
static int check_root(struct pool_config *cfg, char *err, size_t errlen)
{
	const char *root = get_env(cfg, "ANYCGI_CGI_ROOT");
	char path[PATH_MAX];
	struct stat st;
	if (!root)
		return 0;
	if (!cfg->chroot_dir) {
		if (!realpath(root, path) || stat(path, &st) < 0)
			return option_fail(err, errlen, "root %s: %s", root, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return option_fail(err, errlen, "root %s: not a directory", root);
		return set_env(cfg, "ANYCGI_CGI_ROOT", path, err, errlen);
	}
	int top = open(cfg->chroot_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
	                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int fd = top < 0 ? -1
	         : (int)syscall(SYS_openat2, top, root, &how, sizeof(how));
	int e = errno;
	if (top >= 0)
		close(top);
	if (fd < 0)
		return option_fail(err, errlen, "root %s inside the chroot %s: %s", root,
		                   cfg->chroot_dir, strerror(e));
	close(fd);
	return 0;
}

/* --script-user changes users per script, so the workers must keep root:
 * a root master, and no pool --user. */
static int check_user(struct pool_config *cfg, char *err, size_t errlen)
{
	bool user = get_env(cfg, "ANYCGI_CGI_USER") != NULL;
	if (get_env(cfg, "ANYCGI_CGI_GROUP") && !user)
		return option_fail(err, errlen, "script-group needs script-user");
	if (user && cfg->user != (uid_t)-1 && cfg->user != 0)
		return option_fail(err, errlen, "script-user needs the workers to stay "
		                   "root to change users per script: drop the pool's "
		                   "user option");
	return 0;
}

int cgi_pool_finish(struct pool_config *cfg, char *err, size_t errlen)
{
	if (check_user(cfg, err, errlen) < 0)
		return -1;
	return check_root(cfg, err, errlen);
}
