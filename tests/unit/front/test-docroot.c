/* Unit tests for src/front/docroot.c: path normalization, the mapping of
 * paths to files and scripts beneath a real folder, and static replies. */
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

#include "docroot.h"

static char root[64];
static int root_fd = -1;

static void put(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void link_to(const char *target, const char *rel)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(symlink(target, p), 0);
}

/* root/ a.txt index.php app.php .env sub/index.html empty/
 *       blog/index.php out -> /etc/passwd in -> a.txt up -> ../ */
static int tree_up(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/acgi-docroot-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	put("a.txt", "hello\n");
	put("index.php", "<?php");
	put("app.php", "<?php");
	put(".env", "SECRET=1");
	dir("sub");
	put("sub/index.html", "<p>sub</p>");
	dir("empty");
	dir("blog");
	put("blog/index.php", "<?php");
	link_to("/etc/passwd", "out");
	link_to("a.txt", "in");
	link_to("..", "up");
	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return root_fd < 0 ? -1 : 0;
}

static int tree_down(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	close(root_fd);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_normalize(void **state)
{
	(void)state;
	static const char *const table[][2] = {
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/a//b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/a/b/..", "/a/"},
		{"/a/b/.", "/a/b/"},
		{"/%61%2Fb", "/a/b"},
		{"/a%20b?x=/../..", "/a b"},
		{"/a/%2e%2e/b", "/b"},
		{"/a#frag", "/a"},
		{"/..", NULL},
		{"/a/../..", NULL},
		{"/%2e%2e/etc/passwd", NULL},
		{"/a%00b", NULL},
		{"/a%2", NULL},
		{"/a%zz", NULL},
		{"a/b", NULL},
		{"", NULL},
		{"http://h/a", NULL},
	};
	char out[64];
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *in = table[i][0], *want = table[i][1];
		int n = docroot_normalize(in, strlen(in), out, sizeof(out));
		if (!want) {
			if (n >= 0)
				fail_msg("%s: got %s, want an error", in, out);
			continue;
		}
		if (n < 0 || strcmp(out, want) != 0)
			fail_msg("%s: got %s, want %s", in, n < 0 ? "error" : out,
			         want);
		assert_int_equal((size_t)n, strlen(want));
	}
	/* What does not fit is refused, not cut. */
	assert_int_equal(docroot_normalize("/abcdef", 7, out, 4), -1);
}

struct map_case {
	const char *path;
	enum docroot_kind kind;
	const char *script, *path_info;
};

static void test_map(void **state)
{
	(void)state;
	static const struct map_case table[] = {
		{"/a.txt", DOC_STATIC, NULL, NULL},
		{"/in", DOC_STATIC, NULL, NULL},
		{"/app.php", DOC_SCRIPT, "/app.php", ""},
		{"/app.php/x/y", DOC_SCRIPT, "/app.php", "/x/y"},
		{"/", DOC_SCRIPT, "/index.php", ""},
		{"/sub/", DOC_STATIC, NULL, NULL},
		{"/sub", DOC_REDIRECT, NULL, NULL},
		{"/empty/", DOC_FORBIDDEN, NULL, NULL},
		{"/blog/2024/post", DOC_SCRIPT, "/blog/index.php", "/2024/post"},
		{"/nothing", DOC_SCRIPT, "/index.php", "/nothing"},
		{"/.env", DOC_FORBIDDEN, NULL, NULL},
		{"/sub/.git/config", DOC_FORBIDDEN, NULL, NULL},
		{"/out", DOC_FORBIDDEN, NULL, NULL},
		{"/up/", DOC_FORBIDDEN, NULL, NULL},
		{"/up/etc/passwd", DOC_FORBIDDEN, NULL, NULL},
		{"/a.txt/more", DOC_SCRIPT, "/index.php", "/a.txt/more"},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct map_case *c = &table[i];
		struct docroot_map m;
		docroot_map(root_fd, "*.php", c->path, &m);
		if (m.kind != c->kind)
			fail_msg("%s: kind %d, want %d", c->path, m.kind, c->kind);
		if (c->script) {
			assert_string_equal(m.script, c->script);
			assert_string_equal(m.path_info, c->path_info);
		}
		if (m.kind == DOC_STATIC) {
			assert_true(m.fd >= 0);
			assert_true(S_ISREG(m.st.st_mode));
			close(m.fd);
		} else {
			assert_int_equal(m.fd, -1);
		}
	}
}

static void test_map_patterns(void **state)
{
	(void)state;
	struct docroot_map m;
	docroot_map(root_fd, "*", "/a.txt", &m);
	assert_int_equal(m.kind, DOC_APP);
	docroot_map(root_fd, NULL, "/a.txt", &m);
	assert_int_equal(m.kind, DOC_APP);
	/* With a pattern that index.php does not match, no fallback, and
	 * .php files are plain files. */
	docroot_map(root_fd, "*.cgi", "/nothing", &m);
	assert_int_equal(m.kind, DOC_NOT_FOUND);
	docroot_map(root_fd, "*.cgi", "/app.php", &m);
	assert_int_equal(m.kind, DOC_STATIC);
	close(m.fd);
	docroot_map(root_fd, "*.cgi", "/.well-known/x", &m);
	assert_int_equal(m.kind, DOC_NOT_FOUND);
}

static struct stat file_stat(off_t size)
{
	struct stat st = {0};
	st.st_mode = S_IFREG | 0644;
	st.st_size = size;
	st.st_mtime = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
	return st;
}

static void test_reply_plain(void **state)
{
	(void)state;
	struct stat st = file_stat(100);
	struct static_request rq = {0};
	struct static_reply r;
	static_reply(&st, "/x/page.html", &rq, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.offset, 0);
	assert_int_equal(r.length, 100);
	assert_non_null(strstr(r.headers, "Content-Type: text/html; "
	                                  "charset=utf-8\r\n"));
	assert_non_null(strstr(r.headers, "Content-Length: 100\r\n"));
	assert_non_null(strstr(r.headers, "Last-Modified: Tue, 14 Nov 2023 "
	                                  "22:13:20 GMT\r\n"));
	assert_non_null(strstr(r.headers, "ETag: \"6553f100-64\"\r\n"));
	assert_non_null(strstr(r.headers, "Accept-Ranges: bytes\r\n"));
	assert_int_equal(r.headers_len, strlen(r.headers));
	rq.head = true;
	static_reply(&st, "/x/page.html", &rq, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.length, 0);
	assert_non_null(strstr(r.headers, "Content-Length: 100\r\n"));
}

static void test_reply_conditional(void **state)
{
	(void)state;
	struct stat st = file_stat(100);
	struct static_reply r;
	struct static_request rq = {.if_none_match = "\"6553f100-64\""};
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 304);
	assert_null(strstr(r.headers, "Content-Length"));
	rq.if_none_match = "\"other\", W/\"6553f100-64\"";
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 304);
	rq.if_none_match = "*";
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 304);
	rq.if_none_match = "\"6553f100-65\"";
	/* If-None-Match decides: If-Modified-Since is not looked at. */
	rq.if_modified_since = "Tue, 14 Nov 2023 22:13:20 GMT";
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 200);
	rq.if_none_match = NULL;
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 304);
	rq.if_modified_since = "Tue, 14 Nov 2023 22:13:19 GMT";
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 200);
	rq.if_modified_since = "yesterday";
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 200);
}

struct range_case {
	const char *range;
	int status;
	off_t offset, length;
	const char *content_range;
};

static void test_reply_range(void **state)
{
	(void)state;
	static const struct range_case table[] = {
		{"bytes=0-9", 206, 0, 10, "bytes 0-9/100"},
		{"bytes=90-", 206, 90, 10, "bytes 90-99/100"},
		{"bytes=-5", 206, 95, 5, "bytes 95-99/100"},
		{"bytes=-500", 206, 0, 100, "bytes 0-99/100"},
		{"bytes=50-1000", 206, 50, 50, "bytes 50-99/100"},
		{"BYTES=1-1", 206, 1, 1, "bytes 1-1/100"},
		{"bytes=100-", 416, 0, 0, "bytes */100"},
		{"bytes=-0", 416, 0, 0, "bytes */100"},
		{"bytes=0-1,5-6", 200, 0, 100, NULL},
		{"bytes=5-1", 200, 0, 100, NULL},
		{"bytes=x-1", 200, 0, 100, NULL},
		{"bytes=1-x", 200, 0, 100, NULL},
		{"items=0-1", 200, 0, 100, NULL},
		{"bytes=-", 200, 0, 100, NULL},
	};
	struct stat st = file_stat(100);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct range_case *c = &table[i];
		struct static_request rq = {.range = c->range};
		struct static_reply r;
		static_reply(&st, "a.bin", &rq, &r);
		if (r.status != c->status)
			fail_msg("%s: %d, want %d", c->range, r.status, c->status);
		assert_int_equal(r.offset, c->offset);
		assert_int_equal(r.length, c->length);
		if (c->content_range) {
			char want[64];
			snprintf(want, sizeof(want), "Content-Range: %s\r\n",
			         c->content_range);
			assert_non_null(strstr(r.headers, want));
		} else {
			assert_null(strstr(r.headers, "Content-Range"));
		}
	}
	/* If-Range: a Range for another version gets the whole file. */
	struct static_request rq = {.range = "bytes=0-9",
	                            .if_range = "\"old\""};
	struct static_reply r;
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 200);
	rq.if_range = "\"6553f100-64\"";
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 206);
	rq.if_range = "Tue, 14 Nov 2023 22:13:20 GMT";
	static_reply(&st, "a", &rq, &r);
	assert_int_equal(r.status, 206);
}

static void test_mime(void **state)
{
	(void)state;
	assert_string_equal(static_mime_type("/a/b.CSS"),
	                    "text/css; charset=utf-8");
	assert_string_equal(static_mime_type("/a.b/c"),
	                    "application/octet-stream");
	assert_string_equal(static_mime_type("x.png"), "image/png");
	assert_string_equal(static_mime_type("noext"),
	                    "application/octet-stream");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_map_patterns),
		cmocka_unit_test(test_reply_plain),
		cmocka_unit_test(test_reply_conditional),
		cmocka_unit_test(test_reply_range),
		cmocka_unit_test(test_mime),
	};
	return cmocka_run_group_tests(tests, tree_up, tree_down);
}
