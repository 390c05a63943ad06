/*-------------------------------------------------------------------------
 *
 * decode.h
 *	  publish() messages and table changes through logical decoding: the
 *	  formats shared by publish() (sql/send.c), the output plugin
 *	  (plugin.c) and the ingest worker (ingest.c).
 *
 * A publish() message is a transactional logical message with prefix
 * "nagare" whose payload is (integers in network order):
 *
 *	uint8	version (1, or 2 with the origin below)
 *	int32	topic length, topic
 *	int32	partition (-1: chosen by key, as send())
 *	int32	key length (-1 null), key
 *	int32	value length (-1 null), value
 *	int32	headers length (-1 none), headers as jsonb text
 *	version 2 only, the transaction's origin (the SQL client that published):
 *	int32	principal length, principal ("User:<current_user>")
 *	int32	client id length, client id (application_name)
 *
 * The first publish() of a transaction writes version 2 (again after the
 * subtransaction that wrote it rolled back: sql/xact.c), the others
 * version 1: the ingest worker counts each transaction's commit-to-
 * consumable latency for its origin's usage slot (the SLI of
 * docs/registry.md), and a table topic's changes for their table's owner.
 *
 * The plugin's rows start with one of the NAGARE_DECODE_* bytes; see
 * plugin.c.  Every record the ingest worker appends carries a header
 * NAGARE_LSN_HEADER = "<commit LSN, 16 hex digits>/<index in the
 * transaction, 8 hex digits>": the position in the commit order, from which
 * a restarted worker knows what is already stored.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_DECODE_H
#define NAGARE_DECODE_H

#define NAGARE_MESSAGE_PREFIX	"nagare"
#define NAGARE_SLOT_NAME		"nagare"
#define NAGARE_PLUGIN_NAME		"nagare"
#define NAGARE_LSN_HEADER		"nagare.lsn"
#define NAGARE_PAYLOAD_VERSION	1
#define NAGARE_PAYLOAD_VERSION_ORIGIN 2
/* strlen of a nagare.lsn value: "%016X/%08X" */
#define NAGARE_LSN_LENGTH       25

#define NAGARE_DECODE_MESSAGE	'M'
#define NAGARE_DECODE_CHANGE	'R'
#define NAGARE_DECODE_COMMIT	'C'

/* change operations: Debezium's letters, and a tombstone */
#define NAGARE_OP_TOMBSTONE		'x'

extern PGDLLEXPORT void nagare_ingest_main(Datum main_arg);
extern bool nagare_output_plugin_allowed(void);
extern char *nagare_table_topic_of(const char *name);

/* queue/append.h and topic/catalog.h */
struct KafkaRecordIn;
struct NagareTopicInfo;
extern char *nagare_ingest_record_unfit(const struct NagareTopicInfo *topic,
										const struct KafkaRecordIn *k, size_t *sizep);

#endif							/* NAGARE_DECODE_H */
