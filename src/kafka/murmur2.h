/*-------------------------------------------------------------------------
 *
 * murmur2.h
 *	  Kafka's default partitioner hash.
 *
 * kafka_murmur2() is bit-for-bit Java Kafka's Utils.murmur2(byte[]): 32-bit
 * MurmurHash2 with seed 0x9747b28c, returning Java's signed int.  A keyed
 * record sent from SQL must land on the partition a Java, librdkafka
 * ("murmur2_random") or kafka-python producer would choose for the same key,
 * or per-key ordering breaks the moment two kinds of producers share a topic.
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

#endif							/* KAFKA_MURMUR2_H */
