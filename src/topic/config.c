/*-------------------------------------------------------------------------
 *
 * config.c
 *	  Effective per-topic configuration (see config.h).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/config.h"

void
nagare_config_set_unset(NagareTopicConfig *cfg)
{
	cfg->segment_bytes = NAGARE_CONFIG_UNSET;
	cfg->segment_ms = NAGARE_CONFIG_UNSET;
	cfg->retention_ms = NAGARE_CONFIG_UNSET;
	cfg->retention_bytes = NAGARE_CONFIG_UNSET;
	cfg->max_message_bytes = NAGARE_CONFIG_UNSET;
	cfg->index_interval_bytes = NAGARE_CONFIG_UNSET;
	cfg->compression = NAGARE_CONFIG_UNSET;
}

/* The server defaults, in Kafka's units */
void
nagare_config_defaults(NagareTopicConfig *out)
{
	out->segment_bytes = nagare_log_segment_bytes;
	out->segment_ms = (int64) nagare_log_roll_minutes * 60 * 1000;
	out->retention_ms = nagare_log_retention_minutes < 0 ? -1 :
		(int64) nagare_log_retention_minutes * 60 * 1000;
	out->retention_bytes = nagare_log_retention_mb < 0 ? -1 :
		(int64) nagare_log_retention_mb * 1024 * 1024;
	out->max_message_bytes = nagare_message_max_bytes;
	out->index_interval_bytes = nagare_log_index_interval_bytes;
	out->compression = -1;		/* "producer": keep what the producer sent */
}

/* out holds defaults; replace those the topic overrides */
void
nagare_config_apply(const NagareTopicConfig *o, NagareTopicConfig *out)
{
#define APPLY(f) do { if (o->f != NAGARE_CONFIG_UNSET) out->f = o->f; } while (0)
	APPLY(segment_bytes);
	APPLY(segment_ms);
	APPLY(retention_ms);
	APPLY(retention_bytes);
	APPLY(max_message_bytes);
	APPLY(index_interval_bytes);
	APPLY(compression);
#undef APPLY
}

/*
 * Effective configuration of a topic.  Returns false (and the defaults) when
 * the topic is not in the shared topic table.  Takes registry_lock shared.
 */
bool
nagare_topic_effective_config(int32 topic_id, NagareTopicConfig *out)
{
	NagareTopic *t;
	bool		found = false;

	nagare_config_defaults(out);
	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	t = hash_search(nagare_topic_hash, &topic_id, HASH_FIND, NULL);
	if (t != NULL && !t->deleted)
	{
		nagare_config_apply(&t->config, out);
		found = true;
	}
	LWLockRelease(nagare_shared->registry_lock);
	return found;
}

int
nagare_topic_index_interval(int32 topic_id)
{
	NagareTopicConfig cfg;

	(void) nagare_topic_effective_config(topic_id, &cfg);
	return (int) cfg.index_interval_bytes;
}
