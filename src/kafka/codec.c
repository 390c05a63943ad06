/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  Messages for the Kafka codec's result codes.
 *
 * The strings are for logs and for the detail of SQL errors; they are
 * deliberately short and lower case, to follow an errmsg() prefix such as
 * "invalid record batch: ".
 *
 * src/kafka/codec.c
 *
 *-------------------------------------------------------------------------
 */
#include "kafka/codec.h"

const char *
kafka_codec_strerror(int err)
{
	switch ((KafkaCodecError) err)
	{
		case KAFKA_OK:
			return "success";
		case KAFKA_ERR_TRUNCATED:
			return "truncated data";
		case KAFKA_ERR_CORRUPT:
			return "corrupt data";
		case KAFKA_ERR_CRC:
			return "CRC mismatch";
		case KAFKA_ERR_MAGIC:
			return "unsupported message format (magic byte is not 2)";
		case KAFKA_ERR_TOO_LARGE:
			return "size limit exceeded";
		case KAFKA_ERR_NOMEM:
			return "out of memory";
		case KAFKA_ERR_UNSUPPORTED:
			return "unsupported compression codec";
		case KAFKA_ERR_RECORD:
			return "invalid record";
		case KAFKA_ERR_INVALID_ARG:
			return "invalid argument";
	}
	return "unknown error";
}
