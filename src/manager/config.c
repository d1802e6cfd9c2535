/* `anycgi daemon -c FILE`: the configuration file, read with libinih after
 * every line has been checked against what Debian's libinih would make of
 * it (docs/config.md is the user's side of this).
 *
 * What Debian's libinih does (libinih1 55-1, measured with probe programs;
 * its settings, exported as variables such as ini_max_line, are all at the
 * defaults of its ini.h):
 * - It reads lines with fgets into a 200-byte buffer (INI_MAX_LINE), so a
 *   line of up to 198 bytes before its '\n' (a '\r' counts) is one line. A
 *   longer one is cut after 199 bytes and the rest is parsed as a line of
 *   its own, and counted: with 199 bytes the rest is the bare '\n' (no
 *   error, but every later line number is one off); with more, the rest is
 *   an error line when it holds no '=' and a silent extra key when it does
 *   ("...xxxk = v"). ini_parse returns the rest's line number.
 * - Inline comments are on, with ';' only: a ';' right after whitespace
 *   ends the value ("a = x ;y" and "a = x\t;y" give "x", "a = ;y" gives
 *   ""), "a = x;y" keeps "x;y", and '#' is never inline ("a = x #y" keeps
 *   it all). The same rule ends a key before its '=' and a "[section"
 *   before its ']' (both error lines; the keys after such a section line
 *   land in the section before it).
 * - Multi-line values are on: a line that starts with whitespace, after a
 *   key of the same section, calls the handler again with that key and the
 *   line as the value ("  b = 2" becomes another value of the key above),
 *   across blank and comment lines too. A section line ends that; an
 *   indented first key of a section is an ordinary key.
 * - A UTF-8 BOM on line 1 is skipped. "key =" gives an empty value, "key"
 *   with no '=' or ':' is an error line, "= x" reaches the handler with an
 *   empty key, and "key: value" means "key = value".
 * - A NUL byte silently ends the line's text ("a = x\0y" gives "x").
 * - Text after "[name]" is ignored silently, and section names are cut to
 *   49 bytes silently.
 * - Errors do not stop the parse; ini_parse returns the first error's line
 *   number (0: none, -1: the file cannot be opened).
 * - Debian's build passes the line number as a fifth handler argument,
 *   though its ini.h declares four: not relied on.
 *
 * So libinih reads through our reader (read_line), which takes one line
 * per call, as fgets would, and so counts lines exactly as libinih does;
 * it refuses every line whose meaning libinih would change (too long, a NUL,
 * an inline " ;", any indented line, text after ']') and handles the
 * [section] lines itself, so the section names are ours and uncut.
 * libinih splits the remaining lines into key and value for on_key. The
 * first error stops both. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "options.h"

/* Enough for every key that may be given once per section. */
enum { MAX_SEEN = 64 };

enum section_kind { IN_NONE, IN_GLOBAL, IN_POOL };

struct seen_key {
	char name[24];               /* a key given once in this section */
	int line;                    /* where */
};

struct loader {
	const char *path;
	struct master_config *mc;
	FILE *f;
	char *line;                  /* getline's buffer, owned */
	size_t cap;                  /* its size */
	int lineno;                  /* lines handed to libinih so far */
	int read_errno;              /* getline's failure, 0: none */
	bool failed;                 /* err holds the first error */
	char *err;
	size_t errlen;
	enum section_kind in;        /* the section being read */
	int global_line;             /* [global]'s line, 0: none yet */
	int *pool_lines;             /* each pool's [header] line, owned */
	struct seen_key seen[MAX_SEEN];
	size_t n_seen;
};

static int fail_line(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "FILE:LINE: reason" (or "FILE: reason" for line 0) unless an
 * earlier error is already there. Returns -1. */
static int fail_line(struct loader *ld, int line, const char *fmt, ...)
{
	if (ld->failed)
		return -1;
	ld->failed = true;
	int n = line > 0 ? snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line)
	                 : snprintf(ld->err, ld->errlen, "%s: ", ld->path);
	if (n < 0 || (size_t)n >= ld->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* libinih's find_chars_or_comment: the first of chars, a ';' right after
 * whitespace (an inline comment, where libinih cuts), or the end. */
static const char *find_stop(const char *s, const char *chars)
{
	bool was_space = false;
	while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

static size_t rstrip_len(const char *s, size_t len)
{
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return len;
}

/* Pools are finished when the next section starts, or at the end of the
 * file; what pool_finish finds wrong is reported at the pool's [header]
 * line, as it is about the section as a whole. */
static int finish_pool(struct loader *ld)
{
	struct pool_config *cfg = &ld->mc->pools[ld->mc->n_pools - 1];
	int line = ld->pool_lines[ld->mc->n_pools - 1];
	char why[256];
	if (!cfg->n_listeners)
		return fail_line(ld, line, "[%s]: no listener: add fastcgi = ADDR, "
		                 "scgi = ADDR or http = ADDR", cfg->name);
	if (!cfg->argc)
		return fail_line(ld, line, "[%s]: no program: add program = PATH "
		                 "or app = echo", cfg->name);
	if (pool_finish(cfg, why, sizeof(why)) < 0)
		return fail_line(ld, line, "[%s]: %s", cfg->name, why);
	return 0;
}

static int end_section(struct loader *ld)
{
	enum section_kind was = ld->in;
	ld->in = IN_NONE;
	ld->n_seen = 0;
	return was == IN_POOL ? finish_pool(ld) : 0;
}

static int begin_global(struct loader *ld)
{
	if (ld->global_line)
		return fail_line(ld, ld->lineno, "[global]: section given twice "
		                 "(first on line %d)", ld->global_line);
	ld->global_line = ld->lineno;
	ld->in = IN_GLOBAL;
	return 0;
}

/* A new pool at the end of mc->pools, counted in n_pools at once so that
 * master_config_free frees it whatever happens next. NULL: out of
 * memory. */
static struct pool_config *add_pool(struct loader *ld)
{
	struct master_config *mc = ld->mc;
	size_t n = mc->n_pools + 1;
	struct pool_config *pools = realloc(mc->pools, n * sizeof(*pools));
	if (!pools)
		return NULL;
	mc->pools = pools;
	int *lines = realloc(ld->pool_lines, n * sizeof(*lines));
	if (!lines)
		return NULL;
	ld->pool_lines = lines;
	lines[n - 1] = ld->lineno;
	pool_defaults(&pools[n - 1]);
	mc->n_pools = n;
	return &pools[n - 1];
}

static int begin_pool(struct loader *ld, const char *name, size_t len)
{
	/* Lines are short (read_line's limit), so this cuts nothing that
	 * pool_option would not refuse anyway. */
	char section[256], why[256];
	snprintf(section, sizeof(section), "%.*s", (int)len, name);
	if (!section[0])
		return fail_line(ld, ld->lineno, "[]: a pool section needs a name");
	struct pool_config *cfg = add_pool(ld);
	if (!cfg)
		return fail_line(ld, ld->lineno, "out of memory");
	if (pool_option(cfg, "name", section, why, sizeof(why)) < 0)
		return fail_line(ld, ld->lineno, "[%s]: %s", section, why);
	for (size_t i = 0; i + 1 < ld->mc->n_pools; i++)
		if (strcmp(ld->mc->pools[i].name, cfg->name) == 0)
			return fail_line(ld, ld->lineno, "[%s]: section given twice "
			                 "(first on line %d)", section,
			                 ld->pool_lines[i]);
	ld->in = IN_POOL;
	return 0;
}

/* "[name]", optionally followed by a comment. */
static int section_line(struct loader *ld, const char *start)
{
	const char *end = find_stop(start + 1, "]");
	if (*end == ';')
		return fail_line(ld, ld->lineno, "inline ';' would cut the "
		                 "[section] line");
	if (*end != ']')
		return fail_line(ld, ld->lineno, "no ']' to end the [section]");
	const char *rest = end + 1;
	while (isspace((unsigned char)*rest))
		rest++;
	if (*rest && *rest != ';' && *rest != '#')
		return fail_line(ld, ld->lineno, "text after ']'");
	const char *name = start + 1;
	size_t len = (size_t)(end - name);
	if (end_section(ld) < 0)
		return -1;
	if (len == 6 && memcmp(name, "global", 6) == 0)
		return begin_global(ld);
	return begin_pool(ld, name, len);
}

/* "key = value" (or "key: value"), with no inline comment. */
static int pair_line(struct loader *ld, const char *start)
{
	const char *sep = find_stop(start, "=:");
	int key_len = (int)rstrip_len(start, (size_t)(sep - start));
	if (*sep == ';')
		return fail_line(ld, ld->lineno, "%.*s: inline ';' would cut the "
		                 "line", key_len, start);
	if (!*sep)
		return fail_line(ld, ld->lineno, "%.*s: not key = value, "
		                 "[section] or a comment", key_len, start);
	if (!key_len)
		return fail_line(ld, ld->lineno, "no key before '%c'", *sep);
	if (*find_stop(sep + 1, NULL))
		return fail_line(ld, ld->lineno, "%.*s: inline ';' would cut the "
		                 "value (put comments on lines of their own)",
		                 key_len, start);
	return 0;
}

/* Checks line ld->lineno, len bytes in ld->line, against libinih's
 * buffer of num bytes; starts the sections. Returns 0 to hand the line to
 * libinih, or -1 with the error. */
static int check_line(struct loader *ld, size_t len, int num)
{
	const char *s = ld->line;
	size_t text_len = len && s[len - 1] == '\n' ? len - 1 : len;
	/* The text, its '\n' and fgets's NUL must fit: a line that does not
	 * is cut by libinih, and its rest read as another line. */
	size_t limit = num > 2 ? (size_t)num - 2 : 0;
	if (num < 2 || text_len > limit)
		return fail_line(ld, ld->lineno, "line too long (%zu bytes; the "
		                 "limit is %zu)", text_len, limit);
	const char *nul = memchr(s, '\0', len);
	if (nul)
		return fail_line(ld, ld->lineno, "NUL byte at column %zu",
		                 (size_t)(nul - s) + 1);
	if (ld->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	const char *start = s;
	while (isspace((unsigned char)*start))
		start++;
	if (!*start || *start == ';' || *start == '#')
		return 0;
	/* libinih would append an indented line to the key above it; all are
	 * refused, so that indenting means the same everywhere. */
	if (start > s)
		return fail_line(ld, ld->lineno, "indented line: continuation "
		                 "lines are not supported");
	if (*start == '[')
		return section_line(ld, start);
	return pair_line(ld, start);
}

/* libinih's reader: one line per call, like fgets into str[num]. NULL at
 * the end, on a read error and after the first error, which stops
 * libinih. */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	if (ld->failed)
		return NULL;
	errno = 0;
	ssize_t n = getline(&ld->line, &ld->cap, ld->f);
	if (n < 0) {
		if (ferror(ld->f))
			ld->read_errno = errno ? errno : EIO;
		return NULL;
	}
	ld->lineno++;
	if (check_line(ld, (size_t)n, num) < 0)
		return NULL;
	memcpy(str, ld->line, (size_t)n + 1);
	return str;
}

static int given_twice(struct loader *ld, const char *name)
{
	for (size_t i = 0; i < ld->n_seen; i++)
		if (strcmp(ld->seen[i].name, name) == 0)
			return fail_line(ld, ld->lineno, "%s: given twice (first on "
			                 "line %d)", name, ld->seen[i].line);
	return 0;
}

/* Only known keys get here, and all are short and few. */
static void remember(struct loader *ld, const char *name)
{
	if (ld->n_seen >= MAX_SEEN || strlen(name) >= sizeof(ld->seen[0].name))
		return;
	struct seen_key *k = &ld->seen[ld->n_seen++];
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->line = ld->lineno;
}

static int key_error(struct loader *ld, const char *name, const char *why)
{
	if (strcmp(why, "unknown option") == 0)
		return fail_line(ld, ld->lineno, "%s: unknown key", name);
	return fail_line(ld, ld->lineno, "%s: %s", name, why);
}

static int global_key(struct loader *ld, const char *name,
                      const char *value)
{
	char why[256];
	if (given_twice(ld, name) < 0)
		return -1;
	if (global_option(ld->mc, name, value, why, sizeof(why)) < 0)
		return key_error(ld, name, why);
	remember(ld, name);
	return 0;
}

static bool is_repeatable(const char *name)
{
	return strcmp(name, "fastcgi") == 0 || strcmp(name, "scgi") == 0 ||
	       strcmp(name, "http") == 0 || strcmp(name, "env") == 0 || strcmp(name, "arg") == 0;
}

/* On the command line these are pool options whose first pool wins; here
 * they have their own section, so a pool's copy would only mislead. */
static bool is_global_key(const char *name)
{
	return strcmp(name, "control") == 0 || strcmp(name, "status") == 0 ||
	       strcmp(name, "log") == 0;
}

/* The names that `anycgi __app NAME` (src/cli/main.c) runs. */
static bool is_app(const char *name)
{
	return strcmp(name, "echo") == 0 || strcmp(name, "cgi") == 0;
}

static int set_self(struct master_config *mc, char *why, size_t whylen)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
		snprintf(why, whylen, "/proc/self/exe: %s",
		         n < 0 ? strerror(errno) : "unreadable");
		return -1;
	}
	self[n] = '\0';
	mc->self = strdup(self);
	if (!mc->self)
		snprintf(why, whylen, "out of memory");
	return mc->self ? 0 : -1;
}

/* A built-in app runs as `SELF __app NAME`, as add_app in src/cli/main.c
 * makes it for `anycgi echo`. */
static int add_app(struct loader *ld, struct pool_config *cfg,
                   const char *app, char *why, size_t whylen)
{
	if (!is_app(app)) {
		snprintf(why, whylen, "%s: not a built-in app (echo, cgi)", app);
		return -1;
	}
	if (!ld->mc->self && set_self(ld->mc, why, whylen) < 0)
		return -1;
	return pool_option(cfg, "app", app, why, whylen) < 0 ||
	       pool_option(cfg, "program", ld->mc->self, why, whylen) < 0 ||
	       pool_option(cfg, "arg", "__app", why, whylen) < 0 ||
	       pool_option(cfg, "arg", app, why, whylen) < 0 ? -1 : 0;
}

/* program and app both set argv; arg extends a program's only. */
static int check_program(struct loader *ld, const struct pool_config *cfg,
                         const char *name)
{
	bool program = strcmp(name, "program") == 0;
	bool app = strcmp(name, "app") == 0;
	if ((program && cfg->app) || (app && cfg->argc))
		return fail_line(ld, ld->lineno, "%s: give either program or app",
		                 name);
	if (strcmp(name, "arg") == 0 && (!cfg->argc || cfg->app))
		return fail_line(ld, ld->lineno, "arg: only after program = PATH");
	return 0;
}

static int pool_key(struct loader *ld, const char *name, const char *value)
{
	struct pool_config *cfg = &ld->mc->pools[ld->mc->n_pools - 1];
	char why[256];
	if (is_global_key(name))
		return fail_line(ld, ld->lineno, "%s: belongs in [global]", name);
	if (strcmp(name, "name") == 0)
		return fail_line(ld, ld->lineno, "name: the section's name is the "
		                 "pool's name");
	bool repeats = is_repeatable(name);
	if ((!repeats && given_twice(ld, name) < 0) ||
	    check_program(ld, cfg, name) < 0)
		return -1;
	int rc = strcmp(name, "app") == 0
	         ? add_app(ld, cfg, value, why, sizeof(why))
	         : pool_option(cfg, name, value, why, sizeof(why));
	if (rc < 0)
		return key_error(ld, name, why);
	if (!repeats)
		remember(ld, name);
	return 0;
}

/* libinih's handler, called for the line read_line handed over last. The
 * section it passes is ignored: read_line has tracked it, uncut. */
static int on_key(void *user, const char *section, const char *name,
                  const char *value)
{
	struct loader *ld = user;
	(void)section;
	if (ld->failed)
		return 0;
	/* The options take "" for some keys (a listener, a user); in a file
	 * it is a slip. An empty argument may be meant. */
	if (!*value && strcmp(name, "arg") != 0) {
		(void)fail_line(ld, ld->lineno, "%s: empty value", name);
		return 0;
	}
	int rc = ld->in == IN_GLOBAL ? global_key(ld, name, value)
	         : ld->in == IN_POOL ? pool_key(ld, name, value)
	         : fail_line(ld, ld->lineno, "%s: key before any [section]",
	                     name);
	return rc == 0;
}

static void finish_file(struct loader *ld, int rc)
{
	if (ld->failed)
		return;
	if (ld->read_errno) {
		(void)fail_line(ld, 0, "%s", strerror(ld->read_errno));
		return;
	}
	if (rc == -2) {
		(void)fail_line(ld, 0, "out of memory");
		return;
	}
	/* Not expected: read_line refuses every line libinih would. */
	if (rc != 0) {
		(void)fail_line(ld, rc, "libinih refused this line");
		return;
	}
	if (end_section(ld) == 0 && ld->mc->n_pools == 0)
		(void)fail_line(ld, 0, "no pool: add a [NAME] section");
}

/* mc comes in zeroed, or with only self and config_path set. */
int config_load(const char *path, struct master_config *mc, char *err,
                size_t errlen)
{
	struct loader ld = {.path = path, .mc = mc, .err = err,
	                    .errlen = errlen};
	ld.f = fopen(path, "re");
	if (!ld.f) {
		int e = errno;
		(void)fail_line(&ld, 0, "%s", strerror(e));
		goto out;
	}
	int rc = ini_parse_stream(read_line, &ld, on_key, &ld);
	finish_file(&ld, rc);
out:
	if (ld.f)
		fclose(ld.f);
	free(ld.line);
	free(ld.pool_lines);
	if (ld.failed) {
		master_config_free(mc);
		return -1;
	}
	return 0;
}
