/* Renders the master's status snapshot as a text table, JSON, Prometheus
 * text or an HTML page. Every string is escaped for its format on the way
 * out: methods and URIs come from clients through the workers' scoreboards,
 * and even the master's own strings are not trusted to be clean. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "status.h"

/* ---- the output buffer ---- */

/* Makes room for n more bytes and the terminating NUL. Returns false,
 * with failed set, when that memory cannot be had. */
static bool sb_reserve(struct strbuf *b, size_t n)
{
	if (b->failed)
		return false;
	/* Bounding the need by half of SIZE_MAX keeps the doubling below
	 * from wrapping. */
	if (n >= SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return false;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d) {
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void sb_str(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Most pieces fit the stack buffer; a longer one is formatted a second
 * time, straight into the buffer once it has room for all of it. */
void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap, again;

	if (b->failed)
		return;
	va_start(ap, fmt);
	va_copy(again, ap);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		b->failed = true; /* EOVERFLOW or a bad conversion */
	else if ((size_t)n < sizeof(tmp))
		sb_add(b, tmp, (size_t)n);
	else if (sb_reserve(b, (size_t)n)) {
		(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
	}
	va_end(again);
}

void sb_free(struct strbuf *b)
{
	free(b->data);
	*b = (struct strbuf){0};
}

/* Adds n spaces. */
static void sb_pad(struct strbuf *b, size_t n)
{
	static const char spaces[] = "                                ";
	while (n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		sb_add(b, spaces, k);
		n -= k;
	}
}

/* ---- characters ---- */

/* A snapshot's string fields may be NULL; they render as empty. */
static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* The code point given for a byte that begins no valid UTF-8 sequence. */
#define NOT_UTF8 UINT32_MAX

/* Length of the valid UTF-8 sequence at s[0..n), and its code point in
 * *cp; 0 when the bytes there are not one. Valid as in RFC 3629 section
 * 4: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, v = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, v = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, v = c & 0x07, min = 0x10000;
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

/* C0, DEL and C1: the code points a terminal may act on, and that HTML
 * and Prometheus text have no use for. Stray bytes count as controls. */
static bool is_control(uint32_t cp)
{
	return cp == NOT_UTF8 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

/* Writes one character escaped for a format: a code point and its bytes
 * in the input, or NOT_UTF8 and the one stray byte. */
typedef void put_fn(struct strbuf *b, uint32_t cp, const char *bytes,
                    size_t len);

/* Passes the first max characters of s[0..n) to put, one at a time. */
static void escape(struct strbuf *b, const char *s, size_t n, size_t max,
                   put_fn *put)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n && max > 0; max--) {
		uint32_t cp;
		size_t len = utf8_seq(u + i, n - i, &cp);
		if (len == 0) {
			cp = NOT_UTF8;
			len = 1;
		}
		put(b, cp, s + i, len);
		i += len;
	}
}

/* Characters in s[0..n), counting each stray byte as one. */
static size_t count_chars(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t count = 0;
	for (size_t i = 0; i < n; count++) {
		uint32_t cp;
		size_t len = utf8_seq(u + i, n - i, &cp);
		i += len ? len : 1;
	}
	return count;
}

/* The scoreboard's fixed arrays are NUL-terminated by the master, but a
 * bounded length costs nothing and survives a master bug. */
#define FIELD_LEN(a) strnlen((a), sizeof(a))

/* ---- escapers ---- */

/* RFC 8259 section 7 requires escaping below U+0020. <, > and & are
 * escaped too, so that a page that sniffs or embeds the JSON never meets
 * markup, and U+2028 and U+2029, which JavaScript before ES2019 took for
 * line ends; C1 and DEL so that curl in a terminal shows them safely.
 * A stray byte becomes \u00XX, as the echo app writes it. */
static void put_json(struct strbuf *b, uint32_t cp, const char *bytes,
                     size_t len)
{
	switch (cp) {
	case '"': sb_str(b, "\\\""); return;
	case '\\': sb_str(b, "\\\\"); return;
	case '\n': sb_str(b, "\\n"); return;
	case '\r': sb_str(b, "\\r"); return;
	case '\t': sb_str(b, "\\t"); return;
	}
	if (cp == NOT_UTF8)
		sb_printf(b, "\\u00%02x", (unsigned char)bytes[0]);
	else if (is_control(cp) || cp == '<' || cp == '>' || cp == '&' ||
	         cp == 0x2028 || cp == 0x2029)
		sb_printf(b, "\\u%04x", (unsigned)cp);
	else
		sb_add(b, bytes, len);
}

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

/* Safe in text and in quoted attribute values alike; controls and stray
 * bytes show as U+FFFD, as a browser would show a stray byte anyway. */
static void put_html(struct strbuf *b, uint32_t cp, const char *bytes,
                     size_t len)
{
	switch (cp) {
	case '&': sb_str(b, "&amp;"); return;
	case '<': sb_str(b, "&lt;"); return;
	case '>': sb_str(b, "&gt;"); return;
	case '"': sb_str(b, "&quot;"); return;
	case '\'': sb_str(b, "&#39;"); return;
	}
	if (is_control(cp))
		sb_str(b, REPLACEMENT);
	else
		sb_add(b, bytes, len);
}

/* The exposition format (0.0.4) escapes only \, " and newline in label
 * values but wants valid UTF-8, so the other controls and stray bytes
 * become U+FFFD rather than reach a parser. */
static void put_prom(struct strbuf *b, uint32_t cp, const char *bytes,
                     size_t len)
{
	switch (cp) {
	case '\\': sb_str(b, "\\\\"); return;
	case '"': sb_str(b, "\\\""); return;
	case '\n': sb_str(b, "\\n"); return;
	}
	if (is_control(cp))
		sb_str(b, REPLACEMENT);
	else
		sb_add(b, bytes, len);
}

/* A terminal acts on C0 and C1 controls (escape sequences) and reorders
 * text around the bidirectional controls ("Trojan Source"), so all of
 * them, and stray bytes, print as '?'. */
static void put_text(struct strbuf *b, uint32_t cp, const char *bytes,
                     size_t len)
{
	bool bidi = (cp >= 0x202a && cp <= 0x202e) ||
	            (cp >= 0x2066 && cp <= 0x2069);
	if (is_control(cp) || bidi)
		sb_add(b, "?", 1);
	else
		sb_add(b, bytes, len);
}

static void json_strn(struct strbuf *b, const char *s, size_t n)
{
	sb_add(b, "\"", 1);
	escape(b, s, n, SIZE_MAX, put_json);
	sb_add(b, "\"", 1);
}

static void json_str(struct strbuf *b, const char *s)
{
	s = or_empty(s);
	json_strn(b, s, strlen(s));
}

static void html_str(struct strbuf *b, const char *s)
{
	s = or_empty(s);
	escape(b, s, strlen(s), SIZE_MAX, put_html);
}

static void prom_label(struct strbuf *b, const char *s)
{
	s = or_empty(s);
	escape(b, s, strlen(s), SIZE_MAX, put_prom);
}

/* Writes s[0..n) escaped by put, cut to max characters: a longer string
 * keeps its first max - strlen(ellipsis) characters and ends in ellipsis
 * (counted as one character when it is one code point). */
static void cut_field(struct strbuf *b, const char *s, size_t n, size_t max,
                      put_fn *put, const char *ellipsis)
{
	size_t ell = count_chars(ellipsis, strlen(ellipsis));
	if (count_chars(s, n) <= max) {
		escape(b, s, n, SIZE_MAX, put);
		return;
	}
	escape(b, s, n, max > ell ? max - ell : 0, put);
	sb_str(b, ellipsis);
}

static void text_field(struct strbuf *b, const char *s, size_t n,
                       size_t max)
{
	cut_field(b, s, n, max, put_text, "...");
}

static void text_str(struct strbuf *b, const char *s, size_t max)
{
	s = or_empty(s);
	text_field(b, s, strlen(s), max);
}

/* ---- numbers and times for people ---- */

#define CELL 32

/* "42s", "12m03s", "3h04m", "2d03h"; "-" when unknown. */
static void fmt_duration(char out[CELL], double s)
{
	/* The bound keeps the conversion defined and the cell short. */
	if (!(s >= 0) || s >= 1e12) {
		snprintf(out, CELL, "-");
		return;
	}
	unsigned long long t = (unsigned long long)s;
	if (t < 60)
		snprintf(out, CELL, "%llus", t);
	else if (t < 3600)
		snprintf(out, CELL, "%llum%02llus", t / 60, t % 60);
	else if (t < 86400)
		snprintf(out, CELL, "%lluh%02llum", t / 3600, t / 60 % 60);
	else
		snprintf(out, CELL, "%llud%02lluh", t / 86400, t / 3600 % 24);
}

/* "0.52s" below a minute, then as a duration. */
static void fmt_cpu(char out[CELL], double s)
{
	if (s >= 0 && s < 60)
		snprintf(out, CELL, "%.2fs", s);
	else
		fmt_duration(out, s);
}

/* Binary units, as top and ps print them. */
static void fmt_rss(char out[CELL], long long kb)
{
	if (kb < 0)
		snprintf(out, CELL, "-");
	else if (kb < 1024)
		snprintf(out, CELL, "%lldK", kb);
	else if (kb < 1024 * 1024)
		snprintf(out, CELL, "%.1fM", (double)kb / 1024);
	else
		snprintf(out, CELL, "%.1fG", (double)kb / (1024 * 1024));
}

/* UTC, so that every reader of one page sees the same time. */
static void fmt_time(char out[CELL], double unix_s)
{
	struct tm tm;
	time_t t;

	/* The bound keeps the conversion to time_t defined. */
	if (!(unix_s > 0 && unix_s < 1e12)) {
		snprintf(out, CELL, "-");
		return;
	}
	t = (time_t)unix_s;
	if (!gmtime_r(&t, &tm) ||
	    strftime(out, CELL, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, CELL, "-");
}

static bool is_busy_state(const char *state)
{
	static const char *const busy[] = {"reading", "handling", "writing",
	                                   "busy"};
	for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
		if (strcmp(or_empty(state), busy[i]) == 0)
			return true;
	return false;
}

static bool has_request(const struct status_proc *p)
{
	return p->method[0] != '\0' || p->uri[0] != '\0';
}

/* ---- the process table, shared by text and HTML ---- */

enum { COL_PID, COL_GEN, COL_STATE, COL_REQS, COL_RSS, COL_CPU, COL_AGE,
       N_COLS };
static const char *const col_names[N_COLS] = {
	"PID", "GEN", "STATE", "REQS", "RSS", "CPU", "AGE",
};
typedef char cells_t[N_COLS][CELL];

/* The state, with printable ASCII only (it is one of a few words) and a
 * '*' when the process was asked to stop. */
static void state_cell(char out[CELL], const struct status_proc *p)
{
	const char *s = or_empty(p->state);
	size_t n = 0;
	for (; s[n] && n < CELL - 2; n++)
		out[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
	if (n == 0)
		out[n++] = '-';
	if (p->retiring)
		out[n++] = '*';
	out[n] = '\0';
}

static void proc_cells(const struct status_proc *p, cells_t c)
{
	snprintf(c[COL_PID], CELL, "%lld", (long long)p->pid);
	snprintf(c[COL_GEN], CELL, "%u", p->generation);
	state_cell(c[COL_STATE], p);
	if (p->requests_known)
		snprintf(c[COL_REQS], CELL, "%" PRIu64, p->requests);
	else
		snprintf(c[COL_REQS], CELL, "-");
	fmt_rss(c[COL_RSS], p->rss_kb);
	fmt_cpu(c[COL_CPU], p->cpu_s);
	fmt_duration(c[COL_AGE], p->age_s);
}

/* ---- text ---- */

/* Lines stay readable in a terminal: rows end in the URI, so it is cut
 * hardest; a socket path (up to 107 bytes) is worth showing nearly whole. */
#define TEXT_URI_MAX 60
#define TEXT_NAME_MAX 60
#define TEXT_PATH_MAX 100

static void text_master(struct strbuf *b, const struct status_snapshot *s)
{
	char up[CELL], since[CELL];
	fmt_duration(up, s->uptime_s);
	fmt_time(since, s->started_unix);
	sb_str(b, "anycgi ");
	text_str(b, s->version, 20);
	sb_printf(b, ", master pid %lld, up %s since %s\n",
	          (long long)s->master_pid, up, since);
}

/* The pool's header: what it is and how it is, then its counters, on
 * separate lines so that none outgrows a terminal.
 *   pool NAME (MODE, generation N): HEALTH (REASON)
 *     workers N: I idle, B busy; requests R, crashes C, timeouts T */
static void text_pool_header(struct strbuf *b, const struct status_pool *p)
{
	sb_str(b, "pool ");
	text_str(b, p->name, TEXT_NAME_MAX);
	sb_str(b, " (");
	text_str(b, p->mode, 20);
	sb_printf(b, ", generation %u): ", p->generation);
	text_str(b, p->health, 20);
	if (p->reason && p->reason[0]) {
		sb_str(b, " (");
		text_str(b, p->reason, 80);
		sb_str(b, ")");
	}
	sb_printf(b, "\n  workers %u: %u idle, %u busy; requests %" PRIu64
	          ", crashes %" PRIu64 ", timeouts %" PRIu64 "\n", p->workers,
	          p->idle, p->busy, p->requests, p->crashes, p->timeouts);
}

/*   program PROGRAM
 *   listen ADDR (PROTOCOL, queue Q/B), one line each */
static void text_listeners(struct strbuf *b, const struct status_pool *p)
{
	sb_str(b, "  program ");
	text_str(b, p->program && p->program[0] ? p->program : "-",
	         TEXT_PATH_MAX);
	sb_str(b, "\n");
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct status_listener *l = &p->listeners[i];
		sb_str(b, "  listen ");
		text_str(b, l->addr, TEXT_PATH_MAX);
		sb_str(b, " (");
		text_str(b, l->protocol, 10);
		if (l->queue_known)
			sb_printf(b, ", queue %u/%u)\n", l->queued, l->backlog);
		else
			sb_str(b, ", queue -)\n");
	}
}

/* METHOD URI SECONDS, or "-" when no request is in flight. */
static void text_request(struct strbuf *b, const struct status_proc *p)
{
	if (!has_request(p)) {
		sb_str(b, "-");
		return;
	}
	if (p->method[0]) {
		text_field(b, p->method, FIELD_LEN(p->method), 16);
		sb_str(b, " ");
	}
	text_field(b, p->uri, FIELD_LEN(p->uri), TEXT_URI_MAX);
	if (isfinite(p->request_s) && p->request_s >= 0 &&
	    p->request_s < 1e12)
		sb_printf(b, " %.1fs", p->request_s);
}

/* One row: numbers right-aligned, the state left-aligned, two spaces
 * between columns; the request, last, is not padded. */
static void text_row(struct strbuf *b, const char *const c[N_COLS],
                     const size_t w[N_COLS])
{
	sb_str(b, "  ");
	for (int i = 0; i < N_COLS; i++) {
		size_t pad = w[i] - strlen(c[i]);
		if (i != COL_STATE)
			sb_pad(b, pad);
		sb_str(b, c[i]);
		sb_pad(b, (i == COL_STATE ? pad : 0) + 2);
	}
}

/* The column widths: the widest of the title and every cell. */
static void text_widths(const struct status_pool *p, size_t w[N_COLS])
{
	cells_t c;
	for (int i = 0; i < N_COLS; i++)
		w[i] = strlen(col_names[i]);
	for (size_t k = 0; k < p->n_procs; k++) {
		proc_cells(&p->procs[k], c);
		for (int i = 0; i < N_COLS; i++)
			if (strlen(c[i]) > w[i])
				w[i] = strlen(c[i]);
	}
}

static void text_procs(struct strbuf *b, const struct status_pool *p)
{
	size_t w[N_COLS];
	const char *row[N_COLS];
	cells_t c;
	bool retiring = false;

	if (p->n_procs == 0) {
		sb_str(b, "  no processes\n");
		return;
	}
	text_widths(p, w);
	text_row(b, col_names, w);
	sb_str(b, "REQUEST\n");
	for (size_t k = 0; k < p->n_procs; k++) {
		proc_cells(&p->procs[k], c);
		for (int i = 0; i < N_COLS; i++)
			row[i] = c[i];
		text_row(b, row, w);
		text_request(b, &p->procs[k]);
		sb_str(b, "\n");
		retiring |= p->procs[k].retiring;
	}
	if (retiring)
		sb_str(b, "  * retiring: asked to stop after its requests\n");
}

static void render_text(struct strbuf *b, const struct status_snapshot *s,
                        const char *pool)
{
	bool any = false;
	text_master(b, s);
	for (size_t i = 0; i < s->n_pools; i++) {
		const struct status_pool *p = &s->pools[i];
		if (pool && strcmp(pool, or_empty(p->name)) != 0)
			continue;
		sb_str(b, "\n");
		text_pool_header(b, p);
		text_listeners(b, p);
		text_procs(b, p);
		any = true;
	}
	if (!any)
		sb_str(b, "\nno pools\n");
}

/* ---- JSON ---- */

/* JSON has no NaN or infinity. */
static void json_num(struct strbuf *b, double v)
{
	if (isfinite(v))
		sb_printf(b, "%.3f", v);
	else
		sb_str(b, "null");
}

static void json_listener(struct strbuf *b, const struct status_listener *l)
{
	sb_str(b, "{\"addr\": ");
	json_str(b, l->addr);
	sb_str(b, ", \"protocol\": ");
	json_str(b, l->protocol);
	if (l->queue_known)
		sb_printf(b, ", \"queued\": %u, \"backlog\": %u}", l->queued,
		          l->backlog);
	else
		sb_str(b, ", \"queued\": null, \"backlog\": null}");
}

static void json_request(struct strbuf *b, const struct status_proc *p)
{
	if (!has_request(p)) {
		sb_str(b, "null");
		return;
	}
	sb_str(b, "{\"method\": ");
	json_strn(b, p->method, FIELD_LEN(p->method));
	sb_str(b, ", \"uri\": ");
	json_strn(b, p->uri, FIELD_LEN(p->uri));
	sb_str(b, ", \"seconds\": ");
	json_num(b, p->request_s);
	sb_str(b, "}");
}

static const char *json_bool(bool v)
{
	return v ? "true" : "false";
}

static void json_proc(struct strbuf *b, const struct status_proc *p)
{
	sb_printf(b, "{\"pid\": %lld, \"generation\": %u, \"state\": ",
	          (long long)p->pid, p->generation);
	json_str(b, p->state);
	sb_printf(b, ", \"libanycgi\": %s, \"ready\": %s, \"retiring\": %s",
	          json_bool(p->libanycgi), json_bool(p->ready),
	          json_bool(p->retiring));
	if (p->requests_known)
		sb_printf(b, ", \"requests\": %" PRIu64
		          ", \"connections\": %" PRIu64, p->requests,
		          p->connections);
	else
		sb_str(b, ", \"requests\": null, \"connections\": null");
	sb_printf(b, ", \"active\": %" PRIu32 ", \"started\": ", p->active);
	json_num(b, p->started_unix);
	sb_str(b, ", \"age\": ");
	json_num(b, p->age_s);
	if (p->rss_kb >= 0)
		sb_printf(b, ", \"rss_kb\": %lld", p->rss_kb);
	else
		sb_str(b, ", \"rss_kb\": null");
	sb_str(b, ", \"cpu\": ");
	json_num(b, p->cpu_s >= 0 ? p->cpu_s : NAN);
	sb_str(b, ", \"request\": ");
	json_request(b, p);
	sb_str(b, "}");
}

static void json_pool_fields(struct strbuf *b, const struct status_pool *p)
{
	sb_str(b, "{\"name\": ");
	json_str(b, p->name);
	sb_str(b, ", \"mode\": ");
	json_str(b, p->mode);
	sb_str(b, ", \"health\": ");
	json_str(b, p->health);
	sb_str(b, ", \"reason\": ");
	json_str(b, p->reason);
	sb_str(b, ", \"program\": ");
	json_str(b, p->program);
	sb_printf(b, ", \"generation\": %u, \"workers\": %u, "
	          "\"min_spare\": %u, \"max_spare\": %u, \"max_workers\": %u, "
	          "\"idle\": %u, \"busy\": %u", p->generation, p->workers,
	          p->min_spare, p->max_spare, p->max_workers, p->idle,
	          p->busy);
	sb_printf(b, ", \"requests\": %" PRIu64 ", \"spawned\": %" PRIu64
	          ", \"crashes\": %" PRIu64 ", \"timeouts\": %" PRIu64
	          ", \"slow\": %" PRIu64 ", \"reloads\": %" PRIu64
	          ", \"started\": ", p->requests, p->spawned, p->crashes,
	          p->timeouts, p->slow, p->reloads);
	json_num(b, p->started_unix);
}

static void json_pool(struct strbuf *b, const struct status_pool *p)
{
	json_pool_fields(b, p);
	sb_str(b, ", \"listeners\": [");
	for (size_t i = 0; i < p->n_listeners; i++) {
		sb_str(b, i ? ", " : "");
		json_listener(b, &p->listeners[i]);
	}
	sb_str(b, "], \"processes\": [");
	for (size_t i = 0; i < p->n_procs; i++) {
		sb_str(b, i ? ", " : "");
		json_proc(b, &p->procs[i]);
	}
	sb_str(b, "]}");
}

static void render_json(struct strbuf *b, const struct status_snapshot *s,
                        const char *pool)
{
	const char *sep = "";
	sb_printf(b, "{\"master\": {\"pid\": %lld, \"version\": ",
	          (long long)s->master_pid);
	json_str(b, s->version);
	sb_str(b, ", \"started\": ");
	json_num(b, s->started_unix);
	sb_str(b, ", \"uptime\": ");
	json_num(b, s->uptime_s);
	sb_str(b, "}, \"pools\": [");
	for (size_t i = 0; i < s->n_pools; i++) {
		if (pool && strcmp(pool, or_empty(s->pools[i].name)) != 0)
			continue;
		sb_str(b, sep);
		json_pool(b, &s->pools[i]);
		sep = ", ";
	}
	sb_str(b, "]}\n");
}

/* ---- Prometheus ---- */

/* One metric family on its way out: its # HELP and # TYPE lines come
 * once, before its first sample, so that a family with no sample (no
 * known queue, say) leaves no empty header. */
struct prom_out {
	struct strbuf *b;
	const struct prom_family *f;
	bool headed;
};

struct prom_family {
	const char *name, *type, *help;
	void (*emit)(struct prom_out *o, const struct status_pool *p,
	             const struct status_snapshot *s);
	size_t offset;    /* of the pool's uint64_t counter, for
	                     prom_pool_counter; else 0 */
};

/* Values in a form Go's ParseFloat takes back exactly enough: 15
 * significant digits, and the format's own NaN and infinities. */
static void prom_double(char out[CELL], double v)
{
	if (isnan(v))
		snprintf(out, CELL, "NaN");
	else if (isinf(v))
		snprintf(out, CELL, v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(out, CELL, "%.15g", v);
}

/* NAME{pool="P"[,LABEL="V"]} VALUE; p == NULL: no labels. */
static void prom_sample(struct prom_out *o, const struct status_pool *p,
                        const char *label, const char *label_value,
                        const char *value)
{
	struct strbuf *b = o->b;
	if (!o->headed) {
		sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", o->f->name,
		          o->f->help, o->f->name, o->f->type);
		o->headed = true;
	}
	sb_str(b, o->f->name);
	if (p) {
		sb_str(b, "{pool=\"");
		prom_label(b, p->name);
		if (label) {
			sb_printf(b, "\",%s=\"", label);
			prom_label(b, label_value);
		}
		sb_str(b, "\"}");
	}
	sb_printf(b, " %s\n", value);
}

static void prom_u64(struct prom_out *o, const struct status_pool *p,
                     const char *label, const char *label_value,
                     uint64_t v)
{
	char value[CELL];
	snprintf(value, sizeof(value), "%" PRIu64, v);
	prom_sample(o, p, label, label_value, value);
}

static size_t count_state(const struct status_pool *p, const char *state)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_procs; i++)
		n += strcmp(or_empty(p->procs[i].state), state) == 0;
	return n;
}

/* Every known state, even at 0, so that each series stays continuous
 * across scrapes; then any other state a process reports, once. */
static void prom_processes(struct prom_out *o, const struct status_pool *p,
                           const struct status_snapshot *s)
{
	static const char *const states[] = {
		"starting", "idle", "accepting", "reading", "handling",
		"writing", "busy", "draining", "unknown",
	};
	const size_t n_states = sizeof(states) / sizeof(states[0]);
	for (size_t i = 0; i < n_states; i++)
		prom_u64(o, p, "state", states[i], count_state(p, states[i]));
	for (size_t i = 0; i < p->n_procs; i++) {
		const char *st = or_empty(p->procs[i].state);
		bool seen = false;
		for (size_t k = 0; k < n_states && !seen; k++)
			seen = strcmp(st, states[k]) == 0;
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(st, or_empty(p->procs[k].state)) == 0;
		if (!seen)
			prom_u64(o, p, "state", st, count_state(p, st));
	}
}

static void prom_pool_counter(struct prom_out *o,
                              const struct status_pool *p,
                              const struct status_snapshot *s)
{
	uint64_t v;
	memcpy(&v, (const char *)p + o->f->offset, sizeof(v));
	prom_u64(o, p, NULL, NULL, v);
}

static void prom_generation(struct prom_out *o, const struct status_pool *p,
                            const struct status_snapshot *s)
{
	prom_u64(o, p, NULL, NULL, p->generation);
}

static void prom_degraded(struct prom_out *o, const struct status_pool *p,
                          const struct status_snapshot *s)
{
	prom_u64(o, p, NULL, NULL, strcmp(or_empty(p->health), "degraded") == 0);
}

static void prom_listeners(struct prom_out *o, const struct status_pool *p,
                           bool backlog)
{
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct status_listener *l = &p->listeners[i];
		if (l->queue_known)
			prom_u64(o, p, "addr", l->addr,
			         backlog ? l->backlog : l->queued);
	}
}

static void prom_queued(struct prom_out *o, const struct status_pool *p,
                        const struct status_snapshot *s)
{
	prom_listeners(o, p, false);
}

static void prom_backlog(struct prom_out *o, const struct status_pool *p,
                         const struct status_snapshot *s)
{
	prom_listeners(o, p, true);
}

static void prom_worker_requests(struct prom_out *o,
                                 const struct status_pool *p,
                                 const struct status_snapshot *s)
{
	char pid[CELL];
	for (size_t i = 0; i < p->n_procs; i++) {
		const struct status_proc *w = &p->procs[i];
		snprintf(pid, sizeof(pid), "%lld", (long long)w->pid);
		if (w->requests_known)
			prom_u64(o, p, "pid", pid, w->requests);
	}
}

static void prom_worker_rss(struct prom_out *o, const struct status_pool *p,
                            const struct status_snapshot *s)
{
	char pid[CELL];
	for (size_t i = 0; i < p->n_procs; i++) {
		const struct status_proc *w = &p->procs[i];
		snprintf(pid, sizeof(pid), "%lld", (long long)w->pid);
		/* The bound keeps the multiplication from overflowing. */
		if (w->rss_kb >= 0 && w->rss_kb < LLONG_MAX / 1024)
			prom_u64(o, p, "pid", pid, (uint64_t)w->rss_kb * 1024);
	}
}

static void prom_worker_cpu(struct prom_out *o, const struct status_pool *p,
                            const struct status_snapshot *s)
{
	char pid[CELL], value[CELL];
	for (size_t i = 0; i < p->n_procs; i++) {
		const struct status_proc *w = &p->procs[i];
		if (!(w->cpu_s >= 0))
			continue;
		snprintf(pid, sizeof(pid), "%lld", (long long)w->pid);
		prom_double(value, w->cpu_s);
		prom_sample(o, p, "pid", pid, value);
	}
}

/* A foreign process in state "unknown" may or may not be busy: it gets
 * no sample rather than a 0 that would be a guess. */
static void prom_worker_busy(struct prom_out *o, const struct status_pool *p,
                             const struct status_snapshot *s)
{
	char pid[CELL];
	for (size_t i = 0; i < p->n_procs; i++) {
		const struct status_proc *w = &p->procs[i];
		if (strcmp(or_empty(w->state), "unknown") == 0)
			continue;
		snprintf(pid, sizeof(pid), "%lld", (long long)w->pid);
		prom_u64(o, p, "pid", pid, is_busy_state(w->state));
	}
}

static void prom_uptime(struct prom_out *o, const struct status_pool *p,
                        const struct status_snapshot *s)
{
	char value[CELL];
	prom_double(value, s->uptime_s);
	prom_sample(o, NULL, NULL, NULL, value);
}

#define COUNTER(field) offsetof(struct status_pool, field)

/* emit == prom_uptime marks the one family of the master, not of pools. */
static const struct prom_family prom_families[] = {
	{"anycgi_pool_processes", "gauge",
	 "Processes of the pool by state.", prom_processes, 0},
	{"anycgi_pool_requests_total", "counter",
	 "Requests finished by the pool's libanycgi workers.",
	 prom_pool_counter, COUNTER(requests)},
	{"anycgi_pool_spawned_total", "counter",
	 "Workers started since the pool began.", prom_pool_counter,
	 COUNTER(spawned)},
	{"anycgi_pool_crashes_total", "counter",
	 "Workers that died without being asked to.", prom_pool_counter,
	 COUNTER(crashes)},
	{"anycgi_pool_timeouts_total", "counter",
	 "Requests killed at the request timeout.", prom_pool_counter,
	 COUNTER(timeouts)},
	{"anycgi_pool_slow_requests_total", "counter",
	 "Requests that ran past the slow-log threshold.", prom_pool_counter,
	 COUNTER(slow)},
	{"anycgi_pool_reloads_total", "counter",
	 "Reloads of the pool.", prom_pool_counter, COUNTER(reloads)},
	{"anycgi_pool_generation", "gauge",
	 "The pool's current generation (one more per reload).",
	 prom_generation, 0},
	{"anycgi_pool_degraded", "gauge",
	 "1 when the pool is degraded, else 0.", prom_degraded, 0},
	{"anycgi_listen_queue", "gauge",
	 "Connections waiting in the listener's accept queue.", prom_queued,
	 0},
	{"anycgi_listen_backlog", "gauge",
	 "The listener's accept queue limit.", prom_backlog, 0},
	{"anycgi_worker_requests_total", "counter",
	 "Requests finished by the libanycgi worker.", prom_worker_requests,
	 0},
	{"anycgi_worker_rss_bytes", "gauge",
	 "Resident memory of the worker.", prom_worker_rss, 0},
	{"anycgi_worker_cpu_seconds_total", "counter",
	 "User and system CPU time of the worker.", prom_worker_cpu, 0},
	{"anycgi_worker_busy", "gauge",
	 "1 when the worker is serving a request, else 0.", prom_worker_busy,
	 0},
	{"anycgi_master_uptime_seconds", "gauge",
	 "Seconds since the master started.", prom_uptime, 0},
};

/* Family by family, each across every pool, since the format wants all
 * samples of a family together. */
static void render_prom(struct strbuf *b, const struct status_snapshot *s,
                        const char *pool)
{
	const size_t n = sizeof(prom_families) / sizeof(prom_families[0]);
	for (size_t f = 0; f < n; f++) {
		struct prom_out o = {.b = b, .f = &prom_families[f]};
		if (o.f->emit == prom_uptime) {
			o.f->emit(&o, NULL, s);
			continue;
		}
		for (size_t i = 0; i < s->n_pools; i++) {
			const struct status_pool *p = &s->pools[i];
			if (!pool || strcmp(pool, or_empty(p->name)) == 0)
				o.f->emit(&o, p, s);
		}
	}
}

/* ---- HTML ---- */

#define HTML_URI_MAX 100

static const char html_head[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"refresh\" content=\"5\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, "
	"initial-scale=1\">\n"
	"<title>anycgi status</title>\n<style>\n"
	"body{margin:0;background:#f3f4f6;color:#1f2933;"
	"font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,"
	"\"Helvetica Neue\",Arial,sans-serif}\n"
	"header{background:#1f2933;color:#f5f7fa;padding:18px 32px}\n"
	"header h1{margin:0;font-size:22px;font-weight:600}\n"
	"header p{margin:4px 0 0;color:#bcc5d0}\n"
	"main{padding:24px 32px;max-width:1400px}\n"
	"section{background:#fff;border-radius:8px;margin:0 0 24px;"
	"box-shadow:0 1px 3px rgba(0,0,0,.12);overflow:hidden;"
	"border-left:6px solid #9aa5b1}\n"
	"section.ok{border-left-color:#2f9e44}\n"
	"section.warn{border-left-color:#e8a317}\n"
	"section.bad{border-left-color:#d9363e}\n"
	".summary{padding:16px 20px}\n"
	".summary h2{margin:0;font-size:18px;display:flex;align-items:center;"
	"gap:10px;word-break:break-all}\n"
	".badge{font-size:12px;font-weight:600;color:#fff;background:#7b8794;"
	"padding:2px 10px;border-radius:10px;text-transform:uppercase;"
	"letter-spacing:.04em}\n"
	".ok .badge{background:#2f9e44}.warn .badge{background:#e8a317}"
	".bad .badge{background:#d9363e}\n"
	".reason{margin:8px 0 0;color:#b4232a;font-weight:600}\n"
	".sub{margin:6px 0 0;color:#52606d;word-break:break-all}\n"
	"dl{display:flex;flex-wrap:wrap;gap:10px 28px;margin:14px 0 0}\n"
	"dl div{min-width:64px}\n"
	"dt{font-size:11px;color:#7b8794;text-transform:uppercase;"
	"letter-spacing:.05em}\n"
	"dd{margin:0;font-size:17px;font-weight:600;"
	"font-variant-numeric:tabular-nums}\n"
	"table{border-collapse:collapse;width:100%;table-layout:fixed}\n"
	".c-pid{width:84px}.c-gen{width:56px}.c-state{width:190px}"
	".c-num{width:92px}\n"
	"th,td{padding:7px 14px;text-align:left;border-top:1px solid #e4e7eb;"
	"vertical-align:top}\n"
	"th{background:#f8f9fa;font-size:11px;color:#616e7c;"
	"text-transform:uppercase;letter-spacing:.05em}\n"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;"
	"white-space:nowrap}\n"
	"td.req{font-family:ui-monospace,\"SFMono-Regular\",Menlo,Consolas,"
	"monospace;font-size:13px;word-break:break-all}\n"
	".m{font-weight:700}.dur{color:#7b8794}\n"
	".st-busy{color:#b35c00;font-weight:600}.st-idle{color:#2f7d32}"
	".st-other{color:#52606d}.st-unknown{color:#9aa5b1;font-style:italic}\n"
	".tag{font-size:11px;background:#e4e7eb;color:#52606d;"
	"padding:1px 6px;border-radius:4px;margin-left:6px}\n"
	".none{padding:0 20px 16px;color:#7b8794}\n"
	"code{font-family:ui-monospace,Menlo,Consolas,monospace;"
	"font-size:13px}\n"
	"</style>\n</head>\n<body>\n";

/* The section's class: a fixed word, never the health string itself. */
static const char *health_class(const char *health)
{
	health = or_empty(health);
	if (strcmp(health, "ok") == 0)
		return "ok";
	if (strcmp(health, "reloading") == 0)
		return "warn";
	if (strcmp(health, "degraded") == 0 || strcmp(health, "stopping") == 0)
		return "bad";
	return "unknown";
}

static const char *state_class(const char *state)
{
	if (is_busy_state(state))
		return "st-busy";
	if (strcmp(or_empty(state), "idle") == 0)
		return "st-idle";
	if (strcmp(or_empty(state), "unknown") == 0)
		return "st-unknown";
	return "st-other";
}

static void html_master(struct strbuf *b, const struct status_snapshot *s)
{
	char up[CELL], since[CELL], now[CELL];
	fmt_duration(up, s->uptime_s);
	fmt_time(since, s->started_unix);
	fmt_time(now, s->started_unix + s->uptime_s);
	sb_str(b, "<header>\n<h1>anycgi status</h1>\n<p>anycgi ");
	html_str(b, s->version);
	sb_printf(b, " &middot; master pid %lld &middot; up %s since %s "
	          "&middot; as of %s</p>\n</header>\n<main>\n",
	          (long long)s->master_pid, up, since, now);
}

static void html_stat(struct strbuf *b, const char *name, uint64_t v)
{
	sb_printf(b, "<div><dt>%s</dt><dd>%" PRIu64 "</dd></div>", name, v);
}

static void html_stats(struct strbuf *b, const struct status_pool *p)
{
	sb_str(b, "<dl>");
	html_stat(b, "Generation", p->generation);
	html_stat(b, "Workers", p->workers);
	html_stat(b, "Idle", p->idle);
	html_stat(b, "Busy", p->busy);
	html_stat(b, "Requests", p->requests);
	html_stat(b, "Spawned", p->spawned);
	html_stat(b, "Crashes", p->crashes);
	html_stat(b, "Timeouts", p->timeouts);
	html_stat(b, "Slow", p->slow);
	html_stat(b, "Reloads", p->reloads);
	sb_str(b, "</dl>\n");
}

static void html_listeners(struct strbuf *b, const struct status_pool *p)
{
	sb_str(b, "<p class=\"sub\">Listening on ");
	if (p->n_listeners == 0)
		sb_str(b, "nothing");
	for (size_t i = 0; i < p->n_listeners; i++) {
		const struct status_listener *l = &p->listeners[i];
		sb_str(b, i ? ", <code>" : "<code>");
		html_str(b, l->addr);
		sb_str(b, "</code> (");
		html_str(b, l->protocol);
		if (l->queue_known)
			sb_printf(b, ", queue %u of %u)", l->queued, l->backlog);
		else
			sb_str(b, ", queue unknown)");
	}
	sb_str(b, "</p>\n");
}

static void html_summary(struct strbuf *b, const struct status_pool *p)
{
	char since[CELL];
	fmt_time(since, p->started_unix);
	sb_str(b, "<div class=\"summary\">\n<h2>");
	html_str(b, p->name);
	sb_str(b, " <span class=\"badge\">");
	html_str(b, p->health);
	sb_str(b, "</span></h2>\n");
	if (p->reason && p->reason[0]) {
		sb_str(b, "<p class=\"reason\">");
		html_str(b, p->reason);
		sb_str(b, "</p>\n");
	}
	sb_str(b, "<p class=\"sub\"><code>");
	html_str(b, p->program && p->program[0] ? p->program : "-");
	sb_str(b, "</code> &middot; ");
	html_str(b, p->mode);
	/* Spares and the ceiling mean nothing to a static pool. */
	if (strcmp(or_empty(p->mode), "static") != 0)
		sb_printf(b, " (spare %u&ndash;%u, at most %u)", p->min_spare,
		          p->max_spare, p->max_workers);
	sb_printf(b, " &middot; since %s</p>\n", since);
	html_listeners(b, p);
	html_stats(b, p);
	sb_str(b, "</div>\n");
}

/* METHOD URI SECONDS; the cell shows the URI cut, its title all of it. */
static void html_request(struct strbuf *b, const struct status_proc *p)
{
	size_t n = FIELD_LEN(p->uri);
	sb_str(b, "<td class=\"req\">");
	if (!has_request(p)) {
		sb_str(b, "&ndash;</td>");
		return;
	}
	sb_str(b, "<span class=\"m\">");
	escape(b, p->method, FIELD_LEN(p->method), SIZE_MAX, put_html);
	sb_str(b, "</span> <span title=\"");
	escape(b, p->uri, n, SIZE_MAX, put_html);
	sb_str(b, "\">");
	cut_field(b, p->uri, n, HTML_URI_MAX, put_html, "\xe2\x80\xa6");
	sb_str(b, "</span>");
	if (isfinite(p->request_s) && p->request_s >= 0 &&
	    p->request_s < 1e12)
		sb_printf(b, " <span class=\"dur\">%.1fs</span>", p->request_s);
	sb_str(b, "</td>");
}

/* A numeric cell; the text table's "-" for unknown reads better as a
 * dash in a browser. */
static void html_num(struct strbuf *b, const char *cell)
{
	sb_printf(b, "<td class=\"n\">%s</td>",
	          strcmp(cell, "-") == 0 ? "&ndash;" : cell);
}

static void html_proc(struct strbuf *b, const struct status_proc *p)
{
	cells_t c;
	proc_cells(p, c);
	sb_str(b, "<tr>");
	html_num(b, c[COL_PID]);
	html_num(b, c[COL_GEN]);
	sb_printf(b, "<td><span class=\"%s\">", state_class(p->state));
	html_str(b, p->state && p->state[0] ? p->state : "-");
	sb_str(b, "</span>");
	if (p->retiring)
		sb_str(b, "<span class=\"tag\">retiring</span>");
	if (!p->libanycgi)
		sb_str(b, "<span class=\"tag\">foreign</span>");
	sb_str(b, "</td>");
	html_num(b, c[COL_REQS]);
	html_num(b, c[COL_RSS]);
	html_num(b, c[COL_CPU]);
	html_num(b, c[COL_AGE]);
	html_request(b, p);
	sb_str(b, "</tr>\n");
}

static void html_pool(struct strbuf *b, const struct status_pool *p)
{
	sb_printf(b, "<section class=\"%s\">\n", health_class(p->health));
	html_summary(b, p);
	if (p->n_procs == 0) {
		sb_str(b, "<p class=\"none\">No processes.</p>\n</section>\n");
		return;
	}
	/* Fixed columns, so that every pool's table lines up with the
	 * others and a long URI wraps instead of pushing them aside. */
	sb_str(b, "<table>\n<colgroup><col class=\"c-pid\"><col class=\"c-gen\">"
	       "<col class=\"c-state\"><col class=\"c-num\"><col class=\"c-num\">"
	       "<col class=\"c-num\"><col class=\"c-num\"><col></colgroup>\n"
	       "<thead><tr><th class=\"n\">PID</th>"
	       "<th class=\"n\">Gen</th><th>State</th><th class=\"n\">Reqs</th>"
	       "<th class=\"n\">RSS</th><th class=\"n\">CPU</th>"
	       "<th class=\"n\">Age</th><th>Request</th></tr></thead>\n"
	       "<tbody>\n");
	for (size_t i = 0; i < p->n_procs; i++)
		html_proc(b, &p->procs[i]);
	sb_str(b, "</tbody>\n</table>\n</section>\n");
}

static void render_html(struct strbuf *b, const struct status_snapshot *s,
                        const char *pool)
{
	bool any = false;
	sb_str(b, html_head);
	html_master(b, s);
	for (size_t i = 0; i < s->n_pools; i++) {
		if (pool && strcmp(pool, or_empty(s->pools[i].name)) != 0)
			continue;
		html_pool(b, &s->pools[i]);
		any = true;
	}
	if (!any)
		sb_str(b, "<p>No pools.</p>\n");
	sb_str(b, "</main>\n</body>\n</html>\n");
}

/* ---- entry points ---- */

static bool has_pool(const struct status_snapshot *s, const char *pool)
{
	for (size_t i = 0; i < s->n_pools; i++)
		if (strcmp(pool, or_empty(s->pools[i].name)) == 0)
			return true;
	return false;
}

int status_render(const struct status_snapshot *s, enum status_format fmt,
                  const char *pool, struct strbuf *out)
{
	if (pool && !has_pool(s, pool))
		return -1;
	switch (fmt) {
	case STATUS_TEXT:
		render_text(out, s, pool);
		return 0;
	case STATUS_JSON:
		render_json(out, s, pool);
		return 0;
	case STATUS_PROMETHEUS:
		render_prom(out, s, pool);
		return 0;
	case STATUS_HTML:
		render_html(out, s, pool);
		return 0;
	}
	return -1;
}

int status_format_parse(const char *name, enum status_format *out)
{
	static const struct {
		const char *name;
		enum status_format fmt;
	} names[] = {
		{"text", STATUS_TEXT},
		{"json", STATUS_JSON},
		{"prometheus", STATUS_PROMETHEUS},
		{"metrics", STATUS_PROMETHEUS},
		{"html", STATUS_HTML},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0) {
			*out = names[i].fmt;
			return 0;
		}
	return -1;
}
