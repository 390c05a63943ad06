/*-------------------------------------------------------------------------
 *
 * errmap.c
 *	  The one mapping of SQLSTATEs to Kafka error codes.
 *
 * Whatever the broker asks the nagare worker to do in SQL (topic changes,
 * consumer group offsets) comes back as the SQLSTATE of the outcome, as
 * unpack_sql_state() wrote it: "00000" on success.  The SQL functions raise
 * the errors of docs/sql-reference.md; those with a Kafka counterpart map to
 * it here, and any other SQLSTATE to what the caller says ("otherwise"), so
 * that each kind of request keeps its own answer to a failure it cannot
 * explain.  The comparison is with PostgreSQL's ERRCODE_* values, never with
 * spelled-out strings.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "broker/errmap.h"
#include "kafka/protocol.h"

/*
 * The Kafka error for a SQLSTATE: KAFKA_ERROR_NONE for successful
 * completion, the Kafka counterpart of an error nagare's SQL raises, else
 * otherwise (also for anything that is not a 5-character SQLSTATE).
 */
/* The ERRCODE_* value of a five-character SQLSTATE, or -1 */
static int
sqlstate_code(const char *sqlstate)
{
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return -1;
	return MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
}

/* Whether sqlstate (as the worker answers it) is errcode, an ERRCODE_* value */
bool
nagare_sqlstate_is(const char *sqlstate, int errcode)
{
	return sqlstate_code(sqlstate) == errcode;
}

int16
nagare_kafka_error_for_sqlstate(const char *sqlstate, int16 otherwise)
{
	int			code = sqlstate_code(sqlstate);

	if (code < 0)
		return otherwise;
	switch (code)
	{
		case ERRCODE_SUCCESSFUL_COMPLETION:
			return KAFKA_ERROR_NONE;
		case ERRCODE_DUPLICATE_OBJECT:
			return KAFKA_ERROR_TOPIC_ALREADY_EXISTS;
		case ERRCODE_UNDEFINED_OBJECT:
			return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
		case ERRCODE_INVALID_NAME:
		case ERRCODE_NAME_TOO_LONG:
			return KAFKA_ERROR_INVALID_TOPIC_EXCEPTION;
		case ERRCODE_INVALID_PARAMETER_VALUE:
		case ERRCODE_INVALID_TEXT_REPRESENTATION:
		case ERRCODE_FEATURE_NOT_SUPPORTED:
			return KAFKA_ERROR_INVALID_CONFIG;
		case ERRCODE_CONFIGURATION_LIMIT_EXCEEDED:
		case ERRCODE_PROGRAM_LIMIT_EXCEEDED:
		case ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST: /* e.g. a table topic's topic */
			return KAFKA_ERROR_POLICY_VIOLATION;
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
			/* e.g. the broker is not ready yet */
			return KAFKA_ERROR_LEADER_NOT_AVAILABLE;
	}
	return otherwise;
}
