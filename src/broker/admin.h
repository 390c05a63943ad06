/*-------------------------------------------------------------------------
 *
 * admin.h
 *	  Topic changes asked for over the Kafka protocol, carried out by the
 *	  database-connected nagare worker (admin.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_ADMIN_H
#define NAGARE_BROKER_ADMIN_H

#include "utils/timestamp.h"

/* Metadata's error for a topic it may create (LEADER_NOT_AVAILABLE: being created) */
extern int16 nagare_admin_auto_create(const char *name, int len);
extern void nagare_admin_turn(TimestampTz now);
extern bool nagare_admin_busy(void);

#endif							/* NAGARE_BROKER_ADMIN_H */
