/* libFuzzer target for the CGI response head parser (src/proto/cgi_head.c).
 *
 * Input: one control byte (status line allowed or not, buffer size, how
 * to split), then the response bytes. Each input is parsed whole, then in
 * odd-sized pieces; the runs must agree. Every result is checked: consumed
 * never exceeds what was given, fields point into the caller's buffer and
 * are NUL-terminated where their lengths say, names are tokens, values
 * hold no line end, and the classification matches the fields. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgi_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

enum { BIG_CAP = 8192, SMALL_CAP = 64 };

struct run {
	struct cgi_head_parser p;
	char buf[BIG_CAP];
	int rc;
	size_t used;
};

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool in_buf(const struct run *r, const char *s, size_t len)
{
	return s >= r->buf && s + len < r->buf + r->p.cap;
}

/* What a finished head must look like. */
static void check_head(const struct run *r)
{
	const struct cgi_head_parser *p = &r->p;
	CHECK(p->n_fields <= CGI_HEAD_MAX_FIELDS);
	CHECK(p->len <= p->cap && r->used <= p->len);
	for (size_t i = 0; i < p->n_fields; i++) {
		const struct cgi_field *f = &p->fields[i];
		CHECK(f->name_len > 0 && in_buf(r, f->name, f->name_len));
		CHECK(in_buf(r, f->value, f->value_len));
		CHECK(strlen(f->name) == f->name_len);
		CHECK(strlen(f->value) == f->value_len);
		for (size_t k = 0; k < f->name_len; k++)
			CHECK(is_tchar((unsigned char)f->name[k]));
		CHECK(!memchr(f->value, '\r', f->value_len));
		CHECK(!memchr(f->value, '\n', f->value_len));
		CHECK(strcasecmp(f->name, "Status") != 0);
	}
	CHECK(p->status >= 100 && p->status <= 599);
	CHECK(p->content_type < (int)p->n_fields);
	CHECK(p->location < (int)p->n_fields);
	CHECK(p->content_length >= -1);
	if (p->content_type >= 0)
		CHECK(cgi_head_get(p, "content-type") ==
		      p->fields[p->content_type].value);
	switch (p->kind) {
	case CGI_DOCUMENT:
		CHECK(p->location == -1);
		CHECK(p->reason || p->status == 200);
		break;
	case CGI_LOCAL_REDIRECT:
		CHECK(p->location == 0 && p->n_fields == 1 && !p->reason);
		CHECK(p->fields[0].value[0] == '/');
		break;
	case CGI_CLIENT_REDIRECT:
		CHECK(p->location >= 0 && !p->reason && p->status == 302);
		break;
	case CGI_CLIENT_REDIRECT_DOC:
		CHECK(p->location >= 0 && p->reason);
		break;
	default:
		abort();
	}
	CHECK(cgi_head_finish((struct cgi_head_parser *)p) == 0);
}

static const size_t sizes[] = { 1, 2, 3, 5, 7, 11, 13, 64 };

static void run(struct run *r, const uint8_t *in, size_t len, size_t cap,
                bool allow, unsigned split)
{
	memset(r, 0, sizeof(*r));
	cgi_head_init(&r->p, r->buf, cap, allow);
	size_t off = 0;
	for (unsigned i = split; off < len && !r->p.done; i++) {
		size_t n = split ? sizes[i % 8] : len;
		if (n > len - off)
			n = len - off;
		int rc = cgi_head_feed(&r->p, in + off, n);
		if (rc < 0) {
			CHECK(rc == -EPROTO || rc == -EMSGSIZE);
			CHECK(r->p.error != NULL && !r->p.done);
			/* An error sticks. */
			CHECK(cgi_head_feed(&r->p, in, len) == rc);
			CHECK(cgi_head_finish(&r->p) == rc);
			r->rc = rc;
			return;
		}
		CHECK((size_t)rc <= n);
		CHECK(r->p.done || (size_t)rc == n);
		r->used += (size_t)rc;
		off += n;
	}
	if (r->p.done)
		check_head(r);
	else
		CHECK(r->used == len && r->p.len == len);
}

static void same(const struct run *a, const struct run *b)
{
	CHECK(a->rc == b->rc);
	CHECK(a->p.done == b->p.done);
	CHECK((a->p.error == NULL) == (b->p.error == NULL));
	if (a->p.error) {
		CHECK(strcmp(a->p.error, b->p.error) == 0);
		return;
	}
	CHECK(a->used == b->used);
	if (!a->p.done)
		return;
	CHECK(a->p.status == b->p.status && a->p.kind == b->p.kind);
	CHECK(a->p.n_fields == b->p.n_fields);
	CHECK(a->p.content_type == b->p.content_type);
	CHECK(a->p.location == b->p.location);
	CHECK(a->p.content_length == b->p.content_length);
	CHECK((a->p.reason == NULL) == (b->p.reason == NULL));
	CHECK(!a->p.reason || strcmp(a->p.reason, b->p.reason) == 0);
	for (size_t i = 0; i < a->p.n_fields; i++) {
		CHECK(strcmp(a->p.fields[i].name, b->p.fields[i].name) == 0);
		CHECK(strcmp(a->p.fields[i].value, b->p.fields[i].value) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, part;
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	bool allow = ctl & 1;
	size_t cap = ctl & 2 ? SMALL_CAP : BIG_CAP;
	run(&whole, data, size, cap, allow, 0);
	for (unsigned split = 1; split <= 3; split++) {
		run(&part, data, size, cap, allow, split + (ctl >> 2));
		same(&whole, &part);
	}
	return 0;
}
