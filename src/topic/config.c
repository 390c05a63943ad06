/*-------------------------------------------------------------------------
 *
 * config.c
 *	  Kafka topic settings, generated from the rows of topicconfig_fields.h.
 *
 * A topic's settings are its overrides, kept as a jsonb object of Kafka
 * names in nagare.topic.config and copied into the shared topic table as a
 * NagareTopicConfig, over the server defaults: the nagare.* GUCs that stand
 * for Kafka's log.* broker settings.  Those GUCs are defined and registered
 * here.  A field left NAGARE_CONFIG_UNSET follows its GUC, so a reload
 * changes every topic that does not override the setting.
 *
 * The code run often (the defaults, the effective configuration) is straight
 * code expanded from the rows; parsing, printing and DescribeConfigs walk
 * nagare_config_settings[], the rows as data.  Nothing below names a setting.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "topic/config.h"

/*---- The server defaults ----*/

/* The GUC variables */
#define NAGARE_TOPIC_CONFIG_INT(name, field, type, min, max, doc, guc, var, guc_default, ...) \
	static int	var = guc_default;
#define NAGARE_TOPIC_CONFIG_ENUM(name, ...)
#define NAGARE_TOPIC_CONFIG_FIXED(name, ...)
#include "topicconfig_fields.h"
#undef NAGARE_TOPIC_CONFIG_INT
#undef NAGARE_TOPIC_CONFIG_ENUM
#undef NAGARE_TOPIC_CONFIG_FIXED

/*
 * What one unit of a GUC is in Kafka's units (milliseconds or bytes); 0 for
 * a unit this does not convert.
 */
#define GUC_UNIT_IN_KAFKA(unit) \
	((unit) == GUC_UNIT_MIN ? INT64CONST(60 * 1000) : \
	 (unit) == GUC_UNIT_S ? INT64CONST(1000) : \
	 (unit) == GUC_UNIT_MB ? INT64CONST(1024 * 1024) : \
	 (unit) == GUC_UNIT_KB ? INT64CONST(1024) : \
	 ((unit) == GUC_UNIT_MS || (unit) == GUC_UNIT_BYTE) ? INT64CONST(1) : INT64CONST(0))

#define NAGARE_TOPIC_CONFIG_INT(name, field, type, min, max, doc, guc, var, guc_default, \
								guc_min, guc_max, guc_unit, ...) \
	StaticAssertDecl(GUC_UNIT_IN_KAFKA(guc_unit) != 0, \
					 "the unit of " guc " has no conversion to Kafka's");
#define NAGARE_TOPIC_CONFIG_ENUM(name, ...)
#define NAGARE_TOPIC_CONFIG_FIXED(name, ...)
#include "topicconfig_fields.h"
#undef NAGARE_TOPIC_CONFIG_INT
#undef NAGARE_TOPIC_CONFIG_ENUM
#undef NAGARE_TOPIC_CONFIG_FIXED

/* Called by _PG_init: the GUCs of the server defaults */
void
nagare_topic_define_gucs(void)
{
#define NAGARE_TOPIC_CONFIG_INT(name, field, type, min, max, doc, guc, var, guc_default, \
								guc_min, guc_max, guc_unit, guc_desc, guc_long_desc) \
	DefineCustomIntVariable(guc, "Default " name ": " guc_desc, guc_long_desc, \
							&var, guc_default, guc_min, guc_max, \
							PGC_SIGHUP, guc_unit, NULL, NULL, NULL);
#define NAGARE_TOPIC_CONFIG_ENUM(name, ...)
#define NAGARE_TOPIC_CONFIG_FIXED(name, ...)
#include "topicconfig_fields.h"
#undef NAGARE_TOPIC_CONFIG_INT
#undef NAGARE_TOPIC_CONFIG_ENUM
#undef NAGARE_TOPIC_CONFIG_FIXED
}

/* The server defaults, in Kafka's units */
void
nagare_config_defaults(NagareTopicConfig *out)
{
#define NAGARE_TOPIC_CONFIG_INT(name, field, type, min, max, doc, guc, var, guc_default, \
								guc_min, guc_max, guc_unit, ...) \
	out->field = var < 0 ? var : (int64) var * GUC_UNIT_IN_KAFKA(guc_unit);
#define NAGARE_TOPIC_CONFIG_ENUM(name, field, first, default_value, ...) \
	out->field = default_value;
#define NAGARE_TOPIC_CONFIG_FIXED(name, ...)
#include "topicconfig_fields.h"
#undef NAGARE_TOPIC_CONFIG_INT
#undef NAGARE_TOPIC_CONFIG_ENUM
#undef NAGARE_TOPIC_CONFIG_FIXED
}

/*---- Overrides, field by field ----*/

/* In the functions below, EACH_FIELD(f) is expanded for every field */
#define NAGARE_TOPIC_CONFIG_INT(name, field, ...)	EACH_FIELD(field)
#define NAGARE_TOPIC_CONFIG_ENUM(name, field, ...)	EACH_FIELD(field)
#define NAGARE_TOPIC_CONFIG_FIXED(name, ...)

/* Every field NAGARE_CONFIG_UNSET: the topic overrides nothing */
void
nagare_config_set_unset(NagareTopicConfig *cfg)
{
#define EACH_FIELD(f) cfg->f = NAGARE_CONFIG_UNSET;
#include "topicconfig_fields.h"
#undef EACH_FIELD
}

/* out holds defaults; replace those the topic overrides */
void
nagare_config_apply(const NagareTopicConfig *o, NagareTopicConfig *out)
{
#define EACH_FIELD(f) if (o->f != NAGARE_CONFIG_UNSET) out->f = o->f;
#include "topicconfig_fields.h"
#undef EACH_FIELD
}

/*
 * Change overrides by delta, as parsed with allow_null: a field set there
 * replaces the override, NAGARE_CONFIG_RESET removes it.
 */
void
nagare_config_merge(NagareTopicConfig *o, const NagareTopicConfig *delta)
{
#define EACH_FIELD(f) \
	if (delta->f == NAGARE_CONFIG_RESET) \
		o->f = NAGARE_CONFIG_UNSET; \
	else if (delta->f != NAGARE_CONFIG_UNSET) \
		o->f = delta->f;
#include "topicconfig_fields.h"
#undef EACH_FIELD
}

#undef NAGARE_TOPIC_CONFIG_INT
#undef NAGARE_TOPIC_CONFIG_ENUM
#undef NAGARE_TOPIC_CONFIG_FIXED

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

/*---- The rows as data ----*/

#define CONFIG_UNPAREN(...) __VA_ARGS__
#define CONFIG_STRINGS(...) ((const char *const[]) {__VA_ARGS__, NULL})

const NagareConfigSetting nagare_config_settings[] = {
#define NAGARE_TOPIC_CONFIG_INT(name, field, type, min, max, doc, ...) \
	{name, NAGARE_CONFIG_##type, offsetof(NagareTopicConfig, field), min, max, NULL, NULL, doc},
#define NAGARE_TOPIC_CONFIG_ENUM(name, field, first, default_value, doc, values) \
	{name, NAGARE_CONFIG_ENUM, offsetof(NagareTopicConfig, field), first, \
	 first + (int64) lengthof(((const char *const[]) {CONFIG_UNPAREN values})) - 1, \
	 CONFIG_STRINGS(CONFIG_UNPAREN values), NULL, doc},
#define NAGARE_TOPIC_CONFIG_FIXED(name, value, doc, meaning, unsupported) \
	{name, NAGARE_CONFIG_FIXED, -1, 0, 0, CONFIG_STRINGS(value, CONFIG_UNPAREN unsupported), \
	 meaning, doc},
#include "topicconfig_fields.h"
#undef NAGARE_TOPIC_CONFIG_INT
#undef NAGARE_TOPIC_CONFIG_ENUM
#undef NAGARE_TOPIC_CONFIG_FIXED
};

const int	nagare_config_setting_count = lengthof(nagare_config_settings);

static int64
field_value(const NagareConfigSetting *s, const NagareTopicConfig *cfg)
{
	Assert(s->field >= 0);
	return *(const int64 *) ((const char *) cfg + s->field);
}

/* Does cfg set this setting (a FIXED one: never)? */
bool
nagare_config_is_set(const NagareConfigSetting *s, const NagareTopicConfig *cfg)
{
	return s->field >= 0 && field_value(s, cfg) != NAGARE_CONFIG_UNSET;
}

/* The name of an ENUM setting's value (out of range: the first) */
static const char *
enum_name(const NagareConfigSetting *s, int64 value)
{
	if (value < s->min || value > s->max)
		return s->values[0];
	return s->values[value - s->min];
}

/* The setting's value in cfg (which must have it), as Kafka writes it; palloc'd */
char *
nagare_config_value_text(const NagareConfigSetting *s, const NagareTopicConfig *cfg)
{
	switch (s->kind)
	{
		case NAGARE_CONFIG_FIXED:
			return pstrdup(s->values[0]);
		case NAGARE_CONFIG_ENUM:
			return pstrdup(enum_name(s, field_value(s, cfg)));
		case NAGARE_CONFIG_INT32:
		case NAGARE_CONFIG_INT64:
			break;
	}
	return psprintf(INT64_FORMAT, field_value(s, cfg));
}

/* Appends "a, b and c" (last_sep " and ") to buf */
static void
append_list(StringInfo buf, const char *const *names, int n, const char *last_sep)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, i == n - 1 ? last_sep : ", ");
		appendStringInfoString(buf, names[i]);
	}
}

static const NagareConfigSetting *
config_setting(const char *name)
{
	const char *names[lengthof(nagare_config_settings)];
	StringInfoData hint;
	int			i;

	for (i = 0; i < lengthof(nagare_config_settings); i++)
	{
		if (strcmp(nagare_config_settings[i].name, name) == 0)
			return &nagare_config_settings[i];
		names[i] = nagare_config_settings[i].name;
	}
	initStringInfo(&hint);
	append_list(&hint, names, lengthof(names), " and ");
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown topic configuration \"%s\"", name),
			 errhint("Supported settings are %s.", hint.data)));
	return NULL;				/* keep compiler quiet */
}

static int64
config_int_value(const NagareConfigSetting *s, JsonbValue *v)
{
	int64		result = 0;
	char	   *str;

	if (v->type == jbvNumeric)
		str = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		str = pnstrdup(v->val.string.val, v->val.string.len);
	else
		str = NULL;

	if (str != NULL)
	{
		char	   *end;

		errno = 0;
		result = strtoll(str, &end, 10);
		if (errno != 0 || end == str || *end != '\0')
			str = NULL;
	}
	if (str == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for topic configuration \"%s\"", s->name),
				 errhint("The value must be an integer, as a JSON number or string.")));
	if (result < s->min || result > s->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value %lld for topic configuration \"%s\" is out of range",
						(long long) result, s->name),
				 errhint("The value must be between %lld and %lld.",
						 (long long) s->min, (long long) s->max)));
	return result;
}

static char *
config_string_value(const NagareConfigSetting *s, JsonbValue *v)
{
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for topic configuration \"%s\"", s->name),
				 errhint("The value must be a JSON string.")));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The value of an ENUM setting named str (ERROR with the names if none) */
static int64
config_enum_parse(const NagareConfigSetting *s, const char *str)
{
	StringInfoData hint;
	int			i;

	for (i = 0; s->values[i] != NULL; i++)
		if (strcmp(str, s->values[i]) == 0)
			return s->min + i;
	initStringInfo(&hint);
	append_list(&hint, s->values, i, " or ");
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\"", s->name, str),
			 errhint("Use %s.", hint.data)));
	return 0;					/* keep compiler quiet */
}

static int64
config_enum_value(const NagareConfigSetting *s, JsonbValue *v)
{
	return config_enum_parse(s, config_string_value(s, v));
}

/*
 * The value of the ENUM setting "name" called value, for functions that take
 * one setting for a single call (nagare.send()'s partitioner); ERROR as for
 * a topic's configuration if there is no such value.
 */
int64
nagare_config_enum_lookup(const char *name, const char *value)
{
	const NagareConfigSetting *s = config_setting(name);

	Assert(s->kind == NAGARE_CONFIG_ENUM);
	return config_enum_parse(s, value);
}

static void
config_check_fixed(const NagareConfigSetting *s, JsonbValue *v)
{
	char	   *str = config_string_value(s, v);
	int			i;

	if (strcmp(str, s->values[0]) == 0)
		return;
	for (i = 1; s->values[i] != NULL; i++)
		if (strcmp(str, s->values[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s \"%s\" is not supported yet", s->name, str),
					 errhint("Only \"%s\" (%s) is available.", s->values[0], s->meaning)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\"", s->name, str),
			 errhint("Use \"%s\".", s->values[0])));
}

/*
 * Parse a jsonb object of Kafka topic settings into overrides (fields not
 * given stay NAGARE_CONFIG_UNSET).  With allow_null, a JSON null is accepted
 * and leaves the field as NAGARE_CONFIG_RESET, meaning "back to the default"
 * (used by alter_topic); otherwise null is an error.
 */
void
nagare_config_parse(Jsonb *config, NagareTopicConfig *out, bool allow_null)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	char	   *key = NULL;

	nagare_config_set_unset(out);
	if (config == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(config))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("topic configuration must be a JSON object"),
				 errhint("For example: {\"retention.ms\": 86400000}.")));

	it = JsonbIteratorInit(&config->root);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const NagareConfigSetting *s;
		int64	   *field;

		if (r == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (r != WJB_VALUE)
			continue;
		Assert(key != NULL);	/* an object's value follows its key */
		s = config_setting(key);
		field = s->field < 0 ? NULL : (int64 *) ((char *) out + s->field);
		Assert(field != NULL || s->kind == NAGARE_CONFIG_FIXED);

		if (v.type == jbvNull)
		{
			if (!allow_null)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("topic configuration \"%s\" must not be null", key)));
			if (field)
				*field = NAGARE_CONFIG_RESET;
			continue;
		}

		switch (s->kind)
		{
			case NAGARE_CONFIG_INT32:
			case NAGARE_CONFIG_INT64:
				*field = config_int_value(s, &v);
				break;
			case NAGARE_CONFIG_ENUM:
				*field = config_enum_value(s, &v);
				break;
			case NAGARE_CONFIG_FIXED:
				config_check_fixed(s, &v);
				break;
		}
	}
}

/* A jsonb object of the settings cfg sets, and with_fixed the FIXED ones */
static Jsonb *
config_jsonb(const NagareTopicConfig *cfg, bool with_fixed)
{
	StringInfoData buf;
	bool		first = true;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < lengthof(nagare_config_settings); i++)
	{
		const NagareConfigSetting *s = &nagare_config_settings[i];

		if (s->kind == NAGARE_CONFIG_FIXED ? !with_fixed : !nagare_config_is_set(s, cfg))
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		if (s->kind == NAGARE_CONFIG_FIXED)
			appendStringInfo(&buf, "\"%s\": \"%s\"", s->name, s->values[0]);
		else if (s->kind == NAGARE_CONFIG_ENUM)
			appendStringInfo(&buf, "\"%s\": \"%s\"", s->name, enum_name(s, field_value(s, cfg)));
		else
			appendStringInfo(&buf, "\"%s\": %lld", s->name, (long long) field_value(s, cfg));
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* A jsonb object of the fields of cfg that are set, with Kafka's names */
Jsonb *
nagare_config_to_jsonb(const NagareTopicConfig *cfg)
{
	return config_jsonb(cfg, false);
}

/* Every setting's effective value, given the topic's overrides */
Jsonb *
nagare_config_effective_jsonb(const NagareTopicConfig *overrides)
{
	NagareTopicConfig eff;

	nagare_config_defaults(&eff);
	nagare_config_apply(overrides, &eff);
	return config_jsonb(&eff, true);
}
