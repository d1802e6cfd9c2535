/* The CGI gateway's script resolution (src/apps/cgi_resolve.c) against a
 * real tree in a temporary folder: the PATH_INFO split, PATH_TRANSLATED,
 * SCRIPT_FILENAME, and every way out of the root refused by the kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgi_gateway.h"

static char base[64], root[128];

static void put(const char *rel, int mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	chmod(path, (mode_t)mode);
}

static void dir(const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void link_at(const char *target, const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	assert_int_equal(symlink(target, path), 0);
}

/* base/root/cgi-bin/..., base/outside/evil.sh. */
static int make_tree(void **state)
{
	(void)state;
	strcpy(base, "/tmp/acgi-resolve-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	dir("root");
	dir("root/cgi-bin");
	dir("root/cgi-bin/dir.cgi");
	dir("root/a");
	dir("root/a/b");
	dir("outside");
	put("root/cgi-bin/hello.cgi", 0755);
	put("root/cgi-bin/nph-x.cgi", 0755);
	put("root/cgi-bin/noexec.sh", 0644);
	put("root/a/b/c.cgi", 0755);
	put("outside/evil.sh", 0755);
	link_at("hello.cgi", "root/cgi-bin/alias.cgi");
	link_at("../../outside/evil.sh", "root/cgi-bin/out.cgi");
	link_at("/bin/sh", "root/cgi-bin/abs.cgi");
	link_at("../../outside", "root/cgi-bin/outdir");
	link_at("/proc/self/exe", "root/cgi-bin/magic.cgi");
	char fifo[256];
	snprintf(fifo, sizeof(fifo), "%s/cgi-bin/fifo", root);
	assert_int_equal(mkfifo(fifo, 0755), 0);
	return 0;
}

static int remove_tree(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd);
}

static struct cgi_gateway with_root(void)
{
	struct cgi_gateway g = {.root_fd = open(root, O_PATH | O_DIRECTORY),
	                        .uid = (uid_t)-1};
	snprintf(g.root, sizeof(g.root), "%s", root);
	assert_true(g.root_fd >= 0);
	return g;
}

static struct cgi_gateway no_root(void)
{
	return (struct cgi_gateway){.root_fd = -1, .uid = (uid_t)-1};
}

static struct cgi_target target(const char *name, const char *info)
{
	return (struct cgi_target){.script_name = name, .path_info = info,
	                           .request_uri = "", .script_filename = "",
	                           .document_root = ""};
}

static int resolve(const struct cgi_gateway *g, const struct cgi_target *t,
                   struct cgi_script *sc)
{
	cgi_resolve_target(g, t, sc);
	assert_true(sc->status != 0 || sc->dir_fd >= 0);
	assert_true(sc->status == 0 || sc->dir_fd < 0);
	return sc->status;
}

static char *joined(const char *a, const char *b)
{
	static char buf[512];
	snprintf(buf, sizeof(buf), "%s%s", a, b);
	return buf;
}

static void test_path_info_split(void **state)
{
	(void)state;
	struct cgi_gateway g = with_root();
	struct cgi_script sc;
	struct cgi_target t = target("/cgi-bin/hello.cgi", "/extra/path");
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_string_equal(sc.name, "hello.cgi");
	assert_string_equal(sc.script_name, "/cgi-bin/hello.cgi");
	assert_string_equal(sc.path_info, "/extra/path");
	assert_string_equal(sc.path_translated, joined(root, "/extra/path"));
	assert_string_equal(sc.filename, joined(root, "/cgi-bin/hello.cgi"));
	assert_false(sc.nph);
	cgi_script_free(&sc);
	/* The whole path in SCRIPT_NAME (nginx's /fcgi/ style) splits too. */
	t = target("/a/b/c.cgi/x/y", "");
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_string_equal(sc.script_name, "/a/b/c.cgi");
	assert_string_equal(sc.path_info, "/x/y");
	cgi_script_free(&sc);
	/* No PATH_INFO: neither it nor PATH_TRANSLATED. */
	t = target("/cgi-bin/hello.cgi", "");
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_null(sc.path_info);
	assert_null(sc.path_translated);
	cgi_script_free(&sc);
	t = target("/cgi-bin/nph-x.cgi", "/");
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_true(sc.nph);
	assert_string_equal(sc.path_info, "/");
	cgi_script_free(&sc);
	close(g.root_fd);
}

static void test_request_uri_when_script_name_is_empty(void **state)
{
	(void)state;
	struct cgi_gateway g = with_root();
	struct cgi_script sc;
	struct cgi_target t = target("", "");
	t.request_uri = "/cgi-bin/%68ello.cgi/p%20q?x=%2f";
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_string_equal(sc.script_name, "/cgi-bin/hello.cgi");
	assert_string_equal(sc.path_info, "/p q");
	cgi_script_free(&sc);
	static const char *const refused[] = {
		"/cgi-bin%2fhello.cgi", "/cgi-bin/hello.cgi%00",
		"/cgi-bin/%2e%2e%2f%2e%2e%2foutside/evil.sh",
		"/cgi-bin/hello.cgi%0a",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		t.request_uri = refused[i];
		assert_int_equal(resolve(&g, &t, &sc), 403);
		cgi_script_free(&sc);
	}
	/* Decoded dots are walked by the kernel, beneath the root. */
	t.request_uri = "/cgi-bin/%2e%2e/%2e%2e/outside/evil.sh";
	assert_int_equal(resolve(&g, &t, &sc), 403);
	cgi_script_free(&sc);
	close(g.root_fd);
}

static void test_traversal_table(void **state)
{
	(void)state;
	static const struct {
		const char *name, *info;
		int status;
	} table[] = {
		{"/../outside/evil.sh", "", 403},
		{"/cgi-bin/../../outside/evil.sh", "", 403},
		{"/cgi-bin", "/../../outside/evil.sh", 403},
		{"/cgi-bin/out.cgi", "", 403},
		{"/cgi-bin/abs.cgi", "", 403},
		{"/cgi-bin/outdir/evil.sh", "", 403},
		{"/cgi-bin/magic.cgi", "", 403},
		{"/cgi-bin/dir.cgi", "", 403},
		{"/cgi-bin/", "", 403},
		{"/", "", 403},
		{"/cgi-bin/noexec.sh", "", 403},
		{"/cgi-bin/fifo", "", 403},
		{"/cgi-bin/hel\nlo.cgi", "", 403},
		{"/cgi-bin/hello.cgi", "/a\x7f", 403},
		{"/cgi-bin/none.cgi", "", 404},
		{"/nope/x.cgi", "/y", 404},
		{"/cgi-bin/%2e%2e/%2e%2e/outside/evil.sh", "", 404},
		{"/cgi-bin/../cgi-bin/hello.cgi", "", 0},
		{"/cgi-bin/alias.cgi", "", 0},
		{"//cgi-bin//hello.cgi", "", 0},
	};
	struct cgi_gateway g = with_root();
	for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++) {
		struct cgi_script sc;
		struct cgi_target t = target(table[i].name, table[i].info);
		int got = resolve(&g, &t, &sc);
		if (got != table[i].status)
			fail_msg("%s + %s: %d, not %d", table[i].name, table[i].info,
			         got, table[i].status);
		if (got)
			assert_true(sc.why && *sc.why);
		cgi_script_free(&sc);
	}
	close(g.root_fd);
}

static void test_long_name_is_missing(void **state)
{
	(void)state;
	char name[600] = "/cgi-bin/";
	memset(name + 9, 'x', 400);
	struct cgi_gateway g = with_root();
	struct cgi_script sc;
	struct cgi_target t = target(name, "");
	assert_int_equal(resolve(&g, &t, &sc), 404);
	cgi_script_free(&sc);
	close(g.root_fd);
}

static void test_script_filename_with_document_root(void **state)
{
	(void)state;
	struct cgi_gateway g = no_root();
	struct cgi_script sc;
	struct cgi_target t = target("/cgi-bin/hello.cgi/a/b", "");
	char file[256];
	snprintf(file, sizeof(file), "%s/cgi-bin/hello.cgi/a/b", root);
	t.script_filename = file;
	t.document_root = root;
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_string_equal(sc.script_name, "/cgi-bin/hello.cgi");
	assert_string_equal(sc.path_info, "/a/b");
	assert_string_equal(sc.filename, joined(root, "/cgi-bin/hello.cgi"));
	assert_string_equal(sc.path_translated, joined(root, "/a/b"));
	cgi_script_free(&sc);
	/* Confined to DOCUMENT_ROOT, by the kernel past the prefix. */
	static const char *const outside[] = {
		"%s/../outside/evil.sh", "%s/cgi-bin/out.cgi",
		"%s/cgi-bin/outdir/evil.sh", "%sx/cgi-bin/hello.cgi",
		"/bin/sh",
	};
	for (size_t i = 0; i < sizeof(outside) / sizeof(*outside); i++) {
		snprintf(file, sizeof(file), outside[i], root);
		assert_int_equal(resolve(&g, &t, &sc), 403);
		cgi_script_free(&sc);
	}
	snprintf(file, sizeof(file), "%s/cgi-bin/none", root);
	assert_int_equal(resolve(&g, &t, &sc), 404);
	cgi_script_free(&sc);
}

static void test_script_filename_alone(void **state)
{
	(void)state;
	struct cgi_gateway g = no_root();
	struct cgi_script sc;
	struct cgi_target t = target("/x", "/info");
	char file[256];
	snprintf(file, sizeof(file), "%s/cgi-bin/hello.cgi", root);
	t.script_filename = file;
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_string_equal(sc.filename, file);
	assert_string_equal(sc.path_info, "/info");
	assert_null(sc.path_translated); /* no document root to map it */
	cgi_script_free(&sc);
	/* The server's own SCRIPT_NAME and PATH_INFO, passed on beside it,
	 * get the same control-byte rule as a path walked under a root. */
	t.path_info = "/a\nb";
	assert_int_equal(resolve(&g, &t, &sc), 403);
	cgi_script_free(&sc);
	t.path_info = "";
	t.script_filename = "cgi-bin/hello.cgi";
	assert_int_equal(resolve(&g, &t, &sc), 404);
	cgi_script_free(&sc);
}

static void test_document_root_and_nothing(void **state)
{
	(void)state;
	struct cgi_gateway g = no_root();
	struct cgi_script sc;
	struct cgi_target t = target("/a/b/c.cgi", "/z");
	t.document_root = root;
	assert_int_equal(resolve(&g, &t, &sc), 0);
	assert_string_equal(sc.filename, joined(root, "/a/b/c.cgi"));
	assert_string_equal(sc.path_translated, joined(root, "/z"));
	cgi_script_free(&sc);
	t = target("/../outside/evil.sh", "");
	t.document_root = root;
	assert_int_equal(resolve(&g, &t, &sc), 403);
	cgi_script_free(&sc);
	t = target("/a/b/c.cgi", "");
	assert_int_equal(resolve(&g, &t, &sc), 500);
	cgi_script_free(&sc);
	t.document_root = "/nonexistent-acgi-root";
	assert_int_equal(resolve(&g, &t, &sc), 500);
	cgi_script_free(&sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_info_split),
		cmocka_unit_test(test_request_uri_when_script_name_is_empty),
		cmocka_unit_test(test_traversal_table),
		cmocka_unit_test(test_long_name_is_missing),
		cmocka_unit_test(test_script_filename_with_document_root),
		cmocka_unit_test(test_script_filename_alone),
		cmocka_unit_test(test_document_root_and_nothing),
	};
	return cmocka_run_group_tests(tests, make_tree, remove_tree);
}
