/*-------------------------------------------------------------------------
 *
 * meter.h
 *	  Per-client usage of the broker's Kafka clients (meter.c), kept in the
 *	  shared usage table (../usage/usage.h) for nagare.client_usage, and
 *	  the broker's live connections for nagare.connections.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_METER_H
#define NAGARE_BROKER_METER_H

#include "broker/net.h"
#include "portability/instr_time.h"

struct KafkaRequestHeader;
union KafkaRequestBody;
struct KafkaSplice;
struct NagareAppend;
struct NagareSplicePart;

/* what meter.c keeps per connection (net.c holds the pointer) */
typedef struct NagareMeterConn NagareMeterConn;

/*
 * broker time used for conn's client, ns: a request's handling, a worker's
 * work (counted in whole µs; the rest is carried to the connection's next)
 */
extern void nagare_meter_time(NagareConn *conn, uint64 nsec);

/* a throttle of ms imposed on conn's client */
extern void nagare_meter_throttle(NagareConn *conn, int32 ms);

/* net.c: the broker starts, a second passes, a connection opens or closes */
extern void nagare_meter_start(void);
extern void nagare_meter_timer(TimestampTz now);
extern NagareMeterConn *nagare_meter_open(NagareConn *conn);
extern void nagare_meter_close(NagareConn *conn);

/*
 * kafka_api.c: a request frame of frame_len bytes (size prefix not
 * included) about to be handled, and a response encoded: buffer_len bytes
 * of frame in memory and nsplices spliced parts (Fetch's records), for a
 * request whose frame was handed on at received (NagareResponse's; zero:
 * unknown, no latency counted).
 */
extern void nagare_meter_request(NagareConn *conn, const struct KafkaRequestHeader *hdr,
								 size_t frame_len);
extern void nagare_meter_response(NagareConn *conn, int16 api_key, int16 api_version,
								  const void *body, size_t buffer_len,
								  const struct NagareSplicePart *parts,
								  const struct KafkaSplice *splices, int nsplices,
								  instr_time received);

/* ApiVersions v3+: the client's software name and version */
extern void nagare_meter_client_software(NagareConn *conn, const char *name, int name_len,
										 const char *version, int version_len);

/*
 * kafka_api.c: a decoded request about to be handled (after
 * nagare_meter_request): the client of its Produce and Fetch records and
 * the group of its JoinGroup and OffsetCommit, for the dependency graph
 */
extern void nagare_meter_request_body(NagareConn *conn,
									  const struct KafkaRequestHeader *hdr,
									  const union KafkaRequestBody *body);

/* produce.c: the batches of a Produce request that go into the log */
extern void nagare_meter_produced(NagareConn *conn, const struct NagareAppend *appends,
								  int n);

/*
 * produce.c: a Produce's response (acks 1 or all) is ready, received
 * (GetCurrentTimestamp()) when its request arrived: its partition results
 * and latency, the produce SLIs.
 */
extern void nagare_meter_produce_done(NagareConn *conn, const void *produce_response,
									  TimestampTz received);

#endif							/* NAGARE_BROKER_METER_H */
