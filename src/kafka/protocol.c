/*-------------------------------------------------------------------------
 *
 * protocol.c
 *	  Kafka wire protocol primitives: the bounds-checked reader, the
 *	  growable writer, request and response headers, and the table of the
 *	  APIs served.
 *
 * See protocol.h for the wire format and the conventions (sticky errors,
 * KAFKA_READ / err_parse, zero-copy strings).
 *
 * The APIs served.  kafka_apis[] is api_table.h expanded: versions, name,
 * ACL and quota columns, and the generated decoder and encoder of each API.
 * Why each version range was chosen is written next to the ranges, in
 * api_table.h.
 *
 * Copyright (c) 2025, nagare developers
 *
 * src/kafka/protocol.c
 *
 *-------------------------------------------------------------------------
 */
#include "kafka/protocol.h"

#include "kafka/byteorder.h"
#include "kafka/messages.h"
#include "kafka/varint.h"

/*
 * api_table.h is sorted by ApiKey (kafka_api_lookup relies on it).  The
 * Handler column is the broker's and only a token here.
 */
const KafkaApiInfo kafka_apis[] = {
#define KAFKA_API(key, name, min, max, flexible, handler, acl, resource, quota) \
	{key, min, max, flexible, #name, acl, resource, quota, \
	 kafka_##name##Request_decode_body, kafka_##name##Response_encode_body},
#include "kafka/api_table.h"
#undef KAFKA_API
};

const int	kafka_apis_count = sizeof(kafka_apis) / sizeof(kafka_apis[0]);

/* API keys that are not served, named for log messages */
static const struct
{
	int16_t		key;
	const char *name;
}			other_api_names[] = {
	{KAFKA_API_SASL_HANDSHAKE, "SaslHandshake"},
	{KAFKA_API_ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn"},
	{KAFKA_API_ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn"},
	{KAFKA_API_END_TXN, "EndTxn"},
	{KAFKA_API_TXN_OFFSET_COMMIT, "TxnOffsetCommit"},
	{KAFKA_API_SASL_AUTHENTICATE, "SaslAuthenticate"},
	{KAFKA_API_DESCRIBE_CLUSTER, "DescribeCluster"},
};

const KafkaApiInfo *
kafka_api_lookup(int16_t api_key)
{
	int			lo = 0;
	int			hi = kafka_apis_count - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (kafka_apis[mid].ApiKey == api_key)
			return &kafka_apis[mid];
		if (kafka_apis[mid].ApiKey < api_key)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

bool
kafka_api_version_supported(int16_t api_key, int16_t version)
{
	const KafkaApiInfo *api = kafka_api_lookup(api_key);

	return api != NULL && version >= api->MinVersion && version <= api->MaxVersion;
}

bool
kafka_api_version_flexible(int16_t api_key, int16_t version)
{
	const KafkaApiInfo *api = kafka_api_lookup(api_key);

	return api != NULL && version >= api->FlexibleVersion;
}

const char *
kafka_api_name(int16_t api_key)
{
	const KafkaApiInfo *api = kafka_api_lookup(api_key);
	size_t		i;

	if (api != NULL)
		return api->Name;
	for (i = 0; i < sizeof(other_api_names) / sizeof(other_api_names[0]); i++)
		if (other_api_names[i].key == api_key)
			return other_api_names[i].name;
	return "?";
}

int
kafka_request_header_version(int16_t api_key, int16_t version)
{
	return kafka_api_version_flexible(api_key, version) ? 2 : 1;
}

int
kafka_response_header_version(int16_t api_key, int16_t version)
{
	if (api_key == KAFKA_API_API_VERSIONS)
		return 0;
	return kafka_api_version_flexible(api_key, version) ? 1 : 0;
}

const char *
kafka_error_name(int16_t code)
{
	switch ((KafkaErrorCode) code)
	{
		case KAFKA_ERROR_UNKNOWN_SERVER_ERROR:
			return "UNKNOWN_SERVER_ERROR";
		case KAFKA_ERROR_NONE:
			return "NONE";
		case KAFKA_ERROR_OFFSET_OUT_OF_RANGE:
			return "OFFSET_OUT_OF_RANGE";
		case KAFKA_ERROR_CORRUPT_MESSAGE:
			return "CORRUPT_MESSAGE";
		case KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION:
			return "UNKNOWN_TOPIC_OR_PARTITION";
		case KAFKA_ERROR_INVALID_FETCH_SIZE:
			return "INVALID_FETCH_SIZE";
		case KAFKA_ERROR_LEADER_NOT_AVAILABLE:
			return "LEADER_NOT_AVAILABLE";
		case KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER:
			return "NOT_LEADER_OR_FOLLOWER";
		case KAFKA_ERROR_REQUEST_TIMED_OUT:
			return "REQUEST_TIMED_OUT";
		case KAFKA_ERROR_BROKER_NOT_AVAILABLE:
			return "BROKER_NOT_AVAILABLE";
		case KAFKA_ERROR_REPLICA_NOT_AVAILABLE:
			return "REPLICA_NOT_AVAILABLE";
		case KAFKA_ERROR_MESSAGE_TOO_LARGE:
			return "MESSAGE_TOO_LARGE";
		case KAFKA_ERROR_STALE_CONTROLLER_EPOCH:
			return "STALE_CONTROLLER_EPOCH";
		case KAFKA_ERROR_OFFSET_METADATA_TOO_LARGE:
			return "OFFSET_METADATA_TOO_LARGE";
		case KAFKA_ERROR_NETWORK_EXCEPTION:
			return "NETWORK_EXCEPTION";
		case KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS:
			return "COORDINATOR_LOAD_IN_PROGRESS";
		case KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE:
			return "COORDINATOR_NOT_AVAILABLE";
		case KAFKA_ERROR_NOT_COORDINATOR:
			return "NOT_COORDINATOR";
		case KAFKA_ERROR_INVALID_TOPIC_EXCEPTION:
			return "INVALID_TOPIC_EXCEPTION";
		case KAFKA_ERROR_RECORD_LIST_TOO_LARGE:
			return "RECORD_LIST_TOO_LARGE";
		case KAFKA_ERROR_NOT_ENOUGH_REPLICAS:
			return "NOT_ENOUGH_REPLICAS";
		case KAFKA_ERROR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
			return "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
		case KAFKA_ERROR_INVALID_REQUIRED_ACKS:
			return "INVALID_REQUIRED_ACKS";
		case KAFKA_ERROR_ILLEGAL_GENERATION:
			return "ILLEGAL_GENERATION";
		case KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL:
			return "INCONSISTENT_GROUP_PROTOCOL";
		case KAFKA_ERROR_INVALID_GROUP_ID:
			return "INVALID_GROUP_ID";
		case KAFKA_ERROR_UNKNOWN_MEMBER_ID:
			return "UNKNOWN_MEMBER_ID";
		case KAFKA_ERROR_INVALID_SESSION_TIMEOUT:
			return "INVALID_SESSION_TIMEOUT";
		case KAFKA_ERROR_REBALANCE_IN_PROGRESS:
			return "REBALANCE_IN_PROGRESS";
		case KAFKA_ERROR_INVALID_COMMIT_OFFSET_SIZE:
			return "INVALID_COMMIT_OFFSET_SIZE";
		case KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED:
			return "TOPIC_AUTHORIZATION_FAILED";
		case KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED:
			return "GROUP_AUTHORIZATION_FAILED";
		case KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED:
			return "CLUSTER_AUTHORIZATION_FAILED";
		case KAFKA_ERROR_INVALID_TIMESTAMP:
			return "INVALID_TIMESTAMP";
		case KAFKA_ERROR_UNSUPPORTED_SASL_MECHANISM:
			return "UNSUPPORTED_SASL_MECHANISM";
		case KAFKA_ERROR_ILLEGAL_SASL_STATE:
			return "ILLEGAL_SASL_STATE";
		case KAFKA_ERROR_UNSUPPORTED_VERSION:
			return "UNSUPPORTED_VERSION";
		case KAFKA_ERROR_TOPIC_ALREADY_EXISTS:
			return "TOPIC_ALREADY_EXISTS";
		case KAFKA_ERROR_INVALID_PARTITIONS:
			return "INVALID_PARTITIONS";
		case KAFKA_ERROR_INVALID_REPLICATION_FACTOR:
			return "INVALID_REPLICATION_FACTOR";
		case KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT:
			return "INVALID_REPLICA_ASSIGNMENT";
		case KAFKA_ERROR_INVALID_CONFIG:
			return "INVALID_CONFIG";
		case KAFKA_ERROR_NOT_CONTROLLER:
			return "NOT_CONTROLLER";
		case KAFKA_ERROR_INVALID_REQUEST:
			return "INVALID_REQUEST";
		case KAFKA_ERROR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
			return "UNSUPPORTED_FOR_MESSAGE_FORMAT";
		case KAFKA_ERROR_POLICY_VIOLATION:
			return "POLICY_VIOLATION";
		case KAFKA_ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER:
			return "OUT_OF_ORDER_SEQUENCE_NUMBER";
		case KAFKA_ERROR_DUPLICATE_SEQUENCE_NUMBER:
			return "DUPLICATE_SEQUENCE_NUMBER";
		case KAFKA_ERROR_INVALID_PRODUCER_EPOCH:
			return "INVALID_PRODUCER_EPOCH";
		case KAFKA_ERROR_INVALID_TXN_STATE:
			return "INVALID_TXN_STATE";
		case KAFKA_ERROR_INVALID_PRODUCER_ID_MAPPING:
			return "INVALID_PRODUCER_ID_MAPPING";
		case KAFKA_ERROR_INVALID_TRANSACTION_TIMEOUT:
			return "INVALID_TRANSACTION_TIMEOUT";
		case KAFKA_ERROR_CONCURRENT_TRANSACTIONS:
			return "CONCURRENT_TRANSACTIONS";
		case KAFKA_ERROR_TRANSACTION_COORDINATOR_FENCED:
			return "TRANSACTION_COORDINATOR_FENCED";
		case KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
			return "TRANSACTIONAL_ID_AUTHORIZATION_FAILED";
		case KAFKA_ERROR_SECURITY_DISABLED:
			return "SECURITY_DISABLED";
		case KAFKA_ERROR_OPERATION_NOT_ATTEMPTED:
			return "OPERATION_NOT_ATTEMPTED";
		case KAFKA_ERROR_KAFKA_STORAGE_ERROR:
			return "KAFKA_STORAGE_ERROR";
		case KAFKA_ERROR_LOG_DIR_NOT_FOUND:
			return "LOG_DIR_NOT_FOUND";
		case KAFKA_ERROR_SASL_AUTHENTICATION_FAILED:
			return "SASL_AUTHENTICATION_FAILED";
		case KAFKA_ERROR_UNKNOWN_PRODUCER_ID:
			return "UNKNOWN_PRODUCER_ID";
		case KAFKA_ERROR_REASSIGNMENT_IN_PROGRESS:
			return "REASSIGNMENT_IN_PROGRESS";
		case KAFKA_ERROR_DELEGATION_TOKEN_AUTH_DISABLED:
			return "DELEGATION_TOKEN_AUTH_DISABLED";
		case KAFKA_ERROR_DELEGATION_TOKEN_NOT_FOUND:
			return "DELEGATION_TOKEN_NOT_FOUND";
		case KAFKA_ERROR_DELEGATION_TOKEN_OWNER_MISMATCH:
			return "DELEGATION_TOKEN_OWNER_MISMATCH";
		case KAFKA_ERROR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED:
			return "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED";
		case KAFKA_ERROR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
			return "DELEGATION_TOKEN_AUTHORIZATION_FAILED";
		case KAFKA_ERROR_DELEGATION_TOKEN_EXPIRED:
			return "DELEGATION_TOKEN_EXPIRED";
		case KAFKA_ERROR_INVALID_PRINCIPAL_TYPE:
			return "INVALID_PRINCIPAL_TYPE";
		case KAFKA_ERROR_NON_EMPTY_GROUP:
			return "NON_EMPTY_GROUP";
		case KAFKA_ERROR_GROUP_ID_NOT_FOUND:
			return "GROUP_ID_NOT_FOUND";
		case KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND:
			return "FETCH_SESSION_ID_NOT_FOUND";
		case KAFKA_ERROR_INVALID_FETCH_SESSION_EPOCH:
			return "INVALID_FETCH_SESSION_EPOCH";
		case KAFKA_ERROR_LISTENER_NOT_FOUND:
			return "LISTENER_NOT_FOUND";
		case KAFKA_ERROR_TOPIC_DELETION_DISABLED:
			return "TOPIC_DELETION_DISABLED";
		case KAFKA_ERROR_FENCED_LEADER_EPOCH:
			return "FENCED_LEADER_EPOCH";
		case KAFKA_ERROR_UNKNOWN_LEADER_EPOCH:
			return "UNKNOWN_LEADER_EPOCH";
		case KAFKA_ERROR_UNSUPPORTED_COMPRESSION_TYPE:
			return "UNSUPPORTED_COMPRESSION_TYPE";
		case KAFKA_ERROR_STALE_BROKER_EPOCH:
			return "STALE_BROKER_EPOCH";
		case KAFKA_ERROR_OFFSET_NOT_AVAILABLE:
			return "OFFSET_NOT_AVAILABLE";
		case KAFKA_ERROR_MEMBER_ID_REQUIRED:
			return "MEMBER_ID_REQUIRED";
		case KAFKA_ERROR_PREFERRED_LEADER_NOT_AVAILABLE:
			return "PREFERRED_LEADER_NOT_AVAILABLE";
		case KAFKA_ERROR_GROUP_MAX_SIZE_REACHED:
			return "GROUP_MAX_SIZE_REACHED";
		case KAFKA_ERROR_FENCED_INSTANCE_ID:
			return "FENCED_INSTANCE_ID";
		case KAFKA_ERROR_ELIGIBLE_LEADERS_NOT_AVAILABLE:
			return "ELIGIBLE_LEADERS_NOT_AVAILABLE";
		case KAFKA_ERROR_ELECTION_NOT_NEEDED:
			return "ELECTION_NOT_NEEDED";
		case KAFKA_ERROR_NO_REASSIGNMENT_IN_PROGRESS:
			return "NO_REASSIGNMENT_IN_PROGRESS";
		case KAFKA_ERROR_GROUP_SUBSCRIBED_TO_TOPIC:
			return "GROUP_SUBSCRIBED_TO_TOPIC";
		case KAFKA_ERROR_INVALID_RECORD:
			return "INVALID_RECORD";
		case KAFKA_ERROR_UNSTABLE_OFFSET_COMMIT:
			return "UNSTABLE_OFFSET_COMMIT";
		case KAFKA_ERROR_THROTTLING_QUOTA_EXCEEDED:
			return "THROTTLING_QUOTA_EXCEEDED";
		case KAFKA_ERROR_PRODUCER_FENCED:
			return "PRODUCER_FENCED";
		case KAFKA_ERROR_RESOURCE_NOT_FOUND:
			return "RESOURCE_NOT_FOUND";
		case KAFKA_ERROR_DUPLICATE_RESOURCE:
			return "DUPLICATE_RESOURCE";
		case KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL:
			return "UNACCEPTABLE_CREDENTIAL";
		case KAFKA_ERROR_INCONSISTENT_VOTER_SET:
			return "INCONSISTENT_VOTER_SET";
		case KAFKA_ERROR_INVALID_UPDATE_VERSION:
			return "INVALID_UPDATE_VERSION";
		case KAFKA_ERROR_FEATURE_UPDATE_FAILED:
			return "FEATURE_UPDATE_FAILED";
		case KAFKA_ERROR_PRINCIPAL_DESERIALIZATION_FAILURE:
			return "PRINCIPAL_DESERIALIZATION_FAILURE";
		case KAFKA_ERROR_SNAPSHOT_NOT_FOUND:
			return "SNAPSHOT_NOT_FOUND";
		case KAFKA_ERROR_POSITION_OUT_OF_RANGE:
			return "POSITION_OUT_OF_RANGE";
		case KAFKA_ERROR_UNKNOWN_TOPIC_ID:
			return "UNKNOWN_TOPIC_ID";
		case KAFKA_ERROR_DUPLICATE_BROKER_REGISTRATION:
			return "DUPLICATE_BROKER_REGISTRATION";
		case KAFKA_ERROR_BROKER_ID_NOT_REGISTERED:
			return "BROKER_ID_NOT_REGISTERED";
		case KAFKA_ERROR_INCONSISTENT_TOPIC_ID:
			return "INCONSISTENT_TOPIC_ID";
		case KAFKA_ERROR_INCONSISTENT_CLUSTER_ID:
			return "INCONSISTENT_CLUSTER_ID";
		case KAFKA_ERROR_TRANSACTIONAL_ID_NOT_FOUND:
			return "TRANSACTIONAL_ID_NOT_FOUND";
		case KAFKA_ERROR_FETCH_SESSION_TOPIC_ID_ERROR:
			return "FETCH_SESSION_TOPIC_ID_ERROR";
		case KAFKA_ERROR_INELIGIBLE_REPLICA:
			return "INELIGIBLE_REPLICA";
		case KAFKA_ERROR_NEW_LEADER_ELECTED:
			return "NEW_LEADER_ELECTED";
		case KAFKA_ERROR_OFFSET_MOVED_TO_TIERED_STORAGE:
			return "OFFSET_MOVED_TO_TIERED_STORAGE";
		case KAFKA_ERROR_FENCED_MEMBER_EPOCH:
			return "FENCED_MEMBER_EPOCH";
		case KAFKA_ERROR_UNRELEASED_INSTANCE_ID:
			return "UNRELEASED_INSTANCE_ID";
		case KAFKA_ERROR_UNSUPPORTED_ASSIGNOR:
			return "UNSUPPORTED_ASSIGNOR";
		case KAFKA_ERROR_STALE_MEMBER_EPOCH:
			return "STALE_MEMBER_EPOCH";
		case KAFKA_ERROR_MISMATCHED_ENDPOINT_TYPE:
			return "MISMATCHED_ENDPOINT_TYPE";
		case KAFKA_ERROR_UNSUPPORTED_ENDPOINT_TYPE:
			return "UNSUPPORTED_ENDPOINT_TYPE";
		case KAFKA_ERROR_UNKNOWN_CONTROLLER_ID:
			return "UNKNOWN_CONTROLLER_ID";
		case KAFKA_ERROR_UNKNOWN_SUBSCRIPTION_ID:
			return "UNKNOWN_SUBSCRIPTION_ID";
		case KAFKA_ERROR_TELEMETRY_TOO_LARGE:
			return "TELEMETRY_TOO_LARGE";
		case KAFKA_ERROR_INVALID_REGISTRATION:
			return "INVALID_REGISTRATION";
		case KAFKA_ERROR_TRANSACTION_ABORTABLE:
			return "TRANSACTION_ABORTABLE";
		case KAFKA_ERROR_INVALID_RECORD_STATE:
			return "INVALID_RECORD_STATE";
		case KAFKA_ERROR_SHARE_SESSION_NOT_FOUND:
			return "SHARE_SESSION_NOT_FOUND";
		case KAFKA_ERROR_INVALID_SHARE_SESSION_EPOCH:
			return "INVALID_SHARE_SESSION_EPOCH";
		case KAFKA_ERROR_FENCED_STATE_EPOCH:
			return "FENCED_STATE_EPOCH";
		case KAFKA_ERROR_INVALID_VOTER_KEY:
			return "INVALID_VOTER_KEY";
		case KAFKA_ERROR_DUPLICATE_VOTER:
			return "DUPLICATE_VOTER";
		case KAFKA_ERROR_VOTER_NOT_FOUND:
			return "VOTER_NOT_FOUND";
		case KAFKA_ERROR_INVALID_REGULAR_EXPRESSION:
			return "INVALID_REGULAR_EXPRESSION";
	}
	return "?";
}

/* ----------------------------------------------------------------------
 * Reader
 * ----------------------------------------------------------------------
 */
void
kafka_reader_init(KafkaReader *r, const void *buf, size_t len, bool flexible)
{
	static const uint8_t empty[1];

	/* (NULL, 0) is a valid empty input; pointer arithmetic on NULL is not */
	if (buf == NULL)
	{
		buf = empty;
		len = 0;
	}
	r->start = buf;
	r->pos = buf;
	r->end = r->start + len;
	r->flexible = flexible;
	r->err = KAFKA_OK;
	r->err_pos = NULL;
}

bool
kafka_reader_fail(KafkaReader *r, int err)
{
	if (r->err == KAFKA_OK)
	{
		r->err = err;
		r->err_pos = r->pos;
	}
	return false;
}

/* Are n more bytes there?  Fails with KAFKA_ERR_TRUNCATED if not. */
static inline bool
reader_need(KafkaReader *r, size_t n)
{
	if (r->err != KAFKA_OK)
		return false;
	if ((size_t) (r->end - r->pos) < n)
		return kafka_reader_fail(r, KAFKA_ERR_TRUNCATED);
	return true;
}

bool
kafka_read_raw(KafkaReader *r, size_t n, const uint8_t **p)
{
	if (!reader_need(r, n))
		return false;
	*p = r->pos;
	r->pos += n;
	return true;
}

bool
kafka_read_int8(KafkaReader *r, int8_t *v)
{
	if (!reader_need(r, 1))
		return false;
	*v = (int8_t) r->pos[0];
	r->pos += 1;
	return true;
}

/* As Java's readByte() != 0: any non-zero byte is true. */
bool
kafka_read_bool(KafkaReader *r, bool *v)
{
	if (!reader_need(r, 1))
		return false;
	*v = r->pos[0] != 0;
	r->pos += 1;
	return true;
}

bool
kafka_read_int16(KafkaReader *r, int16_t *v)
{
	if (!reader_need(r, 2))
		return false;
	*v = (int16_t) kafka_load_be16(r->pos);
	r->pos += 2;
	return true;
}

bool
kafka_read_uint16(KafkaReader *r, uint16_t *v)
{
	if (!reader_need(r, 2))
		return false;
	*v = kafka_load_be16(r->pos);
	r->pos += 2;
	return true;
}

bool
kafka_read_int32(KafkaReader *r, int32_t *v)
{
	if (!reader_need(r, 4))
		return false;
	*v = (int32_t) kafka_load_be32(r->pos);
	r->pos += 4;
	return true;
}

bool
kafka_read_uint32(KafkaReader *r, uint32_t *v)
{
	if (!reader_need(r, 4))
		return false;
	*v = kafka_load_be32(r->pos);
	r->pos += 4;
	return true;
}

bool
kafka_read_int64(KafkaReader *r, int64_t *v)
{
	if (!reader_need(r, 8))
		return false;
	*v = (int64_t) kafka_load_be64(r->pos);
	r->pos += 8;
	return true;
}

bool
kafka_read_float64(KafkaReader *r, double *v)
{
	uint64_t	u;

	if (!reader_need(r, 8))
		return false;
	u = kafka_load_be64(r->pos);
	memcpy(v, &u, sizeof(*v));
	r->pos += 8;
	return true;
}

bool
kafka_read_uvarint(KafkaReader *r, uint32_t *v)
{
	int			rc;

	if (r->err != KAFKA_OK)
		return false;
	rc = kafka_uvarint_read(&r->pos, r->end, v);
	if (rc != KAFKA_OK)
		return kafka_reader_fail(r, rc);
	return true;
}

bool
kafka_read_varint(KafkaReader *r, int32_t *v)
{
	int			rc;

	if (r->err != KAFKA_OK)
		return false;
	rc = kafka_varint_read(&r->pos, r->end, v);
	if (rc != KAFKA_OK)
		return kafka_reader_fail(r, rc);
	return true;
}

bool
kafka_read_varlong(KafkaReader *r, int64_t *v)
{
	int			rc;

	if (r->err != KAFKA_OK)
		return false;
	rc = kafka_varlong_read(&r->pos, r->end, v);
	if (rc != KAFKA_OK)
		return kafka_reader_fail(r, rc);
	return true;
}

bool
kafka_read_uuid(KafkaReader *r, KafkaUuid *v)
{
	if (!reader_need(r, 16))
		return false;
	memcpy(v->b, r->pos, 16);
	r->pos += 16;
	return true;
}

/*
 * Length prefix of a string (wide = false: INT16, or compact) or of bytes
 * (wide = true: INT32, or compact); *len = -1 for null.  Checks that the
 * bytes are there, so the caller can take them.
 */
static bool
read_length(KafkaReader *r, bool wide, bool nullable, int32_t *len)
{
	int64_t		n;

	if (r->flexible)
	{
		uint32_t	u;

		if (!kafka_read_uvarint(r, &u))
			return false;
		n = (int64_t) u - 1;
	}
	else if (wide)
	{
		int32_t		v;

		if (!kafka_read_int32(r, &v))
			return false;
		n = v;
	}
	else
	{
		int16_t		v;

		if (!kafka_read_int16(r, &v))
			return false;
		n = v;
	}

	if (n == -1)
	{
		if (!nullable)
			return kafka_reader_fail(r, KAFKA_ERR_CORRUPT);
		*len = -1;
		return true;
	}
	if (n < -1)
		return kafka_reader_fail(r, KAFKA_ERR_CORRUPT);
	/* Kafka rejects compact strings above INT16_MAX too */
	if (!wide && n > KAFKA_MAX_STRING)
		return kafka_reader_fail(r, KAFKA_ERR_CORRUPT);
	if (n > INT32_MAX)
		return kafka_reader_fail(r, KAFKA_ERR_CORRUPT);
	if ((uint64_t) n > (uint64_t) (r->end - r->pos))
		return kafka_reader_fail(r, KAFKA_ERR_TRUNCATED);
	*len = (int32_t) n;
	return true;
}

static bool
read_string(KafkaReader *r, KafkaStr *v, bool nullable)
{
	int32_t		len;

	if (!read_length(r, false, nullable, &len))
		return false;
	if (len < 0)
	{
		v->ptr = NULL;
		v->len = -1;
		return true;
	}
	v->ptr = (const char *) r->pos;
	v->len = len;
	r->pos += len;
	return true;
}

bool
kafka_read_string(KafkaReader *r, KafkaStr *v)
{
	return read_string(r, v, false);
}

bool
kafka_read_nullable_string(KafkaReader *r, KafkaStr *v)
{
	return read_string(r, v, true);
}

static bool
read_bytes(KafkaReader *r, KafkaBytes *v, bool nullable)
{
	int32_t		len;

	if (!read_length(r, true, nullable, &len))
		return false;
	if (len < 0)
	{
		v->ptr = NULL;
		v->len = -1;
		return true;
	}
	v->ptr = r->pos;
	v->len = len;
	r->pos += len;
	return true;
}

bool
kafka_read_bytes(KafkaReader *r, KafkaBytes *v)
{
	return read_bytes(r, v, false);
}

bool
kafka_read_nullable_bytes(KafkaReader *r, KafkaBytes *v)
{
	return read_bytes(r, v, true);
}

bool
kafka_read_records(KafkaReader *r, KafkaBytes *v)
{
	return read_bytes(r, v, true);
}

bool
kafka_read_array_len(KafkaReader *r, int32_t *count, bool nullable,
					 int32_t max, size_t min_elem_size)
{
	int64_t		n;

	if (r->flexible)
	{
		uint32_t	u;

		if (!kafka_read_uvarint(r, &u))
			return false;
		n = (int64_t) u - 1;
	}
	else
	{
		int32_t		v;

		if (!kafka_read_int32(r, &v))
			return false;
		n = v;
	}

	if (n == -1)
	{
		if (!nullable)
			return kafka_reader_fail(r, KAFKA_ERR_CORRUPT);
		*count = -1;
		return true;
	}
	if (n < -1)
		return kafka_reader_fail(r, KAFKA_ERR_CORRUPT);
	if (n > max)
		return kafka_reader_fail(r, KAFKA_ERR_TOO_LARGE);
	if (min_elem_size < 1)
		min_elem_size = 1;
	if ((uint64_t) n > (uint64_t) (r->end - r->pos) / min_elem_size)
		return kafka_reader_fail(r, KAFKA_ERR_TRUNCATED);
	*count = (int32_t) n;
	return true;
}

void *
kafka_reader_alloc_array(KafkaReader *r, const KafkaAllocator *a,
						 int32_t count, size_t elem_size)
{
	void	   *p;

	if (r->err != KAFKA_OK || count <= 0)
		return NULL;
	if ((size_t) count > SIZE_MAX / elem_size)
	{
		kafka_reader_fail(r, KAFKA_ERR_TOO_LARGE);
		return NULL;
	}
	p = kafka_mem_alloc(a, (size_t) count * elem_size);
	if (p == NULL)
	{
		kafka_reader_fail(r, KAFKA_ERR_NOMEM);
		return NULL;
	}
	memset(p, 0, (size_t) count * elem_size);
	return p;
}

bool
kafka_read_tag_count(KafkaReader *r, uint32_t *count)
{
	if (!kafka_read_uvarint(r, count))
		return false;
	/* every field takes at least two bytes: its tag and its size */
	if (*count > (r->end - r->pos) / 2)
		return kafka_reader_fail(r, KAFKA_ERR_TRUNCATED);
	return true;
}

bool
kafka_read_tag(KafkaReader *r, uint32_t *tag, KafkaReader *sub)
{
	uint32_t	size;

	if (!kafka_read_uvarint(r, tag) || !kafka_read_uvarint(r, &size))
		return false;
	if (size > (size_t) (r->end - r->pos))
		return kafka_reader_fail(r, KAFKA_ERR_TRUNCATED);
	sub->start = r->start;
	sub->pos = r->pos;
	sub->end = r->pos + size;
	sub->flexible = r->flexible;
	sub->err = KAFKA_OK;
	sub->err_pos = NULL;
	r->pos += size;
	return true;
}

bool
kafka_reader_join_sub(KafkaReader *r, const KafkaReader *sub)
{
	if (r->err == KAFKA_OK)
	{
		r->err = sub->err != KAFKA_OK ? sub->err : KAFKA_ERR_CORRUPT;
		r->err_pos = sub->err_pos != NULL ? sub->err_pos : r->pos;
	}
	return false;
}

bool
kafka_read_tagged_fields_skip(KafkaReader *r)
{
	uint32_t	n;
	uint32_t	i;

	if (!kafka_read_tag_count(r, &n))
		return false;
	for (i = 0; i < n; i++)
	{
		uint32_t	tag;
		KafkaReader sub;

		if (!kafka_read_tag(r, &tag, &sub))
			return false;
	}
	return true;
}

/* ----------------------------------------------------------------------
 * Writer
 * ----------------------------------------------------------------------
 */
void
kafka_writer_init(KafkaWriter *w, const KafkaAllocator *a)
{
	memset(w, 0, sizeof(*w));
	w->alloc = a;
	w->err = KAFKA_OK;
}

void
kafka_writer_reset(KafkaWriter *w)
{
	w->len = 0;
	w->err = KAFKA_OK;
	w->nsplices = 0;
	w->splice_bytes = 0;
}

void
kafka_writer_release(KafkaWriter *w)
{
	kafka_mem_free(w->alloc, w->buf);
	kafka_mem_free(w->alloc, w->splices);
	w->buf = NULL;
	w->splices = NULL;
	w->cap = 0;
	w->splices_cap = 0;
	kafka_writer_reset(w);
}

void
kafka_writer_fail(KafkaWriter *w, int err)
{
	if (w->err == KAFKA_OK)
		w->err = err;
}

/*
 * Make room for n more bytes and return where they go, or NULL (with
 * w->err set).  The wire size (buffer plus spliced bytes) stays within
 * INT32_MAX, which is what a frame's Size can describe.
 */
static uint8_t *
writer_space(KafkaWriter *w, size_t n)
{
	if (w->err != KAFKA_OK)
		return NULL;
	if (n > (size_t) INT32_MAX ||
		(int64_t) w->len + w->splice_bytes + (int64_t) n > INT32_MAX)
	{
		kafka_writer_fail(w, KAFKA_ERR_TOO_LARGE);
		return NULL;
	}
	if (w->len + n > w->cap)
	{
		size_t		cap = w->cap < 256 ? 256 : w->cap;
		uint8_t    *nbuf;

		while (cap < w->len + n)
			cap *= 2;
		nbuf = kafka_mem_alloc(w->alloc, cap);
		if (nbuf == NULL)
		{
			kafka_writer_fail(w, KAFKA_ERR_NOMEM);
			return NULL;
		}
		if (w->len > 0)
			memcpy(nbuf, w->buf, w->len);
		kafka_mem_free(w->alloc, w->buf);
		w->buf = nbuf;
		w->cap = cap;
	}
	w->len += n;
	return w->buf + w->len - n;
}

void
kafka_write_raw(KafkaWriter *w, const void *p, size_t n)
{
	uint8_t    *d;

	if (n == 0)
		return;
	d = writer_space(w, n);
	if (d != NULL)
		memcpy(d, p, n);
}

void
kafka_write_int8(KafkaWriter *w, int8_t v)
{
	uint8_t    *d = writer_space(w, 1);

	if (d != NULL)
		d[0] = (uint8_t) v;
}

void
kafka_write_bool(KafkaWriter *w, bool v)
{
	kafka_write_int8(w, v ? 1 : 0);
}

void
kafka_write_int16(KafkaWriter *w, int16_t v)
{
	uint8_t    *d = writer_space(w, 2);

	if (d != NULL)
		kafka_store_be16(d, (uint16_t) v);
}

void
kafka_write_uint16(KafkaWriter *w, uint16_t v)
{
	uint8_t    *d = writer_space(w, 2);

	if (d != NULL)
		kafka_store_be16(d, v);
}

void
kafka_write_int32(KafkaWriter *w, int32_t v)
{
	uint8_t    *d = writer_space(w, 4);

	if (d != NULL)
		kafka_store_be32(d, (uint32_t) v);
}

void
kafka_write_uint32(KafkaWriter *w, uint32_t v)
{
	uint8_t    *d = writer_space(w, 4);

	if (d != NULL)
		kafka_store_be32(d, v);
}

void
kafka_write_int64(KafkaWriter *w, int64_t v)
{
	uint8_t    *d = writer_space(w, 8);

	if (d != NULL)
		kafka_store_be64(d, (uint64_t) v);
}

void
kafka_write_float64(KafkaWriter *w, double v)
{
	uint64_t	u;
	uint8_t    *d = writer_space(w, 8);

	memcpy(&u, &v, sizeof(u));
	if (d != NULL)
		kafka_store_be64(d, u);
}

void
kafka_write_uvarint(KafkaWriter *w, uint32_t v)
{
	uint8_t		tmp[KAFKA_VARINT_MAX_BYTES];

	kafka_write_raw(w, tmp, kafka_uvarint_write(tmp, v));
}

void
kafka_write_varint(KafkaWriter *w, int32_t v)
{
	uint8_t		tmp[KAFKA_VARINT_MAX_BYTES];

	kafka_write_raw(w, tmp, kafka_varint_write(tmp, v));
}

void
kafka_write_varlong(KafkaWriter *w, int64_t v)
{
	uint8_t		tmp[KAFKA_VARLONG_MAX_BYTES];

	kafka_write_raw(w, tmp, kafka_varlong_write(tmp, v));
}

void
kafka_write_uuid(KafkaWriter *w, const KafkaUuid *v)
{
	kafka_write_raw(w, v->b, 16);
}

/* Length prefix: -1 for null; wide = INT32 (bytes) rather than INT16. */
static void
write_length(KafkaWriter *w, bool wide, int32_t len)
{
	if (len < -1)
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return;
	}
	if (w->flexible)
		kafka_write_uvarint(w, (uint32_t) len + 1);
	else if (wide)
		kafka_write_int32(w, len);
	else
		kafka_write_int16(w, (int16_t) len);
}

static void
write_string(KafkaWriter *w, KafkaStr v, bool nullable)
{
	if ((v.len < 0 && !nullable) || v.len > KAFKA_MAX_STRING ||
		(v.len > 0 && v.ptr == NULL))
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return;
	}
	write_length(w, false, v.len < 0 ? -1 : v.len);
	if (v.len > 0)
		kafka_write_raw(w, v.ptr, (size_t) v.len);
}

void
kafka_write_string(KafkaWriter *w, KafkaStr v)
{
	write_string(w, v, false);
}

void
kafka_write_nullable_string(KafkaWriter *w, KafkaStr v)
{
	write_string(w, v, true);
}

static void
write_bytes(KafkaWriter *w, KafkaBytes v, bool nullable)
{
	if ((v.len < 0 && !nullable) || (v.len > 0 && v.ptr == NULL))
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return;
	}
	write_length(w, true, v.len < 0 ? -1 : v.len);
	if (v.len > 0)
		kafka_write_raw(w, v.ptr, (size_t) v.len);
}

void
kafka_write_bytes(KafkaWriter *w, KafkaBytes v)
{
	write_bytes(w, v, false);
}

void
kafka_write_nullable_bytes(KafkaWriter *w, KafkaBytes v)
{
	write_bytes(w, v, true);
}

void
kafka_write_records(KafkaWriter *w, KafkaBytes v)
{
	write_bytes(w, v, true);
}

void
kafka_write_records_splice(KafkaWriter *w, int32_t length, const void *arg)
{
	if (length < 0)
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return;
	}
	write_length(w, true, length);
	if (w->err != KAFKA_OK)
		return;
	if ((int64_t) w->len + w->splice_bytes + length > INT32_MAX)
	{
		kafka_writer_fail(w, KAFKA_ERR_TOO_LARGE);
		return;
	}
	if (w->nsplices == w->splices_cap)
	{
		int			ncap = w->splices_cap < 16 ? 16 : w->splices_cap * 2;
		KafkaSplice *n;

		n = kafka_mem_alloc(w->alloc, (size_t) ncap * sizeof(KafkaSplice));
		if (n == NULL)
		{
			kafka_writer_fail(w, KAFKA_ERR_NOMEM);
			return;
		}
		if (w->nsplices > 0)
			memcpy(n, w->splices, (size_t) w->nsplices * sizeof(KafkaSplice));
		kafka_mem_free(w->alloc, w->splices);
		w->splices = n;
		w->splices_cap = ncap;
	}
	w->splices[w->nsplices].offset = w->len;
	w->splices[w->nsplices].length = length;
	w->splices[w->nsplices].arg = arg;
	w->nsplices++;
	w->splice_bytes += length;
}

void
kafka_write_array_len(KafkaWriter *w, int32_t count)
{
	if (count < -1)
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return;
	}
	if (w->flexible)
		kafka_write_uvarint(w, (uint32_t) count + 1);
	else
		kafka_write_int32(w, count);
}

bool
kafka_write_array_begin(KafkaWriter *w, int32_t count, const void *elems, bool nullable)
{
	if ((count < 0 && !(count == -1 && nullable)) || (count > 0 && elems == NULL))
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return false;
	}
	kafka_write_array_len(w, count);
	return count > 0 && w->err == KAFKA_OK;
}

void
kafka_write_tagged_fields_empty(KafkaWriter *w)
{
	if (w->flexible)
		kafka_write_uvarint(w, 0);
}

size_t
kafka_write_tag_begin(KafkaWriter *w, uint32_t tag)
{
	kafka_write_uvarint(w, tag);
	kafka_write_int8(w, 0);		/* size placeholder, one byte */
	return w->len;
}

void
kafka_write_tag_end(KafkaWriter *w, size_t mark)
{
	size_t		size;
	size_t		n;
	uint8_t		tmp[KAFKA_VARINT_MAX_BYTES];

	if (w->err != KAFKA_OK)
		return;
	size = w->len - mark;
	if (size > (size_t) INT32_MAX)
	{
		kafka_writer_fail(w, KAFKA_ERR_TOO_LARGE);
		return;
	}
	n = kafka_uvarint_write(tmp, (uint32_t) size);
	if (n > 1)
	{
		/* the value moves right to make room for a longer size */
		if (writer_space(w, n - 1) == NULL)
			return;
		memmove(w->buf + mark + n - 1, w->buf + mark, size);
	}
	memcpy(w->buf + mark - 1, tmp, n);
}

size_t
kafka_write_reserve_int32(KafkaWriter *w)
{
	size_t		off = w->len;

	kafka_write_int32(w, 0);
	return off;
}

void
kafka_write_patch_int32(KafkaWriter *w, size_t offset, int32_t v)
{
	if (w->err != KAFKA_OK)
		return;
	if (offset + 4 > w->len)
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return;
	}
	kafka_store_be32(w->buf + offset, (uint32_t) v);
}

/* ----------------------------------------------------------------------
 * Headers
 * ----------------------------------------------------------------------
 */
int
kafka_request_header_decode(KafkaReader *r, KafkaRequestHeader *hdr)
{
	bool		flexible = r->flexible;

	memset(hdr, 0, sizeof(*hdr));
	KAFKA_READ(kafka_read_int16(r, &hdr->RequestApiKey));
	KAFKA_READ(kafka_read_int16(r, &hdr->RequestApiVersion));
	KAFKA_READ(kafka_read_int32(r, &hdr->CorrelationId));
	/* ClientId: never compact, even in header v2 (RequestHeader.json) */
	r->flexible = false;
	KAFKA_READ(kafka_read_nullable_string(r, &hdr->ClientId));
	hdr->HeaderVersion = (int16_t) kafka_request_header_version(hdr->RequestApiKey,
																hdr->RequestApiVersion);
	if (hdr->HeaderVersion >= 2)
		KAFKA_READ(kafka_read_tagged_fields_skip(r));
	r->flexible = flexible;
	return KAFKA_OK;

err_parse:
	r->flexible = flexible;
	return r->err;
}

void
kafka_request_header_encode(KafkaWriter *w, const KafkaRequestHeader *hdr)
{
	bool		flexible = w->flexible;

	kafka_write_int16(w, hdr->RequestApiKey);
	kafka_write_int16(w, hdr->RequestApiVersion);
	kafka_write_int32(w, hdr->CorrelationId);
	w->flexible = false;
	kafka_write_nullable_string(w, hdr->ClientId);
	if (kafka_request_header_version(hdr->RequestApiKey, hdr->RequestApiVersion) >= 2)
		kafka_write_uvarint(w, 0);
	w->flexible = flexible;
}

size_t
kafka_response_begin(KafkaWriter *w, int32_t correlation_id, int header_version)
{
	size_t		start = kafka_write_reserve_int32(w);

	kafka_write_int32(w, correlation_id);
	if (header_version >= 1)
		kafka_write_uvarint(w, 0);	/* no header tagged fields */
	return start;
}

int
kafka_response_end(KafkaWriter *w, size_t frame_start)
{
	int64_t		size;
	int			i;

	if (w->err != KAFKA_OK)
		return w->err;
	if (frame_start + 4 > w->len)
	{
		kafka_writer_fail(w, KAFKA_ERR_INVALID_ARG);
		return w->err;
	}
	size = (int64_t) (w->len - frame_start - 4);
	for (i = w->nsplices - 1; i >= 0 && w->splices[i].offset >= frame_start + 4; i--)
		size += w->splices[i].length;
	if (size > INT32_MAX)
	{
		kafka_writer_fail(w, KAFKA_ERR_TOO_LARGE);
		return w->err;
	}
	kafka_write_patch_int32(w, frame_start, (int32_t) size);
	return w->err;
}
