/*-------------------------------------------------------------------------
 *
 * codec.h
 *	  Definitions shared by every file of the Kafka codec (src/kafka):
 *	  result codes, the caller-supplied allocator, and global size limits.
 *
 * The Kafka codec turns untrusted bytes from the network into values and
 * back.  It deliberately has no PostgreSQL dependency, so that the very same
 * object files are linked into the extension and into the libFuzzer
 * harnesses under test/fuzz.  Consequently:
 *
 *	- Nothing here may include postgres.h or any PostgreSQL header; only libc,
 *	  <stdint.h> and the compression libraries.
 *	- Nothing here reports errors by longjmp (no elog/ereport).  Every function
 *	  that can fail returns one of the KafkaCodecError codes below; callers in
 *	  the extension translate those into Kafka error codes or ereport().
 *	- All memory is obtained through a KafkaAllocator supplied by the caller,
 *	  so the extension can pass palloc() (and have the memory reclaimed with
 *	  its memory context) while the fuzzers pass malloc().
 *	- The only global mutable state is the lazily built CRC-32C table and the
 *	  CPU-feature flag in crc32c.c.
 *
 * Result codes are negative so that iterator functions can return 1 (an
 * item), 0 (end) or a negative error from the same int.
 *
 * Copyright (c) 2025, nagare developers
 *
 * src/kafka/codec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_CODEC_H
#define KAFKA_CODEC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Result codes.  The comment after each code names the Kafka protocol error
 * (clients/src/main/java/org/apache/kafka/common/protocol/Errors.java) a
 * broker should answer with when the code results from validating a
 * produced batch; it is what Apache Kafka's LogValidator answers for the same
 * defect.
 */
typedef enum KafkaCodecError
{
	KAFKA_OK = 0,
	KAFKA_ERR_TRUNCATED = -1,	/* input ends before its own length fields
								 * say it should: CORRUPT_MESSAGE */
	KAFKA_ERR_CORRUPT = -2,		/* structurally invalid batch or compressed
								 * data: CORRUPT_MESSAGE */
	KAFKA_ERR_CRC = -3,			/* CRC-32C mismatch: CORRUPT_MESSAGE */
	KAFKA_ERR_MAGIC = -4,		/* not a v2 record batch:
								 * UNSUPPORTED_FOR_MESSAGE_FORMAT */
	KAFKA_ERR_TOO_LARGE = -5,	/* output would exceed the caller's limit:
								 * MESSAGE_TOO_LARGE */
	KAFKA_ERR_NOMEM = -6,		/* the allocator returned NULL */
	KAFKA_ERR_UNSUPPORTED = -7, /* unknown compression codec:
								 * UNSUPPORTED_COMPRESSION_TYPE */
	KAFKA_ERR_RECORD = -8,		/* malformed record, or record count/offset
								 * deltas inconsistent with the batch header:
								 * INVALID_RECORD */
	KAFKA_ERR_INVALID_ARG = -9	/* caller passed arguments that cannot be
								 * encoded (a bug in the caller) */
} KafkaCodecError;

/*
 * Memory allocator supplied by the caller.
 *
 * alloc(ctx, size) returns at least size bytes aligned for any C type, or
 * NULL on failure, which the codec reports as KAFKA_ERR_NOMEM after releasing
 * everything it allocated.  alloc may also not return at all (palloc() raising
 * ERROR): the codec never holds memory from anywhere else across a call to
 * alloc, so a memory-context reset reclaims everything.  size is never 0.
 *
 * free(ctx, ptr) releases memory obtained from alloc; it is never called with
 * NULL.
 *
 * The allocator struct must stay valid for as long as an object created with
 * it (e.g. a KafkaRecordIter) is in use.
 */
typedef struct KafkaAllocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*free) (void *ctx, void *ptr);
	void	   *ctx;
} KafkaAllocator;

/*
 * Largest record batch, and largest compressed or uncompressed records
 * section, the codec will produce or accept.  BatchLength is an int32, so no
 * Kafka batch can be larger; keeping every size below 2^31 also means no
 * length ever overflows an int in the compression libraries' APIs.
 */
#define KAFKA_MAX_BATCH_SIZE	((size_t) INT32_MAX)

/*
 * Allocation wrappers used throughout the codec: they keep the promises made
 * to the allocator above (never size 0, never free(NULL)).
 */
static inline void *
kafka_mem_alloc(const KafkaAllocator *a, size_t size)
{
	return a->alloc(a->ctx, size > 0 ? size : 1);
}

static inline void
kafka_mem_free(const KafkaAllocator *a, void *ptr)
{
	if (ptr != NULL)
		a->free(a->ctx, ptr);
}

extern const char *kafka_codec_strerror(int err);

#endif							/* KAFKA_CODEC_H */
