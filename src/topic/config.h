/*-------------------------------------------------------------------------
 *
 * config.h
 *	  Kafka topic settings: the topic's overrides (shared topic table, the
 *	  jsonb config of nagare.topic) over the server defaults (GUCs).
 *
 * Every setting is a row of topicconfig_fields.h; nothing here names one.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_TOPICCONFIG_H
#define NAGARE_TOPICCONFIG_H

#include "utils/jsonb.h"

#include "shmem.h"

/*
 * In what nagare_config_parse() returns with allow_null: the setting was
 * given as JSON null, "back to the default".
 */
#define NAGARE_CONFIG_RESET		(NAGARE_CONFIG_UNSET + 1)

typedef enum NagareConfigKind
{
	NAGARE_CONFIG_INT32,		/* an integer up to 2^31-1 (Kafka's INT) */
	NAGARE_CONFIG_INT64,		/* an integer (Kafka's LONG) */
	NAGARE_CONFIG_ENUM,			/* one of a list of strings */
	NAGARE_CONFIG_FIXED			/* a string with one possible value */
} NagareConfigKind;

/* One row of topicconfig_fields.h */
typedef struct NagareConfigSetting
{
	const char *name;			/* Kafka's name */
	NagareConfigKind kind;
	int			field;			/* offset of its int64 in NagareTopicConfig;
								 * -1 for FIXED */
	int64		min;			/* INT*: bounds; ENUM: value of values[0] */
	int64		max;
	const char *const *values;	/* ENUM: the names, FIXED: the value, then
								 * those not supported yet; NULL-terminated */
	const char *meaning;		/* FIXED: what the one value means */
	const char *doc;			/* DescribeConfigs' documentation */
} NagareConfigSetting;

/* Every setting, sorted by name */
extern const NagareConfigSetting nagare_config_settings[];
extern const int nagare_config_setting_count;

extern void nagare_topic_define_gucs(void);

extern void nagare_config_set_unset(NagareTopicConfig *cfg);
extern void nagare_config_defaults(NagareTopicConfig *out);
extern void nagare_config_apply(const NagareTopicConfig *overrides, NagareTopicConfig *out);
extern void nagare_config_merge(NagareTopicConfig *overrides, const NagareTopicConfig *delta);
extern bool nagare_topic_effective_config(int32 topic_id, NagareTopicConfig *out);
extern int	nagare_topic_index_interval(int32 topic_id);

extern bool nagare_config_is_set(const NagareConfigSetting *s, const NagareTopicConfig *cfg);
extern char *nagare_config_value_text(const NagareConfigSetting *s, const NagareTopicConfig *cfg);

extern int64 nagare_config_enum_lookup(const char *name, const char *value);
extern void nagare_config_parse(Jsonb *config, NagareTopicConfig *out, bool allow_null);
extern Jsonb *nagare_config_to_jsonb(const NagareTopicConfig *cfg);
extern Jsonb *nagare_config_effective_jsonb(const NagareTopicConfig *overrides);

#endif							/* NAGARE_TOPICCONFIG_H */
