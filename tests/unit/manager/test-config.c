/* Tests for src/manager/config.c: the configuration file of `anycgi daemon
 * -c FILE`, and the lines it refuses because Debian's libinih would cut or
 * re-read them. */
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "options.h"

/* Debian's libinih reads lines into 200 bytes: 198, the '\n' and a NUL. */
enum { LINE_LIMIT = 198 };

/* Writes len bytes (NULs allowed) to a new file under /tmp; its name goes
 * to path. */
static void write_file(char *path, size_t pathlen, const char *data,
                       size_t len)
{
	snprintf(path, pathlen, "/tmp/anycgi-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Loads text; returns config_load's result, the error in err. */
static int load_text(const char *text, size_t len, struct master_config *mc,
                     char *path, size_t pathlen, char *err, size_t errlen)
{
	write_file(path, pathlen, text, len);
	int rc = config_load(path, mc, err, errlen);
	(void)unlink(path);
	return rc;
}

static bool is_zero(const struct master_config *mc)
{
	static const struct master_config zero;
	return memcmp(mc, &zero, sizeof(zero)) == 0;
}

/* Expects text to fail at line (0: no line) with want in the reason, and
 * mc to be left zeroed. */
static void expect_error_len(const char *text, size_t len, int line,
                             const char *want)
{
	struct master_config mc = {0};
	char path[64], err[512], prefix[96];
	mc.self = strdup("/opt/anycgi");
	assert_int_equal(load_text(text, len, &mc, path, sizeof(path), err,
	                           sizeof(err)), -1);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, want))
		fail_msg("want \"%s...%s\", got \"%s\"", prefix, want, err);
	assert_true(is_zero(&mc));
}

static void expect_error(const char *text, int line, const char *want)
{
	expect_error_len(text, strlen(text), line, want);
}

static const char *my_user(void)
{
	struct passwd *pw = getpwuid(getuid());
	assert_non_null(pw);
	return pw->pw_name;
}

static const char *my_group(void)
{
	struct group *gr = getgrgid(getgid());
	assert_non_null(gr);
	return gr->gr_name;
}

static void good_file(void **state)
{
	(void)state;
	char text[2048], path[64], err[512] = "";
	char user[64], group[64];
	snprintf(user, sizeof(user), "%s", my_user());
	snprintf(group, sizeof(group), "%s", my_group());
	snprintf(text, sizeof(text),
	         "; anycgi daemon -c FILE\n"
	         "[global]\n"
	         "control = /run/anycgi/test.ctl\n"
	         "status = 127.0.0.1:9101\n"
	         "log = /var/log/anycgi.log\n"
	         "\n"
	         "[php]\n"
	         "fastcgi = unix:/run/php.sock\n"
	         "scgi = [::1]:9001\n"
	         "user = %s\n"
	         "group = %s\n"
	         "socket-mode = 0660\n"
	         "mode = dynamic\n"
	         "workers = 2\n"
	         "min-spare = 1\n"
	         "max-spare = 3\n"
	         "max-workers = 8\n"
	         "request-timeout = 2.5\n"
	         "env = APP_ENV=prod\n"
	         "env = TZ=UTC\n"
	         "program = /usr/bin/php-cgi\n"
	         "arg = -d\n"
	         "arg = x=y\n"
	         "\n"
	         "[echo]\n"
	         "fastcgi = 127.0.0.1:9000\n"
	         "app = echo\n"
	         "workers = 3\n", user, group);
	struct master_config mc = {0};
	if (load_text(text, strlen(text), &mc, path, sizeof(path), err,
	              sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(mc.control, "/run/anycgi/test.ctl");
	assert_string_equal(mc.status, "127.0.0.1:9101");
	assert_string_equal(mc.log, "/var/log/anycgi.log");
	assert_int_equal(mc.n_pools, 2);

	const struct pool_config *php = &mc.pools[0];
	assert_string_equal(php->name, "php");
	assert_int_equal(php->n_listeners, 2);
	assert_string_equal(php->listeners[0].addr, "unix:/run/php.sock");
	assert_false(php->listeners[0].scgi);
	assert_string_equal(php->listeners[1].addr, "[::1]:9001");
	assert_true(php->listeners[1].scgi);
	assert_int_equal(php->user, getuid());
	assert_int_equal(php->group, getgid());
	assert_int_equal(php->socket_mode, 0660);
	assert_int_equal(php->mode, MODE_DYNAMIC);
	assert_int_equal(php->workers, 2);
	assert_int_equal(php->min_spare, 1);
	assert_int_equal(php->max_spare, 3);
	assert_int_equal(php->max_workers, 8);
	assert_true(php->request_timeout == 2.5);
	assert_int_equal(php->n_env, 3);
	assert_string_equal(php->env[0], "APP_ENV=prod");
	assert_string_equal(php->env[1], "TZ=UTC");
	assert_string_equal(php->env[2], "PATH=/usr/local/bin:/usr/bin:/bin");
	assert_null(php->env[3]);
	assert_int_equal(php->argc, 3);
	assert_string_equal(php->argv[0], "/usr/bin/php-cgi");
	assert_string_equal(php->argv[1], "-d");
	assert_string_equal(php->argv[2], "x=y");
	assert_null(php->argv[3]);
	assert_null(php->app);

	const struct pool_config *echo = &mc.pools[1];
	assert_string_equal(echo->name, "echo");
	assert_int_equal(echo->n_listeners, 1);
	assert_string_equal(echo->listeners[0].addr, "127.0.0.1:9000");
	assert_int_equal(echo->workers, 3);
	assert_string_equal(echo->app, "echo");
	assert_non_null(mc.self);
	assert_int_equal(echo->argc, 3);
	assert_string_equal(echo->argv[0], mc.self);
	assert_string_equal(echo->argv[1], "__app");
	assert_string_equal(echo->argv[2], "echo");
	assert_null(echo->argv[3]);
	master_config_free(&mc);
	assert_true(is_zero(&mc));
}

/* app = echo runs the self the caller gave, if it gave one. */
static void app_uses_given_self(void **state)
{
	(void)state;
	const char *text = "[e]\nfastcgi = unix:/tmp/e.sock\napp = echo\n";
	char path[64], err[512] = "";
	struct master_config mc = {0};
	mc.self = strdup("/opt/anycgi");
	if (load_text(text, strlen(text), &mc, path, sizeof(path), err,
	              sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(mc.pools[0].argv[0], "/opt/anycgi");
	assert_string_equal(mc.pools[0].argv[1], "__app");
	assert_null(mc.control);
	master_config_free(&mc);
}

/* What libinih accepts that means what it says: a BOM, CRLF, comments of
 * both kinds, indented comments, "key: value", ';' and '#' inside values,
 * an empty [global], an empty argument, no final newline. */
static void lenient_syntax(void **state)
{
	(void)state;
	const char *text = "\xef\xbb\xbf# comment\r\n"
	                   "[global] ; the master\r\n"
	                   "\r\n"
	                   "[p]\r\n"
	                   "   ; an indented comment\r\n"
	                   "fastcgi: unix:/tmp/p.sock\r\n"
	                   "env = A=x;y\r\n"
	                   "env = B=x #y\r\n"
	                   "env=C=\r\n"
	                   "program = /bin/cat\r\n"
	                   "arg =\r\n"
	                   "workers = 4";
	char path[64], err[512] = "";
	struct master_config mc = {0};
	if (load_text(text, strlen(text), &mc, path, sizeof(path), err,
	              sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(mc.n_pools, 1);
	assert_string_equal(mc.pools[0].listeners[0].addr, "unix:/tmp/p.sock");
	assert_string_equal(mc.pools[0].env[0], "A=x;y");
	assert_string_equal(mc.pools[0].env[1], "B=x #y");
	assert_string_equal(mc.pools[0].env[2], "C=");
	assert_string_equal(mc.pools[0].argv[1], "");
	assert_int_equal(mc.pools[0].workers, 4);
	master_config_free(&mc);
}

/* A line of "[p]\n" then "env = A=xxx...", len bytes before its '\n', then
 * a bad key on line 3, so the line count after it is checked too. */
static size_t long_line_file(char *buf, size_t cap, size_t len,
                             const char *eol)
{
	size_t n = (size_t)snprintf(buf, cap, "[p]\nenv = A=");
	size_t fill = len - strlen("env = A=") - strlen(eol);
	assert_true(n + fill + 64 < cap);
	memset(buf + n, 'x', fill);
	n += fill;
	n += (size_t)snprintf(buf + n, cap - n, "%s\nbad = 1\n", eol);
	return n;
}

static void line_limit(void **state)
{
	(void)state;
	char buf[1024];
	/* At the limit: read whole, and the next line is line 3. */
	long_line_file(buf, sizeof(buf), LINE_LIMIT, "");
	expect_error(buf, 3, "bad: unknown key");
	long_line_file(buf, sizeof(buf), LINE_LIMIT, "\r");
	expect_error(buf, 3, "bad: unknown key");
	/* One over, with a '\r' counted as libinih counts it. */
	long_line_file(buf, sizeof(buf), LINE_LIMIT + 1, "");
	expect_error(buf, 2, "line too long (199 bytes; the limit is 198)");
	long_line_file(buf, sizeof(buf), LINE_LIMIT + 1, "\r");
	expect_error(buf, 2, "line too long (199 bytes; the limit is 198)");
	long_line_file(buf, sizeof(buf), 400, "");
	expect_error(buf, 2, "line too long (400 bytes; the limit is 198)");
	/* A comment too: libinih would read its rest as a line. */
	memset(buf, ';', 300);
	snprintf(buf + 300, sizeof(buf) - 300, "\n[p]\n");
	expect_error(buf, 1, "line too long (300 bytes; the limit is 198)");
}

/* A value at the limit arrives whole. */
static void line_at_limit_kept(void **state)
{
	(void)state;
	char text[1024], path[64], err[512] = "";
	size_t n = (size_t)snprintf(text, sizeof(text), "[p]\nenv = A=");
	size_t fill = LINE_LIMIT - strlen("env = A=");
	memset(text + n, 'x', fill);
	snprintf(text + n + fill, sizeof(text) - n - fill,
	         "\nfastcgi = unix:/tmp/p.sock\nprogram = /bin/cat\n");
	struct master_config mc = {0};
	if (load_text(text, strlen(text), &mc, path, sizeof(path), err,
	              sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(strlen(mc.pools[0].env[0]), 2 + fill);
	master_config_free(&mc);
}

static void nul_byte(void **state)
{
	(void)state;
	static const char text[] = "[p]\nworkers = 2\0x\nfastcgi = a:1\n";
	expect_error_len(text, sizeof(text) - 1, 2, "NUL byte at column 12");
}

static void missing_file(void **state)
{
	(void)state;
	struct master_config mc = {0};
	char err[512];
	mc.self = strdup("/opt/anycgi");
	assert_int_equal(config_load("/nonexistent/anycgi.conf", &mc, err,
	                             sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/anycgi.conf: No such file or "
	                         "directory");
	assert_true(is_zero(&mc));
}

static void directory(void **state)
{
	(void)state;
	struct master_config mc = {0};
	char err[512];
	assert_int_equal(config_load("/tmp", &mc, err, sizeof(err)), -1);
	assert_string_equal(err, "/tmp: Is a directory");
	assert_true(is_zero(&mc));
}

/* Good enough to load, to prefix the cases below with. */
#define POOL_P "[p]\nfastcgi = unix:/tmp/p.sock\napp = echo\n"

static const struct {
	const char *text;
	int line;
	const char *reason;
} bad_files[] = {
	{POOL_P "foo = 1\n", 4, "foo: unknown key"},
	{"[p]\nworkers = abc\n", 2, "workers: abc: a number up to 4096"},
	{"[p]\nworkers = 5000\n", 2, "workers: 5000: a number up to 4096"},
	{"[p]\nmode = sometimes\n", 2,
	 "mode: sometimes: static, dynamic or ondemand"},
	{"[p]\nrequest-timeout = soon\n", 2, "request-timeout: soon: seconds"},
	{"[p]\nuser = no-such-user-here\n", 2,
	 "user: no-such-user-here: no such user"},
	{"[p]\nenv = NOEQUALS\n", 2, "env: NOEQUALS: NAME=VALUE"},
	{"[p]\nping-path =\n", 2, "ping-path: empty value"},
	{"[p]\nfastcgi =\n", 2, "fastcgi: empty value"},
	{"[p]\nfastcgi = a:1\nprogram = /bin/echo\narg = x\nuser = \n", 5,
	 "user: empty value"},
	{"workers = 2\n" POOL_P, 1, "workers: key before any [section]"},
	{"; c\n\nworkers = 2\n", 3, "workers: key before any [section]"},
	{POOL_P "\n" POOL_P, 5, "[p]: section given twice (first on line 1)"},
	{"[global]\n[global]\n" POOL_P, 2,
	 "[global]: section given twice (first on line 1)"},
	{"[global]\npid-file = /run/a.pid\n", 2, "pid-file: unknown key"},
	{"[global]\nlog =\n", 2, "log: empty value"},
	{"[global]\nlog = a\nlog = b\n", 3, "log: given twice (first on line 2)"},
	{POOL_P "workers = 2\nworkers = 3\n", 5,
	 "workers: given twice (first on line 4)"},
	{"[p]\napp = echo\n\n[q]\n", 1,
	 "[p]: no listener: add fastcgi = ADDR, scgi = ADDR or http = ADDR"},
	{POOL_P "[q]\nworkers = 2\n", 4,
	 "[q]: no listener: add fastcgi = ADDR, scgi = ADDR or http = ADDR"},
	{"[p]\nfastcgi = a:1\n", 1, "[p]: no program: add program = PATH or "
	                            "app = echo"},
	{"[p]\nfastcgi = a:1\napp = echo\nmode = dynamic\nworkers = 9\n"
	 "max-workers = 4\n", 1, "[p]: workers 9 and min-spare 1 must not "
	                         "exceed max-workers 4"},
	{"", 0, "no pool: add a [NAME] section"},
	{"[global]\nlog = /tmp/l\n", 0, "no pool: add a [NAME] section"},
	{"[p]\nworkers = 2 ;two\n", 2, "workers: inline ';' would cut the "
	                               "value"},
	{"[p]\nworkers = 2\t;two\n", 2, "workers: inline ';' would cut the "
	                                "value"},
	{"[p]\nping-path = ;/ping\n", 2, "ping-path: inline ';' would cut the "
	                                 "value"},
	{"[p]\nwork ;ers = 2\n", 2, "work: inline ';' would cut the line"},
	{"[p ;q]\n", 1, "inline ';' would cut the [section] line"},
	{POOL_P "workers = 2\n  max-requests = 5\n", 5,
	 "indented line: continuation lines are not supported"},
	{POOL_P "workers = 2\n\n; c\n\tmax-requests = 5\n", 7,
	 "indented line: continuation lines are not supported"},
	{" [p]\n", 1, "indented line: continuation lines are not supported"},
	{"[p]\nworkers\n", 2, "workers: not key = value, [section] or a "
	                      "comment"},
	{"[p]\n= 2\n", 2, "no key before '='"},
	{"[p\n", 1, "no ']' to end the [section]"},
	{"[p] x\n", 1, "text after ']'"},
	{"[]\n", 1, "[]: a pool section needs a name"},
	{"[a b]\n", 1, "[a b]: a b: a short word"},
	{"[" "a123456789a123456789a123456789a123456789a123456789a123456789"
	 "abcd]\n", 1, "a short word"},
	{"[p]\nname = q\n", 2, "name: the section's name is the pool's name"},
	{"[p]\ncontrol = /run/p.ctl\n", 2, "control: belongs in [global]"},
	{"[p]\nprogram = /bin/cat\napp = echo\n", 3,
	 "app: give either program or app"},
	{"[p]\napp = echo\nprogram = /bin/cat\n", 3,
	 "program: give either program or app"},
	{"[p]\napp = echo\narg = x\n", 3, "arg: only after program = PATH"},
	{"[p]\narg = x\nprogram = /bin/cat\n", 2,
	 "arg: only after program = PATH"},
	{"[p]\nprogram = /bin/cat\nprogram = /bin/sh\n", 3,
	 "program: given twice (first on line 2)"},
	{"[p]\napp = nosuch\n", 2, "app: nosuch: not a built-in app (echo, cgi)"},
	/* Line numbers after a BOM, CRLF and blank lines. */
	{"\xef\xbb\xbf[p]\r\n\r\n\r\nbogus = 1\r\n", 4, "bogus: unknown key"},
};

static void bad_file_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++)
		expect_error(bad_files[i].text, bad_files[i].line,
		             bad_files[i].reason);
}

/* A long [section] name is ours, not libinih's cut one: a 63-byte name is
 * kept whole (libinih would cut it to 49 bytes). */
static void long_section_name(void **state)
{
	(void)state;
	char name[64], text[256], path[64], err[512] = "";
	memset(name, 'n', 63);
	name[63] = '\0';
	snprintf(text, sizeof(text), "[%s]\nfastcgi = a:1\napp = echo\n",
	         name);
	struct master_config mc = {0};
	if (load_text(text, strlen(text), &mc, path, sizeof(path), err,
	              sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(mc.pools[0].name, name);
	master_config_free(&mc);
}

/* A short err buffer is cut, never overrun. */
static void short_err_buffer(void **state)
{
	(void)state;
	const char *text = "[p]\nunknown-and-rather-long-key = 1\n";
	char path[64], err[16];
	struct master_config mc = {0};
	memset(err, 'z', sizeof(err));
	assert_int_equal(load_text(text, strlen(text), &mc, path, sizeof(path),
	                           err, 12), -1);
	assert_int_equal(strlen(err), 11);
	assert_int_equal(err[12], 'z');
	assert_true(is_zero(&mc));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_file),
		cmocka_unit_test(app_uses_given_self),
		cmocka_unit_test(lenient_syntax),
		cmocka_unit_test(line_limit),
		cmocka_unit_test(line_at_limit_kept),
		cmocka_unit_test(nul_byte),
		cmocka_unit_test(missing_file),
		cmocka_unit_test(directory),
		cmocka_unit_test(bad_file_table),
		cmocka_unit_test(long_section_name),
		cmocka_unit_test(short_err_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
