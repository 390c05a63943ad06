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

#include "worker/worker.h"

extern void nagare_worker_run_offsets(NagareWorkerRequest **reqs, int n);

#endif							/* NAGARE_WORKER_OFFSETS_H */
