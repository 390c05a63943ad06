/*-------------------------------------------------------------------------
 *
 * fetch.h
 *	  Kafka Fetch and ListOffsets in the broker's loop (fetch.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_FETCH_H
#define NAGARE_BROKER_FETCH_H

#include "utils/timestamp.h"

extern void nagare_fetch_turn(TimestampTz now);
extern TimestampTz nagare_fetch_next_deadline(void);

#endif							/* NAGARE_BROKER_FETCH_H */
