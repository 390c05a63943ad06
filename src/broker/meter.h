/*-------------------------------------------------------------------------
 *
 * meter.h
 *	  Per-client usage of the broker's Kafka clients (meter.c), kept in the
 *	  shared usage table (../usage/usage.h) for nagare.client_usage.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_METER_H
#define NAGARE_BROKER_METER_H

#include "broker/net.h"

/* broker time used for conn's client: a request's handling, a worker's work */
extern void nagare_meter_time(NagareConn *conn, uint64 usec);

/* a throttle of ms imposed on conn's client */
extern void nagare_meter_throttle(NagareConn *conn, int32 ms);

#endif							/* NAGARE_BROKER_METER_H */
