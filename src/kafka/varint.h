/*-------------------------------------------------------------------------
 *
 * varint.h
 *	  Kafka's variable-length integers: zig-zag varint (int32) and varlong
 *	  (int64) as used inside records, and the unsigned varint used by the
 *	  flexible ("compact") protocol versions of KIP-482.
 *
 * The encoding is protobuf's: little-endian groups of 7 bits, the high bit
 * of each byte set when another byte follows.  Signed values are zig-zag
 * mapped first, so small negative numbers (-1 for a null key) stay short.
 * Java's ByteUtils.readVarint/readVarlong/readUnsignedVarint are the
 * reference.
 *
 * Readers are bounds checked: they never look at *pos beyond end, and they
 * reject encodings longer than the type allows (5 bytes for 32 bits, 10 for
 * 64) as well as a final byte carrying bits that do not fit the type.  Java
 * silently drops such bits; no conforming encoder produces them, and
 * rejecting them means every value has exactly one accepted encoding length,
 * which keeps "length field agrees with contents" checks meaningful.
 *
 * Everything here is static inline: these run once or more per record on
 * the hot encode and decode paths.
 *
 * src/kafka/varint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_VARINT_H
#define KAFKA_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "kafka/codec.h"

#define KAFKA_VARINT_MAX_BYTES	5
#define KAFKA_VARLONG_MAX_BYTES 10

/* Zig-zag mapping; done in unsigned arithmetic so no shift overflows. */
static inline uint32_t
kafka_zigzag32(int32_t v)
{
	return ((uint32_t) v << 1) ^ (uint32_t) (v >> 31);
}

static inline uint64_t
kafka_zigzag64(int64_t v)
{
	return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}

static inline int32_t
kafka_unzigzag32(uint32_t u)
{
	return (int32_t) ((u >> 1) ^ (0U - (u & 1)));
}

static inline int64_t
kafka_unzigzag64(uint64_t u)
{
	return (int64_t) ((u >> 1) ^ (UINT64_C(0) - (u & 1)));
}

/* Number of bytes the unsigned varint encoding of u takes (1..5). */
static inline size_t
kafka_uvarint_size(uint32_t u)
{
	size_t		n = 1;

	while (u >= 0x80)
	{
		u >>= 7;
		n++;
	}
	return n;
}

static inline size_t
kafka_uvarlong_size(uint64_t u)
{
	size_t		n = 1;

	while (u >= 0x80)
	{
		u >>= 7;
		n++;
	}
	return n;
}

static inline size_t
kafka_varint_size(int32_t v)
{
	return kafka_uvarint_size(kafka_zigzag32(v));
}

static inline size_t
kafka_varlong_size(int64_t v)
{
	return kafka_uvarlong_size(kafka_zigzag64(v));
}

/*
 * Writers store the encoding at p, which must have room for the maximum
 * size of the type, and return the number of bytes written.
 */
static inline size_t
kafka_uvarint_write(uint8_t *p, uint32_t u)
{
	size_t		n = 0;

	while (u >= 0x80)
	{
		p[n++] = (uint8_t) (u | 0x80);
		u >>= 7;
	}
	p[n++] = (uint8_t) u;
	return n;
}

static inline size_t
kafka_uvarlong_write(uint8_t *p, uint64_t u)
{
	size_t		n = 0;

	while (u >= 0x80)
	{
		p[n++] = (uint8_t) (u | 0x80);
		u >>= 7;
	}
	p[n++] = (uint8_t) u;
	return n;
}

static inline size_t
kafka_varint_write(uint8_t *p, int32_t v)
{
	return kafka_uvarint_write(p, kafka_zigzag32(v));
}

static inline size_t
kafka_varlong_write(uint8_t *p, int64_t v)
{
	return kafka_uvarlong_write(p, kafka_zigzag64(v));
}

/*
 * Readers decode the value at *pos, which must not exceed end, and advance
 * *pos past it.  They return KAFKA_OK, KAFKA_ERR_TRUNCATED if the input ends
 * inside the value, or KAFKA_ERR_CORRUPT if the encoding is too long for the
 * type.  On error *pos and *out are left unchanged.
 */
static inline int
kafka_uvarint_read(const uint8_t **pos, const uint8_t *end, uint32_t *out)
{
	const uint8_t *p = *pos;
	uint32_t	u = 0;
	int			shift;

	for (shift = 0; shift < 35; shift += 7)
	{
		uint8_t		b;

		if (p >= end)
			return KAFKA_ERR_TRUNCATED;
		b = *p++;
		/* the 5th byte may only carry the top 4 bits of a uint32 */
		if (shift == 28 && b > 0x0f)
			return KAFKA_ERR_CORRUPT;
		u |= (uint32_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*pos = p;
			*out = u;
			return KAFKA_OK;
		}
	}
	/* not reached: the 5th byte either ends the value or is rejected */
	return KAFKA_ERR_CORRUPT;
}

static inline int
kafka_uvarlong_read(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pos;
	uint64_t	u = 0;
	int			shift;

	for (shift = 0; shift < 70; shift += 7)
	{
		uint8_t		b;

		if (p >= end)
			return KAFKA_ERR_TRUNCATED;
		b = *p++;
		/* the 10th byte may only carry the top bit of a uint64 */
		if (shift == 63 && b > 0x01)
			return KAFKA_ERR_CORRUPT;
		u |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*pos = p;
			*out = u;
			return KAFKA_OK;
		}
	}
	return KAFKA_ERR_CORRUPT;
}

static inline int
kafka_varint_read(const uint8_t **pos, const uint8_t *end, int32_t *out)
{
	uint32_t	u;
	int			rc = kafka_uvarint_read(pos, end, &u);

	if (rc == KAFKA_OK)
		*out = kafka_unzigzag32(u);
	return rc;
}

static inline int
kafka_varlong_read(const uint8_t **pos, const uint8_t *end, int64_t *out)
{
	uint64_t	u;
	int			rc = kafka_uvarlong_read(pos, end, &u);

	if (rc == KAFKA_OK)
		*out = kafka_unzigzag64(u);
	return rc;
}

#endif							/* KAFKA_VARINT_H */
