/*-------------------------------------------------------------------------
 *
 * byteorder.h
 *	  Loads and stores of fixed-width integers at unaligned addresses, in
 *	  Kafka's big-endian wire order and in the little-endian order of the
 *	  LZ4 and zstd frame formats.
 *
 * They work byte by byte, so they are correct on any host and any
 * alignment; GCC and Clang turn each into a single (byte-swapping) load or
 * store.  The callers are responsible for bounds: every function touches
 * exactly the bytes its width says.
 *
 * src/kafka/byteorder.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_BYTEORDER_H
#define KAFKA_BYTEORDER_H

#include <stdint.h>

static inline uint16_t
kafka_load_be16(const uint8_t *p)
{
	return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}

static inline uint32_t
kafka_load_be32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
		(uint32_t) p[2] << 8 | (uint32_t) p[3];
}

static inline uint64_t
kafka_load_be64(const uint8_t *p)
{
	return (uint64_t) kafka_load_be32(p) << 32 | kafka_load_be32(p + 4);
}

static inline void
kafka_store_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}

static inline void
kafka_store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static inline void
kafka_store_be64(uint8_t *p, uint64_t v)
{
	kafka_store_be32(p, (uint32_t) (v >> 32));
	kafka_store_be32(p + 4, (uint32_t) v);
}

static inline uint32_t
kafka_load_le32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 |
		(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t
kafka_load_le64(const uint8_t *p)
{
	return (uint64_t) kafka_load_le32(p) | (uint64_t) kafka_load_le32(p + 4) << 32;
}

static inline void
kafka_store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

#endif							/* KAFKA_BYTEORDER_H */
