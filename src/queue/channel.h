/*-------------------------------------------------------------------------
 *
 * channel.h
 *	  The channels between the processes without a database connection (the
 *	  broker, the http process) and the nagare worker (channel.c): their
 *	  requests for work in SQL and the worker's answers.
 *
 * The shared rings, the request kinds and their payloads are in shmem.h
 * (NagareChannel, NagareChannelKind).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_QUEUE_CHANNEL_H
#define NAGARE_QUEUE_CHANNEL_H

#include "utils/timestamp.h"

#include "shmem.h"

/* Longest error message an answer carries, with its NUL */
#define NAGARE_CHANNEL_MESSAGE_MAX	256

/*
 * The outcome of a request, for the callback it was submitted with.
 * sqlstate is NULL when no answer came by the deadline; "00000" when the
 * request succeeded, and data (len bytes) is then its result; otherwise
 * data is the error message (NUL-terminated, len without the NUL).  data
 * points into the ring: the callback copies what it keeps.
 */
typedef void (*NagareChannelCallback) (void *arg, const char *sqlstate,
									   const char *data, uint32 len);

/* Whether a callback's sqlstate says the request succeeded */
static inline bool
nagare_channel_succeeded(const char *sqlstate)
{
	return sqlstate != NULL && strcmp(sqlstate, "00000") == 0;
}

/*
 * Who a request's work is charged to (broker/throttle.c): requests
 * submitted while an owner is set carry it.  hook(owner, false, 0) is
 * called as such a request is submitted, so that the owner can stay alive;
 * hook(owner, true, usec) once, before the request's callback, with the
 * microseconds the worker spent on it (0 without an answer).
 */
typedef void (*NagareChannelChargeHook)(void *owner, bool answered, uint64 usec);

/* the client's end (the broker, the http process) */
extern void nagare_channel_open(NagareChannelClient client);
extern void nagare_channel_charge_to(void *owner, NagareChannelChargeHook hook);
extern bool nagare_channel_submit(NagareChannelKind kind, const char *payload, uint32 len,
								  TimestampTz deadline, NagareChannelCallback cb, void *arg);
extern void nagare_channel_turn(TimestampTz now);
extern bool nagare_channel_busy(void);

/* the worker's end */
typedef struct NagareChannelRequest
{
	NagareChannelClient client; /* whose request: the answer goes there */
	NagareChannelKind kind;
	uint64		id;
	const char *payload;		/* in the ring until nagare_channel_release() */
	uint32		len;
} NagareChannelRequest;

extern bool nagare_channel_take(NagareChannelRequest *req);
extern void nagare_channel_answer(NagareChannelClient client, NagareChannelKind kind,
								  uint64 id, const char *sqlstate, const char *message,
								  const char *result, uint32 len);
extern void nagare_channel_answer_timed(NagareChannelClient client,
										NagareChannelKind kind, uint64 id,
										const char *sqlstate, const char *message,
										const char *result, uint32 len, uint64 usec);
extern void nagare_channel_wake_answered(void);
extern void nagare_channel_release(void);

#endif							/* NAGARE_QUEUE_CHANNEL_H */
