/* SCGI codec (protocol.txt, Schemenauer 2008-06-23): the request parser a
 * server runs and the request-head encoder a client runs. */
#include "scgi.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

enum {
	ST_LEN,       /* the netstring's decimal length, up to ':' */
	ST_NAME,      /* a pair's name, up to its NUL */
	ST_VALUE,     /* a pair's value, up to its NUL */
	ST_COMMA,     /* the ',' that closes the netstring */
	ST_BODY,      /* CONTENT_LENGTH bytes of body */
	ST_DONE,      /* BODY_END was reported */
	ST_ERR_PROTO, /* stuck: -EPROTO */
	ST_ERR_SIZE,  /* stuck: -EMSGSIZE */
};

/* Ten digits already allow a 9.3 GB header block, far over any sane
 * max_params_bytes; more only serves to overflow the counter. */
enum { MAX_LEN_DIGITS = 10 };

static const char content_length_name[] = "CONTENT_LENGTH";
enum { CONTENT_LENGTH_NAME_LEN = sizeof(content_length_name) - 1 };

void scgi_parser_init(struct scgi_parser *p, const struct param_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->lim = *lim;
	p->state = ST_LEN;
}

/* Puts p in its error state; at is the refused byte's index in the input
 * of the current step (p->offset is where that input starts). */
static int fail(struct scgi_parser *p, int err, const char *why, size_t at)
{
	p->state = err == -EMSGSIZE ? ST_ERR_SIZE : ST_ERR_PROTO;
	p->reason = why;
	p->error_offset = p->offset + at;
	return err;
}

static size_t min_size(size_t a, uint64_t b)
{
	return (uint64_t)a < b ? a : (size_t)b;
}

static void set_event(struct scgi_event *ev, enum scgi_event_kind kind,
                      const uint8_t *data, size_t len)
{
	ev->kind = kind;
	ev->data = data;
	ev->len = len;
}

/* The ':' after the length: "0" would be an empty block, which cannot
 * hold the CONTENT_LENGTH that must come first. */
static int end_length(struct scgi_parser *p, size_t at)
{
	if (p->n_digits == 0)
		return fail(p, -EPROTO, "netstring has no length", at);
	if (p->block_len == 0)
		return fail(p, -EPROTO, "empty header block: no CONTENT_LENGTH",
		            at);
	p->block_left = p->block_len;
	p->state = ST_NAME;
	return 0;
}

static int length_digit(struct scgi_parser *p, uint8_t c, size_t at)
{
	if (c < '0' || c > '9')
		return fail(p, -EPROTO, "netstring length is not a number", at);
	/* A netstring length has no leading zero: "0" is only ever whole. */
	if (p->n_digits == 1 && p->block_len == 0)
		return fail(p, -EPROTO, "netstring length has a leading zero", at);
	if (p->n_digits == MAX_LEN_DIGITS)
		return fail(p, -EMSGSIZE, "netstring length is too long", at);
	p->block_len = p->block_len * 10 + (uint64_t)(c - '0');
	p->n_digits++;
	if (p->block_len > p->lim.max_params_bytes)
		return fail(p, -EMSGSIZE, "header block is over the limit", at);
	return 0;
}

/* "70:": the netstring's length, then its ':'. */
static int read_length(struct scgi_parser *p, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int rc = in[i] == ':' ? end_length(p, i)
		                      : length_digit(p, in[i], i);
		if (rc < 0)
			return rc;
		if (in[i] == ':')
			return (int)(i + 1);
	}
	return (int)len;
}

/* The first name must be CONTENT_LENGTH (protocol.txt: "The first request
 * header must have the name CONTENT_LENGTH"). Returns the index of the
 * first byte of s[0..n) that rules it out, or n. */
static size_t check_first_name(struct scgi_parser *p, const uint8_t *s,
                               size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p->first_len >= CONTENT_LENGTH_NAME_LEN ||
		    s[i] != (uint8_t)content_length_name[p->first_len])
			return i;
		p->first[p->first_len++] = (char)s[i];
	}
	return n;
}

/* CONTENT_LENGTH is 1*digit (RFC 3875, section 4.1.2), capped at INT64_MAX
 * so that callers may hold it in an off_t. Returns the index of the first
 * bad byte of s[0..n), or n; *why says what is wrong with it. */
static size_t check_content_length(struct scgi_parser *p, const uint8_t *s,
                                   size_t n, const char **why)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			*why = "CONTENT_LENGTH is not a number";
			return i;
		}
		uint64_t d = (uint64_t)(s[i] - '0');
		if (p->content_length > ((uint64_t)INT64_MAX - d) / 10) {
			*why = "CONTENT_LENGTH is too large";
			return i;
		}
		p->content_length = p->content_length * 10 + d;
	}
	return n;
}

/* Index of the first byte of a piece of n bytes that takes a field of
 * have bytes over max, or n. */
static size_t over_limit(uint64_t have, size_t n, uint32_t max)
{
	return have + n > max ? (size_t)(max - have) : n;
}

/* A piece s[0..n) of a name or value, with no NUL in it, that may end the
 * block (then the pair is cut short). Reports the earliest bad byte, so
 * that how the input was split never changes the error. */
static int piece(struct scgi_parser *p, const uint8_t *s, size_t n,
                 struct scgi_event *ev)
{
	bool in_name = p->state == ST_NAME;
	uint64_t *have = in_name ? &p->name_len : &p->value_len;
	uint32_t max = in_name ? p->lim.max_name : p->lim.max_value;
	const char *why = NULL;
	size_t bad = n;
	if (p->n_pairs == 0 && in_name) {
		bad = check_first_name(p, s, n);
		why = "first header is not CONTENT_LENGTH";
	} else if (p->n_pairs == 0) {
		bad = check_content_length(p, s, n, &why);
	}
	size_t big = over_limit(*have, n, max);
	if (big < n && big <= bad)
		return fail(p, -EMSGSIZE, in_name ? "header name is too long"
		                                  : "header value is too long",
		            big);
	if (bad < n)
		return fail(p, -EPROTO, why, bad);
	if (n == p->block_left)
		return fail(p, -EPROTO, "header block ends inside a pair", n);
	*have += n;
	p->block_left -= n;
	set_event(ev, in_name ? SCGI_EV_NAME : SCGI_EV_VALUE, s, n);
	return (int)n;
}

/* A name's NUL: a value and its NUL must still fit in the block. */
static int end_name(struct scgi_parser *p)
{
	if (p->n_pairs == 0 && p->first_len != CONTENT_LENGTH_NAME_LEN)
		return fail(p, -EPROTO, "first header is not CONTENT_LENGTH", 0);
	if (p->block_left == 1)
		return fail(p, -EPROTO, "header block ends inside a pair", 1);
	p->block_left--;
	p->state = ST_VALUE;
	return 1;
}

static int end_pair(struct scgi_parser *p, struct scgi_event *ev)
{
	if (p->n_pairs == 0 && p->value_len == 0)
		return fail(p, -EPROTO, "CONTENT_LENGTH is empty", 0);
	p->block_left--;
	p->n_pairs++;
	p->name_len = 0;
	p->value_len = 0;
	p->state = p->block_left == 0 ? ST_COMMA : ST_NAME;
	set_event(ev, SCGI_EV_PAIR_END, NULL, 0);
	return 1;
}

/* Block bytes: name NUL value NUL, repeated (protocol.txt). */
static int read_pairs(struct scgi_parser *p, const uint8_t *in, size_t len,
                      struct scgi_event *ev)
{
	size_t n = min_size(len, p->block_left);
	if (n == 0)
		return 0;
	if (p->state == ST_NAME && p->name_len == 0) {
		if (in[0] == '\0')
			return fail(p, -EPROTO, "empty header name", 0);
		if (p->n_pairs >= p->lim.max_params)
			return fail(p, -EMSGSIZE, "too many headers", 0);
	}
	const uint8_t *nul = memchr(in, '\0', n);
	if (nul != in)
		return piece(p, in, nul ? (size_t)(nul - in) : n, ev);
	return p->state == ST_NAME ? end_name(p) : end_pair(p, ev);
}

static int read_comma(struct scgi_parser *p, const uint8_t *in, size_t len,
                      struct scgi_event *ev)
{
	if (len == 0)
		return 0;
	if (in[0] != ',')
		return fail(p, -EPROTO, "netstring does not end in ','", 0);
	p->body_left = p->content_length;
	p->state = ST_BODY;
	set_event(ev, SCGI_EV_HEADERS_END, NULL, 0);
	return 1;
}

/* protocol.txt: the body is exactly CONTENT_LENGTH bytes after the comma;
 * what follows is not ours to read. */
static int read_body(struct scgi_parser *p, const uint8_t *in, size_t len,
                     struct scgi_event *ev)
{
	if (p->body_left == 0) {
		p->state = ST_DONE;
		set_event(ev, SCGI_EV_BODY_END, NULL, 0);
		return 0;
	}
	size_t n = min_size(len, p->body_left);
	if (n == 0)
		return 0;
	p->body_left -= n;
	set_event(ev, SCGI_EV_BODY, in, n);
	return (int)n;
}

static int step(struct scgi_parser *p, const uint8_t *in, size_t len,
                struct scgi_event *ev)
{
	switch (p->state) {
	case ST_LEN:
		return read_length(p, in, len);
	case ST_NAME:
	case ST_VALUE:
		return read_pairs(p, in, len, ev);
	case ST_COMMA:
		return read_comma(p, in, len, ev);
	case ST_BODY:
		return read_body(p, in, len, ev);
	case ST_ERR_SIZE:
		return -EMSGSIZE;
	case ST_ERR_PROTO:
		return -EPROTO;
	default:
		return 0;
	}
}

int scgi_feed(struct scgi_parser *p, const uint8_t *in, size_t len,
              struct scgi_event *ev)
{
	set_event(ev, SCGI_EV_NONE, NULL, 0);
	if (len > INT_MAX)
		len = INT_MAX;
	size_t used = 0;
	for (;;) {
		/* No arithmetic on in before a byte was read: it may be NULL
		 * when len is 0. */
		int n = step(p, used ? in + used : in, len - used, ev);
		if (n < 0)
			return n;
		used += (size_t)n;
		p->offset += (uint64_t)n;
		/* Every step consumes a byte or reports an event unless it
		 * needs more input (or is done). */
		if (ev->kind != SCGI_EV_NONE || n == 0)
			return (int)used;
	}
}

/* ---- Client side ---------------------------------------------------- */

static bool is_name(const struct cgi_pair *pr, const char *name)
{
	size_t n = strlen(name);
	return pr->name_len == n && memcmp(pr->name, name, n) == 0;
}

/* The pairs written first, whatever the caller passes (protocol.txt: the
 * first header is CONTENT_LENGTH, and SCGI=1 must be present). */
static bool is_fixed(const struct cgi_pair *pr)
{
	return is_name(pr, content_length_name) || is_name(pr, "SCGI");
}

/* NUL ends a name or a value on the wire, so one inside would let a value
 * inject further headers. */
static bool pair_ok(const struct cgi_pair *pr)
{
	return pr->name_len > 0 && !memchr(pr->name, '\0', pr->name_len) &&
	       (pr->value_len == 0 || !memchr(pr->value, '\0', pr->value_len));
}

static size_t format_u64(char out[20], uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static uint8_t *put(uint8_t *out, const void *data, size_t len)
{
	if (len)
		memcpy(out, data, len);
	return out + len;
}

static uint8_t *put_pair(uint8_t *out, const char *name, size_t name_len,
                         const char *value, size_t value_len)
{
	out = put(out, name, name_len);
	*out++ = '\0';
	out = put(out, value, value_len);
	*out++ = '\0';
	return out;
}

/* Sizes are kept far below INT64_MAX so that no sum can overflow. */
#define SIZE_LIMIT ((uint64_t)INT64_MAX / 4)

int64_t scgi_encode_head(uint8_t *out, size_t cap, uint64_t content_length,
                         const struct cgi_pair *pairs, size_t n)
{
	char cl[20];
	size_t cl_len = format_u64(cl, content_length);
	uint64_t block = CONTENT_LENGTH_NAME_LEN + 1 + cl_len + 1 +
	                 sizeof("SCGI") + sizeof("1");
	for (size_t i = 0; i < n; i++) {
		if (is_fixed(&pairs[i]))
			continue;
		if (!pair_ok(&pairs[i]))
			return -EINVAL;
		if (pairs[i].name_len > SIZE_LIMIT ||
		    pairs[i].value_len > SIZE_LIMIT - pairs[i].name_len ||
		    pairs[i].name_len + pairs[i].value_len > SIZE_LIMIT - block)
			return -EMSGSIZE;
		block += pairs[i].name_len + pairs[i].value_len + 2;
	}
	char digits[20];
	size_t digits_len = format_u64(digits, block);
	uint64_t total = digits_len + 1 + block + 1;
	if (total > cap)
		return (int64_t)total;

	uint8_t *o = put(out, digits, digits_len);
	*o++ = ':';
	o = put_pair(o, content_length_name, CONTENT_LENGTH_NAME_LEN, cl,
	             cl_len);
	o = put_pair(o, "SCGI", 4, "1", 1);
	for (size_t i = 0; i < n; i++)
		if (!is_fixed(&pairs[i]))
			o = put_pair(o, pairs[i].name, pairs[i].name_len,
			             pairs[i].value, pairs[i].value_len);
	*o = ',';
	return (int64_t)total;
}
