/*-------------------------------------------------------------------------
 *
 * legacy.h
 *	  Legacy message sets (magic 0 and 1), converted to one RecordBatch v2.
 *
 * Produce v0-2 carry a message set: messages back to back, each
 *
 *	 0	Offset			int64
 *	 8	MessageSize		int32	bytes after this field
 *	12	Crc				uint32	CRC-32 (IEEE, zlib's crc32) of bytes 16 .. end
 *	16	Magic			int8	0 or 1
 *	17	Attributes		int8	bits 0-2 compression (0 none, 1 gzip,
 *								2 snappy, 3 lz4), bit 3 timestamp type
 *								(magic 1 only: 1 = LogAppendTime), 4-7 unused
 *	18	Timestamp		int64	magic 1 only
 *		Key				int32 length (-1 = null), bytes
 *		Value			int32 length (-1 = null), bytes
 *
 * Offset, MessageSize and Magic are where BaseOffset, BatchLength and Magic
 * are in a v2 batch.  A compressed message (a "wrapper") holds a whole
 * message set, compressed, as its value; the inner messages have the
 * wrapper's magic and no compression of their own.  Inner offsets are
 * absolute in magic 0 and relative in magic 1 (the last inner message is the
 * wrapper's offset).  (Apache Kafka: LegacyRecord.java,
 * AbstractLegacyRecordBatch.java.)
 *
 * Since Kafka 0.11 a broker whose log holds v2 batches up-converts produced
 * message sets (LogValidator.convertAndAssignOffsetsNonCompressed and
 * validateMessagesAndAssignOffsetsCompressed).  kafka_legacy_to_batch() does
 * the same: it validates a message set as Kafka does and turns it into ONE
 * v2 batch, which the broker then treats like a batch from Produce v3+.
 *
 * src/kafka/legacy.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_LEGACY_H
#define KAFKA_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "kafka/codec.h"

#define KAFKA_LEGACY_LOG_OVERHEAD	12	/* Offset + MessageSize */
#define KAFKA_LEGACY_POS_CRC		12
#define KAFKA_LEGACY_POS_MAGIC		16
#define KAFKA_LEGACY_POS_ATTRIBUTES	17
#define KAFKA_LEGACY_POS_TIMESTAMP	18	/* magic 1 */

/* Smallest MessageSize: Crc, Magic, Attributes, [Timestamp,] two lengths */
#define KAFKA_LEGACY_OVERHEAD_V0	14
#define KAFKA_LEGACY_OVERHEAD_V1	22

#define KAFKA_LEGACY_ATTR_COMPRESSION_MASK	0x07
#define KAFKA_LEGACY_ATTR_LOG_APPEND_TIME	0x08

/*
 * Convert the message set at set (len bytes: the whole Records field of one
 * partition of a Produce v0-2 request) into one RecordBatch v2, allocated
 * from a, returned in *out (*out_len bytes).  *record_count and
 * *max_timestamp are the batch's RecordsCount and MaxTimestamp.
 *
 * The batch is what a non-idempotent producer would have sent: BaseOffset 0,
 * PartitionLeaderEpoch 0, ProducerId/Epoch/BaseSequence -1, CreateTime, no
 * headers, offset deltas 0..n-1 in message order, and
 *	- timestamps: -1 for magic 0 messages (Kafka's NO_TIMESTAMP); a magic 1
 *	  message's own; for the inner messages of a magic 1 wrapper whose
 *	  attributes say LogAppendTime, the wrapper's (as Kafka reads them);
 *	  BaseTimestamp is the first record's, MaxTimestamp the largest;
 *	- compression: the wrapper's codec (Kafka's compression.type=producer),
 *	  or none for uncompressed messages.
 * It passes kafka_batch_validate() and the record iterator.
 *
 * What is checked, in Kafka's terms (see legacy.c for the details):
 *	- every message: MessageSize within the input and at least the
 *	  overhead of its magic, magic 0 or 1, CRC-32, key and value lengths
 *	  (-1 or within the message, the value ending exactly at its end), a
 *	  known codec;
 *	- the set: at least one message, all of the same magic; a compressed
 *	  wrapper only as the single message of the set, with a non-null value
 *	  that decompresses (at most max_decompressed bytes) into at least one
 *	  message, each of the wrapper's magic, uncompressed and valid as above;
 *	  a non-zero magic 1 wrapper offset not below the last inner offset.
 *	Offsets are otherwise ignored (Kafka reassigns them), as are the
 *	wrapper's key and attribute bits 4-7.
 *
 * Returns KAFKA_OK or
 *	KAFKA_ERR_MAGIC			the FIRST message has magic 2: the data is (or
 *							claims to be) record batches v2, which Kafka
 *							accepts in Produce v0-2 too; nothing was
 *							checked beyond that byte
 *	KAFKA_ERR_TRUNCATED		a message extends past the end of its set
 *	KAFKA_ERR_CORRUPT		bad MessageSize, magic (other than a leading 2)
 *							or lengths; undecodable compressed data
 *	KAFKA_ERR_CRC			a CRC-32 mismatch, outer or inner
 *	KAFKA_ERR_UNSUPPORTED	codec 4 (zstd needs magic 2) or 5-7
 *	KAFKA_ERR_RECORD		what Kafka answers INVALID_RECORD: empty set,
 *							mixed magics, a wrapper that is not alone, a
 *							null or empty wrapper value, a compressed inner
 *							message, a bad magic 1 wrapper offset
 *	KAFKA_ERR_TOO_LARGE		decompression beyond max_decompressed, input or
 *							batch above KAFKA_MAX_BATCH_SIZE
 *	KAFKA_ERR_NOMEM			the allocator returned NULL
 * On error *out is untouched and nothing stays allocated.
 *
 * Memory: the decompressed inner set (at most max_decompressed), an array of
 * 48 bytes per record (messages are at least 26 bytes each, so below twice
 * the uncompressed set), the uncompressed batch (smaller than the
 * uncompressed set plus 61 bytes) and, when compressing, the compressor's
 * output and working state.
 */
extern int	kafka_legacy_to_batch(const uint8_t *set, size_t len,
								  const KafkaAllocator *a,
								  size_t max_decompressed,
								  uint8_t **out, size_t *out_len,
								  int32_t *record_count,
								  int64_t *max_timestamp);

/* CRC-32 (IEEE 802.3, as zlib and java.util.zip.CRC32): the legacy CRC. */
extern uint32_t kafka_crc32(uint32_t crc, const void *data, size_t len);

#endif							/* KAFKA_LEGACY_H */
