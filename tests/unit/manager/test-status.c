/* Unit tests for src/manager/status.c: the four renderings of a status
 * snapshot, their escaping of hostile strings, and the pool filter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "status.h"

/* What a client can put in a request line, reaching the master through
 * a worker's scoreboard: quotes, markup, a newline, a backslash, a C0
 * control, a byte that is never UTF-8, and enough length to be cut. */
#define HOSTILE_URI \
	"/search?q=\"x'y\"<script>alert(1)</script>\nX-Evil: 1\\path" \
	"\x01\xff/and/a/long/tail/that/goes/on/and/on/for/a/while"

/* A listener address with the characters Prometheus labels escape. */
#define ODD_ADDR "unix:/tmp/we\"ird\\dir\nx.sock"

static const struct status_listener web_listeners[] = {
	{.addr = "unix:/run/anycgi/web.sock", .protocol = "fastcgi",
	 .queued = 2, .backlog = 128, .queue_known = true},
	{.addr = "127.0.0.1:9000", .protocol = "scgi"},
};

static const struct status_listener legacy_listeners[] = {
	{.addr = ODD_ADDR, .protocol = "fastcgi", .queued = 0, .backlog = 64,
	 .queue_known = true},
};

static struct status_proc web_procs[2];
static struct status_proc legacy_procs[1];
static struct status_pool pools[2];
static struct status_snapshot snap;

/* Two pools: "web" runs libanycgi workers, one of them busy with the
 * hostile request and retiring; "legacy" runs a foreign program that
 * only /proc can see, so most of what status shows of it is unknown. */
static int setup(void **state)
{
	(void)state;
	web_procs[0] = (struct status_proc){
		.pid = 1001, .generation = 3, .state = "handling",
		.libanycgi = true, .ready = true, .retiring = true,
		.requests_known = true, .requests = 17, .connections = 5,
		.active = 1, .started_unix = 1714560000.5, .age_s = 3725,
		.rss_kb = 12288, .cpu_s = 0.52, .method = "GET",
		.uri = HOSTILE_URI, .request_s = 1.25,
	};
	web_procs[1] = (struct status_proc){
		.pid = 1002, .generation = 3, .state = "idle",
		.libanycgi = true, .ready = true, .requests_known = true,
		.requests = 120000, .connections = 40, .started_unix = 1714563000,
		.age_s = 42, .rss_kb = 900, .cpu_s = 75,
	};
	legacy_procs[0] = (struct status_proc){
		.pid = 2001, .generation = 1, .state = "unknown",
		.started_unix = 1714560000, .age_s = 90000, .rss_kb = -1,
		.cpu_s = -1,
	};
	pools[0] = (struct status_pool){
		.name = "web", .mode = "dynamic", .health = "ok", .reason = "",
		.program = "/usr/bin/web-app", .generation = 3, .workers = 4,
		.min_spare = 1, .max_spare = 3, .max_workers = 8, .idle = 1,
		.busy = 1, .requests = 120017, .spawned = 9, .crashes = 1,
		.timeouts = 2, .slow = 3, .reloads = 2,
		.started_unix = 1714550000, .listeners = web_listeners,
		.n_listeners = 2, .procs = web_procs, .n_procs = 2,
	};
	pools[1] = (struct status_pool){
		.name = "legacy", .mode = "static", .health = "degraded",
		.reason = "3 crashes in 60s", .program = "/usr/bin/php-cgi",
		.generation = 1, .workers = 1, .max_workers = 1,
		.started_unix = 1714550000, .listeners = legacy_listeners,
		.n_listeners = 1, .procs = legacy_procs, .n_procs = 1,
	};
	snap = (struct status_snapshot){
		.master_pid = 999, .version = "0.1.0",
		.started_unix = 1714550000, .uptime_s = 13725.5,
		.pools = pools, .n_pools = 2,
	};
	return 0;
}

/* Renders the whole snapshot; the caller frees. */
static struct strbuf render(enum status_format fmt, const char *pool)
{
	struct strbuf b = {0};
	assert_int_equal(status_render(&snap, fmt, pool, &b), 0);
	assert_false(b.failed);
	assert_non_null(b.data);
	assert_int_equal(strlen(b.data), b.len);
	return b;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* No byte below 0x20 except the newlines (and tabs when allowed), no DEL
 * and no 0xff. */
static void assert_no_control(const char *s, bool tabs)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		if (*u == '\n' || (tabs && *u == '\t'))
			continue;
		if (*u < 0x20 || *u == 0x7f || *u == 0xff)
			fail_msg("control or stray byte 0x%02x at offset %td", *u,
			         (const char *)u - s);
	}
}

/* Exit status of python3 -c script, run on a file holding text: the
 * script finds the file's name in sys.argv[1] and holds no single quote. */
static int python_on(const char *text, const char *script)
{
	char path[] = "/tmp/test-status-XXXXXX";
	struct strbuf cmd = {0};
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	assert_null(strchr(script, '\''));
	sb_printf(&cmd, "/usr/bin/python3 -c '%s' %s", script, path);
	assert_false(cmd.failed);
	int status = system(cmd.data);
	sb_free(&cmd);
	(void)unlink(path);
	assert_true(status != -1 && WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void assert_json_parses(const char *json)
{
	assert_int_equal(python_on(json, "import json,sys; "
	                                 "json.load(open(sys.argv[1]))"), 0);
}

static void json_escapes_hostile_strings(void **state)
{
	struct strbuf b = render(STATUS_JSON, NULL);
	assert_non_null(strstr(b.data, "\\\"x'y\\\""));
	assert_non_null(strstr(b.data, "\\u003cscript\\u003e"));
	assert_non_null(strstr(b.data, "\\nX-Evil: 1\\\\path\\u0001\\u00ff"));
	assert_null(strstr(b.data, "<script>"));
	assert_no_control(b.data, false);
	/* One line, ended by its only newline. */
	assert_int_equal(count(b.data, "\n"), 1);
	assert_int_equal(b.data[b.len - 1], '\n');
	sb_free(&b);
}

static void json_has_nulls_for_unknowns(void **state)
{
	struct strbuf b = render(STATUS_JSON, NULL);
	assert_non_null(strstr(b.data, "\"pid\": 2001, \"generation\": 1, "
	                                "\"state\": \"unknown\", \"libanycgi\": "
	                                "false, \"ready\": false, \"retiring\": "
	                                "false, \"requests\": null, "
	                                "\"connections\": null"));
	assert_non_null(strstr(b.data, "\"rss_kb\": null, \"cpu\": null, "
	                                "\"request\": null}"));
	assert_non_null(strstr(b.data, "\"addr\": \"127.0.0.1:9000\", "
	                                "\"protocol\": \"scgi\", \"queued\": "
	                                "null, \"backlog\": null}"));
	assert_non_null(strstr(b.data, "\"cpu\": 0.520, \"request\": "
	                                "{\"method\": \"GET\""));
	sb_free(&b);
}

/* Python reads back what the snapshot held: the escapes decode to the
 * URI's characters, the stray byte to U+00FF as the echo app writes it. */
static void json_parses_with_python(void **state)
{
	static const char check[] =
		"import json,sys; d=json.load(open(sys.argv[1])); "
		"p=d[\"pools\"]; w=p[0][\"processes\"][0]; "
		"f=p[1][\"processes\"][0]; "
		"assert d[\"master\"][\"pid\"]==999, d; "
		"assert [x[\"name\"] for x in p]==[\"web\",\"legacy\"]; "
		"assert w[\"request\"][\"uri\"]==\"/search?q=\\\"x\\x27y\\\""
		"<script>alert(1)</script>\\nX-Evil: 1\\\\path\\x01\\xff/and/a/"
		"long/tail/that/goes/on/and/on/for/a/while\", w; "
		"assert w[\"request\"][\"seconds\"]==1.25; "
		"assert f[\"requests\"] is None and f[\"rss_kb\"] is None; "
		"assert p[1][\"listeners\"][0][\"addr\"]=="
		"\"unix:/tmp/we\\\"ird\\\\dir\\nx.sock\"";
	struct strbuf b = render(STATUS_JSON, NULL);
	assert_json_parses(b.data);
	assert_int_equal(python_on(b.data, check), 0);
	sb_free(&b);
}

static void html_is_escaped_and_self_contained(void **state)
{
	struct strbuf b = render(STATUS_HTML, NULL);
	assert_true(strncmp(b.data, "<!DOCTYPE html>", 15) == 0);
	assert_non_null(strstr(b.data,
	                       "<meta http-equiv=\"refresh\" content=\"5\">"));
	assert_non_null(strstr(b.data, "<title>anycgi status</title>"));
	assert_null(strstr(b.data, "<script"));
	assert_non_null(strstr(b.data, "&lt;script&gt;"));
	assert_non_null(strstr(b.data, "&quot;x&#39;y&quot;"));
	/* No resource from elsewhere. */
	assert_null(strstr(b.data, "http://"));
	assert_null(strstr(b.data, "https://"));
	assert_null(strstr(b.data, "src="));
	assert_null(strstr(b.data, "<link"));
	assert_no_control(b.data, false);
	/* Health colours come from fixed classes. */
	assert_non_null(strstr(b.data, "<section class=\"ok\">"));
	assert_non_null(strstr(b.data, "<section class=\"bad\">"));
	assert_non_null(strstr(b.data, "3 crashes in 60s"));
	assert_true(strstr(b.data, "</html>\n") == b.data + b.len - 8);
	sb_free(&b);
}

static void html_is_well_formed(void **state)
{
	/* Every element that opens closes, in order (void ones aside). */
	static const char check[] =
		"import sys; from html.parser import HTMLParser\n"
		"class P(HTMLParser):\n"
		" v={\"meta\",\"br\",\"col\"}; s=[]\n"
		" def handle_starttag(self,t,a):\n"
		"  (t in self.v) or self.s.append(t)\n"
		" def handle_endtag(self,t):\n"
		"  assert self.s.pop()==t, t\n"
		"p=P(); p.feed(open(sys.argv[1],encoding=\"utf-8\").read()); "
		"p.close(); assert not p.s, p.s";
	struct strbuf b = render(STATUS_HTML, NULL);
	assert_int_equal(python_on(b.data, check), 0);
	sb_free(&b);
}

static const char *const families[] = {
	"anycgi_pool_processes gauge",
	"anycgi_pool_requests_total counter",
	"anycgi_pool_spawned_total counter",
	"anycgi_pool_crashes_total counter",
	"anycgi_pool_timeouts_total counter",
	"anycgi_pool_slow_requests_total counter",
	"anycgi_pool_reloads_total counter",
	"anycgi_pool_generation gauge",
	"anycgi_pool_degraded gauge",
	"anycgi_listen_queue gauge",
	"anycgi_listen_backlog gauge",
	"anycgi_worker_requests_total counter",
	"anycgi_worker_rss_bytes gauge",
	"anycgi_worker_cpu_seconds_total counter",
	"anycgi_worker_busy gauge",
	"anycgi_master_uptime_seconds gauge",
};

static void prometheus_types_once(void **state)
{
	struct strbuf b = render(STATUS_PROMETHEUS, NULL);
	char line[128];
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
		assert_int_equal(count(b.data, line), 1);
		snprintf(line, sizeof(line), "# HELP %.*s ",
		         (int)strcspn(families[i], " "), families[i]);
		assert_int_equal(count(b.data, line), 1);
	}
	assert_int_equal(count(b.data, "# TYPE "),
	                 sizeof(families) / sizeof(families[0]));
	sb_free(&b);
}

/* The metric name of a sample line: up to '{' or ' '. */
static size_t metric_name(const char *line, char *out, size_t cap)
{
	size_t n = strcspn(line, "{ ");
	assert_true(n > 0 && n < cap);
	memcpy(out, line, n);
	out[n] = '\0';
	return n;
}

/* All samples of a family come together, right after its # TYPE. */
static void prometheus_groups_families(void **state)
{
	struct strbuf b = render(STATUS_PROMETHEUS, NULL);
	char seen[2048] = " ", name[64] = "", typed[64] = "", key[80];
	for (char *line = b.data; *line; line = strchr(line, '\n') + 1) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			metric_name(line + 7, typed, sizeof(typed));
			continue;
		}
		if (line[0] == '#')
			continue;
		char cur[64];
		metric_name(line, cur, sizeof(cur));
		assert_string_equal(cur, typed);
		if (strcmp(cur, name) != 0) {
			snprintf(key, sizeof(key), " %s ", cur);
			assert_null(strstr(seen, key));
			strcat(seen, cur);
			strcat(seen, " ");
			strcpy(name, cur);
		}
	}
	assert_int_equal(b.data[b.len - 1], '\n');
	sb_free(&b);
}

static void prometheus_escapes_and_omits_unknowns(void **state)
{
	struct strbuf b = render(STATUS_PROMETHEUS, NULL);
	assert_non_null(strstr(b.data, "anycgi_listen_queue{pool=\"legacy\","
	                                "addr=\"unix:/tmp/we\\\"ird\\\\dir\\nx"
	                                ".sock\"} 0\n"));
	assert_non_null(strstr(b.data, "anycgi_listen_backlog{pool=\"web\","
	                                "addr=\"unix:/run/anycgi/web.sock\"} "
	                                "128\n"));
	/* The queue of the SCGI listener is not known. */
	assert_null(strstr(b.data, "addr=\"127.0.0.1:9000\""));
	assert_non_null(strstr(b.data, "anycgi_worker_requests_total{pool="
	                                "\"web\",pid=\"1001\"} 17\n"));
	assert_non_null(strstr(b.data, "anycgi_worker_rss_bytes{pool=\"web\","
	                                "pid=\"1001\"} 12582912\n"));
	assert_non_null(strstr(b.data, "anycgi_worker_cpu_seconds_total{pool="
	                                "\"web\",pid=\"1001\"} 0.52\n"));
	assert_non_null(strstr(b.data, "anycgi_worker_busy{pool=\"web\","
	                                "pid=\"1001\"} 1\n"));
	assert_non_null(strstr(b.data, "anycgi_worker_busy{pool=\"web\","
	                                "pid=\"1002\"} 0\n"));
	assert_null(strstr(b.data, "pid=\"2001\""));
	assert_non_null(strstr(b.data, "anycgi_pool_processes{pool=\"legacy\","
	                                "state=\"unknown\"} 1\n"));
	assert_non_null(strstr(b.data, "anycgi_pool_degraded{pool=\"legacy\"}"
	                                " 1\n"));
	assert_non_null(strstr(b.data, "anycgi_pool_degraded{pool=\"web\"} 0\n"));
	assert_non_null(strstr(b.data, "anycgi_pool_requests_total{pool="
	                                "\"web\"} 120017\n"));
	assert_non_null(strstr(b.data, "anycgi_master_uptime_seconds "
	                                "13725.5\n"));
	/* Only the addr label's escape could put a newline in a label. */
	assert_no_control(b.data, false);
	sb_free(&b);
}

static void text_is_safe_and_aligned(void **state)
{
	struct strbuf b = render(STATUS_TEXT, NULL);
	assert_no_control(b.data, false);
	assert_null(strstr(b.data, "\xff"));
	/* The hostile URI is cut to 60 characters, controls shown as '?', so
	 * that a row fits a 132-column terminal. */
	assert_non_null(strstr(b.data, "  GET /search?q=\"x'y\"<script>"
	                                "alert(1)</script>?X-Evil: 1\\path?" "?"
	                                "... 1.2s\n"));
	for (char *line = b.data; *line; line = strchr(line, '\n') + 1)
		assert_true(strcspn(line, "\n") <= 132);
	/* Unknowns show as "-": the foreign process's requests, RSS, CPU. */
	assert_non_null(strstr(b.data, "  2001    1  unknown     -    -    -  "
	                                "1d01h  -\n"));
	assert_non_null(strstr(b.data, "\npool legacy (static, generation 1): "
	                                "degraded (3 crashes in 60s)\n  workers "
	                                "1: 0 idle, 0 busy; requests 0, crashes "
	                                "0, timeouts 0\n"));
	assert_non_null(strstr(b.data, "\n  listen unix:/run/anycgi/web.sock "
	                                "(fastcgi, queue 2/128)\n  listen "
	                                "127.0.0.1:9000 (scgi, queue -)\n"));
	assert_non_null(strstr(b.data, "\n  listen unix:/tmp/we\"ird\\dir?x"
	                                ".sock (fastcgi, queue 0/64)\n"));
	sb_free(&b);
}

/* The text columns: the same offset of "STATE" as of each state. */
static void text_columns_line_up(void **state)
{
	struct strbuf b = render(STATUS_TEXT, NULL);
	const char *head = strstr(b.data, "STATE");
	const char *line = head;
	while (line > b.data && line[-1] != '\n')
		line--;
	size_t col = (size_t)(head - line);
	const char *row = strchr(head, '\n') + 1;
	assert_true(strncmp(row + col, "handling*", 9) == 0);
	row = strchr(row, '\n') + 1;
	assert_true(strncmp(row + col, "idle ", 5) == 0);
	sb_free(&b);
}

/* Each format keeps the one pool asked for; an unknown name adds
 * nothing and says so. */
static void filter_picks_one_pool(void **state)
{
	static const enum status_format fmts[] = {
		STATUS_TEXT, STATUS_JSON, STATUS_PROMETHEUS, STATUS_HTML,
	};
	for (size_t i = 0; i < 4; i++) {
		struct strbuf b = render(fmts[i], "legacy");
		assert_non_null(strstr(b.data, "legacy"));
		assert_null(strstr(b.data, "web"));
		assert_null(strstr(b.data, "1001"));
		sb_free(&b);

		sb_add(&b, "x", 1);
		assert_int_equal(status_render(&snap, fmts[i], "nope", &b), -1);
		assert_int_equal(b.len, 1);
		assert_string_equal(b.data, "x");
		sb_free(&b);
	}
	struct strbuf b = render(STATUS_JSON, "web");
	assert_json_parses(b.data);
	assert_int_equal(count(b.data, "\"name\": "), 1);
	sb_free(&b);
}

static void empty_snapshot_renders(void **state)
{
	const struct status_snapshot empty = {.master_pid = 1,
	                                      .version = "0.1.0"};
	struct strbuf b = {0};
	assert_int_equal(status_render(&empty, STATUS_JSON, NULL, &b), 0);
	assert_json_parses(b.data);
	assert_non_null(strstr(b.data, "\"pools\": []}"));
	sb_free(&b);
	assert_int_equal(status_render(&empty, STATUS_JSON, "web", &b), -1);
	assert_null(b.data);
	for (int f = STATUS_TEXT; f <= STATUS_HTML; f++) {
		assert_int_equal(status_render(&empty, (enum status_format)f, NULL,
		                               &b), 0);
		assert_false(b.failed);
		sb_free(&b);
	}
}

/* NULL strings and numbers JSON cannot hold still make valid JSON. */
static void odd_values_stay_valid(void **state)
{
	struct status_proc proc = {.pid = 5, .age_s = INFINITY,
	                           .cpu_s = NAN, .rss_kb = -1,
	                           .request_s = -INFINITY};
	memcpy(proc.uri, "/\xe2\x80\xa8\xc0\xaf\xed\xa0\x80", 10);
	const struct status_pool pool = {.procs = &proc, .n_procs = 1};
	const struct status_snapshot s = {.uptime_s = NAN,
	                                  .pools = &pool, .n_pools = 1};
	for (int f = STATUS_TEXT; f <= STATUS_HTML; f++) {
		struct strbuf b = {0};
		assert_int_equal(status_render(&s, (enum status_format)f, NULL,
		                               &b), 0);
		assert_false(b.failed);
		assert_no_control(b.data, false);
		if (f == STATUS_JSON) {
			assert_json_parses(b.data);
			/* U+2028 escaped; an overlong '/' and a surrogate are
			 * stray bytes. */
			assert_non_null(strstr(b.data, "\"/\\u2028\\u00c0\\u00af"
			                                "\\u00ed\\u00a0\\u0080\""));
		}
		sb_free(&b);
	}
}

static void sb_printf_long_output(void **state)
{
	char *big = malloc(5001);
	assert_non_null(big);
	for (int i = 0; i < 5000; i++)
		big[i] = (char)('a' + i % 26);
	big[5000] = '\0';
	struct strbuf b = {0};
	sb_printf(&b, "<%s>", "x");
	sb_printf(&b, "[%s]", big);
	sb_printf(&b, "%d", 42);
	assert_false(b.failed);
	assert_int_equal(b.len, 3 + 5002 + 2);
	assert_true(strncmp(b.data, "<x>[", 4) == 0);
	assert_true(memcmp(b.data + 4, big, 5000) == 0);
	assert_string_equal(b.data + 4 + 5000, "]42");
	sb_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(big);
}

static void format_names(void **state)
{
	enum status_format f = STATUS_HTML;
	assert_int_equal(status_format_parse("text", &f), 0);
	assert_int_equal(f, STATUS_TEXT);
	assert_int_equal(status_format_parse("json", &f), 0);
	assert_int_equal(f, STATUS_JSON);
	assert_int_equal(status_format_parse("metrics", &f), 0);
	assert_int_equal(f, STATUS_PROMETHEUS);
	assert_int_equal(status_format_parse("prometheus", &f), 0);
	assert_int_equal(f, STATUS_PROMETHEUS);
	assert_int_equal(status_format_parse("html", &f), 0);
	assert_int_equal(f, STATUS_HTML);
	assert_int_equal(status_format_parse("JSON", &f), -1);
	assert_int_equal(status_format_parse("", &f), -1);
	assert_int_equal(f, STATUS_HTML);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_escapes_hostile_strings),
		cmocka_unit_test(json_has_nulls_for_unknowns),
		cmocka_unit_test(json_parses_with_python),
		cmocka_unit_test(html_is_escaped_and_self_contained),
		cmocka_unit_test(html_is_well_formed),
		cmocka_unit_test(prometheus_types_once),
		cmocka_unit_test(prometheus_groups_families),
		cmocka_unit_test(prometheus_escapes_and_omits_unknowns),
		cmocka_unit_test(text_is_safe_and_aligned),
		cmocka_unit_test(text_columns_line_up),
		cmocka_unit_test(filter_picks_one_pool),
		cmocka_unit_test(empty_snapshot_renders),
		cmocka_unit_test(odd_values_stay_valid),
		cmocka_unit_test(sb_printf_long_output),
		cmocka_unit_test(format_names),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
