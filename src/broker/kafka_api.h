/*-------------------------------------------------------------------------
 *
 * kafka_api.h
 *	  What the broker's Kafka request handlers share (kafka_api.c).
 *
 * A handler runs in the broker's loop with the decoded request, whose
 * strings and record bytes point into the connection's receive buffer and
 * the per-request memory context: both are gone when the handler returns.
 * A handler that answers later (a Produce waiting for its write, a Fetch
 * parked for data) takes a NagareResponse now, so the answer keeps its place
 * in the connection's order, copies what it needs, and encodes the answer
 * with nagare_kafka_response_ready() when it can.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_KAFKA_API_H
#define NAGARE_KAFKA_API_H

#include "broker/net.h"
#include "kafka/messages.h"
#include "kafka/protocol.h"

typedef void (*KafkaHandler) (NagareConn *conn, const KafkaRequestHeader *hdr,
							  KafkaRequestBody *body);

/* What a deferred answer needs of its request's header */
typedef struct NagareRequestId
{
	int32		correlation_id;
	int16		api_key;
	int16		api_version;
} NagareRequestId;

extern NagareRequestId nagare_request_id(const KafkaRequestHeader *hdr);

/* Copies of request strings that outlive the request */
extern char *nagare_kstr_dup(MemoryContext cxt, KafkaStr s);
extern KafkaStr nagare_kstr_copy(MemoryContext cxt, KafkaStr s);

/* Allocator for the current request's memory (reset after the handler) */
extern const KafkaAllocator *nagare_request_allocator(void);
extern void *nagare_request_palloc(size_t size);

/*
 * Handle one request frame (without its size prefix): net.c's frame
 * handler, set by broker.c when it starts the listener.
 */
extern void nagare_kafka_request(NagareConn *conn, const uint8 *frame, size_t len);

/* Answer now */
extern void nagare_kafka_respond(NagareConn *conn, const KafkaRequestHeader *hdr,
								 const void *body);

/*
 * Bytes sent in the place of a splice point: the splice's length of them
 * from data, which lies in owned, a palloc'd buffer in the connection's
 * context that is freed once they are sent.
 */
typedef struct NagareSplicePart
{
	void	   *owned;
	const char *data;
} NagareSplicePart;

/*
 * Encode body as the answer of a response taken earlier and mark it ready.
 * If the writer recorded splice points, parts (one per splice) are sent in
 * their places.
 */
extern void nagare_kafka_response_ready(NagareResponse *resp, NagareRequestId id,
										const void *body, const NagareSplicePart *parts);

/* The handlers (one file each) */
extern void nagare_handle_metadata(NagareConn *conn, const KafkaRequestHeader *hdr,
								   KafkaRequestBody *body);
extern void nagare_handle_produce(NagareConn *conn, const KafkaRequestHeader *hdr,
								  KafkaRequestBody *body);
extern void nagare_handle_fetch(NagareConn *conn, const KafkaRequestHeader *hdr,
								KafkaRequestBody *body);
extern void nagare_handle_list_offsets(NagareConn *conn, const KafkaRequestHeader *hdr,
									   KafkaRequestBody *body);
extern void nagare_handle_create_topics(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body);
extern void nagare_handle_delete_topics(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body);
extern void nagare_handle_create_partitions(NagareConn *conn, const KafkaRequestHeader *hdr,
											KafkaRequestBody *body);
extern void nagare_handle_alter_configs(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body);
extern void nagare_handle_incremental_alter_configs(NagareConn *conn,
													const KafkaRequestHeader *hdr,
													KafkaRequestBody *body);
extern void nagare_handle_describe_configs(NagareConn *conn, const KafkaRequestHeader *hdr,
										   KafkaRequestBody *body);
extern void nagare_handle_delete_records(NagareConn *conn, const KafkaRequestHeader *hdr,
										 KafkaRequestBody *body);
/* idempotent producers (producers.c) */
extern void nagare_handle_init_producer_id(NagareConn *conn, const KafkaRequestHeader *hdr,
										   KafkaRequestBody *body);
/* consumer groups (group.c) */
extern void nagare_handle_find_coordinator(NagareConn *conn, const KafkaRequestHeader *hdr,
										   KafkaRequestBody *body);
extern void nagare_handle_join_group(NagareConn *conn, const KafkaRequestHeader *hdr,
									 KafkaRequestBody *body);
extern void nagare_handle_sync_group(NagareConn *conn, const KafkaRequestHeader *hdr,
									 KafkaRequestBody *body);
extern void nagare_handle_heartbeat(NagareConn *conn, const KafkaRequestHeader *hdr,
									KafkaRequestBody *body);
extern void nagare_handle_leave_group(NagareConn *conn, const KafkaRequestHeader *hdr,
									  KafkaRequestBody *body);
extern void nagare_handle_offset_commit(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body);
extern void nagare_handle_offset_fetch(NagareConn *conn, const KafkaRequestHeader *hdr,
									   KafkaRequestBody *body);
extern void nagare_handle_list_groups(NagareConn *conn, const KafkaRequestHeader *hdr,
									  KafkaRequestBody *body);
extern void nagare_handle_describe_groups(NagareConn *conn, const KafkaRequestHeader *hdr,
										  KafkaRequestBody *body);
extern void nagare_handle_delete_groups(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body);
extern void nagare_handle_offset_delete(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body);

#endif							/* NAGARE_KAFKA_API_H */
