/* libFuzzer target for the configuration file (src/manager/config.c): its
 * own line checks in front of libinih, and the keys behind them.
 *
 * Input: the file's bytes, written to a memfd that config_load opens as
 * /proc/self/fd/N. Checked: a failed load leaves the configuration zeroed
 * and gives one line that starts with the file's name; a successful one
 * only ever comes from a file whose every line fits libinih's buffer
 * without a NUL, and gives finished pools (a listener, a program, NULL-
 * terminated argv and env, distinct names). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

/* Debian's libinih: 200-byte lines, so 198 bytes before the '\n'. */
enum { LINE_LIMIT = 198 };

/* What config_load must have refused. */
static bool has_bad_line(const uint8_t *data, size_t size)
{
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] == '\0')
			return true;
		if (i < size && data[i] != '\n')
			continue;
		if (i - start > LINE_LIMIT)
			return true;
		start = i + 1;
	}
	return false;
}

static bool is_zero(const struct master_config *mc)
{
	static const struct master_config zero;
	return memcmp(mc, &zero, sizeof(zero)) == 0;
}

static void check_failed(const struct master_config *mc, const char *err,
                         size_t errlen, const char *path)
{
	size_t len = strlen(path);
	CHECK(is_zero(mc));
	CHECK(strlen(err) < errlen);
	CHECK(strncmp(err, path, len) == 0 && err[len] == ':');
	CHECK(!strchr(err, '\n'));
}

static void check_pool(const struct master_config *mc, size_t i)
{
	const struct pool_config *p = &mc->pools[i];
	CHECK(p->name[0] && memchr(p->name, '\0', sizeof(p->name)));
	CHECK(p->n_listeners >= 1 && p->n_listeners <= POOL_MAX_LISTENERS);
	CHECK(p->argc >= 1 && p->argc <= POOL_MAX_ARGS && !p->argv[p->argc]);
	CHECK(p->n_env <= POOL_MAX_ENV + 1 && !p->env[p->n_env]);
	if (p->app) {
		CHECK(mc->self && strcmp(p->argv[0], mc->self) == 0);
		CHECK(p->argc >= 3 && strcmp(p->argv[1], "__app") == 0);
	}
	for (size_t j = 0; j < i; j++)
		CHECK(strcmp(mc->pools[j].name, p->name) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("anycgi-config", MFD_CLOEXEC);
		CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	CHECK(ftruncate(fd, 0) == 0);
	for (size_t off = 0; off < size;) {
		ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);
		CHECK(n > 0);
		off += (size_t)n;
	}
	struct master_config mc = {0};
	char err[512] = "";
	if (config_load(path, &mc, err, sizeof(err)) < 0) {
		check_failed(&mc, err, sizeof(err), path);
		return 0;
	}
	CHECK(!has_bad_line(data, size));
	CHECK(mc.n_pools >= 1);
	for (size_t i = 0; i < mc.n_pools; i++)
		check_pool(&mc, i);
	master_config_free(&mc);
	CHECK(is_zero(&mc));
	return 0;
}
