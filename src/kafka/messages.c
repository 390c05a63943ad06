/*-------------------------------------------------------------------------
 *
 * messages.c
 *	  Dispatch of request decoding and response encoding by API key, whole
 *	  response frames, and the few API-specific rules that are not wire
 *	  format: KIP-511 answers to unsupported ApiVersions versions, the
 *	  ApiVersions v3 client software check, Metadata v0's "all topics".
 *
 * The per-API codecs are generated (api_<api>.c, see messages.h); the
 * dispatch finds them in kafka_apis[] (protocol.c, from api_table.h).
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
	const KafkaApiInfo *api = kafka_api_lookup(api_key);

	if (api == NULL || version < api->MinVersion || version > api->MaxVersion)
	{
		kafka_reader_fail(r, KAFKA_ERR_UNSUPPORTED);
		return r->err;
	}
	return api->Decode(r, version, out, a);
}

int
kafka_response_encode(KafkaWriter *w, int16_t api_key, int16_t version, const void *body)
{
	const KafkaApiInfo *api = kafka_api_lookup(api_key);

	if (api == NULL || version < api->MinVersion || version > api->MaxVersion)
	{
		kafka_writer_fail(w, KAFKA_ERR_UNSUPPORTED);
		return w->err;
	}
	return api->Encode(w, version, body);
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
	for (i = 0; i < kafka_apis_count; i++)
	{
		keys[i].ApiKey = kafka_apis[i].ApiKey;
		keys[i].MinVersion = kafka_apis[i].MinVersion;
		keys[i].MaxVersion = kafka_apis[i].MaxVersion;
	}
	resp->ErrorCode = KAFKA_ERROR_NONE;
	resp->ApiKeysCount = kafka_apis_count;
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
