/* `anycgi request`: sends one request to a FastCGI or SCGI server, as a
 * web server would, and prints the response, exiting like curl. The body
 * is streamed from its file while the response is read, so that an app
 * that answers before it has read everything never deadlocks with us. */
#include "request.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anycgi.h"
#include "cgi_head.h"
#include "cgi_params.h"
#include "client.h"
#include "connect.h"

/* Exit statuses: curl's numbers (curl(1), EXIT CODES) where curl has one. */
enum {
	EX_OK = 0,
	EX_USAGE = 2,
	EX_RESOLVE = 6,     /* CURLE_COULDNT_RESOLVE_HOST */
	EX_CONNECT = 7,     /* CURLE_COULDNT_CONNECT */
	EX_MALFORMED = 8,   /* CURLE_WEIRD_SERVER_REPLY */
	EX_PARTIAL = 18,    /* CURLE_PARTIAL_FILE */
	EX_HTTP = 22,       /* CURLE_HTTP_RETURNED_ERROR */
	EX_WRITE = 23,      /* CURLE_WRITE_ERROR */
	EX_READ = 26,       /* CURLE_READ_ERROR */
	EX_TIMEOUT = 28,    /* CURLE_OPERATION_TIMEDOUT */
	EX_EMPTY = 52,      /* CURLE_GOT_NOTHING */
	EX_SEND = 55,       /* CURLE_SEND_ERROR */
};

enum {
	REQUEST_ID = 1,
	HEAD_MAX = 64 * 1024,     /* longest CGI response head accepted */
	CHUNK = FCGI_MAX_CONTENT, /* body bytes read and sent at a time */
	RECV_SIZE = 64 * 1024,
};

/* A body or filter-data stream: a string from the command line, or a file
 * read as it is sent. */
struct source {
	int fd;              /* -1: the bytes are mem */
	bool own_fd;
	const uint8_t *mem;
	uint64_t len;        /* bytes it holds */
	uint64_t done;       /* bytes taken so far */
	const char *name;    /* for messages */
};

struct options {
	bool fastcgi, scgi, get_values, include, verbose;
	const char *addr, *method, *uri;
	const char **headers;
	size_t n_headers;
	const char **overrides;
	size_t n_overrides;
	const char *data;        /* -d's argument, or NULL */
	const char **owned;      /* strings made for long options, freed */
	size_t n_owned;
	const char *filter_data; /* --filter-data's argument, or NULL */
	uint16_t role;
	int timeout_ms;          /* per wait for the server; 0: none */
	int connect_timeout_ms;
	int max_time_ms;         /* the whole exchange; 0: none */
};

/* One exchange on one connection. */
struct exchange {
	const struct options *o;
	int fd;
	struct source body, data;
	uint8_t *out;             /* bytes to send */
	size_t out_cap, out_len, out_off;
	enum { SEND_BODY, SEND_DATA, SEND_DONE } phase;
	bool send_closed;         /* the server stopped reading */
	struct fcgi_client client;
	struct fcgi_record_parser trace; /* -v: the records received */
	struct cgi_head_parser head;
	char head_buf[HEAD_MAX];
	bool head_shown;
	uint64_t body_out;        /* response body bytes written */
	uint64_t sent, received;  /* bytes on the socket */
	bool finished;            /* the response is complete */
	int status;               /* the HTTP status, once the head is in */
	long long idle_deadline, end_deadline; /* 0: none */
	/* GET_VALUES answer being collected. */
	char gv_name[FCGI_GV_NAME_MAX + 1];
	size_t gv_name_len;
	char gv_value[64];
	size_t gv_value_len;
	int exit_code;            /* set with the message when it fails */
	/* Strings the params point into. */
	char cwd[PATH_MAX];       /* the default DOCUMENT_ROOT */
	char software[64];
	char data_len[40], data_mod[40];
	const char **overrides;   /* the Filter's pairs, then the user's -p */
};

/* ---- Messages --------------------------------------------------------- */

/* Whether the app's error stream, copied to ours, left a line open. */
static bool stderr_mid_line;

/* The one line that says why it failed; returns code. */
static int failf(struct exchange *x, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (stderr_mid_line)
		fputc('\n', stderr);
	stderr_mid_line = false;
	fputs("anycgi request: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (x)
		x->exit_code = code;
	return code;
}

static void trace(const struct exchange *x, const char *fmt, ...)
{
	if (!x->o->verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* -v shows bytes as they are, with non-printable ones escaped. */
static void trace_bytes(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
}

static const char *type_name(uint8_t type)
{
	static const char *const names[] = {
		"?", "BEGIN_REQUEST", "ABORT_REQUEST", "END_REQUEST", "PARAMS",
		"STDIN", "STDOUT", "STDERR", "DATA", "GET_VALUES",
		"GET_VALUES_RESULT", "UNKNOWN_TYPE",
	};
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static const char *protocol_status_name(uint8_t s)
{
	switch (s) {
	case FCGI_REQUEST_COMPLETE: return "REQUEST_COMPLETE";
	case FCGI_CANT_MPX_CONN: return "CANT_MPX_CONN";
	case FCGI_OVERLOADED: return "OVERLOADED";
	case FCGI_UNKNOWN_ROLE: return "UNKNOWN_ROLE";
	default: return "unknown protocol status";
	}
}

static const char *role_name(uint16_t role)
{
	return role == FCGI_AUTHORIZER ? "AUTHORIZER"
	       : role == FCGI_FILTER   ? "FILTER" : "RESPONDER";
}

/* RFC 9110, section 15: reason phrases for a status line. */
static const char *reason_phrase(int status)
{
	static const struct { int code; const char *text; } t[] = {
		{100, "Continue"}, {200, "OK"}, {201, "Created"},
		{202, "Accepted"}, {204, "No Content"}, {206, "Partial Content"},
		{301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"},
		{304, "Not Modified"}, {307, "Temporary Redirect"},
		{308, "Permanent Redirect"}, {400, "Bad Request"},
		{401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
		{405, "Method Not Allowed"}, {408, "Request Timeout"},
		{409, "Conflict"}, {410, "Gone"}, {413, "Content Too Large"},
		{429, "Too Many Requests"}, {500, "Internal Server Error"},
		{501, "Not Implemented"}, {502, "Bad Gateway"},
		{503, "Service Unavailable"}, {504, "Gateway Timeout"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == status)
			return t[i].text;
	return "";
}

/* ---- Sources ---------------------------------------------------------- */

/* A pipe or terminal has no length, and FastCGI and SCGI both announce
 * CONTENT_LENGTH first: copy it to an unnamed temporary file, then send
 * that. Memory stays bounded whatever the size. */
static int spool(struct source *s, int in, char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	int fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC,
	              0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot make a temporary file for %s: %s",
		         s->name, strerror(errno));
		return -1;
	}
	static uint8_t buf[CHUNK];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", s->name, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR) {
				snprintf(err, errlen, "temporary file for %s: %s",
				         s->name, strerror(errno));
				close(fd);
				return -1;
			}
			off += w > 0 ? w : 0;
		}
		s->len += (uint64_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "temporary file: %s", strerror(errno));
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->own_fd = true;
	return 0;
}

/* Opens "@FILE", "@-" (standard input) or a literal string. Returns 0, or
 * -1 with the reason in err. */
static int source_open(struct source *s, const char *arg, char *err,
                       size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (!arg) {
		s->name = "no body";
		return 0;
	}
	if (arg[0] != '@') {
		s->mem = (const uint8_t *)arg;
		s->len = strlen(arg);
		s->name = "the data";
		return 0;
	}
	const char *path = arg + 1;
	int fd = 0;
	s->name = strcmp(path, "-") == 0 ? "standard input" : path;
	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		s->own_fd = true;
	}
	s->fd = fd;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t at = lseek(fd, 0, SEEK_CUR);
		s->len = (uint64_t)st.st_size - (at > 0 ? (uint64_t)at : 0);
		return 0;
	}
	s->fd = -1;
	int rc = spool(s, fd, err, errlen);
	if (fd != 0)
		close(fd);
	return rc;
}

static void source_close(struct source *s)
{
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Takes up to cap bytes of the stream into buf. Returns the count (0 at
 * its end), or -1 with a message when the file ends early or fails. */
static ssize_t source_take(struct exchange *x, struct source *s, uint8_t *buf,
                           size_t cap)
{
	uint64_t left = s->len - s->done;
	size_t want = left < cap ? (size_t)left : cap;
	if (want == 0)
		return 0;
	if (s->fd < 0) {
		memcpy(buf, s->mem + s->done, want);
		s->done += want;
		return (ssize_t)want;
	}
	ssize_t n;
	do
		n = read(s->fd, buf, want);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		failf(x, EX_READ, "%s: %s after %llu of %llu bytes", s->name,
		      n < 0 ? strerror(errno) : "ended", (unsigned long long)s->done,
		      (unsigned long long)s->len);
		return -1;
	}
	s->done += (uint64_t)n;
	return n;
}

/* ---- Building the request --------------------------------------------- */

static void trace_pairs(const struct exchange *x, const struct cgi_pair *p,
                        size_t n)
{
	if (!x->o->verbose)
		return;
	for (size_t i = 0; i < n; i++) {
		fputs(">   ", stderr);
		trace_bytes(p[i].name, p[i].name_len);
		fputc('=', stderr);
		trace_bytes(p[i].value, p[i].value_len);
		fputc('\n', stderr);
	}
}

/* The params, with what the Filter role adds (section 6.4), into *params
 * (storage malloc'ed into *pairs_out and *buf_out). The pairs may point
 * into x's strings, which last as long as x. */
static int build_params(struct exchange *x, struct cgi_params *params,
                        struct cgi_pair **pairs_out, char **buf_out)
{
	const struct options *o = x->o;
	size_t n_extra = 0;
	const char *extra[2];
	if (o->role == FCGI_FILTER) {
		struct stat st;
		long long mtime = x->data.fd >= 0 && fstat(x->data.fd, &st) == 0
		                  ? (long long)st.st_mtime : 0;
		snprintf(x->data_len, sizeof(x->data_len), "FCGI_DATA_LENGTH=%llu",
		         (unsigned long long)x->data.len);
		snprintf(x->data_mod, sizeof(x->data_mod), "FCGI_DATA_LAST_MOD=%lld",
		         mtime);
		extra[n_extra++] = x->data_len;
		extra[n_extra++] = x->data_mod;
	}
	/* The user's -p come last, so that they win. */
	size_t n_over = o->n_overrides + n_extra;
	x->overrides = calloc(n_over + 1, sizeof(*x->overrides));
	if (!x->overrides)
		return failf(x, 1, "out of memory");
	memcpy(x->overrides, extra, n_extra * sizeof(*x->overrides));
	if (o->n_overrides)
		memcpy(x->overrides + n_extra, o->overrides,
		       o->n_overrides * sizeof(*x->overrides));
	snprintf(x->software, sizeof(x->software), "anycgi/%s", acgi_version());
	if (!getcwd(x->cwd, sizeof(x->cwd)))
		strcpy(x->cwd, "/");
	bool body = o->role != FCGI_AUTHORIZER &&
	            (o->data || o->role == FCGI_FILTER ||
	             strcmp(o->method, "POST") == 0 ||
	             strcmp(o->method, "PUT") == 0);
	struct cgi_request req = {
		.method = o->method,
		.uri = o->uri,
		.headers = o->headers,
		.n_headers = o->n_headers,
		.content_length = body ? (int64_t)x->body.len : -1,
		.role = o->role,
		.document_root = x->cwd,
		.server_software = x->software,
		.overrides = x->overrides,
		.n_overrides = n_over,
	};
	size_t n_pairs = cgi_params_max_pairs(&req);
	size_t buf_len = cgi_params_max_buf(&req);
	*pairs_out = calloc(n_pairs, sizeof(**pairs_out));
	*buf_out = malloc(buf_len);
	if (!*pairs_out || !*buf_out)
		return failf(x, 1, "out of memory");
	cgi_params_init(params, *pairs_out, n_pairs, *buf_out, buf_len);
	if (cgi_params_build(params, &req) < 0)
		return failf(x, EX_USAGE, "%s", params->error);
	return 0;
}

/* Makes sure out can hold n bytes. */
static int out_reserve(struct exchange *x, size_t n)
{
	if (n <= x->out_cap)
		return 0;
	uint8_t *p = realloc(x->out, n);
	if (!p)
		return failf(x, 1, "out of memory");
	x->out = p;
	x->out_cap = n;
	return 0;
}

/* BEGIN_REQUEST and the PARAMS stream (FastCGI 1.0, sections 5.1, 5.2). */
static int fcgi_head(struct exchange *x, const struct cgi_params *params)
{
	int64_t size = fcgi_encode_params(NULL, 0, REQUEST_ID, params->pairs,
	                                  params->n_pairs);
	if (size < 0)
		return failf(x, EX_USAGE, "the params cannot be encoded: %s",
		             strerror((int)-size));
	if (out_reserve(x, 16 + (size_t)size))
		return x->exit_code;
	fcgi_encode_begin(x->out, REQUEST_ID, x->o->role, 0);
	(void)fcgi_encode_params(x->out + 16, (size_t)size, REQUEST_ID,
	                         params->pairs, params->n_pairs);
	x->out_len = 16 + (size_t)size;
	trace(x, "> BEGIN_REQUEST id=%d role=%s flags=0\n", REQUEST_ID,
	      role_name(x->o->role));
	trace(x, "> PARAMS id=%d, %zu pairs in %lld bytes of records\n",
	      REQUEST_ID, params->n_pairs, (long long)size);
	trace_pairs(x, params->pairs, params->n_pairs);
	return 0;
}

/* The netstring header (SCGI protocol.txt). */
static int scgi_head(struct exchange *x, const struct cgi_params *params)
{
	int64_t size = scgi_encode_head(NULL, 0, x->body.len, params->pairs,
	                                params->n_pairs);
	if (size < 0)
		return failf(x, EX_USAGE, "the params cannot be encoded: %s",
		             size == -EINVAL ? "a NUL byte or an empty name"
		                             : strerror((int)-size));
	if (out_reserve(x, (size_t)size))
		return x->exit_code;
	(void)scgi_encode_head(x->out, (size_t)size, x->body.len, params->pairs,
	                       params->n_pairs);
	x->out_len = (size_t)size;
	trace(x, "> SCGI header block, %lld bytes, CONTENT_LENGTH=%llu SCGI=1\n",
	      (long long)size, (unsigned long long)x->body.len);
	trace_pairs(x, params->pairs, params->n_pairs);
	return 0;
}

/* Refills out once it has all been sent: the next body chunk as one
 * STDIN (or DATA) record, the empty record ending a stream, or, for SCGI,
 * raw body bytes. Returns 0 or an exit code. */
static int refill(struct exchange *x)
{
	x->out_len = x->out_off = 0;
	if (x->phase == SEND_DONE || x->send_closed)
		return 0;
	if (out_reserve(x, FCGI_HEADER_LEN + CHUNK))
		return x->exit_code;
	struct source *s = x->phase == SEND_BODY ? &x->body : &x->data;
	uint8_t type = x->phase == SEND_BODY ? FCGI_STDIN : FCGI_DATA;
	if (x->o->scgi) {
		ssize_t n = source_take(x, s, x->out, CHUNK);
		if (n < 0)
			return x->exit_code;
		x->out_len = (size_t)n;
		if (s->done == s->len) {
			trace(x, "> body, %llu bytes\n", (unsigned long long)s->len);
			x->phase = SEND_DONE;
		}
		return 0;
	}
	ssize_t n = source_take(x, s, x->out + FCGI_HEADER_LEN, CHUNK);
	if (n < 0)
		return x->exit_code;
	/* Section 3.3: the stream ends with its one empty record. */
	fcgi_encode_header(x->out, type, REQUEST_ID, (uint16_t)n, 0);
	x->out_len = FCGI_HEADER_LEN + (size_t)n;
	trace(x, "> %s id=%d len=%zd\n", type_name(type), REQUEST_ID, n);
	if (n == 0)
		x->phase = x->phase == SEND_BODY && x->o->role == FCGI_FILTER
		           ? SEND_DATA : SEND_DONE;
	return 0;
}

/* ---- The response ----------------------------------------------------- */

static int write_all(struct exchange *x, int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return failf(x, EX_WRITE, "cannot write the output: %s",
			             strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void write_stderr(const uint8_t *p, size_t len)
{
	if (len > 0)
		stderr_mid_line = p[len - 1] != '\n';
	while (len > 0) {
		ssize_t n = write(2, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* The status and headers as an HTTP/1.1 head (curl -i shows that). */
static int show_head(struct exchange *x)
{
	const struct cgi_head_parser *h = &x->head;
	const char *reason = h->reason && *h->reason ? h->reason
	                                             : reason_phrase(x->status);
	char line[HEAD_MAX + 64];
	int n = snprintf(line, sizeof(line), "HTTP/1.1 %d%s%s\r\n", x->status,
	                 *reason ? " " : "", reason);
	trace(x, "< HTTP/1.1 %d%s%s\n", x->status, *reason ? " " : "", reason);
	for (size_t i = 0; i < h->n_fields && n < (int)sizeof(line); i++) {
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: %s\r\n",
		              h->fields[i].name, h->fields[i].value);
		trace(x, "< %s: %s\n", h->fields[i].name, h->fields[i].value);
	}
	if (n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "\r\n");
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	return x->o->include ? write_all(x, 1, line, (size_t)n) : 0;
}

/* Response bytes (FastCGI STDOUT, or the SCGI stream): the head first,
 * then the body to standard output. */
static int on_output(struct exchange *x, const uint8_t *data, size_t len)
{
	if (!x->head.done) {
		int k = cgi_head_feed(&x->head, data, len);
		if (k < 0)
			return failf(x, EX_MALFORMED, "malformed response head: %s",
			             x->head.error);
		data += k;
		len -= (size_t)k;
		if (!x->head.done)
			return 0;
		/* A local redirect (RFC 3875, 6.2.2) is the web server's to
		 * follow: shown as the client would see a redirect. */
		x->status = x->head.kind == CGI_LOCAL_REDIRECT ? 302
		                                              : x->head.status;
		int rc = show_head(x);
		if (rc)
			return rc;
	}
	if (len == 0)
		return 0;
	x->body_out += len;
	return write_all(x, 1, data, len);
}

/* The head must be complete when the response ends. */
static int finish_output(struct exchange *x)
{
	if (!x->head.done && cgi_head_finish(&x->head) < 0)
		return failf(x, EX_MALFORMED, "malformed response: %s",
		             x->head.len ? "no header block" : "empty");
	x->finished = true;
	return 0;
}

static int on_value(struct exchange *x, const struct fcgi_client_event *ev)
{
	char *buf = ev->kind == FCGI_CEV_VALUE_NAME ? x->gv_name : x->gv_value;
	size_t *len = ev->kind == FCGI_CEV_VALUE_NAME ? &x->gv_name_len
	                                              : &x->gv_value_len;
	size_t cap = ev->kind == FCGI_CEV_VALUE_NAME ? sizeof(x->gv_name)
	                                             : sizeof(x->gv_value);
	size_t n = ev->len < cap - 1 - *len ? ev->len : cap - 1 - *len;
	memcpy(buf + *len, ev->data, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

static int on_event(struct exchange *x, const struct fcgi_client_event *ev)
{
	bool values = ev->kind >= FCGI_CEV_VALUE_NAME &&
	              ev->kind <= FCGI_CEV_VALUES_END;
	/* Answers to what was not asked: a GET_VALUES_RESULT in the middle
	 * of a response must not end it, request records must not answer
	 * a GET_VALUES. */
	if (values && !x->o->get_values)
		return 0;
	if (x->o->get_values && !values && ev->kind != FCGI_CEV_UNKNOWN_TYPE)
		return failf(x, EX_MALFORMED, "the server answered a request "
		             "that was never sent");
	switch (ev->kind) {
	case FCGI_CEV_STDOUT:
		return on_output(x, ev->data, ev->len);
	case FCGI_CEV_STDERR:
		/* The app's error stream goes where a web server logs it. */
		write_stderr(ev->data, ev->len);
		return 0;
	case FCGI_CEV_END:
		trace(x, "< END_REQUEST id=%d app_status=%u protocol_status=%s\n",
		      REQUEST_ID, ev->app_status,
		      protocol_status_name(ev->protocol_status));
		if (ev->protocol_status != FCGI_REQUEST_COMPLETE) {
			x->finished = true;
			return failf(x, EX_HTTP, "the application refused the "
			             "request: %s",
			             protocol_status_name(ev->protocol_status));
		}
		return finish_output(x);
	case FCGI_CEV_VALUE_NAME:
	case FCGI_CEV_VALUE_VALUE:
		return on_value(x, ev);
	case FCGI_CEV_VALUE_END:
		printf("%s=%s\n", x->gv_name, x->gv_value);
		x->gv_name_len = x->gv_value_len = 0;
		x->gv_name[0] = x->gv_value[0] = '\0';
		return 0;
	case FCGI_CEV_VALUES_END:
		x->finished = true;
		return fflush(stdout) == 0 ? 0
		       : failf(x, EX_WRITE, "cannot write the output");
	case FCGI_CEV_UNKNOWN_TYPE:
		return failf(x, EX_MALFORMED, "the server does not know record "
		             "type %u", ev->type);
	default:
		return 0;
	}
}

/* -v: one line per record header received, from a parser of its own. */
static void trace_records(struct exchange *x, const uint8_t *in, size_t len)
{
	if (!x->o->verbose || x->trace.reason)
		return;
	struct fcgi_record_event ev;
	for (;;) {
		int k = fcgi_record_feed(&x->trace, in, len, &ev);
		if (k < 0 || ev.kind == FCGI_REC_NONE)
			return;
		in += k;
		len -= (size_t)k;
		if (ev.kind == FCGI_REC_BEGIN && ev.type != FCGI_END_REQUEST)
			fprintf(stderr, "< %s id=%u len=%u\n", type_name(ev.type),
			        ev.request_id, ev.content_len);
	}
}

static int on_fcgi_input(struct exchange *x, const uint8_t *in, size_t len)
{
	trace_records(x, in, len);
	struct fcgi_client_event ev;
	for (;;) {
		int k = fcgi_client_feed(&x->client, in, len, &ev);
		if (k < 0)
			return failf(x, EX_MALFORMED, "malformed FastCGI answer at "
			             "byte %llu: %s",
			             (unsigned long long)x->client.error_offset,
			             x->client.reason);
		in += k;
		len -= (size_t)k;
		if (ev.kind == FCGI_CEV_NONE || x->finished)
			return 0;
		int rc = on_event(x, &ev);
		if (rc)
			return rc;
		if (x->finished)
			return 0;
	}
}

/* The connection ended (closed or reset) before the response did. */
static int on_close(struct exchange *x, const char *how)
{
	if (x->o->scgi && x->received) {
		/* SCGI's response ends where the connection does. */
		int rc = finish_output(x);
		if (rc)
			return rc;
		int64_t want = x->head.content_length;
		if (want >= 0 && (uint64_t)want > x->body_out)
			return failf(x, EX_PARTIAL, "the response ended after %llu "
			             "of its %lld body bytes",
			             (unsigned long long)x->body_out, (long long)want);
		return 0;
	}
	if (!x->received)
		return failf(x, EX_EMPTY, "the server %s the connection without "
		             "answering", how);
	return failf(x, EX_PARTIAL, "the server %s the connection before the "
	             "end of the response (%llu bytes in)", how,
	             (unsigned long long)x->received);
}

static int do_recv(struct exchange *x)
{
	static uint8_t buf[RECV_SIZE];
	ssize_t n = recv(x->fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0 && errno != ECONNRESET)
		return failf(x, EX_PARTIAL, "receive: %s", strerror(errno));
	if (n <= 0)
		return on_close(x, n == 0 ? "closed" : "reset");
	x->received += (uint64_t)n;
	if (x->o->scgi)
		return on_output(x, buf, (size_t)n);
	return on_fcgi_input(x, buf, (size_t)n);
}

static int do_send(struct exchange *x)
{
	while (!x->send_closed) {
		if (x->out_off == x->out_len) {
			int rc = refill(x);
			if (rc || x->out_len == 0)
				return rc;
		}
		ssize_t n = send(x->fd, x->out + x->out_off, x->out_len - x->out_off,
		                 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			/* It stopped reading: it may still have answered. */
			trace(x, "* the server stopped reading the request (%s)\n",
			      strerror(errno));
			x->send_closed = true;
			return 0;
		}
		if (n < 0)
			return failf(x, EX_SEND, "send: %s", strerror(errno));
		x->out_off += (size_t)n;
		x->sent += (uint64_t)n;
		x->idle_deadline = x->o->timeout_ms
		                   ? cli_now_ms() + x->o->timeout_ms : 0;
	}
	return 0;
}

static bool want_send(const struct exchange *x)
{
	return !x->send_closed &&
	       (x->out_off < x->out_len || x->phase != SEND_DONE);
}

/* Runs the exchange: sends while there is something to send, reads
 * whenever the server has written, until the response is complete. */
static int pump(struct exchange *x)
{
	long long start = cli_now_ms();
	x->idle_deadline = x->o->timeout_ms ? start + x->o->timeout_ms : 0;
	x->end_deadline = x->o->max_time_ms ? start + x->o->max_time_ms : 0;
	/* A new connection takes the request at once: no poll first. */
	int first = do_send(x);
	if (first)
		return first;
	while (!x->finished) {
		struct pollfd pfd = {.fd = x->fd, .events = POLLIN};
		if (want_send(x))
			pfd.events |= POLLOUT;
		long long now = cli_now_ms(), wake = x->idle_deadline;
		if (x->end_deadline && (!wake || x->end_deadline < wake))
			wake = x->end_deadline;
		if (wake && now >= wake)
			return failf(x, EX_TIMEOUT, wake == x->end_deadline
			             ? "the exchange took over %d ms (--max-time)"
			             : "no answer from the server for %d ms "
			               "(--timeout)",
			             wake == x->end_deadline ? x->o->max_time_ms
			                                     : x->o->timeout_ms);
		int n = poll(&pfd, 1, wake ? (int)(wake - now) : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return failf(x, 1, "poll: %s", strerror(errno));
		if (n == 0)
			continue;
		int rc = 0;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			rc = do_recv(x);
			x->idle_deadline = x->o->timeout_ms
			                   ? cli_now_ms() + x->o->timeout_ms : 0;
		}
		if (!rc && !x->finished && (pfd.revents & POLLOUT))
			rc = do_send(x);
		if (rc)
			return rc;
		if (x->exit_code)
			return x->exit_code;
	}
	return 0;
}

/* ---- The command ------------------------------------------------------ */

void request_usage(FILE *f)
{
	fputs("usage: anycgi request (--fastcgi|--scgi) ADDR [-X METHOD] "
	      "[-H 'Name: value']... [-p NAME=VALUE]...\n"
	      "         [-d DATA|-d @FILE|-d @-] [--role responder|authorizer|"
	      "filter] [--filter-data DATA|@FILE]\n"
	      "         [-i] [-v] [--timeout S] [--connect-timeout S] "
	      "[--max-time S] URI\n"
	      "       anycgi request --get-values --fastcgi ADDR\n",
	      f);
}

static void help(void)
{
	request_usage(stdout);
	fputs("\nSends one request to a FastCGI or SCGI server with the params "
	      "a web server\n(nginx's fastcgi_params) would send for URI, and "
	      "prints the response body.\n\n"
	      "  --fastcgi ADDR, --scgi ADDR   the server: unix:/path, "
	      "HOST:PORT or [IPv6]:PORT\n"
	      "  URI                  /path?query, or http(s)://host[:port]"
	      "/path?query\n"
	      "  -X, --request METHOD the method (default GET, POST with -d)\n"
	      "  -H, --header 'N: V'  a request header, sent as HTTP_N "
	      "('N:' sends none)\n"
	      "  -p, --param NAME=VALUE  sets a param (NAME alone: leaves it "
	      "out)\n"
	      "  --document-root DIR  DOCUMENT_ROOT (default: the current "
	      "folder);\n"
	      "                       SCRIPT_FILENAME is DOCUMENT_ROOT + "
	      "SCRIPT_NAME\n"
	      "  --script-filename PATH  SCRIPT_FILENAME\n"
	      "  -d, --data DATA|@FILE|@-  the body, streamed from the file "
	      "as it is sent\n"
	      "  --role R             responder (default), authorizer (no "
	      "body) or filter\n"
	      "  --filter-data DATA|@FILE  the Filter role's FCGI_DATA stream\n"
	      "  -i, --include        print the response head too, as "
	      "HTTP/1.1\n"
	      "  -v, --verbose        show the records exchanged on stderr\n"
	      "  --timeout S          longest wait for the server (default "
	      "30)\n"
	      "  --connect-timeout S  longest wait to connect (default 10)\n"
	      "  --max-time S         longest whole exchange (default: none)\n"
	      "  --get-values         print FCGI_MAX_CONNS, FCGI_MAX_REQS and "
	      "FCGI_MPXS_CONNS\n\n"
	      "Exit status (curl's): 0 a 2xx or 3xx answer, 22 a 4xx or 5xx "
	      "(or a refused\nrequest), 2 usage, 6 unknown host, 7 cannot "
	      "connect, 8 malformed response,\n18 response cut short, 23 "
	      "cannot write the output, 26 cannot read the\nbody, 28 timeout, "
	      "52 closed without an answer, 55 cannot send.\n",
	      stdout);
}

static int usage_error(const char *fmt, const char *arg)
{
	fputs("anycgi request: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	request_usage(stderr);
	return EX_USAGE;
}

/* Seconds (a decimal fraction allowed) to milliseconds. */
static int parse_seconds(const char *s, int *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 86400 * 365)
		return -1;
	*ms = (int)(v * 1000 + 0.5);
	if (v > 0 && *ms == 0)
		*ms = 1;
	return 0;
}

static int add_arg(const char ***list, size_t *n, const char *arg)
{
	const char **p = realloc(*list, (*n + 1) * sizeof(**list));
	if (!p)
		return -1;
	p[(*n)++] = arg;
	*list = p;
	return 0;
}

enum {
	OPT_FASTCGI = 256, OPT_SCGI, OPT_GET_VALUES, OPT_ROLE, OPT_FILTER_DATA,
	OPT_TIMEOUT, OPT_CONNECT_TIMEOUT, OPT_MAX_TIME, OPT_DOCUMENT_ROOT,
	OPT_SCRIPT_FILENAME,
};

static const struct option long_options[] = {
	{"fastcgi", required_argument, NULL, OPT_FASTCGI},
	{"scgi", required_argument, NULL, OPT_SCGI},
	{"get-values", no_argument, NULL, OPT_GET_VALUES},
	{"role", required_argument, NULL, OPT_ROLE},
	{"filter-data", required_argument, NULL, OPT_FILTER_DATA},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	{"max-time", required_argument, NULL, OPT_MAX_TIME},
	{"document-root", required_argument, NULL, OPT_DOCUMENT_ROOT},
	{"script-filename", required_argument, NULL, OPT_SCRIPT_FILENAME},
	{"request", required_argument, NULL, 'X'},
	{"header", required_argument, NULL, 'H'},
	{"param", required_argument, NULL, 'p'},
	{"data", required_argument, NULL, 'd'},
	{"include", no_argument, NULL, 'i'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* -p NAME=VALUE from a long option: the string must outlive the run. */
static int add_param(struct options *o, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = malloc(n);
	if (!s)
		return -1;
	snprintf(s, n, "%s=%s", name, value);
	if (add_arg(&o->owned, &o->n_owned, s) < 0) {
		free(s);
		return -1;
	}
	return add_arg(&o->overrides, &o->n_overrides, s);
}

static int parse_option(struct options *o, int c, const char *arg)
{
	int rc = 0;
	switch (c) {
	case OPT_FASTCGI:
	case OPT_SCGI:
		if (o->addr)
			return usage_error("%s: one --fastcgi or --scgi only", arg);
		o->addr = arg;
		o->fastcgi = c == OPT_FASTCGI;
		o->scgi = c == OPT_SCGI;
		return 0;
	case OPT_GET_VALUES: o->get_values = true; return 0;
	case OPT_ROLE:
		if (strcasecmp(arg, "responder") == 0)
			o->role = FCGI_RESPONDER;
		else if (strcasecmp(arg, "authorizer") == 0)
			o->role = FCGI_AUTHORIZER;
		else if (strcasecmp(arg, "filter") == 0)
			o->role = FCGI_FILTER;
		else
			return usage_error("--role %s: responder, authorizer or "
			                   "filter", arg);
		return 0;
	case OPT_FILTER_DATA: o->filter_data = arg; return 0;
	case OPT_TIMEOUT: rc = parse_seconds(arg, &o->timeout_ms); break;
	case OPT_CONNECT_TIMEOUT:
		rc = parse_seconds(arg, &o->connect_timeout_ms);
		break;
	case OPT_MAX_TIME: rc = parse_seconds(arg, &o->max_time_ms); break;
	case OPT_DOCUMENT_ROOT: rc = add_param(o, "DOCUMENT_ROOT", arg); break;
	case OPT_SCRIPT_FILENAME:
		rc = add_param(o, "SCRIPT_FILENAME", arg);
		break;
	case 'X': o->method = arg; return 0;
	case 'H': rc = add_arg(&o->headers, &o->n_headers, arg); break;
	case 'p': rc = add_arg(&o->overrides, &o->n_overrides, arg); break;
	case 'd': o->data = arg; return 0;
	case 'i': o->include = true; return 0;
	case 'v': o->verbose = true; return 0;
	default: return EX_USAGE;
	}
	return rc < 0 ? usage_error("%s: not a number of seconds", arg) : 0;
}

static int check_options(struct options *o)
{
	if (!o->addr)
		return usage_error("%s", "--fastcgi ADDR or --scgi ADDR is needed");
	if (o->get_values) {
		if (!o->fastcgi)
			return usage_error("%s", "--get-values is FastCGI's");
		if (o->uri)
			return usage_error("--get-values takes no URI (%s)", o->uri);
		return 0;
	}
	if (!o->uri)
		return usage_error("%s", "no URI");
	if (o->scgi && o->role != FCGI_RESPONDER)
		return usage_error("--role %s: SCGI has only the responder role",
		                   role_name(o->role));
	if (o->role == FCGI_AUTHORIZER && o->data)
		return usage_error("%s", "an authorizer gets no body (-d)");
	if (o->filter_data && o->role != FCGI_FILTER)
		return usage_error("%s", "--filter-data needs --role filter");
	if (o->data && o->filter_data && strcmp(o->data, "@-") == 0 &&
	    strcmp(o->filter_data, "@-") == 0)
		return usage_error("%s", "standard input can be read once only");
	if (!o->method)
		o->method = o->data ? "POST" : "GET";
	return 0;
}

static int parse_args(struct options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->role = FCGI_RESPONDER;
	o->timeout_ms = 30000;
	o->connect_timeout_ms = 10000;
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, ":X:H:p:d:ivh", long_options,
	                        NULL)) != -1) {
		if (c == 'h') {
			help();
			return -1;
		}
		if (c == '?')
			return usage_error("%s: unknown option", argv[optind - 1]);
		if (c == ':')
			return usage_error("%s needs a value", argv[optind - 1]);
		int rc = parse_option(o, c, optarg);
		if (rc)
			return rc;
	}
	if (optind < argc)
		o->uri = argv[optind++];
	if (optind < argc)
		return usage_error("%s: one URI only", argv[optind]);
	return check_options(o);
}

static int connect_to(struct exchange *x)
{
	char err[512];
	int fd = cli_connect(x->o->addr, x->o->connect_timeout_ms, err,
	                     sizeof(err));
	if (fd >= 0) {
		trace(x, "* connected to %s\n", x->o->addr);
		x->fd = fd;
		return 0;
	}
	int code = fd == CONNECT_BAD_ADDR ? EX_USAGE
	           : fd == CONNECT_RESOLVE ? EX_RESOLVE
	           : fd == CONNECT_TIMEOUT ? EX_TIMEOUT : EX_CONNECT;
	return failf(x, code, "%s", err);
}

static int get_values(struct exchange *x)
{
	enum { PAD = 8 };
	static const char *const names[] = {
		"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS",
	};
	int64_t size = fcgi_encode_get_values(NULL, 0, names, 3);
	if (out_reserve(x, (size_t)size + PAD))
		return x->exit_code;
	(void)fcgi_encode_get_values(x->out, x->out_cap, names, 3);
	/* Padding (section 3.3 allows 0..255 bytes): libfcgi reads the
	 * byte after a record's content before it answers a management
	 * record, and with no padding that byte would be the next record,
	 * which never comes: it would wait for ever. */
	fcgi_encode_header(x->out, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID,
	                   (uint16_t)(size - FCGI_HEADER_LEN), PAD);
	memset(x->out + size, 0, PAD);
	x->out_len = (size_t)size + PAD;
	x->phase = SEND_DONE;
	trace(x, "> GET_VALUES FCGI_MAX_CONNS FCGI_MAX_REQS FCGI_MPXS_CONNS\n");
	return pump(x);
}

static int send_request(struct exchange *x)
{
	struct cgi_params params;
	struct cgi_pair *pairs = NULL;
	char *buf = NULL;
	int rc = build_params(x, &params, &pairs, &buf);
	if (rc == 0)
		rc = x->o->scgi ? scgi_head(x, &params) : fcgi_head(x, &params);
	/* An authorizer gets no body (FastCGI 1.0, section 6.3), but the
	 * empty STDIN record all the same, as lighttpd sends it: libfcgi
	 * and libanycgi wait for it. */
	x->phase = SEND_BODY;
	if (x->o->scgi && x->body.len == 0)
		x->phase = SEND_DONE;
	/* Without a body, the empty STDIN goes in the same send as the
	 * params: one write for the whole request. */
	if (rc == 0 && !x->o->scgi && x->body.len == 0 &&
	    x->o->role != FCGI_FILTER && out_reserve(x, x->out_len + 8) == 0) {
		fcgi_encode_header(x->out + x->out_len, FCGI_STDIN, REQUEST_ID, 0,
		                   0);
		x->out_len += FCGI_HEADER_LEN;
		trace(x, "> STDIN id=%d len=0\n", REQUEST_ID);
		x->phase = SEND_DONE;
	}
	if (rc == 0)
		rc = pump(x);
	free(pairs);
	free(buf);
	if (rc)
		return rc;
	trace(x, "* %llu bytes sent, %llu received; status %d, %llu body "
	      "bytes\n", (unsigned long long)x->sent,
	      (unsigned long long)x->received, x->status,
	      (unsigned long long)x->body_out);
	if (x->status >= 400)
		return failf(x, EX_HTTP, "the server answered %d %s", x->status,
		             x->head.reason && *x->head.reason
		             ? x->head.reason : reason_phrase(x->status));
	return EX_OK;
}

int request_main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(&o, argc, argv);
	if (rc)
		return rc < 0 ? EX_OK : rc;
	static struct exchange x;
	x.o = &o;
	x.fd = -1;
	x.body.fd = x.data.fd = -1;
	fcgi_client_init(&x.client, REQUEST_ID);
	fcgi_record_parser_init(&x.trace);
	cgi_head_init(&x.head, x.head_buf, sizeof(x.head_buf), o.scgi);
	/* Writes to a closed pipe fail with EPIPE instead of killing us. */
	(void)signal(SIGPIPE, SIG_IGN);
	char err[512];
	if (!o.get_values && (source_open(&x.body, o.data, err, sizeof(err)) ||
	                      source_open(&x.data, o.filter_data, err,
	                                  sizeof(err)))) {
		rc = failf(&x, EX_READ, "%s", err);
		goto out;
	}
	rc = connect_to(&x);
	if (rc == 0)
		rc = o.get_values ? get_values(&x) : send_request(&x);
out:
	if (x.fd >= 0)
		close(x.fd);
	source_close(&x.body);
	source_close(&x.data);
	free(x.out);
	free(x.overrides);
	free(o.headers);
	free(o.overrides);
	for (size_t i = 0; i < o.n_owned; i++)
		free((void *)o.owned[i]);
	free(o.owned);
	return rc;
}
