/* The CGI response head (RFC 3875, section 6): collected up to its blank
 * line, then split into fields in place and classified (section 6.2). */
#include "cgi_head.h"
#include "http_token.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

/* The two size errors; every other reason means -EPROTO. */
static const char err_too_big[] = "response head is larger than the buffer";
static const char err_too_many[] = "response head has too many lines";

void cgi_head_init(struct cgi_head_parser *p, char *buf, size_t cap,
                   bool allow_status_line)
{
	memset(p, 0, sizeof(*p));
	p->buf = buf;
	p->cap = cap;
	p->allow_status_line = allow_status_line;
	p->content_type = -1;
	p->location = -1;
	p->content_length = -1;
}

static int error_code(const struct cgi_head_parser *p)
{
	return p->error == err_too_big || p->error == err_too_many ? -EMSGSIZE
	                                                           : -EPROTO;
}

static int fail(struct cgi_head_parser *p, const char *why)
{
	p->error = why;
	return error_code(p);
}

/* Whether the LF at buf[i] ends an empty line (LF or CRLF, section 6.1). */
static bool ends_blank_line(const char *buf, size_t i)
{
	if (i == 0 || buf[i - 1] == '\n')
		return true;
	return buf[i - 1] == '\r' && (i == 1 || buf[i - 2] == '\n');
}

/* Returns the index just past the blank line's LF in buf[from..to), or 0.
 * Bytes before from were collected earlier and are looked back at. */
static size_t find_head_end(const char *buf, size_t from, size_t to)
{
	const char *s = buf + from;
	const char *end = buf + to;
	while (s < end) {
		const char *lf = memchr(s, '\n', (size_t)(end - s));
		if (!lf)
			return 0;
		if (ends_blank_line(buf, (size_t)(lf - buf)))
			return (size_t)(lf - buf) + 1;
		s = lf + 1;
	}
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around s[0..e) and NUL-terminates the result in
 * place (e is inside the line or on its CR or LF, so writable). */
static char *trim(char *s, char **e)
{
	while (s < *e && is_space(*s))
		s++;
	while (*e > s && is_space((*e)[-1]))
		(*e)--;
	**e = '\0';
	return s;
}

/* Section 6.3.3: Status = "Status:" status-code SP reason-phrase. The code
 * is held to RFC 9110's 100..599 since it goes on an HTTP status line. */
static int parse_status(struct cgi_head_parser *p, const char *v)
{
	if (p->reason)
		return fail(p, "repeated Status:");
	if (v[0] < '1' || v[0] > '5' || v[1] < '0' || v[1] > '9' ||
	    v[2] < '0' || v[2] > '9' || (v[3] != '\0' && v[3] != ' '))
		return fail(p, "Status: is not a three-digit code and a reason");
	p->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	v += 3;
	while (*v == ' ')
		v++;
	p->reason = v;
	return 0;
}

/* "HTTP/1.x NNN reason" in place of Status: (nph- scripts, section 5;
 * SCGI apps, which nginx lets send one). */
static int parse_status_line(struct cgi_head_parser *p, char *s, char *e)
{
	if (e - s < 9 || (memcmp(s, "HTTP/1.0 ", 9) != 0 &&
	                  memcmp(s, "HTTP/1.1 ", 9) != 0))
		return fail(p, "bad HTTP status line");
	return parse_status(p, trim(s + 9, &e));
}

static int parse_content_length(struct cgi_head_parser *p, const char *v)
{
	if (p->content_length >= 0)
		return fail(p, "repeated Content-Length:");
	if (*v == '\0')
		return fail(p, "empty Content-Length:");
	int64_t n = 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return fail(p, "Content-Length: is not a number");
		if (n > (INT64_MAX - (*v - '0')) / 10)
			return fail(p, "Content-Length: is too large");
		n = n * 10 + (*v - '0');
	}
	p->content_length = n;
	return 0;
}

/* Keeps the index of a field that may appear once (section 6.3). */
static int note_once(struct cgi_head_parser *p, int *index, const char *why)
{
	if (*index >= 0)
		return fail(p, why);
	*index = (int)p->n_fields;
	return 0;
}

static int add_field(struct cgi_head_parser *p, const char *name,
                     size_t name_len, const char *value, size_t value_len)
{
	int rc = 0;
	if (strcasecmp(name, "Status") == 0)
		return parse_status(p, value);
	if (strcasecmp(name, "Location") == 0)
		rc = note_once(p, &p->location, "repeated Location:");
	else if (strcasecmp(name, "Content-Type") == 0)
		rc = note_once(p, &p->content_type, "repeated Content-Type:");
	else if (strcasecmp(name, "Content-Length") == 0)
		rc = parse_content_length(p, value);
	if (rc < 0)
		return rc;
	p->fields[p->n_fields++] = (struct cgi_field){
		.name = name, .name_len = name_len,
		.value = value, .value_len = value_len,
	};
	return 0;
}

/* One "name: value" line s[0..e), without its line end. */
static int parse_field(struct cgi_head_parser *p, char *s, char *e)
{
	/* RFC 9112, section 5.2: obs-fold is refused, as a server may. */
	if (is_space(*s))
		return fail(p, "folded header line");
	char *colon = memchr(s, ':', (size_t)(e - s));
	if (!colon)
		return fail(p, "header line has no colon");
	if (colon == s)
		return fail(p, "empty header name");
	for (const char *c = s; c < colon; c++) {
		if (is_space(*c))
			return fail(p, "space before the colon");
		if (!http_is_tchar((unsigned char)*c))
			return fail(p, "header name is not a token");
	}
	*colon = '\0';
	char *value = trim(colon + 1, &e);
	return add_field(p, s, (size_t)(colon - s), value, (size_t)(e - value));
}

/* A line s[0..e) that is not the blank one. RFC 9110, section 5.5: a bare
 * CR or a NUL in a field must be refused. */
static int parse_line(struct cgi_head_parser *p, char *s, char *e,
                      bool first)
{
	size_t len = (size_t)(e - s);
	if (memchr(s, '\r', len) || memchr(s, '\0', len))
		return fail(p, "bare CR or NUL in the response head");
	if (first && p->allow_status_line && e - s >= 5 &&
	    memcmp(s, "HTTP/", 5) == 0)
		return parse_status_line(p, s, e);
	return parse_field(p, s, e);
}

/* Whether a Location: value names a path on this server (section 6.2.2:
 * local-pathquery = abs-path [ "?" query-string ]). */
static bool is_local(const char *loc)
{
	return loc[0] == '/';
}

/* Section 6.2: a local redirect has Location: and nothing else; any
 * other Location: goes to the client, as a 302 unless Status: says
 * otherwise (6.2.3, 6.2.4). A path with other fields is relayed too: the
 * client resolves it (RFC 9110, section 10.2.2), as PHP's redirects need. */
static int classify(struct cgi_head_parser *p)
{
	bool has_status = p->reason != NULL;
	if (p->location < 0) {
		p->kind = CGI_DOCUMENT;
		if (!has_status)
			p->status = 200;
		return 0;
	}
	const char *loc = p->fields[p->location].value;
	if (loc[0] == '\0')
		return fail(p, "empty Location:");
	if (is_local(loc) && !has_status && p->n_fields == 1) {
		p->kind = CGI_LOCAL_REDIRECT;
		p->status = 200;
	} else if (has_status) {
		p->kind = CGI_CLIENT_REDIRECT_DOC;
	} else {
		p->kind = CGI_CLIENT_REDIRECT;
		p->status = 302;
	}
	return 0;
}

/* Splits buf[0..len), which ends in the blank line, into fields. */
static int parse_head(struct cgi_head_parser *p)
{
	char *s = p->buf;
	char *end = p->buf + p->len;
	size_t n_lines = 0;
	for (;;) {
		char *lf = memchr(s, '\n', (size_t)(end - s));
		char *e = lf > s && lf[-1] == '\r' ? lf - 1 : lf;
		if (e == s)
			break;
		if (++n_lines > CGI_HEAD_MAX_FIELDS)
			return fail(p, err_too_many);
		int rc = parse_line(p, s, e, n_lines == 1);
		if (rc < 0)
			return rc;
		s = lf + 1;
	}
	/* Section 6.2: a response has at least one CGI field. */
	if (n_lines == 0)
		return fail(p, "response head has no field");
	return classify(p);
}

int cgi_head_feed(struct cgi_head_parser *p, const uint8_t *in, size_t len)
{
	if (p->error)
		return error_code(p);
	if (p->done)
		return 0;
	if (len > INT_MAX)
		len = INT_MAX;
	size_t room = p->cap - p->len;
	size_t n = len < room ? len : room;
	size_t end = 0;
	if (n) {
		memcpy(p->buf + p->len, in, n);
		end = find_head_end(p->buf, p->len, p->len + n);
	}
	if (end == 0) {
		if (len > room)
			return fail(p, err_too_big);
		p->len += n;
		return (int)n;
	}
	size_t used = end - p->len;
	p->len = end;
	int rc = parse_head(p);
	if (rc < 0)
		return rc;
	p->done = true;
	return (int)used;
}

int cgi_head_finish(struct cgi_head_parser *p)
{
	if (p->error)
		return error_code(p);
	if (!p->done)
		return fail(p, "no header block");
	return 0;
}

const char *cgi_head_get(const struct cgi_head_parser *p, const char *name)
{
	for (size_t i = 0; i < p->n_fields; i++)
		if (strcasecmp(p->fields[i].name, name) == 0)
			return p->fields[i].value;
	return NULL;
}
