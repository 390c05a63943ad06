/*-------------------------------------------------------------------------
 *
 * crc32c.h
 *	  CRC-32C (Castagnoli), the checksum of Kafka record batches.
 *
 * kafka_crc32c(0, buf, n) is the finished CRC that Kafka stores in a batch
 * header (Java's Crc32C, the "CRC-32C" of RFC 3720: reflected polynomial
 * 0x82F63B78, initial value and final XOR 0xFFFFFFFF).  The first argument
 * is a previously finished CRC, so calls chain:
 *
 *		kafka_crc32c(kafka_crc32c(0, a, na), b, nb) == CRC of a || b
 *
 * src/kafka/crc32c.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_CRC32C_H
#define KAFKA_CRC32C_H

#include <stddef.h>
#include <stdint.h>

extern uint32_t kafka_crc32c(uint32_t crc, const void *data, size_t len);

/*
 * The portable implementation, whatever the CPU supports.  Exposed so the
 * tests can check both paths against each other.
 */
extern uint32_t kafka_crc32c_sw(uint32_t crc, const void *data, size_t len);

/* True if kafka_crc32c() uses the SSE4.2 CRC32 instruction. */
extern int	kafka_crc32c_hw_available(void);

#endif							/* KAFKA_CRC32C_H */
