/*-------------------------------------------------------------------------
 *
 * kafka_api.h
 *	  What the broker's Kafka request handlers share (kafka_api.c), and the
 *	  handlers themselves, declared from src/kafka/api_table.h.
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
/* the out-of-memory policy (kafka_api.c): the connection of the request closed */
extern void nagare_request_out_of_memory(NagareConn *conn, int16 api_key, int16 version);

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

/* The handlers: the Handler column of src/kafka/api_table.h */
#define KAFKA_API(key, name, min, max, flexible, handler, acl, resource, quota) \
	extern void handler(NagareConn *conn, const KafkaRequestHeader *hdr, \
						KafkaRequestBody *body);
#include "kafka/api_table.h"
#undef KAFKA_API

#endif							/* NAGARE_KAFKA_API_H */
