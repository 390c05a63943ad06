/*-------------------------------------------------------------------------
 *
 * kafka_api.c
 *	  Kafka requests in the broker: header, dispatch, handlers.
 *
 * net.c hands over one request frame at a time, in order.  The header is
 * decoded, the API and version are checked against the handlers the broker
 * implements (and only those are advertised in ApiVersions: every version
 * advertised is implemented), the body is decoded into a per-request memory
 * context, and the handler queues its response on the connection.
 *
 * What Kafka does with bad requests, nagare does too: an ApiVersions request
 * of a version it does not know gets the KIP-511 answer (version 0,
 * UNSUPPORTED_VERSION, and ApiVersions' own range) and the connection stays
 * open, because librdkafka retries with version 0 on it; any other unknown
 * API or version, or a body that does not decode, closes the connection with
 * one LOG line.  Nothing a client sends can raise an ERROR in the broker:
 * allocation failures of the codec are reported as such, not thrown.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "broker/kafka_api.h"

typedef struct HandlerEntry
{
	int16		api_key;
	int16		min_version;
	int16		max_version;
	KafkaHandler handler;
} HandlerEntry;

static void handle_api_versions(NagareConn *conn, const KafkaRequestHeader *hdr,
								KafkaRequestBody *body);

/*
 * What the broker implements.  Ranges must lie within the codec's
 * kafka_api_versions[] (checked at first use).
 */
static const HandlerEntry handlers[] = {
	{KAFKA_API_PRODUCE, 0, 9, nagare_handle_produce},
	{KAFKA_API_FETCH, 4, 12, nagare_handle_fetch},
	{KAFKA_API_LIST_OFFSETS, 1, 7, nagare_handle_list_offsets},
	{KAFKA_API_METADATA, 0, 12, nagare_handle_metadata},
	{KAFKA_API_OFFSET_COMMIT, 0, 9, nagare_handle_offset_commit},
	{KAFKA_API_OFFSET_FETCH, 0, 9, nagare_handle_offset_fetch},
	{KAFKA_API_FIND_COORDINATOR, 0, 4, nagare_handle_find_coordinator},
	{KAFKA_API_JOIN_GROUP, 0, 9, nagare_handle_join_group},
	{KAFKA_API_HEARTBEAT, 0, 4, nagare_handle_heartbeat},
	{KAFKA_API_LEAVE_GROUP, 0, 5, nagare_handle_leave_group},
	{KAFKA_API_SYNC_GROUP, 0, 5, nagare_handle_sync_group},
	{KAFKA_API_DESCRIBE_GROUPS, 0, 5, nagare_handle_describe_groups},
	{KAFKA_API_LIST_GROUPS, 0, 5, nagare_handle_list_groups},
	{KAFKA_API_API_VERSIONS, 0, 3, handle_api_versions},
	{KAFKA_API_CREATE_TOPICS, 2, 7, nagare_handle_create_topics},
	{KAFKA_API_DELETE_TOPICS, 1, 6, nagare_handle_delete_topics},
	{KAFKA_API_DELETE_RECORDS, 0, 2, nagare_handle_delete_records},
	{KAFKA_API_INIT_PRODUCER_ID, 0, 4, nagare_handle_init_producer_id},
	{KAFKA_API_DESCRIBE_CONFIGS, 0, 4, nagare_handle_describe_configs},
	{KAFKA_API_ALTER_CONFIGS, 0, 2, nagare_handle_alter_configs},
	{KAFKA_API_CREATE_PARTITIONS, 0, 3, nagare_handle_create_partitions},
	{KAFKA_API_DELETE_GROUPS, 0, 2, nagare_handle_delete_groups},
	{KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, nagare_handle_incremental_alter_configs},
	{KAFKA_API_OFFSET_DELETE, 0, 0, nagare_handle_offset_delete},
};

static MemoryContext request_context = NULL;

static void *
request_alloc(void *ctx, size_t size)
{
	return MemoryContextAllocExtended(request_context, size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void *
conn_alloc(void *ctx, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) ctx, size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
any_free(void *ctx, void *ptr)
{
	pfree(ptr);
}

static const KafkaAllocator request_allocator = {request_alloc, any_free, NULL};

static const HandlerEntry *
find_handler(int16 api_key)
{
	int			i;

	for (i = 0; i < lengthof(handlers); i++)
		if (handlers[i].api_key == api_key)
			return &handlers[i];
	return NULL;
}

const KafkaAllocator *
nagare_request_allocator(void)
{
	return &request_allocator;
}

/* palloc in the request's memory; NULL when out of memory */
void *
nagare_request_palloc(size_t size)
{
	return request_alloc(NULL, size);
}

/* s copied into cxt, NUL-terminated; NULL for a null string */
char *
nagare_kstr_dup(MemoryContext cxt, KafkaStr s)
{
	char	   *p;

	if (s.len < 0)
		return NULL;
	p = MemoryContextAlloc(cxt, s.len + 1);
	if (s.len > 0)
		memcpy(p, s.ptr, s.len);
	p[s.len] = '\0';
	return p;
}

/* s copied into cxt, NUL-terminated; a null string becomes "" */
KafkaStr
nagare_kstr_copy(MemoryContext cxt, KafkaStr s)
{
	char	   *p = nagare_kstr_dup(cxt, s.len < 0 ? kafka_str("") : s);
	KafkaStr	r;

	r.ptr = p;
	r.len = Max(s.len, 0);
	return r;
}

NagareRequestId
nagare_request_id(const KafkaRequestHeader *hdr)
{
	NagareRequestId id;

	id.correlation_id = hdr->CorrelationId;
	id.api_key = hdr->RequestApiKey;
	id.api_version = hdr->RequestApiVersion;
	return id;
}

/*
 * Encode body as the answer to request id and mark resp ready.  The frame
 * is encoded into the connection's memory, where it stays until sent; the
 * records of spliced Fetch partitions (parts[i] for the writer's i-th
 * splice point) go out in their places.
 */
void
nagare_kafka_response_ready(NagareResponse *resp, NagareRequestId id, const void *body,
							const NagareSplicePart *parts)
{
	NagareConn *conn = resp->conn;
	MemoryContext cxt = nagare_conn_context(conn);
	KafkaAllocator alloc = {conn_alloc, any_free, cxt};
	KafkaWriter w;
	int			err;
	struct iovec *iov;
	void	  **owned;
	size_t		pos = 0;
	int			n = 0;
	int			i;

	kafka_writer_init(&w, &alloc);
	err = kafka_response_frame_encode(&w, id.correlation_id, id.api_key, id.api_version, body);
	if (err != KAFKA_OK)
	{
		ereport(LOG,
				(errmsg("nagare broker: could not encode %s v%d response for %s: %s",
						kafka_api_name(id.api_key), id.api_version,
						nagare_conn_peer(conn), kafka_codec_strerror(err))));
		kafka_writer_release(&w);
		nagare_conn_close(conn, NULL);
		nagare_conn_response_drop(resp);
		return;
	}
	if (w.nsplices == 0)
	{
		if (w.splices)
			pfree(w.splices);
		nagare_conn_response_ready(resp, (char *) w.buf, w.len);
		return;
	}

	iov = MemoryContextAlloc(cxt, sizeof(struct iovec) * (2 * w.nsplices + 1));
	owned = MemoryContextAlloc(cxt, sizeof(void *) * (w.nsplices + 1));
	owned[0] = w.buf;
	for (i = 0; i < w.nsplices; i++)
	{
		iov[n].iov_base = w.buf + pos;
		iov[n].iov_len = w.splices[i].offset - pos;
		n++;
		iov[n].iov_base = unconstify(char *, parts[i].data);
		iov[n].iov_len = w.splices[i].length;
		n++;
		owned[i + 1] = parts[i].owned;
		pos = w.splices[i].offset;
	}
	iov[n].iov_base = w.buf + pos;
	iov[n].iov_len = w.len - pos;
	n++;
	pfree(w.splices);
	nagare_conn_response_ready_iov(resp, iov, n, owned, w.nsplices + 1);
}

/* Answer a request at once */
void
nagare_kafka_respond(NagareConn *conn, const KafkaRequestHeader *hdr, const void *body)
{
	nagare_kafka_response_ready(nagare_conn_new_response(conn), nagare_request_id(hdr),
								body, NULL);
}

/*
 * Handle one request frame (without its size prefix).
 */
void
nagare_kafka_request(NagareConn *conn, const uint8 *frame, size_t len)
{
	KafkaReader r;
	KafkaRequestHeader hdr;
	const HandlerEntry *h;
	KafkaRequestBody body;
	int			err;

	if (request_context == NULL)
		request_context = AllocSetContextCreate(TopMemoryContext, "nagare request",
												ALLOCSET_DEFAULT_SIZES);

	kafka_reader_init(&r, frame, len, false);
	err = kafka_request_header_decode(&r, &hdr);
	if (err != KAFKA_OK)
	{
		ereport(COMMERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("nagare broker: closing connection from %s: malformed request header: %s",
						nagare_conn_peer(conn), kafka_codec_strerror(err))));
		nagare_conn_close(conn, NULL);
		return;
	}

	h = find_handler(hdr.RequestApiKey);
	if (h == NULL || hdr.RequestApiVersion < h->min_version ||
		hdr.RequestApiVersion > h->max_version)
	{
		if (hdr.RequestApiKey == KAFKA_API_API_VERSIONS)
		{
			/* KIP-511: say what we support, keep the connection */
			KafkaAllocator alloc = {conn_alloc, any_free, nagare_conn_context(conn)};
			KafkaWriter w;
			NagareResponse *resp = nagare_conn_new_response(conn);

			kafka_writer_init(&w, &alloc);
			if (kafka_ApiVersionsResponse_encode_unsupported(&w, hdr.CorrelationId) != KAFKA_OK)
			{
				kafka_writer_release(&w);
				nagare_conn_close(conn, NULL);
				return;
			}
			nagare_conn_response_ready(resp, (char *) w.buf, w.len);
			return;
		}
		ereport(COMMERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("nagare broker: closing connection from %s: unsupported request %s (key %d) version %d",
						nagare_conn_peer(conn), kafka_api_name(hdr.RequestApiKey),
						hdr.RequestApiKey, hdr.RequestApiVersion)));
		nagare_conn_close(conn, NULL);
		return;
	}

	MemoryContextReset(request_context);
	memset(&body, 0, sizeof(body));
	err = kafka_request_decode(&r, hdr.RequestApiKey, hdr.RequestApiVersion, &body,
							   &request_allocator);
	if (err != KAFKA_OK)
	{
		ereport(COMMERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("nagare broker: closing connection from %s: malformed %s v%d request: %s",
						nagare_conn_peer(conn), kafka_api_name(hdr.RequestApiKey),
						hdr.RequestApiVersion, kafka_codec_strerror(err))));
		nagare_conn_close(conn, NULL);
		return;
	}
	{
		/* what handlers palloc goes with the request */
		MemoryContext old = MemoryContextSwitchTo(request_context);

		h->handler(conn, &hdr, &body);
		MemoryContextSwitchTo(old);
	}
	MemoryContextReset(request_context);
}

/*
 * ApiVersions: the APIs and versions this broker implements.
 */
static void
handle_api_versions(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaApiVersionsResponse resp;
	KafkaApiVersion keys[lengthof(handlers)];
	int			i;

	memset(&resp, 0, sizeof(resp));
	if (!kafka_ApiVersionsRequest_valid(&body->ApiVersions, hdr->RequestApiVersion))
		resp.ErrorCode = KAFKA_ERROR_INVALID_REQUEST;
	for (i = 0; i < lengthof(handlers); i++)
	{
		keys[i].ApiKey = handlers[i].api_key;
		keys[i].MinVersion = handlers[i].min_version;
		keys[i].MaxVersion = handlers[i].max_version;
	}
	resp.ApiKeysCount = lengthof(handlers);
	resp.ApiKeys = keys;
	resp.ThrottleTimeMs = 0;
	nagare_kafka_respond(conn, hdr, &resp);
}
