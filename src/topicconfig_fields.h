/*-------------------------------------------------------------------------
 *
 * topicconfig_fields.h
 *	  The Kafka topic settings nagare knows: the one list of them.
 *
 * Each row is one Kafka topic setting, with everything any part of nagare
 * needs to know about it.  Adding a setting is adding a row here; from the
 * rows are generated
 *
 *	- the fields of NagareTopicConfig (shmem.h), which the shared topic table
 *	  embeds: that is why this list is a core header beside shmem.h and not
 *	  under topic/ (core includes no subdirectory header);
 *	- the server defaults: the nagare.* GUCs named here, defined and
 *	  registered by topic/config.c (always PGC_SIGHUP, so that a reload
 *	  changes every topic that does not override the setting);
 *	- parsing and validating the jsonb objects of create_topic() and
 *	  alter_topic(), writing them back, the effective configuration and
 *	  nagare.topic_config() (topic/config.c);
 *	- DescribeConfigs (broker/admin.c).
 *
 * DescribeConfigs and the hint that names the known settings list the rows
 * in this order: keep them sorted by name.  Users learn of a setting from
 * docs/sql-reference.md, and of its GUC from docs/operations.md.
 *
 * There is deliberately no #ifndef guard: the includer defines the three
 * row macros, includes this file and #undefs them (as PostgreSQL's
 * rmgrlist.h and kwlist.h are used).
 *
 * NAGARE_TOPIC_CONFIG_INT(name, field, type, min, max, doc,
 *						   guc, var, guc_default, guc_min, guc_max, guc_unit,
 *						   guc_desc, guc_long_desc)
 *	An integer in Kafka's unit (bytes or milliseconds) held in the int64
 *	"field" of NagareTopicConfig.  type is INT32 or INT64 (what DescribeConfigs
 *	calls INT and LONG); a topic may set it to min..max.  Its server default
 *	is the int GUC "guc" (C variable var, in guc_unit, whose value converts to
 *	Kafka's unit; a negative value, such as -1 for "no limit", is taken as it
 *	is); the GUC's short description is "Default <name>: <guc_desc>".
 *
 * NAGARE_TOPIC_CONFIG_ENUM(name, field, first, default_value, doc, values)
 *	One of the strings of values, a parenthesised list; held in "field" as
 *	first + its index in the list.  The server default is default_value (no
 *	GUC).
 *
 * NAGARE_TOPIC_CONFIG_FIXED(name, value, doc, meaning, unsupported)
 *	A setting with one possible value, which a topic may name but not change:
 *	no field, read-only in DescribeConfigs.  The values in the parenthesised
 *	list unsupported are refused as not supported yet (SQLSTATE 0A000), with
 *	the hint 'Only "<value>" (<meaning>) is available'; any other is invalid.
 *
 * doc is the documentation DescribeConfigs gives.  No topic setting is
 * sensitive; an overridden one has source DYNAMIC_TOPIC_CONFIG, any other
 * DEFAULT_CONFIG, and none has synonyms.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */

/* there is deliberately not an #ifndef TOPICCONFIG_FIELDS_H here */

NAGARE_TOPIC_CONFIG_FIXED("cleanup.policy", "delete",
						  "What happens to old segments: delete (compaction is not supported).",
						  "retention by time and size",
						  ("compact", "compact,delete", "delete,compact"))

/* held as -1 ("producer": keep the producer's batches) or a Kafka codec id */
NAGARE_TOPIC_CONFIG_ENUM("compression.type", compression, -1, -1,
						 "Compression of stored batches: producer keeps what the producer sent.",
						 ("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"))

/*
 * flush.ms: written records are fdatasynced at the latest this long after
 * their write even when nobody waits for them (logstore/writer.c); -1
 * (Kafka's default is Long.MAX_VALUE, "never") leaves fsyncs to acks=all,
 * commits and segment rolls, except that with nagare.serve_durable_only a
 * written record is fsynced at once, so that consumers see it.
 */
NAGARE_TOPIC_CONFIG_INT(
	"flush.ms", flush_ms, INT64, -1, PG_INT64_MAX,
	"Longest time a written record waits for an fsync; -1: only when acks=all, a commit or a roll asks.",
	"nagare.log_flush_interval", nagare_log_flush_interval_ms, -1, -1, INT_MAX,
	GUC_UNIT_MS, "longest time a written record waits for an fsync.",
	"-1 fsyncs only when a producer with acks=all, a committing transaction or a segment roll needs it.")

NAGARE_TOPIC_CONFIG_INT("index.interval.bytes", index_interval_bytes, INT32, 0, PG_INT32_MAX,
						"Bytes of log between offset index entries.",
						"nagare.log_index_interval_bytes", nagare_log_index_interval_bytes,
						4096, 0, INT_MAX, GUC_UNIT_BYTE,
						"bytes between offset index entries.", NULL)

NAGARE_TOPIC_CONFIG_INT("max.message.bytes", max_message_bytes, INT32, 0, PG_INT32_MAX,
						"Largest record batch accepted.",
						"nagare.message_max_bytes", nagare_message_max_bytes,
						1048588, 128, 256 * 1024 * 1024, GUC_UNIT_BYTE,
						"largest record batch a topic accepts.", NULL)

/*
 * partitioner: how nagare.send(), send_batch() and publish() map a key to a
 * partition; the values in the order of KafkaPartitioner (kafka/murmur2.h).
 */
NAGARE_TOPIC_CONFIG_ENUM(
	"partitioner", partitioner, 0, 0,
	"How SQL maps keys to partitions: murmur2 as the Java client, crc32 as librdkafka's default.",
	("murmur2", "crc32"))

NAGARE_TOPIC_CONFIG_INT("retention.bytes", retention_bytes, INT64, -1, PG_INT64_MAX,
						"Size a partition's log is kept under; -1 for no limit.",
						"nagare.log_retention_size", nagare_log_retention_mb,
						-1, -1, INT_MAX, GUC_UNIT_MB,
						"partition size above which old segments are deleted.",
						"-1 means no size limit.")

NAGARE_TOPIC_CONFIG_INT("retention.ms", retention_ms, INT64, -1, PG_INT64_MAX,
						"Age after which segments are deleted; -1 to keep them.",
						"nagare.log_retention", nagare_log_retention_minutes,
						7 * 24 * 60, -1, INT_MAX, GUC_UNIT_MIN,
						"age after which segments are deleted.",
						"-1 keeps segments forever.")

NAGARE_TOPIC_CONFIG_INT("segment.bytes", segment_bytes, INT32, 14, PG_INT32_MAX,
						"Size at which a segment is rolled.",
						"nagare.log_segment_bytes", nagare_log_segment_bytes,
						1024 * 1024 * 1024, 14, INT_MAX, GUC_UNIT_BYTE,
						"size at which a segment is rolled.", NULL)

NAGARE_TOPIC_CONFIG_INT("segment.ms", segment_ms, INT64, 1, PG_INT64_MAX,
						"Age at which a segment is rolled.",
						"nagare.log_roll", nagare_log_roll_minutes,
						7 * 24 * 60, 1, INT_MAX, GUC_UNIT_MIN,
						"age at which a segment is rolled.", NULL)
