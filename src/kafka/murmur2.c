/*-------------------------------------------------------------------------
 *
 * murmur2.c
 *	  Kafka's murmur2 key hash and the key-to-partition mappings of the Java
 *	  client (murmur2) and of librdkafka (CRC-32).
 *
 * A straight port of org.apache.kafka.common.utils.Utils.murmur2.  Java does
 * the arithmetic in signed 32-bit ints that wrap; here it is done in
 * uint32_t, where wrapping is defined, and the result is converted back to
 * int32_t at the end (two's complement, as on every platform PostgreSQL
 * supports).  Java's ">>>" is a logical shift, which is what ">>" does on
 * uint32_t.
 *
 * Java mixes in the key length as an int.  Keys longer than 2^31 - 1 bytes
 * cannot exist in Kafka (they would not fit in a record), so truncating the
 * length to 32 bits here changes nothing real.
 *
 * librdkafka's CRC-32 is zlib's crc32() (rdcrc32.h, built WITH_ZLIB, and its
 * own table-driven copy of the same polynomial otherwise), so zlib is used
 * here too.
 *
 * src/kafka/murmur2.c
 *
 *-------------------------------------------------------------------------
 */
#include <zlib.h>

#include "kafka/murmur2.h"

#define MURMUR2_SEED	0x9747b28cU
#define MURMUR2_M		0x5bd1e995U
#define MURMUR2_R		24

int32_t
kafka_murmur2(const void *key, size_t len)
{
	const uint8_t *data = key;
	uint32_t	h = MURMUR2_SEED ^ (uint32_t) len;
	size_t		nblocks = len / 4;
	size_t		i;
	const uint8_t *tail;

	for (i = 0; i < nblocks; i++)
	{
		const uint8_t *b = data + i * 4;
		uint32_t	k = (uint32_t) b[0] | (uint32_t) b[1] << 8 |
			(uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;

		k *= MURMUR2_M;
		k ^= k >> MURMUR2_R;
		k *= MURMUR2_M;
		h *= MURMUR2_M;
		h ^= k;
	}

	/* the remaining 0-3 bytes; Java's fall-through switch, unrolled */
	tail = data + nblocks * 4;
	if ((len & 3) >= 3)
		h ^= (uint32_t) tail[2] << 16;
	if ((len & 3) >= 2)
		h ^= (uint32_t) tail[1] << 8;
	if ((len & 3) >= 1)
	{
		h ^= (uint32_t) tail[0];
		h *= MURMUR2_M;
	}

	h ^= h >> 13;
	h *= MURMUR2_M;
	h ^= h >> 15;

	return (int32_t) h;
}

int32_t
kafka_partition_for_key(const void *key, size_t len, int32_t num_partitions)
{
	uint32_t	positive;

	if (num_partitions < 1)
		return -1;
	positive = (uint32_t) kafka_murmur2(key, len) & 0x7fffffffU;
	return (int32_t) (positive % (uint32_t) num_partitions);
}

int32_t
kafka_crc32_partition_for_key(const void *key, size_t len, int32_t num_partitions)
{
	uint32_t crc = (uint32_t) crc32(0L, Z_NULL, 0);
	const uint8_t *p = key;

	if (num_partitions < 1)
		return -1;
	/* crc32() takes a uInt length: feed longer keys in pieces */
	while (len > 0)
	{
		uInt n = len > 0x40000000 ? 0x40000000 : (uInt) len;

		crc = (uint32_t) crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (int32_t) (crc % (uint32_t) num_partitions);
}

int32_t
kafka_partition_for_key_with(KafkaPartitioner partitioner, const void *key, size_t len,
							 int32_t num_partitions)
{
	if (partitioner == KAFKA_PARTITIONER_CRC32)
		return kafka_crc32_partition_for_key(key, len, num_partitions);
	return kafka_partition_for_key(key, len, num_partitions);
}
