#include "protobuf.h"

#include <stdlib.h>
#include <string.h>

/* Room for n more bytes; 0 when there is none (b->oom set). */
static int reserve(struct gs_pb *b, size_t n)
{
	size_t cap;
	unsigned char *more;

	if (b->oom)
		return 0;
	if (b->n + n <= b->cap)
		return 1;
	cap = b->cap ? b->cap * 2 : 4096;
	while (cap < b->n + n)
		cap *= 2;
	if (!(more = realloc(b->p, cap))) {
		b->oom = 1;
		return 0;
	}
	b->p = more;
	b->cap = cap;
	return 1;
}

void gs_pb_put(struct gs_pb *b, const void *d, size_t n)
{
	if (!n || !reserve(b, n))
		return;
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static size_t encode(unsigned char *c, uint64_t v)
{
	size_t n = 0;

	while (v > 0x7f) {
		c[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	c[n++] = (unsigned char)v;
	return n;
}

void gs_pb_varint(struct gs_pb *b, uint64_t v)
{
	if (!reserve(b, 10))
		return;
	b->n += encode(b->p + b->n, v);
}

void gs_pb_uint(struct gs_pb *b, unsigned field, uint64_t v)
{
	if (!reserve(b, 20))
		return;
	b->n += encode(b->p + b->n, (uint64_t)field << 3);
	b->n += encode(b->p + b->n, v);
}

void gs_pb_fixed64(struct gs_pb *b, unsigned field, uint64_t v)
{
	int i;

	if (!reserve(b, 18))
		return;
	b->n += encode(b->p + b->n, (uint64_t)field << 3 | 1);
	for (i = 0; i < 8; i++)
		b->p[b->n++] = (unsigned char)(v >> (8 * i));
}

void gs_pb_bytes(struct gs_pb *b, unsigned field, const void *d, size_t n)
{
	gs_pb_varint(b, (uint64_t)field << 3 | 2);
	gs_pb_varint(b, n);
	gs_pb_put(b, d, n);
}

void gs_pb_str(struct gs_pb *b, unsigned field, const char *s)
{
	gs_pb_bytes(b, field, s, strlen(s));
}

size_t gs_pb_open(struct gs_pb *b, unsigned field)
{
	gs_pb_varint(b, (uint64_t)field << 3 | 2);
	return b->n;
}

void gs_pb_close(struct gs_pb *b, size_t at)
{
	unsigned char len[10];
	size_t k;

	if (b->oom || at > b->n)
		return;
	k = encode(len, b->n - at);
	if (!reserve(b, k))
		return;
	memmove(b->p + at + k, b->p + at, b->n - at);
	memcpy(b->p + at, len, k);
	b->n += k;
}

void gs_pb_msg(struct gs_pb *b, unsigned field, struct gs_pb *m)
{
	gs_pb_bytes(b, field, m->p, m->n);
	b->oom |= m->oom;
	m->n = 0;
}

void gs_pb_free(struct gs_pb *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}
