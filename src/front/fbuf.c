/* Byte buffers of the front end: data from off to off+len, compacted
 * before they grow, freed when empty connections go idle. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

int fbuf_reserve(struct fbuf *b, size_t extra)
{
	if (b->cap - b->off - b->len >= extra && b->data)
		return 0;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		if (b->cap - b->len >= extra)
			return 0;
	}
	size_t cap = b->cap ? b->cap : 1024;
	while (cap - b->len < extra)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int fbuf_append(struct fbuf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (fbuf_reserve(b, len) < 0)
		return -ENOMEM;
	memcpy(fbuf_tail(b), data, len);
	b->len += len;
	return 0;
}

int fbuf_printf(struct fbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || fbuf_reserve(b, (size_t)n + 1) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf((char *)fbuf_tail(b), (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void fbuf_consume(struct fbuf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

void fbuf_free(struct fbuf *b)
{
	free(b->data);
	*b = (struct fbuf){0};
}
