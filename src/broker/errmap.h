/*-------------------------------------------------------------------------
 *
 * errmap.h
 *	  What the SQLSTATE of nagare's SQL means to a Kafka client.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_ERRMAP_H
#define NAGARE_BROKER_ERRMAP_H

extern int16 nagare_kafka_error_for_sqlstate(const char *sqlstate, int16 otherwise);
extern bool nagare_sqlstate_is(const char *sqlstate, int errcode);

#endif							/* NAGARE_BROKER_ERRMAP_H */
