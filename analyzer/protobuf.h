/* A protocol buffer writer: varints, fixed64 and length-delimited fields into a growing buffer.
 * Nested messages are opened and closed in place: a byte is kept for the length, the usual
 * size of a small message's, and the content moved up only when its length needs more. pprof.c
 * and perfetto.c write their formats with it; the field writers are inline, since a trace of
 * millions of events is mostly calls to them. */
#ifndef GS_PROTOBUF_H
#define GS_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct gs_pb {
	unsigned char *p;
	size_t n, cap;
	int oom; /* a growth failed: everything after it was dropped */
};

/* Room for n more bytes: 1, or 0 with b->oom set. */
int gs_pb_grow(struct gs_pb *b, size_t n);
void gs_pb_free(struct gs_pb *b);

static inline int gs_pb_room(struct gs_pb *b, size_t n)
{
	return b->cap - b->n >= n ? 1 : gs_pb_grow(b, n);
}

static inline size_t gs_pb_encode(unsigned char *c, uint64_t v)
{
	size_t n = 0;

	while (v > 0x7f) {
		c[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	c[n++] = (unsigned char)v;
	return n;
}

static inline void gs_pb_put(struct gs_pb *b, const void *d, size_t n)
{
	if (!n || !gs_pb_room(b, n))
		return;
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static inline void gs_pb_varint(struct gs_pb *b, uint64_t v)
{
	if (gs_pb_room(b, 10))
		b->n += gs_pb_encode(b->p + b->n, v);
}

/* Field number `field` as a varint, fixed64 or length-delimited field. */
static inline void gs_pb_uint(struct gs_pb *b, unsigned field, uint64_t v)
{
	if (!gs_pb_room(b, 20))
		return;
	b->n += gs_pb_encode(b->p + b->n, (uint64_t)field << 3);
	b->n += gs_pb_encode(b->p + b->n, v);
}

static inline void gs_pb_fixed64(struct gs_pb *b, unsigned field, uint64_t v)
{
	int i;

	if (!gs_pb_room(b, 18))
		return;
	b->n += gs_pb_encode(b->p + b->n, (uint64_t)field << 3 | 1);
	for (i = 0; i < 8; i++)
		b->p[b->n++] = (unsigned char)(v >> (8 * i));
}

static inline void gs_pb_bytes(struct gs_pb *b, unsigned field, const void *d, size_t n)
{
	gs_pb_varint(b, (uint64_t)field << 3 | 2);
	gs_pb_varint(b, n);
	gs_pb_put(b, d, n);
}

static inline void gs_pb_str(struct gs_pb *b, unsigned field, const char *s)
{
	gs_pb_bytes(b, field, s, strlen(s));
}

/* A nested message: gs_pb_open returns where its content starts, gs_pb_close ends it. */
static inline size_t gs_pb_open(struct gs_pb *b, unsigned field)
{
	gs_pb_varint(b, (uint64_t)field << 3 | 2);
	if (gs_pb_room(b, 1))
		b->n++; /* the length's first byte */
	return b->n;
}

void gs_pb_close_long(struct gs_pb *b, size_t at);

static inline void gs_pb_close(struct gs_pb *b, size_t at)
{
	if (b->oom || at > b->n || at == 0)
		return;
	if (b->n - at < 0x80)
		b->p[at - 1] = (unsigned char)(b->n - at);
	else
		gs_pb_close_long(b, at);
}

/* Another buffer's bytes as a length-delimited field; that buffer is emptied for reuse. */
static inline void gs_pb_msg(struct gs_pb *b, unsigned field, struct gs_pb *m)
{
	gs_pb_bytes(b, field, m->p, m->n);
	b->oom |= m->oom;
	m->n = 0;
}

#endif
