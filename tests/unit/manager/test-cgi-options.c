/* Tests for src/manager/cgi_options.c: the CGI gateway's pool options and
 * the ANYCGI_CGI_* variables they give its workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "options.h"

static const char *env_of(const struct pool_config *cfg, const char *name)
{
	size_t n = strlen(name);
	const char *found = NULL;
	for (size_t i = 0; i < cfg->n_env; i++) {
		if (strncmp(cfg->env[i], name, n) == 0 && cfg->env[i][n] == '=') {
			assert_null(found); /* never twice */
			found = cfg->env[i] + n + 1;
		}
	}
	return found;
}

static void start(struct pool_config *cfg)
{
	char err[256];
	pool_defaults(cfg);
	assert_int_equal(pool_option(cfg, "fastcgi", "unix:/tmp/x.sock", err,
	                             sizeof(err)), 0);
	assert_int_equal(pool_option(cfg, "app", "cgi", err, sizeof(err)), 0);
	assert_int_equal(pool_option(cfg, "program", "/bin/true", err,
	                             sizeof(err)), 0);
}

static void ok(struct pool_config *cfg, const char *name, const char *val)
{
	char err[256] = "";
	if (pool_option(cfg, name, val, err, sizeof(err)) != 0)
		fail_msg("%s = %s: %s", name, val, err);
}

static void refused(const char *name, const char *val, const char *why)
{
	struct pool_config cfg;
	char err[256] = "";
	start(&cfg);
	assert_int_equal(pool_option(&cfg, name, val, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("%s = %s: \"%s\", not \"%s\"", name, val, err, why);
	pool_free(&cfg);
}

static void test_values_reach_the_environment(void **state)
{
	(void)state;
	struct pool_config cfg;
	char err[256];
	start(&cfg);
	ok(&cfg, "max-scripts", "3");
	ok(&cfg, "max-scripts", "2"); /* the last one wins, once */
	ok(&cfg, "script-wait", "1.5");
	ok(&cfg, "script-timeout", "7");
	ok(&cfg, "script-rlimit-cpu", "5");
	ok(&cfg, "script-rlimit-as", "100000000");
	ok(&cfg, "script-rlimit-nproc", "20");
	ok(&cfg, "script-rlimit-files", "64");
	ok(&cfg, "script-stderr", "fastcgi");
	assert_int_equal(pool_finish(&cfg, err, sizeof(err)), 0);
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_MAX_SCRIPTS"), "2");
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_SCRIPT_WAIT"), "1.500");
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_TIMEOUT"), "7.000");
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_RLIMIT_CPU"), "5");
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_RLIMIT_AS"), "100000000");
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_RLIMIT_NPROC"), "20");
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_RLIMIT_FILES"), "64");
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_STDERR"), "fastcgi");
	const char *key = env_of(&cfg, "ANYCGI_CGI_SLOT_KEY");
	assert_non_null(key);
	assert_int_equal(strlen(key), 32);
	assert_int_equal(strspn(key, "0123456789abcdef"), 32);
	/* The same key for every pool of this master: a reload's new
	 * generation shares its predecessor's slots. */
	struct pool_config other;
	start(&other);
	ok(&other, "max-scripts", "1");
	assert_string_equal(env_of(&other, "ANYCGI_CGI_SLOT_KEY"), key);
	pool_free(&other);
	pool_free(&cfg);
}

static void test_bad_values(void **state)
{
	(void)state;
	refused("max-scripts", "0", "at least 1");
	refused("max-scripts", "two", "a number");
	refused("script-wait", "-1", "seconds");
	refused("script-rlimit-cpu", "0", "at least 1");
	refused("script-rlimit-as", "100", "at least 4096");
	refused("script-rlimit-files", "1x", "a number");
	refused("script-stderr", "syslog", "log or fastcgi");
	refused("script-user", "no-such-user-acgi", "no such user");
	refused("script-group", "no-such-group-acgi", "no such group");
	refused("root", "", "empty value");
	refused("root", "no/such/relative/dir", "No such file");
}

static void test_user_rules(void **state)
{
	(void)state;
	struct pool_config cfg;
	char err[256] = "";
	start(&cfg);
	ok(&cfg, "script-group", "nogroup");
	assert_int_equal(pool_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "script-group needs script-user"));
	pool_free(&cfg);
	if (geteuid() != 0)
		return; /* the rest needs a root master */
	start(&cfg);
	ok(&cfg, "script-user", "nobody");
	ok(&cfg, "user", "nobody");
	assert_int_equal(pool_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "stay root"));
	pool_free(&cfg);
	start(&cfg);
	ok(&cfg, "script-user", "nobody");
	ok(&cfg, "script-group", "nogroup");
	assert_int_equal(pool_finish(&cfg, err, sizeof(err)), 0);
	assert_non_null(env_of(&cfg, "ANYCGI_CGI_USER"));
	assert_non_null(env_of(&cfg, "ANYCGI_CGI_GROUP"));
	pool_free(&cfg);
}

/* --root is checked where the workers will see it: on the host, made
 * real; inside --chroot, resolved as if chrooted. */
static void test_root_and_chroot(void **state)
{
	(void)state;
	char top[] = "/tmp/acgi-cgi-options-XXXXXX", path[128], err[256];
	assert_non_null(mkdtemp(top));
	snprintf(path, sizeof(path), "%s/srv", top);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/link", top);
	assert_int_equal(symlink("/srv", path), 0); /* absolute: in the jail */
	struct pool_config cfg;
	start(&cfg);
	ok(&cfg, "root", top);
	assert_int_equal(pool_finish(&cfg, err, sizeof(err)), 0);
	assert_string_equal(env_of(&cfg, "ANYCGI_CGI_ROOT"), top);
	pool_free(&cfg);
	static const struct {
		const char *root;
		int rc;
	} inside[] = {{"/srv", 0}, {"/link", 0}, {"/../../srv", 0},
	              {"/nothing", -1}, {"/tmp", -1}};
	for (size_t i = 0; i < sizeof(inside) / sizeof(*inside); i++) {
		start(&cfg);
		ok(&cfg, "chroot", top);
		ok(&cfg, "root", inside[i].root);
		int rc = pool_finish(&cfg, err, sizeof(err));
		if (rc != inside[i].rc)
			fail_msg("root %s in %s: %d (%s)", inside[i].root, top, rc,
			         err);
		if (rc)
			assert_non_null(strstr(err, "inside the chroot"));
		else
			assert_string_equal(env_of(&cfg, "ANYCGI_CGI_ROOT"),
			                    inside[i].root);
		pool_free(&cfg);
	}
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_reach_the_environment),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_user_rules),
		cmocka_unit_test(test_root_and_chroot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
