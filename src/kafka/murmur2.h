/*-------------------------------------------------------------------------
 *
 * murmur2.h
 *	  Kafka's key-to-partition mappings: Java's murmur2 and librdkafka's
 *	  CRC-32.
 *
 * kafka_murmur2() is bit-for-bit Java Kafka's Utils.murmur2(byte[]): 32-bit
 * MurmurHash2 with seed 0x9747b28c, returning Java's signed int.  A keyed
 * record sent from SQL must land on the partition the other producers of
 * its topic would choose for the same key, or per-key ordering breaks the
 * moment two kinds of producers share a topic.  Clients do not agree: the
 * Java client, kafka-python, kafkajs and franz-go hash with murmur2 (as
 * librdkafka's "murmur2" and "murmur2_random"), librdkafka's default
 * ("consistent_random", so kcat and confluent-kafka) with zlib's CRC-32.
 * Which one a topic uses is its "partitioner" setting (topicconfig_fields.h).
 *
 * src/kafka/murmur2.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_MURMUR2_H
#define KAFKA_MURMUR2_H

#include <stddef.h>
#include <stdint.h>

/* key may be NULL if len is 0 (Java hashes an empty array, never null) */
extern int32_t kafka_murmur2(const void *key, size_t len);

/*
 * Partition for a non-null key: (murmur2(key) & 0x7fffffff) % num_partitions,
 * as Java's BuiltInPartitioner.partitionForKey (Utils.toPositive, which masks
 * rather than negates so that INT_MIN maps to 0).  Returns -1 if
 * num_partitions < 1.
 */
extern int32_t kafka_partition_for_key(const void *key, size_t len,
									   int32_t num_partitions);

/*
 * The partitioners, as the "partitioner" topic setting holds them: the
 * order of its list of values in topicconfig_fields.h.
 */
typedef enum KafkaPartitioner
{
	KAFKA_PARTITIONER_MURMUR2 = 0, /* Java's murmur2 (the default) */
	KAFKA_PARTITIONER_CRC32 = 1 /* librdkafka's consistent(_random) */
} KafkaPartitioner;

/*
 * Partition for a non-null key as librdkafka's "consistent" partitioner:
 * rd_crc32(key) % num_partitions, with rd_crc32 zlib's CRC-32 (the
 * ISO-HDLC one of gzip and PNG) taken as unsigned.  librdkafka's default,
 * "consistent_random", is the same for every non-empty key and spreads empty
 * and null keys; an empty key's CRC-32 is 0, so here it maps to partition 0,
 * one of the choices consistent_random may make.  Returns -1 if
 * num_partitions < 1.
 */
extern int32_t kafka_crc32_partition_for_key(const void *key, size_t len,
											 int32_t num_partitions);

/* Partition for a non-null key with the given partitioner */
extern int32_t kafka_partition_for_key_with(KafkaPartitioner partitioner, const void *key,
											size_t len, int32_t num_partitions);

#endif							/* KAFKA_MURMUR2_H */
