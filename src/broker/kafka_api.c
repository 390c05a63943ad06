/*-------------------------------------------------------------------------
 *
 * kafka_api.c
 *	  Kafka requests in the broker: header, dispatch, handlers.
 *
 * net.c hands over one request frame at a time, in order (this file's
 * nagare_kafka_request is its frame handler, wired by broker.c).  The
 * header is decoded, the API and version are checked against
 * src/kafka/api_table.h (the codec's kafka_apis[]), the body is decoded into
 * a per-request memory context, and the API's handler, from the same table,
 * queues its response on the connection.  ApiVersions advertises that table
 * as it is, so every version advertised is decoded, handled and encoded.
 *
 * What Kafka does with bad requests, nagare does too: an ApiVersions request
 * of a version it does not know gets the KIP-511 answer (version 0,
 * UNSUPPORTED_VERSION, and ApiVersions' own range) and the connection stays
 * open, because librdkafka retries with version 0 on it; any other unknown
 * API or version, or a body that does not decode, closes the connection with
 * one LOG line.  On a SASL listener every frame goes to sasl_server.c
 * first: it takes raw SASL tokens (after SaslHandshake v0) and, before the
 * client has authenticated, closes the connection on any request but
 * ApiVersions, SaslHandshake and SaslAuthenticate.
 * Nothing a client sends can raise an ERROR in the broker:
 * allocation failures of the codec are reported as such, not thrown.
 *
 * Out of memory, one policy (nagare_request_out_of_memory, README.md): a
 * request that cannot get memory is answered with an error code where its
 * handler can still give one for the whole of it, and otherwise loses its
 * connection (its client reconnects and retries, as after any disconnect);
 * the broker never restarts for one request's allocation.  The decoder's
 * and encoder's KAFKA_ERR_NOMEM and a handler's failed NO_OOM allocation
 * come here, and so does a palloc's "out of memory" ERROR thrown while a
 * request is handled: it is caught around the request and no other ERROR is.
 *
 * Quotas: each handler's time is measured and charged to its client, and
 * every response encoded here gets its throttle (ThrottleTimeMs) and mutes
 * its connection for it; throttle.c decides.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "broker/kafka_api.h"
#include "broker/meter.h"
#include "broker/sasl_server.h"
#include "broker/throttle.h"
#include "kafka/byteorder.h"

/*
 * The handler of each API served, indexed by API key: the Handler column
 * of src/kafka/api_table.h, whose other columns are in kafka_apis[].
 */
static const KafkaHandler handlers[] = {
#define KAFKA_API(key, name, min, max, flexible, handler, acl, resource, quota) \
	[key] = handler,
#include "kafka/api_table.h"
#undef KAFKA_API
};

static MemoryContext request_context = NULL;

static void kafka_request(NagareConn *conn, const uint8 *frame, size_t len,
						  volatile bool *in_handler);

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
 * Encode body as the answer to request id and mark resp ready.  Its
 * ThrottleTimeMs is set here (throttle.c), whatever the handler put there.
 * The frame is encoded into the connection's memory, where it stays until
 * sent; the records of spliced Fetch partitions (parts[i] for the writer's
 * i-th splice point) go out in their places.
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

	/* quotas (throttle.c): ThrottleTimeMs, and the connection muted for it */
	nagare_throttle_response(resp, id, unconstify(void *, body));

	kafka_writer_init(&w, &alloc);
	err = kafka_response_frame_encode(&w, id.correlation_id, id.api_key, id.api_version, body);
	if (err == KAFKA_ERR_NOMEM)
	{
		kafka_writer_release(&w);
		nagare_request_out_of_memory(conn, id.api_key, id.api_version);
		nagare_conn_response_drop(resp);
		return;
	}
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
	nagare_meter_response(conn, id.api_key, id.api_version, body, w.len, parts, w.splices,
						  w.nsplices, resp->received);
	if (w.nsplices == 0)
	{
		if (w.splices)
			pfree(w.splices);
		nagare_conn_response_ready(resp, (char *) w.buf, w.len);
		return;
	}

	Assert(parts != NULL);		/* only Fetch splices, and it passes its parts */
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
 * The broker's out-of-memory policy, in its one place: the request of api_key
 * and version on conn could not get the memory it needs and its handler has
 * no error code to answer the whole of it with, so the connection is closed
 * (its client reconnects and retries, as after any disconnect).  Logged as
 * bad clients are (nagare_net_log_due).  Safe to call with the connection
 * already closing.
 */
void
nagare_request_out_of_memory(NagareConn *conn, int16 api_key, int16 version)
{
	if (nagare_net_log_due())
		ereport(LOG,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("nagare broker: closing connection from %s: out of memory for its %s v%d request",
						nagare_conn_peer(conn), kafka_api_name(api_key), version),
				 nagare_net_log_skipped_detail()));
	nagare_conn_close(conn, NULL);
}

/*
 * Handle one request frame (without its size prefix).  An "out of memory"
 * ERROR while it is handled closes its connection (the policy above) and
 * the broker goes on: the request's memory is reset, any LWLock it held is
 * released.  Other ERRORs end the broker as always.
 */
void
nagare_kafka_request(NagareConn *conn, const uint8 *frame, size_t len)
{
	MemoryContext old = CurrentMemoryContext;
	volatile bool in_handler = false;
	volatile int16 api_key = -1;
	volatile int16 version = -1;

	if (len >= 4)
	{
		api_key = (int16) kafka_load_be16(frame);
		version = (int16) kafka_load_be16(frame + 2);
	}
	PG_TRY();
	{
		kafka_request(conn, frame, len, &in_handler);
	}
	PG_CATCH();
	{
		if (geterrcode() != ERRCODE_OUT_OF_MEMORY)
			PG_RE_THROW();
		MemoryContextSwitchTo(old);
		FlushErrorState();
		LWLockReleaseAll();
		if (in_handler)
			nagare_throttle_request_end(conn, true);
		if (request_context != NULL)
			MemoryContextReset(request_context);
		nagare_request_out_of_memory(conn, api_key, version);
	}
	PG_END_TRY();
}

static void
kafka_request(NagareConn *conn, const uint8 *frame, size_t len, volatile bool *in_handler)
{
	KafkaReader r;
	KafkaRequestHeader hdr;
	KafkaHandler handler;
	KafkaRequestBody body;
	int			err;

	if (request_context == NULL)
		request_context = AllocSetContextCreate(TopMemoryContext, "nagare request",
												ALLOCSET_DEFAULT_SIZES);

	/* SASL listeners: raw SASL tokens, and nothing but SASL before it */
	if (nagare_sasl_frame(conn, frame, len))
		return;

	kafka_reader_init(&r, frame, len, false);
	err = kafka_request_header_decode(&r, &hdr);
	if (err != KAFKA_OK)
	{
		if (nagare_net_log_due())
			ereport(COMMERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("nagare broker: closing connection from %s: malformed request header: %s",
							nagare_conn_peer(conn), kafka_codec_strerror(err)),
					 nagare_net_log_skipped_detail()));
		nagare_conn_close(conn, NULL);
		return;
	}

	if (!kafka_api_version_supported(hdr.RequestApiKey, hdr.RequestApiVersion))
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
		if (nagare_net_log_due())
			ereport(COMMERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("nagare broker: closing connection from %s: unsupported request %s (key %d) version %d",
							nagare_conn_peer(conn), kafka_api_name(hdr.RequestApiKey),
							hdr.RequestApiKey, hdr.RequestApiVersion),
					 nagare_net_log_skipped_detail()));
		nagare_conn_close(conn, NULL);
		return;
	}

	/* every API of kafka_apis[] has its handler: both come from api_table.h */
	handler = handlers[hdr.RequestApiKey];
	Assert(handler != NULL);

	MemoryContextReset(request_context);
	memset(&body, 0, sizeof(body));
	err = kafka_request_decode(&r, hdr.RequestApiKey, hdr.RequestApiVersion, &body,
							   &request_allocator);
	if (err == KAFKA_ERR_NOMEM)
	{
		MemoryContextReset(request_context);
		nagare_request_out_of_memory(conn, hdr.RequestApiKey, hdr.RequestApiVersion);
		return;
	}
	if (err != KAFKA_OK)
	{
		if (nagare_net_log_due())
			ereport(COMMERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("nagare broker: closing connection from %s: malformed %s v%d request: %s",
							nagare_conn_peer(conn), kafka_api_name(hdr.RequestApiKey),
							hdr.RequestApiVersion, kafka_codec_strerror(err)),
					 nagare_net_log_skipped_detail()));
		nagare_conn_close(conn, NULL);
		return;
	}
	nagare_meter_request(conn, &hdr, len);
	nagare_meter_request_body(conn, &hdr, &body);
	{
		/* what handlers palloc goes with the request */
		MemoryContext old = MemoryContextSwitchTo(request_context);

		/* its time is charged to its client (throttle.c); acks=0 is exempt */
		nagare_throttle_request_begin(conn, &hdr, len + 4);
		*in_handler = true;
		handler(conn, &hdr, &body);
		*in_handler = false;
		nagare_throttle_request_end(conn, hdr.RequestApiKey == KAFKA_API_PRODUCE &&
									body.Produce.Acks == 0);
		MemoryContextSwitchTo(old);
	}
	MemoryContextReset(request_context);
}

/*
 * ApiVersions: the APIs and versions this broker serves, kafka_apis[].  A
 * v3+ request names the client's software, which nagare.connections shows.
 */
void
nagare_handle_api_versions(NagareConn *conn, const KafkaRequestHeader *hdr,
						   KafkaRequestBody *body)
{
	KafkaApiVersionsResponse resp;
	KafkaApiVersion keys[lengthof(handlers)];	/* one per API key, at most */

	kafka_ApiVersionsResponse_fill(&resp, keys);
	if (!kafka_ApiVersionsRequest_valid(&body->ApiVersions, hdr->RequestApiVersion))
		resp.ErrorCode = KAFKA_ERROR_INVALID_REQUEST;
	else if (hdr->RequestApiVersion >= 3)
		nagare_meter_client_software(conn, body->ApiVersions.ClientSoftwareName.ptr,
									 body->ApiVersions.ClientSoftwareName.len,
									 body->ApiVersions.ClientSoftwareVersion.ptr,
									 body->ApiVersions.ClientSoftwareVersion.len);
	nagare_kafka_respond(conn, hdr, &resp);
}
