/* A growable byte queue: append at the end, consume from the front. */
#ifndef ACGI_LIB_BUF_H
#define ACGI_LIB_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data; /* owned; NULL until the first append */
	size_t start;  /* offset of the first unconsumed byte */
	size_t len;    /* unconsumed bytes */
	size_t cap;    /* allocated bytes */
};

/* Makes room for at least n more bytes at the end. Returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Appends data[0..n). Returns 0 or -ENOMEM (nothing appended). */
int buf_append(struct buf *b, const void *data, size_t n);

/* Returns where the next appended byte goes (after buf_reserve). */
static inline uint8_t *buf_tail(struct buf *b)
{
	return b->data + b->start + b->len;
}

/* Returns the first unconsumed byte. */
static inline uint8_t *buf_head(struct buf *b)
{
	return b->data + b->start;
}

/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* Frees the storage; the buffer may be used again. */
void buf_free(struct buf *b);

#endif
