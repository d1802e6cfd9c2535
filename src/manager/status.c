/* Placeholder: the renderers land with their tests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void sb_free(struct strbuf *b)
{
	free(b->data);
	*b = (struct strbuf){0};
}

int status_render(const struct status_snapshot *s, enum status_format fmt,
                  const char *pool, struct strbuf *out)
{
	(void)fmt;
	for (size_t i = 0; i < s->n_pools; i++) {
		const struct status_pool *p = &s->pools[i];
		if (pool && strcmp(pool, p->name) != 0)
			continue;
		sb_printf(out, "pool %s: %zu processes\n", p->name, p->n_procs);
		if (pool)
			return 0;
	}
	return pool ? -1 : 0;
}

int status_format_parse(const char *name, enum status_format *out)
{
	static const char *names[] = {"text", "json", "prometheus", "html"};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum status_format)i;
			return 0;
		}
	if (strcmp(name, "metrics") == 0) {
		*out = STATUS_PROMETHEUS;
		return 0;
	}
	return -1;
}
