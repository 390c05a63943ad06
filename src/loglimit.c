/*-------------------------------------------------------------------------
 *
 * loglimit.c
 *	  A LOG line's rate limit: at most limit->burst lines in a window of
 *	  limit->window_ms, the rest counted (loglimit.h).
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/loglimit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "loglimit.h"

bool
nagare_log_due(NagareLogLimit *limit)
{
	TimestampTz now = GetCurrentTimestamp();

	if (limit->window_start == 0 ||
		TimestampDifferenceExceeds(limit->window_start, now, limit->window_ms))
	{
		limit->window_start = now;
		limit->logged = 0;
	}
	if (limit->logged < limit->burst)
	{
		limit->logged++;
		return true;
	}
	limit->skipped++;
	return false;
}

int
nagare_log_skipped(NagareLogLimit *limit)
{
	int n = limit->skipped;

	limit->skipped = 0;
	return n;
}
