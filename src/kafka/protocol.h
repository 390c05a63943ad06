/*-------------------------------------------------------------------------
 *
 * protocol.h
 *	  Kafka wire protocol: primitive readers and writers, request and
 *	  response headers, the table of the APIs served (kafka_apis[], from
 *	  api_table.h), and Kafka's error codes.
 *
 * The message bodies (one request and one response struct per API) are in
 * messages.h; this file has what they are built from.  Like everything in
 * src/kafka it has no PostgreSQL dependency (see codec.h).
 *
 * Wire format (KIP-482 for the flexible versions; the reference is Apache
 * Kafka's clients/src/main/java/org/apache/kafka/common/protocol/types/
 * Type.java and the generator under generator/src/main/java):
 *
 *	int8/16/32/64, uint32		big-endian, fixed width
 *	bool						one byte, any non-zero value is true
 *	uuid						16 bytes
 *	string						INT16 length (-1 = null) + bytes; flexible:
 *								UNSIGNED_VARINT length+1 (0 = null) + bytes
 *	bytes, records				INT32 length (-1 = null) + bytes; flexible:
 *								UNSIGNED_VARINT length+1 (0 = null) + bytes
 *	array						INT32 count (-1 = null) + elements; flexible:
 *								UNSIGNED_VARINT count+1 (0 = null) + elements
 *	tagged fields				flexible only, at the end of every struct
 *								(not after arrays of primitives): UNSIGNED_VARINT
 *								count, then per field UNSIGNED_VARINT tag,
 *								UNSIGNED_VARINT size and size bytes
 *
 * A frame is INT32 Size (bytes after Size) + header + body.  The request
 * header is v1 (RequestApiKey, RequestApiVersion, CorrelationId, ClientId)
 * for non-flexible request versions and v2 (v1 + tagged fields) for
 * flexible ones; ClientId is an INT16-length nullable string even in v2.
 * The response header is v0 (CorrelationId) for non-flexible versions and
 * v1 (+ tagged fields) for flexible ones, except that ApiVersions responses
 * always use v0 (KIP-511: a client must be able to read the answer to any
 * ApiVersions version it tried).
 *
 * Reading.  A KafkaReader walks a byte range.  Every read is bounds checked;
 * the first failure is recorded in r->err (a KafkaCodecError) and r->err_pos
 * and is sticky: every later read fails at once and changes nothing.  The
 * read functions return true on success, so decoders are written as
 *
 *		KAFKA_READ(kafka_read_int32(r, &out->TimeoutMs));
 *		...
 *	err_parse:
 *		return r->err;
 *
 * in the style of librdkafka's rd_kafka_buf_read_*() macros.  Strings and
 * byte fields are returned as (pointer, length) pairs into the input
 * buffer, never copied and never NUL-terminated: the input must outlive the
 * decoded values.  Array counts are checked against an explicit maximum and
 * against the bytes that remain (count * smallest encoded element), so a
 * hostile count can neither make the decoder allocate more than a small
 * multiple of the input nor loop without consuming input.
 *
 * Writing.  A KafkaWriter is a growable buffer obtained from a
 * KafkaAllocator.  Write errors (out of memory, output above INT32_MAX,
 * values the wire format cannot carry) are sticky in w->err as well, so an
 * encoder writes everything and checks w->err once at the end.  Sizes not
 * known in advance are written as a placeholder and patched
 * (kafka_write_reserve_int32 / kafka_write_patch_int32).  A writer can also
 * record "splice points": places where the caller will send bytes that are
 * not in the buffer (Fetch records straight from segment files); see
 * kafka_write_records_splice() and the Fetch notes in messages.h.
 *
 * Copyright (c) 2025, nagare developers
 *
 * src/kafka/protocol.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_PROTOCOL_H
#define KAFKA_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kafka/codec.h"

/*
 * API keys (clients/src/main/java/org/apache/kafka/common/protocol/
 * ApiKeys.java).  Only the ones nagare implements or is likely to are
 * named; api_table.h says which are served, in which versions.
 */
typedef enum KafkaApiKey
{
	KAFKA_API_PRODUCE = 0,
	KAFKA_API_FETCH = 1,
	KAFKA_API_LIST_OFFSETS = 2,
	KAFKA_API_METADATA = 3,
	KAFKA_API_OFFSET_COMMIT = 8,
	KAFKA_API_OFFSET_FETCH = 9,
	KAFKA_API_FIND_COORDINATOR = 10,
	KAFKA_API_JOIN_GROUP = 11,
	KAFKA_API_HEARTBEAT = 12,
	KAFKA_API_LEAVE_GROUP = 13,
	KAFKA_API_SYNC_GROUP = 14,
	KAFKA_API_DESCRIBE_GROUPS = 15,
	KAFKA_API_LIST_GROUPS = 16,
	KAFKA_API_SASL_HANDSHAKE = 17,
	KAFKA_API_API_VERSIONS = 18,
	KAFKA_API_CREATE_TOPICS = 19,
	KAFKA_API_DELETE_TOPICS = 20,
	KAFKA_API_DELETE_RECORDS = 21,
	KAFKA_API_INIT_PRODUCER_ID = 22,
	KAFKA_API_OFFSET_FOR_LEADER_EPOCH = 23,
	KAFKA_API_ADD_PARTITIONS_TO_TXN = 24,
	KAFKA_API_ADD_OFFSETS_TO_TXN = 25,
	KAFKA_API_END_TXN = 26,
	KAFKA_API_TXN_OFFSET_COMMIT = 28,
	KAFKA_API_DESCRIBE_ACLS = 29,
	KAFKA_API_CREATE_ACLS = 30,
	KAFKA_API_DELETE_ACLS = 31,
	KAFKA_API_DESCRIBE_CONFIGS = 32,
	KAFKA_API_ALTER_CONFIGS = 33,
	KAFKA_API_SASL_AUTHENTICATE = 36,
	KAFKA_API_CREATE_PARTITIONS = 37,
	KAFKA_API_DELETE_GROUPS = 42,
	KAFKA_API_INCREMENTAL_ALTER_CONFIGS = 44,
	KAFKA_API_OFFSET_DELETE = 47,
	KAFKA_API_DESCRIBE_CLIENT_QUOTAS = 48,
	KAFKA_API_ALTER_CLIENT_QUOTAS = 49,
	KAFKA_API_DESCRIBE_CLUSTER = 60,
	KAFKA_API_DESCRIBE_PRODUCERS = 61,
	KAFKA_API_CONSUMER_GROUP_HEARTBEAT = 68,
	KAFKA_API_CONSUMER_GROUP_DESCRIBE = 69,
	KAFKA_API_DESCRIBE_TOPIC_PARTITIONS = 75
} KafkaApiKey;

/*
 * Kafka's error codes, as sent in ErrorCode fields
 * (clients/src/main/java/org/apache/kafka/common/protocol/Errors.java, all
 * of them as of Apache Kafka 3.9).
 */
typedef enum KafkaErrorCode
{
	KAFKA_ERROR_UNKNOWN_SERVER_ERROR = -1,
	KAFKA_ERROR_NONE = 0,
	KAFKA_ERROR_OFFSET_OUT_OF_RANGE = 1,
	KAFKA_ERROR_CORRUPT_MESSAGE = 2,
	KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KAFKA_ERROR_INVALID_FETCH_SIZE = 4,
	KAFKA_ERROR_LEADER_NOT_AVAILABLE = 5,
	KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER = 6,
	KAFKA_ERROR_REQUEST_TIMED_OUT = 7,
	KAFKA_ERROR_BROKER_NOT_AVAILABLE = 8,
	KAFKA_ERROR_REPLICA_NOT_AVAILABLE = 9,
	KAFKA_ERROR_MESSAGE_TOO_LARGE = 10,
	KAFKA_ERROR_STALE_CONTROLLER_EPOCH = 11,
	KAFKA_ERROR_OFFSET_METADATA_TOO_LARGE = 12,
	KAFKA_ERROR_NETWORK_EXCEPTION = 13,
	KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE = 15,
	KAFKA_ERROR_NOT_COORDINATOR = 16,
	KAFKA_ERROR_INVALID_TOPIC_EXCEPTION = 17,
	KAFKA_ERROR_RECORD_LIST_TOO_LARGE = 18,
	KAFKA_ERROR_NOT_ENOUGH_REPLICAS = 19,
	KAFKA_ERROR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
	KAFKA_ERROR_INVALID_REQUIRED_ACKS = 21,
	KAFKA_ERROR_ILLEGAL_GENERATION = 22,
	KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KAFKA_ERROR_INVALID_GROUP_ID = 24,
	KAFKA_ERROR_UNKNOWN_MEMBER_ID = 25,
	KAFKA_ERROR_INVALID_SESSION_TIMEOUT = 26,
	KAFKA_ERROR_REBALANCE_IN_PROGRESS = 27,
	KAFKA_ERROR_INVALID_COMMIT_OFFSET_SIZE = 28,
	KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED = 29,
	KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED = 30,
	KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED = 31,
	KAFKA_ERROR_INVALID_TIMESTAMP = 32,
	KAFKA_ERROR_UNSUPPORTED_SASL_MECHANISM = 33,
	KAFKA_ERROR_ILLEGAL_SASL_STATE = 34,
	KAFKA_ERROR_UNSUPPORTED_VERSION = 35,
	KAFKA_ERROR_TOPIC_ALREADY_EXISTS = 36,
	KAFKA_ERROR_INVALID_PARTITIONS = 37,
	KAFKA_ERROR_INVALID_REPLICATION_FACTOR = 38,
	KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT = 39,
	KAFKA_ERROR_INVALID_CONFIG = 40,
	KAFKA_ERROR_NOT_CONTROLLER = 41,
	KAFKA_ERROR_INVALID_REQUEST = 42,
	KAFKA_ERROR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KAFKA_ERROR_POLICY_VIOLATION = 44,
	KAFKA_ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KAFKA_ERROR_DUPLICATE_SEQUENCE_NUMBER = 46,
	KAFKA_ERROR_INVALID_PRODUCER_EPOCH = 47,
	KAFKA_ERROR_INVALID_TXN_STATE = 48,
	KAFKA_ERROR_INVALID_PRODUCER_ID_MAPPING = 49,
	KAFKA_ERROR_INVALID_TRANSACTION_TIMEOUT = 50,
	KAFKA_ERROR_CONCURRENT_TRANSACTIONS = 51,
	KAFKA_ERROR_TRANSACTION_COORDINATOR_FENCED = 52,
	KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KAFKA_ERROR_SECURITY_DISABLED = 54,
	KAFKA_ERROR_OPERATION_NOT_ATTEMPTED = 55,
	KAFKA_ERROR_KAFKA_STORAGE_ERROR = 56,
	KAFKA_ERROR_LOG_DIR_NOT_FOUND = 57,
	KAFKA_ERROR_SASL_AUTHENTICATION_FAILED = 58,
	KAFKA_ERROR_UNKNOWN_PRODUCER_ID = 59,
	KAFKA_ERROR_REASSIGNMENT_IN_PROGRESS = 60,
	KAFKA_ERROR_DELEGATION_TOKEN_AUTH_DISABLED = 61,
	KAFKA_ERROR_DELEGATION_TOKEN_NOT_FOUND = 62,
	KAFKA_ERROR_DELEGATION_TOKEN_OWNER_MISMATCH = 63,
	KAFKA_ERROR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64,
	KAFKA_ERROR_DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65,
	KAFKA_ERROR_DELEGATION_TOKEN_EXPIRED = 66,
	KAFKA_ERROR_INVALID_PRINCIPAL_TYPE = 67,
	KAFKA_ERROR_NON_EMPTY_GROUP = 68,
	KAFKA_ERROR_GROUP_ID_NOT_FOUND = 69,
	KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND = 70,
	KAFKA_ERROR_INVALID_FETCH_SESSION_EPOCH = 71,
	KAFKA_ERROR_LISTENER_NOT_FOUND = 72,
	KAFKA_ERROR_TOPIC_DELETION_DISABLED = 73,
	KAFKA_ERROR_FENCED_LEADER_EPOCH = 74,
	KAFKA_ERROR_UNKNOWN_LEADER_EPOCH = 75,
	KAFKA_ERROR_UNSUPPORTED_COMPRESSION_TYPE = 76,
	KAFKA_ERROR_STALE_BROKER_EPOCH = 77,
	KAFKA_ERROR_OFFSET_NOT_AVAILABLE = 78,
	KAFKA_ERROR_MEMBER_ID_REQUIRED = 79,
	KAFKA_ERROR_PREFERRED_LEADER_NOT_AVAILABLE = 80,
	KAFKA_ERROR_GROUP_MAX_SIZE_REACHED = 81,
	KAFKA_ERROR_FENCED_INSTANCE_ID = 82,
	KAFKA_ERROR_ELIGIBLE_LEADERS_NOT_AVAILABLE = 83,
	KAFKA_ERROR_ELECTION_NOT_NEEDED = 84,
	KAFKA_ERROR_NO_REASSIGNMENT_IN_PROGRESS = 85,
	KAFKA_ERROR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
	KAFKA_ERROR_INVALID_RECORD = 87,
	KAFKA_ERROR_UNSTABLE_OFFSET_COMMIT = 88,
	KAFKA_ERROR_THROTTLING_QUOTA_EXCEEDED = 89,
	KAFKA_ERROR_PRODUCER_FENCED = 90,
	KAFKA_ERROR_RESOURCE_NOT_FOUND = 91,
	KAFKA_ERROR_DUPLICATE_RESOURCE = 92,
	KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL = 93,
	KAFKA_ERROR_INCONSISTENT_VOTER_SET = 94,
	KAFKA_ERROR_INVALID_UPDATE_VERSION = 95,
	KAFKA_ERROR_FEATURE_UPDATE_FAILED = 96,
	KAFKA_ERROR_PRINCIPAL_DESERIALIZATION_FAILURE = 97,
	KAFKA_ERROR_SNAPSHOT_NOT_FOUND = 98,
	KAFKA_ERROR_POSITION_OUT_OF_RANGE = 99,
	KAFKA_ERROR_UNKNOWN_TOPIC_ID = 100,
	KAFKA_ERROR_DUPLICATE_BROKER_REGISTRATION = 101,
	KAFKA_ERROR_BROKER_ID_NOT_REGISTERED = 102,
	KAFKA_ERROR_INCONSISTENT_TOPIC_ID = 103,
	KAFKA_ERROR_INCONSISTENT_CLUSTER_ID = 104,
	KAFKA_ERROR_TRANSACTIONAL_ID_NOT_FOUND = 105,
	KAFKA_ERROR_FETCH_SESSION_TOPIC_ID_ERROR = 106,
	KAFKA_ERROR_INELIGIBLE_REPLICA = 107,
	KAFKA_ERROR_NEW_LEADER_ELECTED = 108,
	KAFKA_ERROR_OFFSET_MOVED_TO_TIERED_STORAGE = 109,
	KAFKA_ERROR_FENCED_MEMBER_EPOCH = 110,
	KAFKA_ERROR_UNRELEASED_INSTANCE_ID = 111,
	KAFKA_ERROR_UNSUPPORTED_ASSIGNOR = 112,
	KAFKA_ERROR_STALE_MEMBER_EPOCH = 113,
	KAFKA_ERROR_MISMATCHED_ENDPOINT_TYPE = 114,
	KAFKA_ERROR_UNSUPPORTED_ENDPOINT_TYPE = 115,
	KAFKA_ERROR_UNKNOWN_CONTROLLER_ID = 116,
	KAFKA_ERROR_UNKNOWN_SUBSCRIPTION_ID = 117,
	KAFKA_ERROR_TELEMETRY_TOO_LARGE = 118,
	KAFKA_ERROR_INVALID_REGISTRATION = 119,
	KAFKA_ERROR_TRANSACTION_ABORTABLE = 120,
	KAFKA_ERROR_INVALID_RECORD_STATE = 121,
	KAFKA_ERROR_SHARE_SESSION_NOT_FOUND = 122,
	KAFKA_ERROR_INVALID_SHARE_SESSION_EPOCH = 123,
	KAFKA_ERROR_FENCED_STATE_EPOCH = 124,
	KAFKA_ERROR_INVALID_VOTER_KEY = 125,
	KAFKA_ERROR_DUPLICATE_VOTER = 126,
	KAFKA_ERROR_VOTER_NOT_FOUND = 127,
	KAFKA_ERROR_INVALID_REGULAR_EXPRESSION = 128
} KafkaErrorCode;

/* Errors.java's name of an error code ("UNSUPPORTED_VERSION"), or "?" */
extern const char *kafka_error_name(int16_t code);

/*
 * Explicit maxima for array counts read from the network.  The real bound
 * is the frame: a count is also rejected when its elements cannot fit in
 * the bytes that remain.  These only stop absurd values early; they are far
 * above anything a client sends.
 */
#define KAFKA_MAX_TOPICS		1000000 /* topics in one request */
#define KAFKA_MAX_PARTITIONS	1000000 /* partitions of one topic */
#define KAFKA_MAX_REPLICAS		100000	/* broker ids in one list */
#define KAFKA_MAX_CONFIGS		1000000 /* config entries or resources */
#define KAFKA_MAX_ARRAY			1000000 /* anything else */
#define KAFKA_MAX_STRING		INT16_MAX	/* Kafka strings, compact or
											 * not, are at most 32767 bytes */

/*
 * A string or byte field: a pointer into the input (decoders) or into the
 * caller's memory (encoders), and a length; len == -1 is null (and then ptr
 * is NULL).  Strings are not NUL-terminated and are not checked for UTF-8:
 * they are whatever bytes the client sent.
 */
typedef struct KafkaStr
{
	const char *ptr;
	int32_t		len;
} KafkaStr;

typedef struct KafkaBytes
{
	const uint8_t *ptr;
	int32_t		len;
} KafkaBytes;

typedef struct KafkaUuid
{
	uint8_t		b[16];
} KafkaUuid;

static inline KafkaStr
kafka_str(const char *s)
{
	KafkaStr	r;

	r.ptr = s;
	r.len = s ? (int32_t) strlen(s) : -1;
	return r;
}

static inline KafkaStr
kafka_str_null(void)
{
	KafkaStr	r;

	r.ptr = NULL;
	r.len = -1;
	return r;
}

static inline bool
kafka_str_is_null(KafkaStr s)
{
	return s.len < 0;
}

/* true if s is not null and has exactly the bytes of the C string c */
static inline bool
kafka_str_eq(KafkaStr s, const char *c)
{
	size_t		n = strlen(c);

	return s.len >= 0 && (size_t) s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

static inline KafkaBytes
kafka_bytes_null(void)
{
	KafkaBytes	r;

	r.ptr = NULL;
	r.len = -1;
	return r;
}

/* ----------------------------------------------------------------------
 * Reader
 * ----------------------------------------------------------------------
 */
typedef struct KafkaReader
{
	const uint8_t *start;		/* beginning of the input */
	const uint8_t *pos;			/* next byte to read */
	const uint8_t *end;			/* one past the last byte */
	bool		flexible;		/* compact strings/arrays/bytes (KIP-482) */
	int			err;			/* KAFKA_OK, or the first error (sticky) */
	const uint8_t *err_pos;		/* where the first error was detected */
} KafkaReader;

/* Jump to err_parse: (which must exist) unless the read succeeded. */
#define KAFKA_READ(expr) \
	do { \
		if (!(expr)) \
			goto err_parse; \
	} while (0)

extern void kafka_reader_init(KafkaReader *r, const void *buf, size_t len, bool flexible);

/* Record err (unless an error is already recorded); always returns false. */
extern bool kafka_reader_fail(KafkaReader *r, int err);

static inline size_t
kafka_reader_remaining(const KafkaReader *r)
{
	return (size_t) (r->end - r->pos);
}

/* offset of the next byte (or of the first error) from the start */
static inline size_t
kafka_reader_offset(const KafkaReader *r)
{
	return (size_t) ((r->err != KAFKA_OK ? r->err_pos : r->pos) - r->start);
}

extern bool kafka_read_int8(KafkaReader *r, int8_t *v);
extern bool kafka_read_bool(KafkaReader *r, bool *v);
extern bool kafka_read_int16(KafkaReader *r, int16_t *v);
extern bool kafka_read_uint16(KafkaReader *r, uint16_t *v);
extern bool kafka_read_int32(KafkaReader *r, int32_t *v);
extern bool kafka_read_uint32(KafkaReader *r, uint32_t *v);
extern bool kafka_read_int64(KafkaReader *r, int64_t *v);
extern bool kafka_read_float64(KafkaReader *r, double *v);
extern bool kafka_read_uvarint(KafkaReader *r, uint32_t *v);
extern bool kafka_read_varint(KafkaReader *r, int32_t *v);
extern bool kafka_read_varlong(KafkaReader *r, int64_t *v);
extern bool kafka_read_uuid(KafkaReader *r, KafkaUuid *v);
extern bool kafka_read_raw(KafkaReader *r, size_t n, const uint8_t **p);

/* A null where the schema does not allow one is KAFKA_ERR_CORRUPT. */
extern bool kafka_read_string(KafkaReader *r, KafkaStr *v);
extern bool kafka_read_nullable_string(KafkaReader *r, KafkaStr *v);
extern bool kafka_read_bytes(KafkaReader *r, KafkaBytes *v);
extern bool kafka_read_nullable_bytes(KafkaReader *r, KafkaBytes *v);

/* records: nullable bytes, returned in place (Produce's record batches) */
extern bool kafka_read_records(KafkaReader *r, KafkaBytes *v);

/*
 * Array count: -1 for a null array (only if nullable, else
 * KAFKA_ERR_CORRUPT), KAFKA_ERR_TOO_LARGE above max, KAFKA_ERR_TRUNCATED if
 * count elements of at least min_elem_size bytes each cannot fit in what
 * remains.  min_elem_size must be >= 1 and must not exceed the smallest
 * encoding of an element.
 */
extern bool kafka_read_array_len(KafkaReader *r, int32_t *count, bool nullable,
								 int32_t max, size_t min_elem_size);

/*
 * Allocate count zeroed elements of elem_size bytes through a.  Returns NULL
 * when count <= 0 (no error), or on failure with r->err set
 * (KAFKA_ERR_NOMEM), or if r->err was already set.  Decoders only allocate:
 * they never free, so pass an arena-like allocator (a memory context) and
 * release it as a whole, also after a failed decode.
 */
extern void *kafka_reader_alloc_array(KafkaReader *r, const KafkaAllocator *a,
									  int32_t count, size_t elem_size);

/* Tagged-field section with no field known to the caller: skip it all. */
extern bool kafka_read_tagged_fields_skip(KafkaReader *r);

/*
 * Tagged-field section with known fields:
 *
 *		KAFKA_READ(kafka_read_tag_count(r, &n));
 *		for (i = 0; i < n; i++)
 *		{
 *			KAFKA_READ(kafka_read_tag(r, &tag, &sub));
 *			if (tag == 0)
 *				KAFKA_READ(kafka_reader_join(r, &sub,
 *											 kafka_read_int16(&sub, &x)));
 *			(unknown tags: nothing to do, kafka_read_tag skipped the value)
 *		}
 *
 * kafka_read_tag sets sub to a reader over exactly the value's bytes and
 * advances r past them; a value is decoded from sub so that it can never
 * run into what follows it.  kafka_reader_join(r, ok) moves an error of sub
 * into r.  Bytes left over in sub are ignored, as Kafka does.
 */
extern bool kafka_read_tag_count(KafkaReader *r, uint32_t *count);
extern bool kafka_read_tag(KafkaReader *r, uint32_t *tag, KafkaReader *sub);
extern bool kafka_reader_join_sub(KafkaReader *r, const KafkaReader *sub);

static inline bool
kafka_reader_join(KafkaReader *r, const KafkaReader *sub, bool ok)
{
	return ok || kafka_reader_join_sub(r, sub);
}

/* ----------------------------------------------------------------------
 * Writer
 * ----------------------------------------------------------------------
 */

/*
 * A splice point: at buffer offset `offset`, `length` bytes that the caller
 * sends from elsewhere (a segment file) follow; arg is the caller's.
 */
typedef struct KafkaSplice
{
	size_t		offset;
	int32_t		length;
	const void *arg;
} KafkaSplice;

typedef struct KafkaWriter
{
	uint8_t    *buf;
	size_t		len;			/* bytes written */
	size_t		cap;			/* bytes allocated */
	bool		flexible;		/* compact encodings (KIP-482) */
	int			err;			/* KAFKA_OK, or the first error (sticky) */
	const KafkaAllocator *alloc;
	KafkaSplice *splices;		/* in increasing offset order */
	int			nsplices;
	int			splices_cap;
	int64_t		splice_bytes;	/* sum of splices[].length */
} KafkaWriter;

extern void kafka_writer_init(KafkaWriter *w, const KafkaAllocator *a);
/* forget the contents and the error, keep the memory */
extern void kafka_writer_reset(KafkaWriter *w);
/* free the buffer and the splice list */
extern void kafka_writer_release(KafkaWriter *w);
extern void kafka_writer_fail(KafkaWriter *w, int err);

/* total bytes on the wire: buffer plus spliced bytes */
static inline int64_t
kafka_writer_wire_size(const KafkaWriter *w)
{
	return (int64_t) w->len + w->splice_bytes;
}

extern void kafka_write_raw(KafkaWriter *w, const void *p, size_t n);
extern void kafka_write_int8(KafkaWriter *w, int8_t v);
extern void kafka_write_bool(KafkaWriter *w, bool v);
extern void kafka_write_int16(KafkaWriter *w, int16_t v);
extern void kafka_write_uint16(KafkaWriter *w, uint16_t v);
extern void kafka_write_int32(KafkaWriter *w, int32_t v);
extern void kafka_write_uint32(KafkaWriter *w, uint32_t v);
extern void kafka_write_int64(KafkaWriter *w, int64_t v);
extern void kafka_write_float64(KafkaWriter *w, double v);
extern void kafka_write_uvarint(KafkaWriter *w, uint32_t v);
extern void kafka_write_varint(KafkaWriter *w, int32_t v);
extern void kafka_write_varlong(KafkaWriter *w, int64_t v);
extern void kafka_write_uuid(KafkaWriter *w, const KafkaUuid *v);

/* A null (len < 0) passed to a non-nullable writer is KAFKA_ERR_INVALID_ARG. */
extern void kafka_write_string(KafkaWriter *w, KafkaStr v);
extern void kafka_write_nullable_string(KafkaWriter *w, KafkaStr v);
extern void kafka_write_bytes(KafkaWriter *w, KafkaBytes v);
extern void kafka_write_nullable_bytes(KafkaWriter *w, KafkaBytes v);
extern void kafka_write_records(KafkaWriter *w, KafkaBytes v);

/*
 * Write the length prefix of a records field of `length` bytes (>= 0) and
 * record a splice point at the current end of the buffer: the caller will
 * send those bytes itself between buf[0 .. offset) and buf[offset .. len).
 */
extern void kafka_write_records_splice(KafkaWriter *w, int32_t length, const void *arg);

/* Array count; -1 writes a null array. */
extern void kafka_write_array_len(KafkaWriter *w, int32_t count);

/*
 * Array count for an encoder: fails with KAFKA_ERR_INVALID_ARG on a null
 * (count -1) that the version does not allow, or on count > 0 with no
 * elements.  Returns true when there are elements to write (count > 0 and
 * no error so far).
 */
extern bool kafka_write_array_begin(KafkaWriter *w, int32_t count, const void *elems,
									bool nullable);

/* An empty tagged-field section (nothing when not flexible). */
extern void kafka_write_tagged_fields_empty(KafkaWriter *w);

/*
 * One tagged field: tag_begin writes the tag and a placeholder size, the
 * caller writes the value, tag_end patches the size (moving the value if
 * the size needs more than one byte).  The caller writes the field count
 * first, and the fields in increasing tag order.
 */
extern size_t kafka_write_tag_begin(KafkaWriter *w, uint32_t tag);
extern void kafka_write_tag_end(KafkaWriter *w, size_t mark);

/* A 4-byte placeholder; returns its offset for kafka_write_patch_int32. */
extern size_t kafka_write_reserve_int32(KafkaWriter *w);
extern void kafka_write_patch_int32(KafkaWriter *w, size_t offset, int32_t v);

/* ----------------------------------------------------------------------
 * The APIs served (api_table.h)
 * ----------------------------------------------------------------------
 */

/* Kafka's AclOperation codes (org.apache.kafka.common.acl.AclOperation) */
typedef enum KafkaAclOperation
{
	KAFKA_ACL_UNKNOWN = 0,
	KAFKA_ACL_ANY = 1,
	KAFKA_ACL_ALL = 2,
	KAFKA_ACL_READ = 3,
	KAFKA_ACL_WRITE = 4,
	KAFKA_ACL_CREATE = 5,
	KAFKA_ACL_DELETE = 6,
	KAFKA_ACL_ALTER = 7,
	KAFKA_ACL_DESCRIBE = 8,
	KAFKA_ACL_CLUSTER_ACTION = 9,
	KAFKA_ACL_DESCRIBE_CONFIGS = 10,
	KAFKA_ACL_ALTER_CONFIGS = 11,
	KAFKA_ACL_IDEMPOTENT_WRITE = 12,
	KAFKA_ACL_CREATE_TOKENS = 13,
	KAFKA_ACL_DESCRIBE_TOKENS = 14
} KafkaAclOperation;

/* Kafka's ResourceType codes (org.apache.kafka.common.resource.ResourceType) */
typedef enum KafkaResourceType
{
	KAFKA_RESOURCE_UNKNOWN = 0,
	KAFKA_RESOURCE_ANY = 1,
	KAFKA_RESOURCE_TOPIC = 2,
	KAFKA_RESOURCE_GROUP = 3,
	KAFKA_RESOURCE_CLUSTER = 4,
	KAFKA_RESOURCE_TRANSACTIONAL_ID = 5,
	KAFKA_RESOURCE_DELEGATION_TOKEN = 6,
	KAFKA_RESOURCE_USER = 7
} KafkaResourceType;

/*
 * The quota an API is throttled by (Kafka's QuotaType: byte rates for
 * Produce and Fetch, request time per KIP-124, partition mutations per
 * KIP-599).  NONE is not throttled at all (in Kafka, the inter-broker
 * CLUSTER_ACTION APIs; none of the APIs served).  Not a wire code.
 */
typedef enum KafkaQuotaClass
{
	KAFKA_QUOTA_NONE = 0,
	KAFKA_QUOTA_PRODUCE,
	KAFKA_QUOTA_FETCH,
	KAFKA_QUOTA_REQUEST,
	KAFKA_QUOTA_CONTROLLER_MUTATION
} KafkaQuotaClass;

union KafkaRequestBody;			/* messages.h */

/*
 * One API served, as api_table.h lists it (see there for each column).
 * Decode and Encode are the generated codec of the API (api_<name>.c):
 * Decode fills the API's member of the KafkaRequestBody union, Encode
 * takes a pointer to the API's response struct.  Both refuse versions
 * outside [MinVersion, MaxVersion] with KAFKA_ERR_UNSUPPORTED.
 */
typedef struct KafkaApiInfo
{
	int16_t		ApiKey;
	int16_t		MinVersion;		/* the versions served */
	int16_t		MaxVersion;
	int16_t		FlexibleVersion;	/* first flexible version per the JSON
									 * schema (may exceed MaxVersion);
									 * INT16_MAX if none */
	const char *Name;			/* "Metadata" */
	KafkaAclOperation AclOperation; /* not enforced yet (api_table.h) */
	KafkaResourceType ResourceType;
	KafkaQuotaClass QuotaClass;
	int			(*Decode) (KafkaReader *r, int16_t version, union KafkaRequestBody *out,
						   const KafkaAllocator *a);
	int			(*Encode) (KafkaWriter *w, int16_t version, const void *body);
} KafkaApiInfo;

/*
 * The APIs served, in increasing ApiKey order: api_table.h expanded.  Every
 * version in [MinVersion, MaxVersion] has a request decoder and a response
 * encoder, the broker has a handler for it, and ApiVersions advertises
 * exactly this.
 */
extern const KafkaApiInfo kafka_apis[];
extern const int kafka_apis_count;

/* table entry of api_key, or NULL if not served */
extern const KafkaApiInfo *kafka_api_lookup(int16_t api_key);
extern bool kafka_api_version_supported(int16_t api_key, int16_t version);
/* false for unknown API keys */
extern bool kafka_api_version_flexible(int16_t api_key, int16_t version);
/* name of a known API key ("Produce"), served or not, or "?" */
extern const char *kafka_api_name(int16_t api_key);

/*
 * Header versions: request 2 for flexible request versions, else 1 (also
 * for unknown keys); response 1 for flexible versions, else 0, and always
 * 0 for ApiVersions.
 */
extern int	kafka_request_header_version(int16_t api_key, int16_t version);
extern int	kafka_response_header_version(int16_t api_key, int16_t version);

/* ----------------------------------------------------------------------
 * Headers and framing
 * ----------------------------------------------------------------------
 */
typedef struct KafkaRequestHeader
{
	int16_t		RequestApiKey;
	int16_t		RequestApiVersion;
	int32_t		CorrelationId;
	KafkaStr	ClientId;		/* nullable */
	int16_t		HeaderVersion;	/* 1 or 2, per kafka_request_header_version */
} KafkaRequestHeader;

/*
 * Decode a request header from r, which must start just after the frame's
 * Size field and end with the frame.  Unknown tagged fields of header v2
 * are skipped.  An unsupported key or version is not an error here (so the
 * caller can answer ApiVersions as KIP-511 requires, or log what it got);
 * the body decoders reject it.  Returns KAFKA_OK or r->err; r is left at
 * the first byte of the body.
 */
extern int	kafka_request_header_decode(KafkaReader *r, KafkaRequestHeader *hdr);

/*
 * Encode a request header (HeaderVersion is taken from
 * kafka_request_header_version, not from hdr).  For tests and tools.
 */
extern void kafka_request_header_encode(KafkaWriter *w, const KafkaRequestHeader *hdr);

/*
 * Start a response frame: a placeholder for Size, CorrelationId, and for
 * header version 1 an empty tagged-field section.  Returns the offset of
 * Size, to be passed to kafka_response_end after the body was written.
 * kafka_response_end patches Size to the bytes written after it plus the
 * bytes of all splice points recorded after it, and returns w->err.
 */
extern size_t kafka_response_begin(KafkaWriter *w, int32_t correlation_id, int header_version);
extern int	kafka_response_end(KafkaWriter *w, size_t frame_start);

#endif							/* KAFKA_PROTOCOL_H */
