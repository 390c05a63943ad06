/*-------------------------------------------------------------------------
 *
 * meter.c
 *	  Per-client usage of the broker's Kafka clients.
 *
 * SCAFFOLDING: the interface the quota enforcement calls; the accounting
 * itself lands with nagare.client_usage.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "broker/meter.h"

void
nagare_meter_time(NagareConn *conn, uint64 usec)
{
}

void
nagare_meter_throttle(NagareConn *conn, int32 ms)
{
}
