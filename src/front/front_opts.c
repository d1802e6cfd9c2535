/* The front end's command line: anycgi __front --upstream ADDR [options]
 * (docs/http.md lists them with their defaults). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "front_int.h"

static void defaults(struct front_opts *o)
{
	*o = (struct front_opts){
		.upstream_conns = 8,
		.queue_timeout = 10,
		.request_timeout = 60,
		.header_timeout = 10,
		.body_timeout = 30,
		.keepalive_timeout = 30,
		.send_timeout = 60,
		.max_conns = 10000,
		.max_header_bytes = 16384,
		.max_headers = 100,
		.max_body = 1LL << 30,
		.script_prefix = "",
		.access_log_fd = -1,
	};
}

static int number(const char *v, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || d < min || d > max)
		return -1;
	*out = d;
	return 0;
}

/* Options that take a number: where it goes and its range. */
struct num_opt {
	const char *name;
	double min, max;
	int kind; /* 0 double, 1 int, 2 uint32, 3 int64 */
	size_t off;
};

#define O(f) offsetof(struct front_opts, f)
static const struct num_opt num_opts[] = {
	{"upstream-conns", 1, 65535, 1, O(upstream_conns)},
	{"queue-timeout", 0.001, 1e6, 0, O(queue_timeout)},
	{"request-timeout", 0.001, 1e6, 0, O(request_timeout)},
	{"header-timeout", 0.001, 1e6, 0, O(header_timeout)},
	{"body-timeout", 0.001, 1e6, 0, O(body_timeout)},
	{"keepalive-timeout", 0.001, 1e6, 0, O(keepalive_timeout)},
	{"send-timeout", 0.001, 1e6, 0, O(send_timeout)},
	{"max-conns", 1, 1e7, 1, O(max_conns)},
	{"max-header-bytes", 64, 1 << 24, 2, O(max_header_bytes)},
	{"max-headers", 1, 10000, 2, O(max_headers)},
	{"max-body", 0, 1e18, 3, O(max_body)},
	{"access-log-fd", 0, 1 << 20, 1, O(access_log_fd)},
};

static int set_number(struct front_opts *o, const struct num_opt *n,
                      const char *v)
{
	double d;
	if (number(v, n->min, n->max, &d) < 0) {
		fprintf(stderr, "front: --%s %s: not a number in %g..%g\n",
		        n->name, v, n->min, n->max);
		return -1;
	}
	char *at = (char *)o + n->off;
	if (n->kind == 0)
		*(double *)at = d;
	else if (n->kind == 1)
		*(int *)at = (int)d;
	else if (n->kind == 2)
		*(uint32_t *)at = (uint32_t)d;
	else
		*(int64_t *)at = (int64_t)d;
	return 0;
}

/* on|off, and the words a configuration file may use for them. */
static int boolean(const char *v)
{
	static const char *const yes[] = {"on", "yes", "true", "1"};
	static const char *const no[] = {"off", "no", "false", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int set_string(struct front_opts *o, const char *name, const char *v)
{
	if (strcmp(name, "listen") == 0) {
		if (o->n_listen == MAX_LISTEN)
			return -1;
		o->listen[o->n_listen++] = v;
	} else if (strcmp(name, "upstream") == 0) {
		o->upstream = v;
	} else if (strcmp(name, "script-prefix") == 0) {
		size_t n = strlen(v);
		while (n > 0 && v[n - 1] == '/')
			n--;
		if (n > 0 && v[0] != '/')
			return -1;
		o->script_prefix = strndup(v, n);
	} else if (strcmp(name, "document-root") == 0) {
		o->document_root = realpath(v, NULL);
		if (!o->document_root)
			return -1;
	} else if (strcmp(name, "script-pattern") == 0) {
		if (!*v)
			return -1;
		o->script_pattern = v;
	} else if (strcmp(name, "underscores-in-headers") == 0) {
		int b = boolean(v);
		if (b < 0)
			return -1;
		o->underscores_in_headers = b;
	} else if (strcmp(name, "server-name") == 0) {
		o->server_name = v;
	} else if (strcmp(name, "access-log") == 0) {
		o->access_log = v;
	} else if (strcmp(name, "access-log-format") == 0) {
		if (strcmp(v, "json") != 0 && strcmp(v, "clf") != 0)
			return -1;
		o->access_log_json = strcmp(v, "json") == 0;
	} else {
		return 1;
	}
	return 0;
}

static int set_option(struct front_opts *o, const char *name, const char *v)
{
	for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++)
		if (strcmp(name, num_opts[i].name) == 0)
			return set_number(o, &num_opts[i], v);
	int rc = set_string(o, name, v);
	if (rc > 0)
		fprintf(stderr, "front: --%s: unknown option\n", name);
	else if (rc < 0)
		fprintf(stderr, "front: --%s %s: bad value\n", name, v);
	return rc ? -1 : 0;
}

int front_opts_parse(struct front_opts *o, int argc, char **argv)
{
	defaults(o);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "front: %s: not an option\n", a);
			return -1;
		}
		/* The bare flag means on; with a value it takes on|off. */
		if (strcmp(a, "--underscores-in-headers") == 0 &&
		    (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
			o->underscores_in_headers = true;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "front: %s needs a value\n", a);
			return -1;
		}
		if (set_option(o, a + 2, argv[++i]) < 0)
			return -1;
	}
	if (!o->script_pattern)
		o->script_pattern = "*.php";
	if (!o->upstream) {
		fprintf(stderr, "usage: anycgi __front --upstream ADDR "
		                "[--listen ADDR]... [options]\n");
		return -1;
	}
	return 0;
}
