/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  Dispatch of request decoding and response encoding by API key, whole
 *	  response frames, and the few API-specific rules that are not wire
 *	  format: KIP-511 answers to unsupported ApiVersions versions, the
 *	  ApiVersions v3 client software check, Metadata v0's "all topics".
 *
 * The per-API codecs are generated (api_<api>.c, see messages.h).
 *
 * Copyright (c) 2025, nagare developers
 *
 * src/kafka/messages.c
 *
 *-------------------------------------------------------------------------
 */
#include "kafka/messages.h"

int
kafka_request_decode(KafkaReader *r, int16_t api_key, int16_t version,
					 KafkaRequestBody *out, const KafkaAllocator *a)
{
	if (!kafka_api_version_supported(api_key, version))
	{
		kafka_reader_fail(r, KAFKA_ERR_UNSUPPORTED);
		return r->err;
	}
	switch ((KafkaApiKey) api_key)
	{
		case KAFKA_API_PRODUCE:
			return kafka_ProduceRequest_decode(r, version, &out->Produce, a);
		case KAFKA_API_FETCH:
			return kafka_FetchRequest_decode(r, version, &out->Fetch, a);
		case KAFKA_API_LIST_OFFSETS:
			return kafka_ListOffsetsRequest_decode(r, version, &out->ListOffsets, a);
		case KAFKA_API_METADATA:
			return kafka_MetadataRequest_decode(r, version, &out->Metadata, a);
		case KAFKA_API_OFFSET_COMMIT:
			return kafka_OffsetCommitRequest_decode(r, version, &out->OffsetCommit, a);
		case KAFKA_API_OFFSET_FETCH:
			return kafka_OffsetFetchRequest_decode(r, version, &out->OffsetFetch, a);
		case KAFKA_API_FIND_COORDINATOR:
			return kafka_FindCoordinatorRequest_decode(r, version, &out->FindCoordinator, a);
		case KAFKA_API_JOIN_GROUP:
			return kafka_JoinGroupRequest_decode(r, version, &out->JoinGroup, a);
		case KAFKA_API_HEARTBEAT:
			return kafka_HeartbeatRequest_decode(r, version, &out->Heartbeat, a);
		case KAFKA_API_LEAVE_GROUP:
			return kafka_LeaveGroupRequest_decode(r, version, &out->LeaveGroup, a);
		case KAFKA_API_SYNC_GROUP:
			return kafka_SyncGroupRequest_decode(r, version, &out->SyncGroup, a);
		case KAFKA_API_DESCRIBE_GROUPS:
			return kafka_DescribeGroupsRequest_decode(r, version, &out->DescribeGroups, a);
		case KAFKA_API_LIST_GROUPS:
			return kafka_ListGroupsRequest_decode(r, version, &out->ListGroups, a);
		case KAFKA_API_API_VERSIONS:
			return kafka_ApiVersionsRequest_decode(r, version, &out->ApiVersions, a);
		case KAFKA_API_CREATE_TOPICS:
			return kafka_CreateTopicsRequest_decode(r, version, &out->CreateTopics, a);
		case KAFKA_API_DELETE_TOPICS:
			return kafka_DeleteTopicsRequest_decode(r, version, &out->DeleteTopics, a);
		case KAFKA_API_DELETE_RECORDS:
			return kafka_DeleteRecordsRequest_decode(r, version, &out->DeleteRecords, a);
		case KAFKA_API_INIT_PRODUCER_ID:
			return kafka_InitProducerIdRequest_decode(r, version, &out->InitProducerId, a);
		case KAFKA_API_DESCRIBE_CONFIGS:
			return kafka_DescribeConfigsRequest_decode(r, version, &out->DescribeConfigs, a);
		case KAFKA_API_ALTER_CONFIGS:
			return kafka_AlterConfigsRequest_decode(r, version, &out->AlterConfigs, a);
		case KAFKA_API_CREATE_PARTITIONS:
			return kafka_CreatePartitionsRequest_decode(r, version, &out->CreatePartitions, a);
		case KAFKA_API_DELETE_GROUPS:
			return kafka_DeleteGroupsRequest_decode(r, version, &out->DeleteGroups, a);
		case KAFKA_API_INCREMENTAL_ALTER_CONFIGS:
			return kafka_IncrementalAlterConfigsRequest_decode(r, version,
															   &out->IncrementalAlterConfigs, a);
		case KAFKA_API_OFFSET_DELETE:
			return kafka_OffsetDeleteRequest_decode(r, version, &out->OffsetDelete, a);
		default:
			break;
	}
	/* in kafka_api_versions[] but no decoder: a bug */
	kafka_reader_fail(r, KAFKA_ERR_UNSUPPORTED);
	return r->err;
}

int
kafka_response_encode(KafkaWriter *w, int16_t api_key, int16_t version, const void *body)
{
	if (!kafka_api_version_supported(api_key, version))
	{
		kafka_writer_fail(w, KAFKA_ERR_UNSUPPORTED);
		return w->err;
	}
	switch ((KafkaApiKey) api_key)
	{
		case KAFKA_API_PRODUCE:
			return kafka_ProduceResponse_encode(w, version, body);
		case KAFKA_API_FETCH:
			return kafka_FetchResponse_encode(w, version, body);
		case KAFKA_API_LIST_OFFSETS:
			return kafka_ListOffsetsResponse_encode(w, version, body);
		case KAFKA_API_METADATA:
			return kafka_MetadataResponse_encode(w, version, body);
		case KAFKA_API_OFFSET_COMMIT:
			return kafka_OffsetCommitResponse_encode(w, version, body);
		case KAFKA_API_OFFSET_FETCH:
			return kafka_OffsetFetchResponse_encode(w, version, body);
		case KAFKA_API_FIND_COORDINATOR:
			return kafka_FindCoordinatorResponse_encode(w, version, body);
		case KAFKA_API_JOIN_GROUP:
			return kafka_JoinGroupResponse_encode(w, version, body);
		case KAFKA_API_HEARTBEAT:
			return kafka_HeartbeatResponse_encode(w, version, body);
		case KAFKA_API_LEAVE_GROUP:
			return kafka_LeaveGroupResponse_encode(w, version, body);
		case KAFKA_API_SYNC_GROUP:
			return kafka_SyncGroupResponse_encode(w, version, body);
		case KAFKA_API_DESCRIBE_GROUPS:
			return kafka_DescribeGroupsResponse_encode(w, version, body);
		case KAFKA_API_LIST_GROUPS:
			return kafka_ListGroupsResponse_encode(w, version, body);
		case KAFKA_API_API_VERSIONS:
			return kafka_ApiVersionsResponse_encode(w, version, body);
		case KAFKA_API_CREATE_TOPICS:
			return kafka_CreateTopicsResponse_encode(w, version, body);
		case KAFKA_API_DELETE_TOPICS:
			return kafka_DeleteTopicsResponse_encode(w, version, body);
		case KAFKA_API_DELETE_RECORDS:
			return kafka_DeleteRecordsResponse_encode(w, version, body);
		case KAFKA_API_INIT_PRODUCER_ID:
			return kafka_InitProducerIdResponse_encode(w, version, body);
		case KAFKA_API_DESCRIBE_CONFIGS:
			return kafka_DescribeConfigsResponse_encode(w, version, body);
		case KAFKA_API_ALTER_CONFIGS:
			return kafka_AlterConfigsResponse_encode(w, version, body);
		case KAFKA_API_CREATE_PARTITIONS:
			return kafka_CreatePartitionsResponse_encode(w, version, body);
		case KAFKA_API_DELETE_GROUPS:
			return kafka_DeleteGroupsResponse_encode(w, version, body);
		case KAFKA_API_INCREMENTAL_ALTER_CONFIGS:
			return kafka_IncrementalAlterConfigsResponse_encode(w, version, body);
		case KAFKA_API_OFFSET_DELETE:
			return kafka_OffsetDeleteResponse_encode(w, version, body);
		default:
			break;
	}
	kafka_writer_fail(w, KAFKA_ERR_UNSUPPORTED);
	return w->err;
}

int
kafka_response_frame_encode(KafkaWriter *w, int32_t correlation_id,
							int16_t api_key, int16_t version, const void *body)
{
	size_t		start;

	start = kafka_response_begin(w, correlation_id,
								 kafka_response_header_version(api_key, version));
	kafka_response_encode(w, api_key, version, body);
	return kafka_response_end(w, start);
}

void
kafka_ApiVersionsResponse_fill(KafkaApiVersionsResponse *resp, KafkaApiVersion *keys)
{
	int			i;

	memset(resp, 0, sizeof(*resp));
	for (i = 0; i < kafka_api_versions_count; i++)
	{
		keys[i].ApiKey = kafka_api_versions[i].ApiKey;
		keys[i].MinVersion = kafka_api_versions[i].MinVersion;
		keys[i].MaxVersion = kafka_api_versions[i].MaxVersion;
	}
	resp->ErrorCode = KAFKA_ERROR_NONE;
	resp->ApiKeysCount = kafka_api_versions_count;
	resp->ApiKeys = keys;
	resp->ThrottleTimeMs = 0;
	resp->FinalizedFeaturesEpoch = -1;
}

int
kafka_ApiVersionsResponse_encode_unsupported(KafkaWriter *w, int32_t correlation_id)
{
	const KafkaApiInfo *self = kafka_api_lookup(KAFKA_API_API_VERSIONS);
	KafkaApiVersionsResponse resp;
	KafkaApiVersion key;

	memset(&resp, 0, sizeof(resp));
	key.ApiKey = KAFKA_API_API_VERSIONS;
	key.MinVersion = self->MinVersion;
	key.MaxVersion = self->MaxVersion;
	resp.ErrorCode = KAFKA_ERROR_UNSUPPORTED_VERSION;
	resp.ApiKeysCount = 1;
	resp.ApiKeys = &key;
	resp.FinalizedFeaturesEpoch = -1;
	return kafka_response_frame_encode(w, correlation_id, KAFKA_API_API_VERSIONS, 0, &resp);
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? */
static bool
software_name_valid(KafkaStr s)
{
	int32_t		i;

	if (s.len <= 0 || !is_alnum(s.ptr[0]) || !is_alnum(s.ptr[s.len - 1]))
		return false;
	for (i = 1; i < s.len - 1; i++)
		if (!is_alnum(s.ptr[i]) && s.ptr[i] != '-' && s.ptr[i] != '.')
			return false;
	return true;
}

bool
kafka_ApiVersionsRequest_valid(const KafkaApiVersionsRequest *req, int16_t version)
{
	if (version < 3)
		return true;
	return software_name_valid(req->ClientSoftwareName) &&
		software_name_valid(req->ClientSoftwareVersion);
}

bool
kafka_MetadataRequest_all_topics(const KafkaMetadataRequest *req, int16_t version)
{
	if (version == 0)
		return req->TopicsCount <= 0;
	return req->TopicsCount < 0;
}
