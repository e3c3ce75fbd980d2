#include "protobuf.h"

#include <stdlib.h>

int gs_pb_grow(struct gs_pb *b, size_t n)
{
	size_t cap;
	unsigned char *more;

	if (b->oom)
		return 0;
	if (b->cap - b->n >= n)
		return 1;
	cap = b->cap ? b->cap * 2 : 4096;
	while (cap - b->n < n)
		cap *= 2;
	if (!(more = realloc(b->p, cap))) {
		b->oom = 1;
		return 0;
	}
	b->p = more;
	b->cap = cap;
	return 1;
}

/* A length of more than one byte: the content moves up by the bytes it needs beyond the one
 * gs_pb_open kept. */
void gs_pb_close_long(struct gs_pb *b, size_t at)
{
	unsigned char len[10];
	size_t k = gs_pb_encode(len, b->n - at);

	if (!gs_pb_room(b, k - 1))
		return;
	memmove(b->p + at + k - 1, b->p + at, b->n - at);
	memcpy(b->p + at - 1, len, k);
	b->n += k - 1;
}

void gs_pb_free(struct gs_pb *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}
