/*-------------------------------------------------------------------------
 *
 * config.h
 *	  Effective per-topic configuration: the topic's overrides (shared
 *	  topic table) over the server defaults (GUCs).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_TOPICCONFIG_H
#define NAGARE_TOPICCONFIG_H

#include "shmem.h"

extern void nagare_config_set_unset(NagareTopicConfig *cfg);
extern void nagare_config_defaults(NagareTopicConfig *out);
extern void nagare_config_apply(const NagareTopicConfig *overrides, NagareTopicConfig *out);
extern bool nagare_topic_effective_config(int32 topic_id, NagareTopicConfig *out);
extern int	nagare_topic_index_interval(int32 topic_id);

#endif							/* NAGARE_TOPICCONFIG_H */
