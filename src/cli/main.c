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
#include "options.h"

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

/* Reads the pool options up to "--" (run) or the end (echo). Returns the
 * index of PROGRAM, argc when there is none, or -1 after printing why. */
static int parse_pool(struct pool_config *cfg, int argc, char **argv)
{
	int i = 2;
	char err[512];
	while (i < argc && strcmp(argv[i], "--") != 0) {
		const char *opt = argv[i];
		if (strncmp(opt, "--", 2) != 0 || !opt[2]) {
			fprintf(stderr, "anycgi: %s: not an option\n", opt);
			usage(stderr);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "anycgi: %s needs a value\n", opt);
			return -1;
		}
		if (pool_option(cfg, opt + 2, argv[i + 1], err, sizeof(err)) < 0) {
			fprintf(stderr, "anycgi: %s: %s\n", opt, err);
			if (strcmp(err, "unknown option") == 0)
				usage(stderr);
			return -1;
		}
		i += 2;
	}
	return i < argc ? i + 1 : argc;
}

/* A built-in app runs as `anycgi __app NAME`, from this very binary. */
static int add_app(struct pool_config *cfg, const char *app, char *err,
                   size_t errlen)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "/proc/self/exe: %s", strerror(errno));
		return -1;
	}
	self[n] = '\0';
	return pool_option(cfg, "app", app, err, errlen) < 0 ||
	       pool_option(cfg, "program", self, err, errlen) < 0 ||
	       pool_option(cfg, "arg", "__app", err, errlen) < 0 ||
	       pool_option(cfg, "arg", app, err, errlen) < 0 ? -1 : 0;
}

static int cmd_run(int argc, char **argv, bool echo)
{
	struct master_config mc = {0};
	struct pool_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	mc.pools = cfg;
	mc.n_pools = 1;
	pool_defaults(cfg);
	int prog = parse_pool(cfg, argc, argv);
	char err[512] = "";
	int rc = 2;
	if (prog < 0)
		goto out;
	if (echo && prog != argc) {
		fprintf(stderr, "anycgi echo: takes no PROGRAM\n");
		goto out;
	}
	if (!echo && prog >= argc) {
		fprintf(stderr, "anycgi run: no PROGRAM after --\n");
		usage(stderr);
		goto out;
	}
	int bad = echo ? add_app(cfg, "echo", err, sizeof(err)) : 0;
	for (int i = prog; !bad && i < argc; i++)
		bad = pool_option(cfg, i == prog ? "program" : "arg", argv[i], err,
		                  sizeof(err));
	if (bad || pool_finish(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "anycgi: %s\n", err);
		goto out;
	}
	return master_run(&mc);
out:
	master_config_free(&mc);
	return rc;
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
