/*-------------------------------------------------------------------------
 *
 * produce.h
 *	  Kafka Produce requests in the broker's loop (produce.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_PRODUCE_H
#define NAGARE_BROKER_PRODUCE_H

extern void nagare_produce_turn(void);
extern void nagare_produce_advance(uint64 tail, uint64 durable);
extern bool nagare_produce_needs_sync(uint64 tail);
extern bool nagare_produce_waiting(void);

#endif							/* NAGARE_BROKER_PRODUCE_H */
