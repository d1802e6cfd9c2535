/* libFuzzer target for the CGI gateway's script resolution
 * (cgi_resolve_target in src/apps/cgi_resolve.c), over a real tree made
 * in a temporary folder on the first call: base/root/{cgi-bin/hello.cgi,
 * cgi-bin/noexec.sh, cgi-bin/dir.cgi/, a/b/c.cgi, symlinks in and out},
 * base/outside/evil.sh.
 *
 * Input: byte 0 picks the mode (bit 0: with --root; else the params name
 * it), the rest is SCRIPT_NAME, PATH_INFO, REQUEST_URI, SCRIPT_FILENAME and
 * DOCUMENT_ROOT separated by NULs (missing ones are ""). SCRIPT_FILENAME
 * and DOCUMENT_ROOT get the base folder put in front, so that the fuzzer
 * explores the tree and not the whole file system.
 *
 * Checked when a script is found: its folder (the fd that would be
 * spawned from, read back through /proc) is beneath the root or the
 * document root (SCRIPT_FILENAME alone is trusted); it is a regular
 * executable file; the name has no '/' and no control byte; SCRIPT_NAME
 * and PATH_INFO have no control byte; PATH_INFO is empty or starts with
 * '/' (unless the server's own came with SCRIPT_FILENAME); PATH_TRANSLATED is the document root + PATH_INFO. Otherwise: a
 * status of 403, 404 or 500 with a reason, and no fd left open. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgi_gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static char base[64], root[128];
static struct cgi_gateway with_root = {.root_fd = -1, .uid = (uid_t)-1};
static const struct cgi_gateway without = {.root_fd = -1, .uid = (uid_t)-1};

static void put(const char *rel, int mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	close(fd);
	chmod(path, (mode_t)mode);
}

static void at(const char *rel, const char *link_to)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	CHECK(link_to ? symlink(link_to, path) == 0 : mkdir(path, 0755) == 0);
}

static void remove_tree(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	(void)!system(cmd);
}

static void make_tree(void)
{
	strcpy(base, "/tmp/acgi-fuzz-resolve-XXXXXX");
	CHECK(mkdtemp(base));
	atexit(remove_tree);
	snprintf(root, sizeof(root), "%s/root", base);
	static const char *const dirs[] = {
		"root", "root/cgi-bin", "root/cgi-bin/dir.cgi", "root/a",
		"root/a/b", "outside",
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++)
		at(dirs[i], NULL);
	put("root/cgi-bin/hello.cgi", 0755);
	put("root/cgi-bin/nph-x.cgi", 0755);
	put("root/cgi-bin/noexec.sh", 0644);
	put("root/a/b/c.cgi", 0755);
	put("outside/evil.sh", 0755);
	at("root/cgi-bin/alias.cgi", "hello.cgi");
	at("root/cgi-bin/up.cgi", "../a/b/c.cgi");
	at("root/cgi-bin/out.cgi", "../../outside/evil.sh");
	at("root/cgi-bin/abs.cgi", "/bin/sh");
	at("root/cgi-bin/outdir", "../../outside");
	at("root/cgi-bin/magic", "/proc/self/cwd");
	snprintf(with_root.root, sizeof(with_root.root), "%s", root);
	with_root.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(with_root.root_fd >= 0);
}

static bool clean(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Whether path is dir or beneath it. */
static bool beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || !path[n]);
}

static void check_found(const struct cgi_script *sc, const char *top,
                        const char *docroot, bool server_info)
{
	char link[64], real[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", sc->dir_fd);
	ssize_t n = readlink(link, real, sizeof(real) - 1);
	CHECK(n > 0);
	real[n] = '\0';
	CHECK(beneath(real, top));
	/* The file itself, symlinks followed, is beneath too. */
	char file[8192], file_real[4096];
	snprintf(file, sizeof(file), "%s/%s", real, sc->name);
	CHECK(realpath(file, file_real) && beneath(file_real, top));
	struct stat st;
	CHECK(fstatat(sc->dir_fd, sc->name, &st, 0) == 0);
	CHECK(S_ISREG(st.st_mode) && (st.st_mode & 0111));
	CHECK(sc->name[0] && !strchr(sc->name, '/') && clean(sc->name));
	CHECK(sc->script_name && clean(sc->script_name));
	CHECK(sc->filename && clean(sc->filename));
	/* Split off a path, PATH_INFO starts with '/'; only the server's own
	 * PATH_INFO, kept beside a SCRIPT_FILENAME, is passed as it came. */
	CHECK(!sc->path_info || clean(sc->path_info));
	CHECK(!sc->path_info || sc->path_info[0] == '/' || server_info);
	if (sc->path_translated) {
		size_t dl = strlen(docroot);
		CHECK(sc->path_info && *docroot);
		CHECK(strncmp(sc->path_translated, docroot, dl) == 0);
		CHECK(strcmp(sc->path_translated + dl, sc->path_info) == 0);
	}
	CHECK(sc->nph == (strncmp(sc->name, "nph-", 4) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base[0])
		make_tree();
	if (size == 0 || size > 4096)
		return 0;
	char *copy = malloc(size + 1);
	CHECK(copy);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	const char *field[5] = {"", "", "", "", ""};
	char *p = copy, *end = copy + size - 1;
	for (int i = 0; i < 5 && p <= end; i++) {
		field[i] = p;
		p += strlen(p) + 1;
	}
	char file[8192] = "", docroot[8192] = "";
	if (*field[3])
		snprintf(file, sizeof(file), "%s%s", base, field[3]);
	if (*field[4])
		snprintf(docroot, sizeof(docroot), "%s%s", base, field[4]);
	struct cgi_target t = {
		.script_name = field[0], .path_info = field[1],
		.request_uri = field[2], .script_filename = file,
		.document_root = docroot,
	};
	bool rooted = data[0] & 1;
	struct cgi_script sc;
	cgi_resolve_target(rooted ? &with_root : &without, &t, &sc);
	if (sc.status == 0) {
		/* The top the script must stay under: the root, else the
		 * document root the server gave, else (SCRIPT_FILENAME alone,
		 * trusted as a path) "/". */
		const char *top = rooted ? root : "/";
		char real[4096];
		if (!rooted && *docroot) {
			CHECK(realpath(docroot, real));
			top = real;
		}
		check_found(&sc, top, rooted ? root : docroot, !rooted && *file);
	} else {
		CHECK(sc.status == 403 || sc.status == 404 || sc.status == 500);
		CHECK(sc.why && *sc.why && sc.dir_fd < 0);
	}
	cgi_script_free(&sc);
	free(copy);
	return 0;
}
