/*-------------------------------------------------------------------------
 *
 * throttle.h
 *	  Enforcement of Kafka's client quotas in the broker (throttle.c):
 *	  per-entity budgets, the throttle of each request, KIP-219.
 *
 * What the limits are is quota/quota.h's; this is what the broker does
 * with them.  Every call is for the broker's loop, never ERRORs on a
 * client's account and never waits.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_THROTTLE_H
#define NAGARE_BROKER_THROTTLE_H

#include "broker/kafka_api.h"
#include "broker/net.h"

/*
 * kafka_api.c, around each request's handler: the handler's time is
 * request_percentage's (and the usage meter's); work the handler hands to
 * the nagare worker meanwhile is charged to the connection when its answer
 * comes.  size is the request's, size prefix included (producer_byte_rate
 * charges it).  exempt: Produce with acks=0, which request_percentage does
 * not count (Kafka's rule).
 */
extern void nagare_throttle_request_begin(NagareConn *conn, const KafkaRequestHeader *hdr,
										  size_t size);
extern void nagare_throttle_request_end(NagareConn *conn, bool exempt);

/*
 * kafka_api.c, as a response is encoded: adds request_percentage's
 * throttle to what the request's handler imposed (resp->throttle_ms), sets
 * the largest in the body's ThrottleTimeMs and mutes the connection for it.
 */
extern void nagare_throttle_response(NagareResponse *resp, NagareRequestId id, void *body);

/* produce.c: charge the current request's size; resp is NULL for acks=0 */
extern void nagare_throttle_produce(NagareConn *conn, NagareResponse *resp);

/* a throttle of ms for the request of resp: muted for it, reported in it */
extern void nagare_throttle_impose(NagareResponse *resp, int32 ms);

/* fetch.c */
extern int32 nagare_throttle_fetch_over(NagareConn *conn);
extern int64 nagare_throttle_fetch_cap(NagareConn *conn, int64 max_bytes);
extern void nagare_throttle_fetch(NagareResponse *resp, int64 bytes);

/*
 * admin.c: permits partitions created or deleted for one item of a
 * CreateTopics, CreatePartitions or DeleteTopics request.  Returns false
 * if the item must fail with THROTTLING_QUOTA_EXCEEDED (strict versions,
 * with the quota already exceeded).
 */
extern bool nagare_throttle_mutation(NagareResponse *resp, int16 api_key, int16 version,
									 double permits);

/* net.c, at accept: the throttle of a new connection, ms (0: none) */
extern int32 nagare_throttle_broker_connection(TimestampTz now);
extern int32 nagare_throttle_ip_connection(const char *ip, TimestampTz now);

/* net.c, once a second: forget budgets nobody used for a while */
extern void nagare_throttle_sweep(TimestampTz now);

#endif							/* NAGARE_BROKER_THROTTLE_H */
