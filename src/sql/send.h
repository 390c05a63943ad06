/*-------------------------------------------------------------------------
 *
 * send.h
 *	  Transaction hooks of the SQL functions.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_SEND_H
#define NAGARE_SEND_H

#include "access/xact.h"

#include "shmem.h"

extern void nagare_send_xact_callback(XactEvent event, void *arg);
extern void nagare_xact_note_sent(uint64 end_pos);
extern void nagare_xact_note_partition(NagarePartition *part, uint64 incarnation,
									   int64 base_offset);
extern void nagare_xact_note_ddl(void);
extern void nagare_xact_wait_own_sends(void);

#endif							/* NAGARE_SEND_H */
