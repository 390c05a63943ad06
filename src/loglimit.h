/*-------------------------------------------------------------------------
 *
 * loglimit.h
 *	  A LOG line's rate limit (loglimit.c): at most a burst of lines in a
 *	  window, the rest counted and said in the next line that is let
 *	  through, so a client failing in a loop cannot flood the server log.
 *
 * Each kind of line keeps its own limit, a static of the process that
 * writes it:
 *
 *		static NagareLogLimit bad_log = NAGARE_LOG_LIMIT(5, 10000);
 *
 *		if (nagare_log_due(&bad_log))
 *			ereport(LOG, (errmsg("..."),
 *						  nagare_log_skipped(&bad_log) > 0 ? errdetail(...) : 0));
 *
 * Process-local, no lock, never ERRORs: safe in the broker's loop.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_LOGLIMIT_H
#define NAGARE_LOGLIMIT_H

#include "datatype/timestamp.h"

typedef struct NagareLogLimit
{
	int burst; /* lines let through in a window */
	int window_ms;
	TimestampTz window_start;
	int logged; /* in this window */
	int skipped; /* since the last line let through */
} NagareLogLimit;

#define NAGARE_LOG_LIMIT(burst, window_ms) \
	{                                      \
		(burst), (window_ms), 0, 0, 0      \
	}

/* May a line be written now?  If not, it is counted as skipped. */
extern bool nagare_log_due(NagareLogLimit *limit);

/*
 * How many lines were skipped before the one being written (call it once,
 * after nagare_log_due() said yes: it starts the count again)
 */
extern int nagare_log_skipped(NagareLogLimit *limit);

#endif /* NAGARE_LOGLIMIT_H */
