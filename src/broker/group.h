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

extern int	nagare_group_initial_rebalance_delay_ms;
extern int	nagare_group_min_session_timeout_ms;
extern int	nagare_group_max_session_timeout_ms;

extern void nagare_group_turn(TimestampTz now);
extern bool nagare_group_busy(void);

#endif							/* NAGARE_BROKER_GROUP_H */
