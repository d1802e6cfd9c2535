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
#include "bench.h"
#include "cgi_gateway.h"
#include "echo.h"
#include "front.h"
#include "master.h"
#include "options.h"
#include "config.h"
#include "control.h"
#include "listeners.h"
#include "status_app.h"
#include "request.h"

static void usage(FILE *f)
{
	fputs("usage: anycgi run    LISTEN... [POOL OPTIONS] -- PROGRAM [ARG...]\n"
	      "       anycgi cgi    LISTEN... [POOL OPTIONS] [--root DIR]\n"
	      "       anycgi echo   LISTEN... [POOL OPTIONS]\n"
	      "       anycgi daemon -c FILE\n"
	      "       anycgi status [--json|--format F] [POOL] ADDR\n"
	      "       anycgi reload [POOL] ADDR\n"
	      "       anycgi stop   [--now] ADDR\n"
	      "       anycgi request (--fastcgi|--scgi) ADDR [OPTIONS] URI  "
	      "(see anycgi request --help)\n"
	      "       anycgi bench  (--fastcgi|--scgi) ADDR [-c CONNS] "
	      "[-t SECONDS | -n REQUESTS] [--keep-conn] [--mpx N] [-d @FILE] "
	      "[--json] URI\n"
	      "LISTEN: --fastcgi ADDR | --scgi ADDR | --http ADDR   "
	      "(ADDR: unix:/path, HOST:PORT, [IPv6]:PORT, fd:N from systemd)\n"
	      "POOL OPTIONS: --name NAME  --workers N  --env NAME=VALUE  "
	      "--stop-signal SIG\n"
	      "  --mode static|dynamic|ondemand  --min-spare N  --max-spare N  "
	      "--max-workers N  --idle-timeout S\n"
	      "  --max-requests N  --max-lifetime S  --request-timeout S  "
	      "--slow-log S  --drain-timeout S\n"
	      "  --user U  --group G  --chroot DIR  --rlimit-files N  "
	      "--rlimit-as BYTES  --rlimit-nproc N\n"
	      "  --socket-mode MODE  --socket-owner USER  --socket-group GROUP\n"
	      "  --control PATH  --status ADDR  --ping-path PATH  --log FILE\n"
	      "  cgi: --root DIR (scripts are ROOT + SCRIPT_NAME + PATH_INFO)  "
	      "--script-timeout S\n"
	      "       --max-scripts N  --script-wait S  --script-user U  "
	      "--script-group G  --script-stderr log|fastcgi\n"
	      "       --script-rlimit-cpu S  --script-rlimit-as BYTES  "
	      "--script-rlimit-nproc N  --script-rlimit-files N\n"
	      "  http: --document-root DIR  --script-prefix PATH  "
	      "--script-pattern GLOB  --access-log FILE\n"
	      "    --access-log-format clf|json  --max-conns N  --max-body BYTES  "
	      "--max-header-bytes N  --max-headers N\n"
	      "    --header-timeout S  --body-timeout S  --keepalive-timeout S  "
	      "--queue-timeout S  --server-name NAME\n",
	      f);
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

/* Socket activation with no LISTEN given: every socket systemd passed
 * becomes a FastCGI listener. */
static int add_systemd_listeners(struct pool_config *cfg, char *err,
                                 size_t errlen)
{
	if (cfg->n_listeners || listeners_take_systemd() <= 0)
		return 0;
	char name[32];
	for (size_t i = 0; listeners_systemd_fd(i) >= 0; i++) {
		snprintf(name, sizeof(name), "fd:%d", listeners_systemd_fd(i));
		if (pool_option(cfg, "fastcgi", name, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* --control, --status and --log are the master's: the pool's go up. */
static int lift_globals(struct master_config *mc, struct pool_config *cfg)
{
	char **from[] = {&cfg->control, &cfg->status, &cfg->log};
	char **to[] = {&mc->control, &mc->status, &mc->log};
	for (int i = 0; i < 3; i++) {
		*to[i] = *from[i];
		*from[i] = NULL;
	}
	return 0;
}

/* run, or a built-in app (app: its name) with no PROGRAM. */
static int cmd_run(int argc, char **argv, const char *app)
{
	bool echo = app != NULL;
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
		fprintf(stderr, "anycgi %s: takes no PROGRAM\n", app);
		goto out;
	}
	if (!echo && prog >= argc) {
		fprintf(stderr, "anycgi run: no PROGRAM after --\n");
		usage(stderr);
		goto out;
	}
	int bad = echo ? add_app(cfg, app, err, sizeof(err)) : 0;
	for (int i = prog; !bad && i < argc; i++)
		bad = pool_option(cfg, i == prog ? "program" : "arg", argv[i], err,
		                  sizeof(err));
	if (bad || add_systemd_listeners(cfg, err, sizeof(err)) < 0 ||
	    pool_finish(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "anycgi: %s\n", err);
		goto out;
	}
	lift_globals(&mc, cfg);
	return master_run(&mc);
out:
	master_config_free(&mc);
	return rc;
}

static int cmd_daemon(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[2], "-c") != 0) {
		fprintf(stderr, "usage: anycgi daemon -c FILE\n");
		return 2;
	}
	struct master_config mc = {0};
	char err[1024];
	if (config_load(argv[3], &mc, err, sizeof(err)) < 0) {
		fprintf(stderr, "anycgi: %s\n", err);
		return 2;
	}
	char path[PATH_MAX];
	mc.config_path = strdup(realpath(argv[3], path) ? path : argv[3]);
	return master_run(&mc);
}

/* status, reload, stop: [OPTIONS] [POOL] ADDR, through the control
 * socket. */
static int cmd_control(int argc, char **argv)
{
	const char *verb = argv[1], *format = "text", *words[2];
	bool now = false;
	int n = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(verb, "status") == 0 && strcmp(argv[i], "--json") == 0)
			format = "json";
		else if (strcmp(verb, "status") == 0 &&
		         strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			format = argv[++i];
		else if (strcmp(verb, "stop") == 0 && strcmp(argv[i], "--now") == 0)
			now = true;
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			n = 3; /* an unknown option: usage below */
		else if (n < 2)
			words[n++] = argv[i];
		else
			n = 3;
	}
	bool pool_ok = strcmp(verb, "stop") != 0;
	if (n < 1 || n > (pool_ok ? 2 : 1)) {
		usage(stderr);
		return 2;
	}
	const char *addr = words[n - 1], *pool = n == 2 ? words[0] : NULL;
	char cmd[512];
	if (strcmp(verb, "status") == 0)
		snprintf(cmd, sizeof(cmd), "status %s%s%s", format, pool ? " " : "",
		         pool ? pool : "");
	else if (strcmp(verb, "reload") == 0)
		snprintf(cmd, sizeof(cmd), "reload%s%s", pool ? " " : "",
		         pool ? pool : "");
	else
		snprintf(cmd, sizeof(cmd), "stop%s", now ? " now" : "");
	return control_call(addr, cmd);
}

/* A built-in app as a worker process of the pool: `anycgi __app NAME`. */
static int cmd_app(int argc, char **argv)
{
	static struct cgi_gateway gateway;
	void *data = NULL;
	if (argc < 3)
		return 2;
	acgi_handler handler = strcmp(argv[2], "echo") == 0 ? echo_handle
	                        : strcmp(argv[2], "status") == 0 ? status_app_handle
	                        : strcmp(argv[2], "cgi") == 0 ? cgi_gateway_handle
	                                                       : NULL;
	if (!handler)
		return 2;
	if (handler == cgi_gateway_handle) {
		if (cgi_gateway_init(&gateway) < 0)
			return 1;
		data = &gateway;
	}
	acgi_server *s = acgi_server_new();
	if (!s)
		return 1;
	/* The gateway polls its child's pipes and the library's fd on one
	 * thread: one request at a time per worker, like any CGI server. */
	int rc = acgi_serve(s, handler, data, 1);
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
		return cmd_run(argc, argv, NULL);
	if (strcmp(argv[1], "echo") == 0 || strcmp(argv[1], "cgi") == 0)
		return cmd_run(argc, argv, argv[1]);
	if (strcmp(argv[1], "daemon") == 0)
		return cmd_daemon(argc, argv);
	if (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "reload") == 0 ||
	    strcmp(argv[1], "stop") == 0)
		return cmd_control(argc, argv);
	if (strcmp(argv[1], "request") == 0)
		return request_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "bench") == 0)
		return bench_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "__app") == 0)
		return cmd_app(argc, argv);
	if (strcmp(argv[1], "__front") == 0)
		return front_main(argc, argv);
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
