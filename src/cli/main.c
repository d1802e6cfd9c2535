/* The anycgi command: parses the command line and calls in. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anycgi.h"
#include "echo.h"
#include "master.h"

static void usage(FILE *f)
{
	fputs("usage: anycgi run  LISTEN... [POOL OPTIONS] -- PROGRAM [ARG...]\n"
	      "       anycgi echo LISTEN... [POOL OPTIONS]\n"
	      "LISTEN: --fastcgi ADDR | --scgi ADDR   "
	      "(ADDR: unix:/path, HOST:PORT, [IPv6]:PORT)\n"
	      "POOL OPTIONS: --name NAME  --workers N  --env NAME=VALUE  "
	      "--stop-signal SIG  --drain-timeout S\n"
	      "              --max-requests N  --max-lifetime S\n"
	      "              --user U  --group G  --chroot DIR  --rlimit-files N  "
	      "--rlimit-as BYTES  --rlimit-nproc N\n"
	      "              --socket-mode MODE  --socket-owner USER  "
	      "--socket-group GROUP\n", f);
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

static int add_listener(struct pool_config *cfg, const char *addr, bool scgi)
{
	if (cfg->n_listeners >= POOL_MAX_LISTENERS ||
	    strlen(addr) >= sizeof(cfg->listeners[0].addr)) {
		fprintf(stderr, "anycgi: too many listeners, or %s is too long\n",
		        addr);
		return -1;
	}
	struct pool_listener *l = &cfg->listeners[cfg->n_listeners++];
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->scgi = scgi;
	l->fd = -1;
	return 0;
}

static int lookup_user(const char *opt, const char *name, uid_t *out)
{
	struct passwd *pw = getpwnam(name);
	if (!pw) {
		fprintf(stderr, "anycgi: %s %s: no such user\n", opt, name);
		return -1;
	}
	*out = pw->pw_uid;
	return 2;
}

static int lookup_group(const char *opt, const char *name, gid_t *out)
{
	struct group *gr = getgrnam(name);
	if (!gr) {
		fprintf(stderr, "anycgi: %s %s: no such group\n", opt, name);
		return -1;
	}
	*out = gr->gr_gid;
	return 2;
}

/* Reads one option with its value; returns how many words it took (2),
 * or -1 after printing why. */
static int parse_option(struct pool_config *cfg, const char *opt,
                        const char *val)
{
	if (!val) {
		fprintf(stderr, "anycgi: %s needs a value\n", opt);
		return -1;
	}
	char *end;
	if (strcmp(opt, "--fastcgi") == 0 || strcmp(opt, "--scgi") == 0)
		return add_listener(cfg, val, opt[2] == 's') < 0 ? -1 : 2;
	if (strcmp(opt, "--name") == 0) {
		snprintf(cfg->name, sizeof(cfg->name), "%s", val);
		return 2;
	}
	if (strcmp(opt, "--workers") == 0) {
		unsigned long n = strtoul(val, &end, 10);
		if (*end || n == 0 || n > 4096) {
			fprintf(stderr, "anycgi: --workers %s: 1 to 4096\n", val);
			return -1;
		}
		cfg->workers = (unsigned)n;
		return 2;
	}
	if (strcmp(opt, "--env") == 0) {
		if (!strchr(val, '=') || val[0] == '=' ||
		    cfg->n_env >= POOL_MAX_ENV) {
			fprintf(stderr, "anycgi: --env %s: NAME=VALUE\n", val);
			return -1;
		}
		cfg->env[cfg->n_env++] = val;
		return 2;
	}
	if (strcmp(opt, "--stop-signal") == 0) {
		cfg->stop_signal = parse_signal(val);
		if (cfg->stop_signal < 0) {
			fprintf(stderr, "anycgi: --stop-signal %s: unknown\n", val);
			return -1;
		}
		return 2;
	}
	if (strcmp(opt, "--drain-timeout") == 0) {
		cfg->drain_timeout = strtod(val, &end);
		if (*end || cfg->drain_timeout < 0) {
			fprintf(stderr, "anycgi: --drain-timeout %s\n", val);
			return -1;
		}
		return 2;
	}
	if (strcmp(opt, "--max-requests") == 0) {
		unsigned long n = strtoul(val, &end, 10);
		if (*end || n > 1000000000) {
			fprintf(stderr, "anycgi: --max-requests %s\n", val);
			return -1;
		}
		cfg->max_requests = (unsigned)n;
		return 2;
	}
	if (strcmp(opt, "--max-lifetime") == 0) {
		cfg->max_lifetime = strtod(val, &end);
		if (*end || cfg->max_lifetime < 0) {
			fprintf(stderr, "anycgi: --max-lifetime %s: seconds\n", val);
			return -1;
		}
		return 2;
	}
	if (strcmp(opt, "--chroot") == 0) {
		cfg->chroot_dir = val;
		return 2;
	}
	if (strcmp(opt, "--user") == 0)
		return lookup_user(opt, val, &cfg->user);
	if (strcmp(opt, "--group") == 0)
		return lookup_group(opt, val, &cfg->group);
	if (strncmp(opt, "--rlimit-", 9) == 0) {
		long long *field = strcmp(opt, "--rlimit-files") == 0 ? &cfg->rlimit_files
		                   : strcmp(opt, "--rlimit-as") == 0  ? &cfg->rlimit_as
		                   : strcmp(opt, "--rlimit-nproc") == 0
		                       ? &cfg->rlimit_nproc : NULL;
		long long n = strtoll(val, &end, 10);
		if (!field || *end || n < 0) {
			fprintf(stderr, "anycgi: %s %s: a number\n", opt, val);
			return -1;
		}
		*field = n;
		return 2;
	}
	if (strcmp(opt, "--socket-mode") == 0) {
		long mode = strtol(val, &end, 8);
		if (*end || mode < 0 || mode > 07777) {
			fprintf(stderr, "anycgi: --socket-mode %s: octal, "
			        "e.g. 0660\n", val);
			return -1;
		}
		cfg->socket_mode = (int)mode;
		return 2;
	}
	if (strcmp(opt, "--socket-owner") == 0)
		return lookup_user(opt, val, &cfg->socket_uid);
	if (strcmp(opt, "--socket-group") == 0)
		return lookup_group(opt, val, &cfg->socket_gid);
	fprintf(stderr, "anycgi: unknown option %s\n", opt);
	usage(stderr);
	return -1;
}

/* Parses argv up to "--" (run) or the end (echo). Returns the index of
 * PROGRAM, argc when there is none, or -1. */
static int parse_pool(struct pool_config *cfg, int argc, char **argv)
{
	int i = 2;
	while (i < argc && strcmp(argv[i], "--") != 0) {
		int n = parse_option(cfg, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
		if (n < 0)
			return -1;
		i += n;
	}
	if (cfg->n_listeners == 0) {
		fprintf(stderr, "anycgi: no listener: give --fastcgi ADDR or "
		        "--scgi ADDR\n");
		return -1;
	}

	return i < argc ? i + 1 : argc;
}

static void config_defaults(struct pool_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 1;
	cfg->stop_signal = SIGQUIT;
	cfg->socket_mode = -1;
	cfg->user = (uid_t)-1;
	cfg->group = (gid_t)-1;
	cfg->rlimit_files = cfg->rlimit_as = cfg->rlimit_nproc = -1;
	cfg->socket_uid = (uid_t)-1;
	cfg->socket_gid = (gid_t)-1;
	cfg->drain_timeout = 30;
}

/* The workers' environment is clean: what --env gives, and a PATH. */
static void finish_env(struct pool_config *cfg)
{
	bool has_path = false;
	for (size_t i = 0; i < cfg->n_env; i++)
		has_path |= strncmp(cfg->env[i], "PATH=", 5) == 0;
	if (!has_path)
		cfg->env[cfg->n_env++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	cfg->env[cfg->n_env] = NULL;
}

static int cmd_run(int argc, char **argv, bool echo)
{
	struct pool_config cfg;
	config_defaults(&cfg);
	int prog = parse_pool(&cfg, argc, argv);
	if (prog < 0)
		return 2;
	static char self[PATH_MAX];
	char *echo_argv[] = {self, "__app", "echo", NULL};
	if (echo) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0 || prog != argc) {
			fprintf(stderr, "anycgi echo: takes no PROGRAM\n");
			return 2;
		}
		self[n] = '\0';
		cfg.argv = echo_argv;
		if (!cfg.name[0])
			snprintf(cfg.name, sizeof(cfg.name), "echo");
	} else {
		if (prog >= argc) {
			fprintf(stderr, "anycgi run: no PROGRAM after --\n");
			usage(stderr);
			return 2;
		}
		cfg.argv = argv + prog;
		if (!cfg.name[0]) {
			const char *base = strrchr(argv[prog], '/');
			snprintf(cfg.name, sizeof(cfg.name), "%s",
			         base ? base + 1 : argv[prog]);
		}
	}
	finish_env(&cfg);
	return master_run(&cfg);
}

/* A built-in app as a worker process of the pool: `anycgi __app NAME`. */
static int cmd_app(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[2], "echo") != 0)
		return 2;
	acgi_server *s = acgi_server_new();
	if (!s)
		return 1;
	int rc = acgi_serve(s, echo_handle, NULL, 1);
	acgi_server_free(&s);
	return rc < 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv, false);
	if (strcmp(argv[1], "echo") == 0)
		return cmd_run(argc, argv, true);
	if (strcmp(argv[1], "__app") == 0)
		return cmd_app(argc, argv);
	if (strcmp(argv[1], "--version") == 0) {
		printf("anycgi %s\n", acgi_version());
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "anycgi: unknown command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
