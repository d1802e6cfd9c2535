/* The request parser: the head is collected whole, checked byte by byte
 * where libhttp-parser is lenient (RFC 9112), then handed to the library,
 * which also frames the body (Content-Length or chunked). */
#include "http_in.h"
#include "http_token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { ST_HEAD, ST_END_PENDING, ST_BODY, ST_DONE, ST_FAILED };

enum { INITIAL_BUF = 1024 };

/* Where the head's scan stands (http_in.line_start). */
enum { LINE_MID, LINE_START, LINE_START_CR };

static int on_headers_complete(http_parser *hp);
static int on_body(http_parser *hp, const char *at, size_t len);
static int on_message_complete(http_parser *hp);

static const http_parser_settings settings = {
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_in_init(struct http_in *p, const struct http_in_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->lim = *lim;
	http_in_next(p);
}

void http_in_deinit(struct http_in *p)
{
	free(p->buf);
	free(p->fields_mem);
	p->buf = NULL;
	p->fields_mem = NULL;
	p->buf_cap = p->fields_cap = 0;
}

void http_in_release(struct http_in *p)
{
	http_in_deinit(p);
}

void http_in_next(struct http_in *p)
{
	http_parser_init(&p->hp, HTTP_REQUEST);
	p->hp.data = p;
	p->state = ST_HEAD;
	p->line_start = LINE_START;
	p->blank_prefix = true;
	p->len = 0;
	p->skipped = 0;
	p->body_bytes = 0;
	memset(&p->head, 0, sizeof(p->head));
	p->pending.kind = HTTP_IN_NONE;
}

bool http_in_idle(const struct http_in *p)
{
	return p->state == ST_HEAD && p->len == 0 && p->skipped == 0;
}

static int fail(struct http_in *p, int status, const char *why)
{
	p->state = ST_FAILED;
	p->status = status;
	p->reason = why;
	return -EPROTO;
}

/* ---- callbacks: each event pauses the library, so that one call reports
 * one event ----------------------------------------------------------- */

static int on_headers_complete(http_parser *hp)
{
	/* No protocol switch here (RFC 9110, section 7.8 lets a server
	 * ignore Upgrade): the body, if any, is framed as usual. */
	hp->upgrade = 0;
	http_parser_pause(hp, 1);
	return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
	struct http_in *p = hp->data;
	p->pending = (struct http_in_event){
		.kind = HTTP_IN_BODY, .data = (const uint8_t *)at, .len = len,
	};
	p->body_bytes += len;
	http_parser_pause(hp, 1);
	return 0;
}

static int on_message_complete(http_parser *hp)
{
	struct http_in *p = hp->data;
	p->pending = (struct http_in_event){.kind = HTTP_IN_END};
	http_parser_pause(hp, 1);
	return 0;
}

/* ---- raw checks on the collected head -------------------------------- */

/* RFC 9110, section 5.5: field-vchar, SP, HTAB, obs-text. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9112, section 3: method SP request-target SP HTTP-version, each
 * separated by exactly one space. Splits the line in place. */
static int check_request_line(struct http_in *p, char *s, char *e)
{
	char *sp1 = memchr(s, ' ', (size_t)(e - s));
	if (!sp1 || sp1 == s)
		return fail(p, 400, "malformed request line");
	for (char *c = s; c < sp1; c++)
		if (!http_is_tchar((unsigned char)*c))
			return fail(p, 400, "method is not a token");
	char *t = sp1 + 1;
	char *sp2 = memchr(t, ' ', (size_t)(e - t));
	if (!sp2 || sp2 == t)
		return fail(p, 400, "malformed request line");
	for (char *c = t; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '#')
			return fail(p, 400, "bad character in the request target");
	char *v = sp2 + 1;
	if (e - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
	    v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return fail(p, 400, "malformed HTTP version");
	if (v[5] != '1')
		return fail(p, 505, "HTTP version not supported");
	*sp1 = '\0';
	*sp2 = '\0';
	p->head.major = 1;
	p->head.minor = v[7] > '1' ? 1 : v[7] - '0';
	p->head.method = s;
	p->head.target = t;
	p->head.target_len = (size_t)(sp2 - t);
	return 0;
}

/* One field line s[0..e): name ":" OWS value OWS. */
static int check_field(struct http_in *p, char *s, char *e)
{
	/* RFC 9112, section 5.2: obs-fold is refused; section 2.2: so is
	 * whitespace between the start line and the first field. */
	if (is_ows(*s))
		return fail(p, 400, "obsolete line folding");
	char *colon = memchr(s, ':', (size_t)(e - s));
	if (!colon || colon == s)
		return fail(p, 400, "header line without a name and colon");
	for (char *c = s; c < colon; c++) {
		if (is_ows(*c))
			return fail(p, 400, "space before the colon of a header");
		if (!http_is_tchar((unsigned char)*c))
			return fail(p, 400, "header name is not a token");
	}
	for (char *c = colon + 1; c < e; c++)
		if (!is_value_char((unsigned char)*c))
			return fail(p, 400, "control character in a header value");
	if (p->head.n_fields >= p->lim.max_headers)
		return fail(p, 431, "too many header fields");
	char *v = colon + 1;
	while (v < e && is_ows(*v))
		v++;
	while (e > v && is_ows(e[-1]))
		e--;
	*colon = '\0';
	*e = '\0';
	p->fields_mem[p->head.n_fields++] = (struct http_field){
		.name = s, .name_len = (size_t)(colon - s),
		.value = v, .value_len = (size_t)(e - v),
	};
	return 0;
}

/* Counts the lines of the head, for the field table. */
static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;
	for (const char *lf = s; (lf = memchr(lf, '\n', len - (size_t)(lf - s)));
	     lf++)
		n++;
	return n;
}

static int alloc_fields(struct http_in *p)
{
	size_t want = count_lines(p->buf, p->len);
	if (want > p->lim.max_headers + 2)
		want = p->lim.max_headers + 2;
	if (want <= p->fields_cap)
		return 0;
	struct http_field *f = realloc(p->fields_mem, want * sizeof(*f));
	if (!f)
		return -ENOMEM;
	p->fields_mem = f;
	p->fields_cap = want;
	return 0;
}

/* RFC 9112, section 2.2: lines end in CRLF, or a bare LF (which a
 * recipient may accept; it is); a bare CR and a NUL are refused. Also
 * makes a private copy for the library: the checks write NULs. */
static int check_lines(struct http_in *p, char *copy)
{
	if (memchr(p->buf, '\0', p->len))
		return fail(p, 400, "NUL in the request head");
	memcpy(copy, p->buf, p->len);
	char *s = p->buf, *end = p->buf + p->len;
	for (bool first = true;; first = false) {
		char *lf = memchr(s, '\n', (size_t)(end - s));
		char *e = lf > s && lf[-1] == '\r' ? lf - 1 : lf;
		if (memchr(s, '\r', (size_t)(e - s)))
			return fail(p, 400, "bare CR in the request head");
		if (e == s)
			return first ? fail(p, 400, "empty request line") : 0;
		int rc = first ? check_request_line(p, s, e)
		               : check_field(p, s, e);
		if (rc < 0)
			return rc;
		s = lf + 1;
	}
}

/* ---- semantics of the fields ---------------------------------------- */

const char *http_head_get(const struct http_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_fields; i++)
		if (strcasecmp(h->fields[i].name, name) == 0)
			return h->fields[i].value;
	return NULL;
}

/* RFC 9110, section 8.6: 1*DIGIT, one field only (a list of equal values
 * is allowed there, but refused here: no smuggling through ambiguity). */
static int parse_content_length(struct http_in *p, const char *v)
{
	if (p->head.content_length >= 0)
		return fail(p, 400, "duplicate Content-Length");
	if (!*v)
		return fail(p, 400, "invalid Content-Length");
	int64_t n = 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return fail(p, 400, "invalid Content-Length");
		if (n > (INT64_MAX / 4 - 9) / 10)
			return fail(p, 413, "Content-Length too large");
		n = n * 10 + (*v - '0');
	}
	p->head.content_length = n;
	return 0;
}

/* RFC 9112, section 6.1: only "chunked", once, is understood here. */
static int parse_transfer_encoding(struct http_in *p, const char *v)
{
	if (p->head.chunked)
		return fail(p, 400, "chunked applied twice");
	if (strcasecmp(v, "chunked") != 0)
		return fail(p, 400, strchr(v, ',') && strcasestr(v, "chunked")
		                        ? "transfer coding besides chunked"
		                        : "unknown transfer coding");
	p->head.chunked = true;
	return 0;
}

/* RFC 9110, section 7.2: uri-host [ ":" port ]. */
static bool valid_host(const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && !strchr("-._~%!$&'()*+,;=:[]", c))
			return false;
	}
	return true;
}

static int note_field(struct http_in *p, const struct http_field *f,
                      int *n_host)
{
	if (strcasecmp(f->name, "Content-Length") == 0)
		return parse_content_length(p, f->value);
	if (strcasecmp(f->name, "Transfer-Encoding") == 0)
		return parse_transfer_encoding(p, f->value);
	if (strcasecmp(f->name, "Host") == 0) {
		if (++*n_host > 1)
			return fail(p, 400, "more than one Host");
		if (!valid_host(f->value))
			return fail(p, 400, "invalid Host");
		p->head.host = f->value;
		p->head.host_len = f->value_len;
	} else if (strcasecmp(f->name, "Expect") == 0) {
		/* RFC 9110, section 10.1.1: HTTP/1.0 requests' is ignored. */
		if (p->head.minor == 0)
			return 0;
		if (strcasecmp(f->value, "100-continue") != 0)
			return fail(p, 417, "unknown expectation");
		p->head.expect_continue = true;
	}
	return 0;
}

static int check_fields(struct http_in *p)
{
	int n_host = 0;
	p->head.content_length = -1;
	for (size_t i = 0; i < p->head.n_fields; i++) {
		int rc = note_field(p, &p->head.fields[i], &n_host);
		if (rc < 0)
			return rc;
	}
	/* RFC 9112, section 6.1: both framings at once is what smuggling
	 * is made of; an HTTP/1.0 message with Transfer-Encoding has
	 * faulty framing. */
	if (p->head.chunked && p->head.content_length >= 0)
		return fail(p, 400, "both Content-Length and Transfer-Encoding");
	if (p->head.chunked && p->head.minor == 0)
		return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (p->head.minor >= 1 && n_host == 0 && !p->head.host)
		return fail(p, 400, "HTTP/1.1 request without Host");
	return 0;
}

/* Splits the target into path and query: origin form "/p?q", absolute
 * form "http://host/p?q" (RFC 9112, section 3.2). */
static int split_target(struct http_in *p)
{
	struct http_head *h = &p->head;
	char *t = (char *)h->target;
	if (t[0] != '/') {
		if (strcmp(h->method, "CONNECT") == 0 || strcmp(t, "*") == 0)
			return fail(p, 501, "request target form not implemented");
		struct http_parser_url u;
		http_parser_url_init(&u);
		if (http_parser_parse_url(t, h->target_len, 0, &u) != 0 ||
		    !(u.field_set & (1 << UF_SCHEMA)) ||
		    !(u.field_set & (1 << UF_HOST)) ||
		    (u.field_set & (1 << UF_USERINFO)))
			return fail(p, 400, "invalid request target");
		const char *scheme = t + u.field_data[UF_SCHEMA].off;
		size_t sl = u.field_data[UF_SCHEMA].len;
		if (!(sl == 4 && strncasecmp(scheme, "http", 4) == 0) &&
		    !(sl == 5 && strncasecmp(scheme, "https", 5) == 0))
			return fail(p, 400, "request target is not an http URI");
		/* RFC 9112, section 3.2.2: the authority replaces Host. */
		h->host = t + u.field_data[UF_HOST].off;
		h->host_len = (size_t)(t + h->target_len - h->host);
		char *slash = memchr(h->host, '/', h->host_len);
		char *q = memchr(h->host, '?', h->host_len);
		char *stop = slash ? slash : q ? q : t + h->target_len;
		h->host_len = (size_t)(stop - h->host);
		if (!slash)
			return fail(p, 400, "absolute request target without a path");
		t = slash;
	}
	char *q = strchr(t, '?');
	h->path = t;
	h->path_len = q ? (size_t)(q - t) : strlen(t);
	if (q) {
		h->query = q + 1;
		h->query_len = strlen(q + 1);
	}
	return 0;
}

/* The library's verdict on a head that passed the raw checks. */
static int library_error(struct http_in *p)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
	switch (e) {
	case HPE_INVALID_METHOD:
		return fail(p, 501, "method not implemented");
	case HPE_HEADER_OVERFLOW:
		return fail(p, 431, "request head too large");
	default:
		return fail(p, 400, http_errno_description(e));
	}
}

/* Runs the library over the checked head (its copy), up to the end of
 * the blank line. */
static int run_library(struct http_in *p, const char *copy)
{
	size_t n = http_parser_execute(&p->hp, &settings, copy, p->len);
	if (HTTP_PARSER_ERRNO(&p->hp) != HPE_PAUSED)
		return library_error(p);
	http_parser_pause(&p->hp, 0);
	p->head.keep_alive = http_should_keep_alive(&p->hp);
	p->head.head_method = p->hp.method == HTTP_HEAD;
	/* The last LF is fed again: the library stopped on it. */
	p->pending.kind = HTTP_IN_NONE;
	(void)http_parser_execute(&p->hp, &settings, copy + n, p->len - n);
	enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
	if (e == HPE_PAUSED) {
		http_parser_pause(&p->hp, 0);
		p->state = ST_END_PENDING;
		return 0;
	}
	if (e != HPE_OK)
		return library_error(p);
	p->state = ST_BODY;
	return 0;
}

static int head_complete(struct http_in *p)
{
	if (alloc_fields(p) < 0)
		return -ENOMEM;
	char *copy = malloc(p->len);
	if (!copy)
		return -ENOMEM;
	p->head.fields = p->fields_mem;
	p->head.head_len = p->len;
	int rc = check_lines(p, copy);
	if (rc == 0)
		rc = check_fields(p);
	if (rc == 0)
		rc = run_library(p, copy);
	if (rc == 0)
		rc = split_target(p);
	free(copy);
	return rc;
}

/* ---- collecting the head --------------------------------------------- */

static int grow(struct http_in *p, size_t need)
{
	if (need <= p->buf_cap)
		return 0;
	size_t cap = p->buf_cap ? p->buf_cap : INITIAL_BUF;
	while (cap < need)
		cap *= 2;
	if (cap > p->lim.max_header_bytes)
		cap = p->lim.max_header_bytes;
	char *b = realloc(p->buf, cap);
	if (!b)
		return -ENOMEM;
	p->buf = b;
	p->buf_cap = cap;
	return 0;
}

/* Scans in[0..len) for the blank line that ends the head. Returns the
 * bytes that belong to the head (0..len) and sets *done. Empty lines
 * before the request line are skipped (RFC 9112, section 2.2). */
static size_t scan_head(struct http_in *p, const uint8_t *in, size_t len,
                        size_t *skip, bool *done)
{
	*skip = 0;
	*done = false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		if (p->blank_prefix && p->len == 0 && (c == '\r' || c == '\n')) {
			(*skip)++;
			continue;
		}
		p->blank_prefix = false;
		if (c == '\n') {
			if (p->line_start != LINE_MID) {
				*done = true;
				return i + 1;
			}
			p->line_start = LINE_START;
		} else if (c == '\r' && p->line_start == LINE_START) {
			p->line_start = LINE_START_CR;
		} else {
			p->line_start = LINE_MID;
		}
	}
	return len;
}

/* The request line has ended when an LF is in the head so far. */
static bool has_request_line(const struct http_in *p, const uint8_t *in,
                             size_t n)
{
	return (p->len && memchr(p->buf, '\n', p->len)) ||
	       (n && memchr(in, '\n', n));
}

static int feed_head(struct http_in *p, const uint8_t *in, size_t len,
                     struct http_in_event *ev)
{
	size_t skip;
	bool done;
	size_t n = scan_head(p, in, len, &skip, &done);
	p->skipped += skip;
	if (p->skipped > p->lim.max_header_bytes)
		return fail(p, 400, "too many empty lines before the request");
	size_t body = n - skip;
	if (p->len + body > p->lim.max_header_bytes) {
		size_t room = p->lim.max_header_bytes - p->len;
		bool line = has_request_line(p, in + skip,
		                             body < room ? body : room);
		return fail(p, line ? 431 : 414, line ? "request head too large"
		                                      : "request line too long");
	}
	if (grow(p, p->len + body) < 0)
		return -ENOMEM;
	if (body)
		memcpy(p->buf + p->len, in + skip, body);
	p->len += body;
	if (done) {
		int rc = head_complete(p);
		if (rc < 0)
			return rc;
		ev->kind = HTTP_IN_HEAD;
	}
	return (int)n;
}

static int feed_body(struct http_in *p, const uint8_t *in, size_t len,
                     struct http_in_event *ev)
{
	p->pending.kind = HTTP_IN_NONE;
	size_t n = http_parser_execute(&p->hp, &settings, (const char *)in, len);
	enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
	if (e == HPE_PAUSED) {
		http_parser_pause(&p->hp, 0);
		*ev = p->pending;
		if (ev->kind == HTTP_IN_END)
			p->state = ST_DONE;
	} else if (e != HPE_OK) {
		return fail(p, 400, http_errno_description(e));
	}
	return (int)n;
}

int http_in_feed(struct http_in *p, const uint8_t *in, size_t len,
                 struct http_in_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (len > INT32_MAX)
		len = INT32_MAX;
	switch (p->state) {
	case ST_HEAD:
		return len ? feed_head(p, in, len, ev) : 0;
	case ST_END_PENDING:
		p->state = ST_DONE;
		ev->kind = HTTP_IN_END;
		return 0;
	case ST_BODY:
		return len ? feed_body(p, in, len, ev) : 0;
	case ST_DONE:
		return 0;
	default:
		return -EPROTO;
	}
}
