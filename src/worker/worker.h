/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  What the nagare worker's parts share (worker.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_WORKER_WORKER_H
#define NAGARE_WORKER_WORKER_H

extern ErrorData *nagare_worker_sql(void (*fn) (void *arg), void *arg, bool commit);

#endif							/* NAGARE_WORKER_WORKER_H */
