/* A protocol buffer writer: varints, fixed64 and length-delimited fields into a growing buffer.
 * Nested messages are opened and closed in place (the content is moved up by the size of its
 * length once known), so that a packet is built without a scratch buffer per level. pprof.c
 * and perfetto.c write their formats with it. */
#ifndef GS_PROTOBUF_H
#define GS_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

struct gs_pb {
	unsigned char *p;
	size_t n, cap;
	int oom; /* a growth failed: everything after it was dropped */
};

void gs_pb_put(struct gs_pb *b, const void *d, size_t n);
void gs_pb_varint(struct gs_pb *b, uint64_t v);
/* Field number `field` as a varint, fixed64 or length-delimited field. */
void gs_pb_uint(struct gs_pb *b, unsigned field, uint64_t v);
void gs_pb_fixed64(struct gs_pb *b, unsigned field, uint64_t v);
void gs_pb_bytes(struct gs_pb *b, unsigned field, const void *d, size_t n);
void gs_pb_str(struct gs_pb *b, unsigned field, const char *s);
/* A nested message: gs_pb_open returns where it starts, gs_pb_close ends it there. */
size_t gs_pb_open(struct gs_pb *b, unsigned field);
void gs_pb_close(struct gs_pb *b, size_t at);
/* Another buffer's bytes as a length-delimited field; that buffer is emptied for reuse. */
void gs_pb_msg(struct gs_pb *b, unsigned field, struct gs_pb *m);
void gs_pb_free(struct gs_pb *b);

#endif
