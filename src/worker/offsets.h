/*-------------------------------------------------------------------------
 *
 * offsets.h
 *	  The nagare worker's side of consumer groups (offsets.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_WORKER_OFFSETS_H
#define NAGARE_WORKER_OFFSETS_H

extern bool nagare_worker_run_jobs(void);

#endif							/* NAGARE_WORKER_OFFSETS_H */
