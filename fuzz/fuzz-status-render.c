/* libFuzzer target for the status renderer (status_render in
 * src/manager/status.c).
 *
 * Input: a snapshot, field by field: 1 to 3 pools of 0 to 2 listeners and
 * 0 to 4 processes. Each string is NULL, a known word, or the input's own
 * bytes (control bytes, quotes, markup, invalid UTF-8); a process's method
 * and URI arrays are sometimes filled to the last byte with no NUL; the
 * numbers are the input's bytes or edge values (NaN, infinities, extremes).
 * Every format is rendered for all pools, for one pool by name, and for a
 * name that may name none (which status_format_parse is also given).
 * Checked: the result and the buffer agree (0 and output only for a name
 * that is there); no NUL in the output; JSON parses (a small validator)
 * with no control, '<', '>', '&', U+2028 or U+2029 unescaped; HTML has
 * only the page's own tags and entities, and no controls; in both, a
 * method or URI needs no more bytes than its array holds (read past it, a
 * string would run on into the next field); Prometheus lines are a comment
 * or NAME{LABELS} VALUE of the family last typed, with escaped label
 * values; text has no control or bidirectional character; and all of it
 * is valid UTF-8. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The checkers' own branches are no coverage worth finding, and tracing
 * their comparisons took most of each run's time. */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

enum { MAX_POOLS = 3, MAX_LISTENERS = 2, MAX_PROCS = 4, MAX_STRINGS = 64 };

/* ---- reading the input ---- */

struct input {
	const uint8_t *p;
	size_t n;
	char *strings[MAX_STRINGS];   /* owned, freed at the end */
	size_t n_strings;
};

static uint8_t take_u8(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* 0 to 8 bytes, little-endian. */
static uint64_t take_raw(struct input *in, size_t k)
{
	uint64_t v = 0;
	for (size_t i = 0; i < k; i++)
		v |= (uint64_t)take_u8(in) << (8 * i);
	return v;
}

static uint64_t take_u64(struct input *in)
{
	uint8_t sel = take_u8(in);
	switch (sel) {
	case 0: return UINT64_MAX;
	case 1: return (uint64_t)INT64_MAX + 1;
	case 2: return take_raw(in, 8);
	}
	return take_raw(in, sel % 5);
}

static uint32_t take_u32(struct input *in)
{
	return (uint32_t)take_u64(in);
}

static int64_t take_s64(struct input *in)
{
	static const int64_t special[] = {
		INT64_MIN, INT64_MAX, INT64_MAX / 1024, INT64_MAX / 1024 - 1,
		-1, 0, 1023, 1024, 1024 * 1024, INT32_MIN, INT32_MAX,
	};
	uint8_t sel = take_u8(in);
	if (sel < COUNT(special))
		return special[sel];
	return (int64_t)take_raw(in, sel % 9);
}

static double take_double(struct input *in)
{
	static const double special[] = {
		NAN, INFINITY, -INFINITY, -0.0, 0.0, -1.0, 1e12,
		999999999999.9999, DBL_MAX, -DBL_MAX, DBL_MIN, 4.9e-324,
		59.995, 59.999, 3599.5, 86399.99, 1.7e9, 9.3e18, 1.8446744e19,
		-1e300, 1e300,
	};
	uint8_t sel = take_u8(in);
	if (sel < COUNT(special))
		return special[sel];
	if (sel < 0xc0)
		return (double)(sel - COUNT(special)) * 7.25;
	uint64_t bits = take_raw(in, 8);
	double d;
	memcpy(&d, &bits, sizeof(d));
	return d;
}

static const char *keep(struct input *in, char *s)
{
	CHECK(s && in->n_strings < MAX_STRINGS);
	in->strings[in->n_strings++] = s;
	return s;
}

/* NULL, a word the renderer knows, or up to ~1.2 kB of the input's bytes
 * in a buffer of exactly their size. */
static const char *take_str(struct input *in)
{
	static const char *const words[] = {
		"ok", "reloading", "degraded", "stopping", "static", "dynamic",
		"ondemand", "idle", "reading", "handling", "busy", "unknown",
		"starting", "fastcgi", "scgi",
	};
	uint8_t sel = take_u8(in);
	if (sel == 0xff)
		return NULL;
	if (sel >= 0xf0)
		return words[sel - 0xf0];
	size_t len = sel < 0xe0 ? sel : 224 + (size_t)(sel - 0xe0) * 64;
	if (len > in->n)
		len = in->n;
	char *s = malloc(len + 1);
	CHECK(s);
	if (len)
		memcpy(s, in->p, len);
	s[len] = '\0';
	in->p += len;
	in->n -= len;
	return keep(in, s);
}

/* A scoreboard array: empty, full to the last byte with no NUL, exactly
 * one short of full, or some of the input's bytes (NULs and all). */
static void take_array(struct input *in, char *a, size_t cap)
{
	uint8_t mode = take_u8(in);
	size_t len = 0;
	memset(a, 0, cap);
	switch (mode % 4) {
	case 0:
		return;
	case 1:
	case 2:
		len = mode % 4 == 1 ? cap : cap - 1;
		{
			size_t k = in->n < len ? in->n : len;
			for (size_t i = 0; i < len; i++) {
				char c = k ? (char)in->p[i % k] : 'A';
				a[i] = c ? c : 'x';
			}
			in->p += k;
			in->n -= k;
		}
		return;
	case 3:
		len = (size_t)(mode >> 2) * (cap / 64 + 1);
		if (len > cap - 1)
			len = cap - 1;
		if (len > in->n)
			len = in->n;
		memcpy(a, in->p, len);
		in->p += len;
		in->n -= len;
		return;
	}
}

/* ---- building the snapshot ---- */

static void take_proc(struct input *in, struct status_proc *w)
{
	w->pid = (pid_t)take_s64(in);
	w->generation = take_u32(in);
	w->state = take_str(in);
	uint8_t bits = take_u8(in);
	w->libanycgi = bits & 1;
	w->ready = bits & 2;
	w->retiring = bits & 4;
	w->requests_known = bits & 8;
	w->requests = take_u64(in);
	w->connections = take_u64(in);
	w->active = take_u32(in);
	w->started_unix = take_double(in);
	w->age_s = take_double(in);
	w->rss_kb = take_s64(in);
	w->cpu_s = take_double(in);
	take_array(in, w->method, sizeof(w->method));
	take_array(in, w->uri, sizeof(w->uri));
	w->request_s = take_double(in);
}

static void take_pool(struct input *in, struct status_pool *p)
{
	p->name = take_str(in);
	p->mode = take_str(in);
	p->health = take_str(in);
	p->reason = take_str(in);
	p->program = take_str(in);
	p->generation = take_u32(in);
	p->workers = take_u32(in);
	p->min_spare = take_u32(in);
	p->max_spare = take_u32(in);
	p->max_workers = take_u32(in);
	p->idle = take_u32(in);
	p->busy = take_u32(in);
	p->requests = take_u64(in);
	p->spawned = take_u64(in);
	p->crashes = take_u64(in);
	p->timeouts = take_u64(in);
	p->slow = take_u64(in);
	p->reloads = take_u64(in);
	p->started_unix = take_double(in);

	p->n_listeners = take_u8(in) % (MAX_LISTENERS + 1);
	struct status_listener *l = NULL;
	if (p->n_listeners) {
		l = calloc(p->n_listeners, sizeof(*l));
		CHECK(l);
	}
	for (size_t i = 0; i < p->n_listeners; i++) {
		l[i].addr = take_str(in);
		l[i].protocol = take_str(in);
		l[i].queued = take_u32(in);
		l[i].backlog = take_u32(in);
		l[i].queue_known = take_u8(in) & 1;
	}
	p->listeners = l;

	p->n_procs = take_u8(in) % (MAX_PROCS + 1);
	struct status_proc *w = NULL;
	if (p->n_procs) {
		w = calloc(p->n_procs, sizeof(*w));
		CHECK(w);
	}
	for (size_t i = 0; i < p->n_procs; i++)
		take_proc(in, &w[i]);
	p->procs = w;
}

/* ---- checking the output ---- */

/* The code point of the valid UTF-8 sequence at s[0..n) and its length,
 * or 0 (RFC 3629: no overlong forms, surrogates or values past U+10FFFF). */
NO_COVERAGE static size_t utf8_next(const unsigned char *s, size_t n,
                                    uint32_t *cp)
{
	size_t len;
	uint32_t v, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, v = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, v = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, v = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

enum {
	BAN_C0 = 1,       /* below U+0020, but '\n' */
	BAN_C1 = 2,       /* U+007F to U+009F */
	BAN_LINESEP = 4,  /* U+2028, U+2029 */
	BAN_BIDI = 8,     /* U+202A to U+202E, U+2066 to U+2069 */
	BAN_MARKUP = 16,  /* '<', '>', '&' */
};

/* All of s is valid UTF-8 and holds none of the banned characters. */
NO_COVERAGE static void check_chars(const char *out, size_t n, unsigned ban)
{
	const unsigned char *s = (const unsigned char *)out;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_next(s + i, n - i, &cp);
		CHECK(len > 0);
		if (ban & BAN_C0)
			CHECK(cp >= 0x20 || cp == '\n');
		if (ban & BAN_C1)
			CHECK(cp < 0x7f || cp > 0x9f);
		if (ban & BAN_LINESEP)
			CHECK(cp != 0x2028 && cp != 0x2029);
		if (ban & BAN_BIDI)
			CHECK(!(cp >= 0x202a && cp <= 0x202e) &&
			      !(cp >= 0x2066 && cp <= 0x2069));
		if (ban & BAN_MARKUP)
			CHECK(cp != '<' && cp != '>' && cp != '&');
		i += len;
	}
}

/* -- JSON: RFC 8259's grammar, by recursive descent -- */

struct json {
	const char *s;
	size_t n, i;
	size_t min_bytes;  /* of the last string's source, each escape as 1 */
};

NO_COVERAGE static int json_peek(const struct json *j)
{
	return j->i < j->n ? (unsigned char)j->s[j->i] : -1;
}

NO_COVERAGE static void json_ws(struct json *j)
{
	while (j->i < j->n && strchr(" \t\n\r", j->s[j->i]) && j->s[j->i])
		j->i++;
}

NO_COVERAGE static bool json_lit(struct json *j, const char *word)
{
	size_t len = strlen(word);
	if (j->n - j->i < len || memcmp(j->s + j->i, word, len) != 0)
		return false;
	j->i += len;
	return true;
}

NO_COVERAGE static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

NO_COVERAGE static bool json_digits(struct json *j)
{
	if (!is_digit(json_peek(j)))
		return false;
	while (is_digit(json_peek(j)))
		j->i++;
	return true;
}

NO_COVERAGE static bool json_number(struct json *j)
{
	if (json_peek(j) == '-')
		j->i++;
	if (json_peek(j) == '0')
		j->i++;
	else if (!json_digits(j))
		return false;
	if (json_peek(j) == '.') {
		j->i++;
		if (!json_digits(j))
			return false;
	}
	if (json_peek(j) == 'e' || json_peek(j) == 'E') {
		j->i++;
		if (json_peek(j) == '+' || json_peek(j) == '-')
			j->i++;
		if (!json_digits(j))
			return false;
	}
	return true;
}

NO_COVERAGE static bool json_string(struct json *j)
{
	if (json_peek(j) != '"')
		return false;
	j->i++;
	j->min_bytes = 0;
	for (;;) {
		int c = json_peek(j);
		if (c < 0x20) /* the end, or a raw control */
			return false;
		j->i++;
		if (c == '"')
			return true;
		j->min_bytes++;
		if (c != '\\')
			continue;
		c = json_peek(j);
		if (c < 0)
			return false;
		j->i++;
		if (c == 'u') {
			for (int k = 0; k < 4; k++, j->i++)
				if (j->i >= j->n || !strchr("0123456789abcdefABCDEF",
				                            j->s[j->i]) || !j->s[j->i])
					return false;
		} else if (!strchr("\"\\/bfnrt", c)) {
			return false;
		}
	}
}

NO_COVERAGE static bool json_value(struct json *j, int depth);

NO_COVERAGE static bool json_container(struct json *j, int depth, bool object)
{
	const int close = object ? '}' : ']';
	j->i++;
	json_ws(j);
	if (json_peek(j) == close) {
		j->i++;
		return true;
	}
	for (;;) {
		size_t key = j->i, limit = SIZE_MAX;
		if (object) {
			if (!json_string(j))
				return false;
			/* The scoreboard's arrays: a longer value read past
			 * one, into the next field. */
			if (j->i - key == 8 && memcmp(j->s + key, "\"method\"", 8) == 0)
				limit = sizeof(((struct status_proc *)0)->method);
			if (j->i - key == 5 && memcmp(j->s + key, "\"uri\"", 5) == 0)
				limit = sizeof(((struct status_proc *)0)->uri);
			json_ws(j);
			if (json_peek(j) != ':')
				return false;
			j->i++;
		}
		if (!json_value(j, depth + 1))
			return false;
		if (limit != SIZE_MAX)
			CHECK(j->s[j->i - 1] == '"' && j->min_bytes <= limit);
		json_ws(j);
		int c = json_peek(j);
		j->i++;
		if (c == close)
			return true;
		if (c != ',')
			return false;
		json_ws(j);
	}
}

NO_COVERAGE static bool json_value(struct json *j, int depth)
{
	if (depth > 16)
		return false;
	json_ws(j);
	switch (json_peek(j)) {
	case '{': return json_container(j, depth, true);
	case '[': return json_container(j, depth, false);
	case '"': return json_string(j);
	case 't': return json_lit(j, "true");
	case 'f': return json_lit(j, "false");
	case 'n': return json_lit(j, "null");
	}
	return json_number(j);
}

NO_COVERAGE static void check_json(const char *out, size_t n)
{
	struct json j = {out, n, 0, 0};
	CHECK(json_value(&j, 0));
	json_ws(&j);
	CHECK(j.i == n);
	check_chars(out, n, BAN_C0 | BAN_C1 | BAN_LINESEP | BAN_MARKUP);
}

/* -- HTML: only the page's own tags and entities -- */

NO_COVERAGE static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

NO_COVERAGE static bool known_tag(const char *name, size_t len, bool bang)
{
	static const char *const tags[] = {
		"html", "head", "meta", "title", "style", "body", "header",
		"h1", "h2", "p", "main", "section", "div", "span", "code", "dl",
		"dt", "dd", "table", "colgroup", "col", "thead", "tbody", "tr",
		"th", "td",
	};
	if (bang)
		return len == 7 && strncasecmp(name, "doctype", 7) == 0;
	for (size_t i = 0; i < COUNT(tags); i++)
		if (strlen(tags[i]) == len && strncmp(name, tags[i], len) == 0)
			return true;
	return false;
}

/* &name; or &#digits; at s[i]; returns its length, or 0. */
NO_COVERAGE static size_t entity_len(const char *s, size_t n, size_t i)
{
	size_t k = i + 1;
	if (k < n && s[k] == '#') {
		k++;
		while (k < n && is_digit(s[k]) && k - i < 10)
			k++;
		return k > i + 2 && k < n && s[k] == ';' ? k + 1 - i : 0;
	}
	while (k < n && is_alpha(s[k]) && k - i < 12)
		k++;
	return k > i + 1 && k < n && s[k] == ';' ? k + 1 - i : 0;
}

/* The tag at s[i] == '<', with its attributes; returns its length. */
NO_COVERAGE static size_t check_tag(const char *s, size_t n, size_t i)
{
	size_t k = i + 1;
	bool bang = k < n && s[k] == '!';
	if (k < n && (s[k] == '/' || s[k] == '!'))
		k++;
	size_t name = k;
	while (k < n && (is_alpha(s[k]) || is_digit(s[k])))
		k++;
	CHECK(known_tag(s + name, k - name, bang));
	for (;;) {
		CHECK(k < n);
		if (s[k] == '>')
			return k + 1 - i;
		CHECK(s[k] == ' ');
		k++;
		size_t attr = k;
		while (k < n && (is_alpha(s[k]) || s[k] == '-'))
			k++;
		CHECK(k > attr);
		if (k < n && s[k] == '=') {
			CHECK(k + 1 < n && s[k + 1] == '"');
			for (k += 2; k < n && s[k] != '"'; k++) {
				CHECK(s[k] != '<' && s[k] != '>');
				if (s[k] == '&')
					CHECK(entity_len(s, n, k) > 0);
			}
			CHECK(k < n);
			k++;
		}
	}
}

/* The fewest bytes the escaped text at s[0..n) up to the byte stop can
 * come from: an entity or U+FFFD stands for at least one. */
NO_COVERAGE static size_t html_min_bytes(const char *s, size_t n,
                                         char stop)
{
	size_t count = 0;
	for (size_t i = 0; i < n && s[i] != stop; count++) {
		if (s[i] == '&' && entity_len(s, n, i))
			i += entity_len(s, n, i);
		else if (n - i >= 3 && memcmp(s + i, "\xef\xbf\xbd", 3) == 0)
			i += 3;
		else
			i++;
	}
	return count;
}

/* The method and URI cells hold no more than their arrays do. */
NO_COVERAGE static void check_html_request(const char *out, size_t n)
{
	static const char m[] = "<span class=\"m\">", t[] = "<span title=\"";
	const size_t method = sizeof(((struct status_proc *)0)->method);
	const size_t uri = sizeof(((struct status_proc *)0)->uri);
	for (const char *p = out; (p = memmem(p, n - (size_t)(p - out), m,
	                                       sizeof(m) - 1)) != NULL;) {
		p += sizeof(m) - 1;
		CHECK(html_min_bytes(p, n - (size_t)(p - out), '<') <= method);
	}
	for (const char *p = out; (p = memmem(p, n - (size_t)(p - out), t,
	                                       sizeof(t) - 1)) != NULL;) {
		p += sizeof(t) - 1;
		CHECK(html_min_bytes(p, n - (size_t)(p - out), '"') <= uri);
	}
}

NO_COVERAGE static void check_html(const char *out, size_t n)
{
	static const char script[] = "<script";
	for (size_t i = 0; i < n;) {
		if (out[i] == '<') {
			CHECK(n - i < sizeof(script) - 1 ||
			      strncasecmp(out + i, script, sizeof(script) - 1));
			i += check_tag(out, n, i);
			continue;
		}
		CHECK(out[i] != '>');
		if (out[i] == '&')
			CHECK(entity_len(out, n, i) > 0);
		i++;
	}
	check_chars(out, n, BAN_C0 | BAN_C1);
	check_html_request(out, n);
}

/* -- Prometheus text format 0.0.4 -- */

NO_COVERAGE static bool is_name_start(int c)
{
	return is_alpha(c) || c == '_' || c == ':';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* at s[k]; returns the index past it. */
NO_COVERAGE static size_t prom_name(const char *s, size_t end, size_t k)
{
	CHECK(k < end && is_name_start(s[k]));
	while (k < end && (is_name_start(s[k]) || is_digit(s[k])))
		k++;
	return k;
}

NO_COVERAGE static void prom_value(const char *s, size_t len)
{
	char buf[64];
	CHECK(len > 0 && len < sizeof(buf));
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "NaN") == 0 || strcmp(buf, "+Inf") == 0 ||
	    strcmp(buf, "-Inf") == 0)
		return;
	CHECK(strspn(buf, "0123456789.eE+-") == len);
	char *end;
	(void)strtod(buf, &end);
	CHECK(*end == '\0');
}

struct prom_state {
	char typed[32][64];   /* families with a # TYPE line so far */
	size_t n_typed;
};

NO_COVERAGE static void prom_comment(struct prom_state *st, const char *s,
                                     size_t end, size_t k)
{
	bool type = end - k > 7 && memcmp(s + k, "# TYPE ", 7) == 0;
	bool help = end - k > 7 && memcmp(s + k, "# HELP ", 7) == 0;
	if (!type && !help)
		return; /* any other comment */
	size_t name = k + 7;
	k = prom_name(s, end, name);
	CHECK(k < end && s[k] == ' ');
	if (!type)
		return;
	size_t type_len = end - k - 1;
	CHECK((type_len == 7 && memcmp(s + k + 1, "counter", 7) == 0) ||
	      (type_len == 5 && memcmp(s + k + 1, "gauge", 5) == 0));
	CHECK(k - name < sizeof(st->typed[0]) && st->n_typed < COUNT(st->typed));
	for (size_t i = 0; i < st->n_typed; i++)
		CHECK(strlen(st->typed[i]) != k - name ||
		      memcmp(st->typed[i], s + name, k - name) != 0);
	memcpy(st->typed[st->n_typed], s + name, k - name);
	st->typed[st->n_typed++][k - name] = '\0';
}

NO_COVERAGE static void prom_line(struct prom_state *st, const char *s,
                                  size_t end, size_t k)
{
	if (s[k] == '#') {
		prom_comment(st, s, end, k);
		return;
	}
	size_t name = k;
	k = prom_name(s, end, k);
	/* A sample belongs to the family typed last. */
	CHECK(st->n_typed > 0);
	const char *family = st->typed[st->n_typed - 1];
	CHECK(strlen(family) == k - name &&
	      memcmp(family, s + name, k - name) == 0);
	if (k < end && s[k] == '{') {
		k++;
		for (;;) {
			CHECK(k < end && (is_alpha(s[k]) || s[k] == '_'));
			while (k < end && (is_alpha(s[k]) || s[k] == '_' ||
			                   is_digit(s[k])))
				k++;
			CHECK(k + 1 < end && s[k] == '=' && s[k + 1] == '"');
			for (k += 2; k < end && s[k] != '"'; k++) {
				if (s[k] == '\\') {
					k++;
					CHECK(k < end && strchr("\\\"n", s[k]) && s[k]);
				}
			}
			CHECK(k < end);
			k++;
			if (k < end && s[k] == ',') {
				k++;
				continue;
			}
			CHECK(k < end && s[k] == '}');
			k++;
			break;
		}
	}
	CHECK(k < end && s[k] == ' ');
	prom_value(s + k + 1, end - k - 1);
}

NO_COVERAGE static void check_prom(const char *out, size_t n)
{
	struct prom_state st = {0};
	CHECK(n > 0 && out[n - 1] == '\n');
	for (size_t k = 0; k < n;) {
		const char *nl = memchr(out + k, '\n', n - k);
		size_t end = (size_t)(nl - out);
		CHECK(end > k);
		prom_line(&st, out, end, k);
		k = end + 1;
	}
	check_chars(out, n, BAN_C0 | BAN_C1);
}

/* -- text -- */

NO_COVERAGE static void check_text(const char *out, size_t n)
{
	check_chars(out, n, BAN_C0 | BAN_C1 | BAN_BIDI);
}

/* ---- the target ---- */

/* status_format_parse knows its five words and nothing else. */
static void check_format_name(const char *name)
{
	static const struct {
		const char *name;
		enum status_format fmt;
	} words[] = {
		{"text", STATUS_TEXT}, {"json", STATUS_JSON},
		{"prometheus", STATUS_PROMETHEUS},
		{"metrics", STATUS_PROMETHEUS}, {"html", STATUS_HTML},
	};
	enum status_format fmt = (enum status_format)-1;
	int rc = status_format_parse(name, &fmt);
	for (size_t i = 0; i < COUNT(words); i++)
		if (strcmp(name, words[i].name) == 0) {
			CHECK(rc == 0 && fmt == words[i].fmt);
			return;
		}
	CHECK(rc == -1 && fmt == (enum status_format)-1);
}

static bool names_pool(const struct status_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->n_pools; i++)
		if (strcmp(name, s->pools[i].name ? s->pools[i].name : "") == 0)
			return true;
	return false;
}

static void render(const struct status_snapshot *s, enum status_format fmt,
                   const char *pool)
{
	struct strbuf b = {0};
	int rc = status_render(s, fmt, pool, &b);
	if (pool && !names_pool(s, pool)) {
		CHECK(rc == -1 && b.len == 0);
		sb_free(&b);
		return;
	}
	CHECK(rc == 0 && !b.failed && b.data && b.len > 0);
	CHECK(b.len < b.cap && b.data[b.len] == '\0');
	CHECK(!memchr(b.data, '\0', b.len));
	switch (fmt) {
	case STATUS_TEXT: check_text(b.data, b.len); break;
	case STATUS_JSON: check_json(b.data, b.len); break;
	case STATUS_PROMETHEUS: check_prom(b.data, b.len); break;
	case STATUS_HTML: check_html(b.data, b.len); break;
	}
	sb_free(&b);
	CHECK(!b.data && b.len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum status_format fmts[] = {
		STATUS_TEXT, STATUS_JSON, STATUS_PROMETHEUS, STATUS_HTML,
	};
	struct input in = {.p = data, .n = size};
	struct status_pool pools[MAX_POOLS];
	struct status_snapshot s = {0};

	memset(pools, 0, sizeof(pools));
	s.master_pid = (pid_t)take_s64(&in);
	s.version = take_str(&in);
	s.started_unix = take_double(&in);
	s.uptime_s = take_double(&in);
	s.n_pools = 1 + take_u8(&in) % MAX_POOLS;
	for (size_t i = 0; i < s.n_pools; i++)
		take_pool(&in, &pools[i]);
	s.pools = pools;

	const char *one = pools[take_u8(&in) % s.n_pools].name;
	const char *other = take_str(&in);
	if (other)
		check_format_name(other);
	for (size_t f = 0; f < COUNT(fmts); f++) {
		render(&s, fmts[f], NULL);
		render(&s, fmts[f], one ? one : "");
		render(&s, fmts[f], other ? other : "no such pool");
	}

	for (size_t i = 0; i < s.n_pools; i++) {
		free((void *)pools[i].listeners);
		free((void *)pools[i].procs);
	}
	for (size_t i = 0; i < in.n_strings; i++)
		free(in.strings[i]);
	return 0;
}
