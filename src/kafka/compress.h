/*-------------------------------------------------------------------------
 *
 * compress.h
 *	  The compression codecs of Kafka record batches (attributes bits 0-2).
 *
 * Output formats, chosen so that every client decodes them:
 *
 *	gzip	A gzip stream (RFC 1952), as java.util.zip.GZIPOutputStream writes,
 *			default level.
 *	snappy	xerial snappy-java framing, as the Java client's SnappyOutputStream
 *			writes: the 16-byte header "\x82SNAPPY\0", version 1, compatible
 *			version 1 (both big-endian int32), then one chunk per 32 KiB of
 *			input, each a big-endian int32 length and a raw snappy block.
 *			Java, librdkafka and kafka-python all read it; raw snappy is
 *			read by librdkafka and Java but not by every client.
 *	lz4		One LZ4 frame exactly as Java's KafkaLZ4BlockOutputStream writes
 *			it: independent 64 KiB blocks, no block or content checksum, no
 *			content size, correct header checksum (the broken checksum of
 *			magic 0 messages does not exist in v2 batches).
 *	zstd	One zstd frame at level 3 (Kafka's default) with the content size
 *			in the frame header, which kafka-python needs to decompress
 *			batches larger than 1 MiB.
 *
 * Accepted input is wider, since producers differ:
 *
 *	gzip	One or more concatenated gzip members (GZIPInputStream reads
 *			those too).  zlib-wrapped or raw deflate is rejected.
 *	snappy	xerial framing (including concatenated xerial streams, which
 *			snappy-java can produce) or one raw snappy block, which is what
 *			librdkafka writes.  The framing is recognised by its 8-byte magic;
 *			the version fields are not checked, as librdkafka does not.
 *	lz4		One or more LZ4 frames and skippable frames: with or without
 *			content size, block checksums and content checksum (all verified),
 *			independent or linked blocks, block sizes 64 KiB to 4 MiB.
 *			Dictionary ids and the legacy LZ4 format are rejected.  The
 *			header checksum of magic 0 messages' frames is not checked
 *			(kafka_decompress_flags, KAFKA_DECOMPRESS_LZ4_NO_HC).
 *	zstd	One or more zstd frames and skippable frames, with or without
 *			content size.  Legacy (pre-v0.8) and dictionary frames are
 *			rejected.
 *
 * Memory and zip bombs: decompression never produces more than max_out
 * bytes (KAFKA_ERR_TOO_LARGE instead).  snappy, lz4 and zstd frames with a
 * content size are measured before any output is allocated, so the output
 * buffer is allocated once at its exact size.  gzip and zstd frames without
 * a content size grow a buffer by doubling up to max_out; while one is being
 * replaced by the next, both exist, so the peak is 1.5 x max_out.
 *
 * All memory, including the libraries' working state (zlib streams, zstd
 * contexts, the LZ4 compression state), comes from the caller's allocator,
 * with one exception: snappy_compress() uses C++ operator new internally for
 * its hash table (tens of KiB per call, freed before it returns).  snappy
 * decompression allocates nothing.  zstd's custom allocator interface is in
 * its "static linking only" section but has been stable since zstd 1.3 and is
 * exported by every distribution build.
 *
 * src/kafka/compress.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_COMPRESS_H
#define KAFKA_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "kafka/codec.h"

/* Compression codecs, numbered as in RecordBatch attributes. */
#define KAFKA_COMPRESSION_NONE		0
#define KAFKA_COMPRESSION_GZIP		1
#define KAFKA_COMPRESSION_SNAPPY	2
#define KAFKA_COMPRESSION_LZ4		3
#define KAFKA_COMPRESSION_ZSTD		4
#define KAFKA_COMPRESSION_MAX		4

/*
 * Compress inlen bytes at in with the given codec into a new buffer from
 * allocator a, returned in *out (size *outlen; the allocation is less than
 * twice that).  KAFKA_COMPRESSION_NONE copies.  Returns KAFKA_OK, KAFKA_ERR_UNSUPPORTED
 * (unknown codec), KAFKA_ERR_TOO_LARGE (inlen or the result above
 * KAFKA_MAX_BATCH_SIZE) or KAFKA_ERR_NOMEM.  On error *out is untouched and
 * nothing stays allocated.
 */
extern int	kafka_compress(int codec, const uint8_t *in, size_t inlen,
						   uint8_t **out, size_t *outlen,
						   const KafkaAllocator *a);

/*
 * Same, but the compressed data starts headroom bytes into *out, leaving
 * room for a header the caller fills in; *outlen includes the headroom.
 * The record batch encoder uses this to avoid copying compressed records
 * behind the batch header.
 */
extern int	kafka_compress_headroom(int codec, const uint8_t *in, size_t inlen,
									size_t headroom, uint8_t **out,
									size_t *outlen, const KafkaAllocator *a);

/*
 * Decompress inlen bytes at in into a new buffer from allocator a, returned
 * in *out (size *outlen).  The output may not exceed max_out bytes (values
 * above KAFKA_MAX_BATCH_SIZE are treated as KAFKA_MAX_BATCH_SIZE).  Returns
 * KAFKA_OK, KAFKA_ERR_CORRUPT (invalid, truncated or trailing data),
 * KAFKA_ERR_TOO_LARGE, KAFKA_ERR_UNSUPPORTED or KAFKA_ERR_NOMEM.  On error
 * *out is untouched and nothing stays allocated.
 */
extern int	kafka_decompress(int codec, const uint8_t *in, size_t inlen,
							 size_t max_out, uint8_t **out, size_t *outlen,
							 const KafkaAllocator *a);

/*
 * Same, with flags:
 *
 *	KAFKA_DECOMPRESS_LZ4_NO_HC	do not verify the header checksum (HC) of LZ4
 *		frames.  For the values of magic 0 messages (the legacy format of
 *		Kafka 0.8-0.9), whose LZ4 framing computed HC over the magic number
 *		as well as the frame descriptor (KAFKA-3160); Kafka's broker skips
 *		the check for them (KafkaLZ4BlockInputStream's
 *		ignoreFlagDescriptorChecksum), and the message's own CRC-32 covers
 *		those bytes anyway.  Everything else about the frame is checked.
 */
#define KAFKA_DECOMPRESS_LZ4_NO_HC	0x01

extern int	kafka_decompress_flags(int codec, const uint8_t *in, size_t inlen,
								   size_t max_out, int flags, uint8_t **out,
								   size_t *outlen, const KafkaAllocator *a);

/* "none", "gzip", "snappy", "lz4", "zstd" (Kafka's compression.type names). */
extern const char *kafka_compression_name(int codec);

/* Inverse of kafka_compression_name(); -1 if the name is unknown. */
extern int	kafka_compression_from_name(const char *name);

/*
 * XXH32, the checksum of the LZ4 frame format (header, block and content
 * checksums).  Exposed for the tests.
 */
extern uint32_t kafka_xxh32(const void *data, size_t len, uint32_t seed);

#endif							/* KAFKA_COMPRESS_H */
