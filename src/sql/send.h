/*-------------------------------------------------------------------------
 *
 * send.h
 *	  What the SQL functions tell the transaction (xact.c): records they
 *	  appended, topic DDL, publish() calls; and its transaction hooks.
 *
 * The append core itself (partitions, encoding, the ring) is
 * queue/append.h, shared with the ingest worker.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_SEND_H
#define NAGARE_SEND_H

#include "access/xact.h"

#include "queue/queue.h"

extern void nagare_send_xact_callback(XactEvent event, void *arg);
extern void nagare_send_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
										 SubTransactionId parentSubid, void *arg);
extern void nagare_xact_note_appended(const NagareAppend *appended, int n, uint64 end_pos);
extern void nagare_xact_note_ddl(void);
extern void nagare_xact_note_published(void);
extern bool nagare_xact_publish_origin(void);
extern void nagare_xact_note_acl_change(void);
extern void nagare_xact_wait_own_sends(void);

#endif							/* NAGARE_SEND_H */
