/*-------------------------------------------------------------------------
 *
 * group.h
 *	  The consumer group coordinator in the broker's loop (group.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_GROUP_H
#define NAGARE_BROKER_GROUP_H

#include "utils/timestamp.h"

extern void nagare_group_turn(TimestampTz now);
extern bool nagare_group_busy(void);

#endif							/* NAGARE_BROKER_GROUP_H */
