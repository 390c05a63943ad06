/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  Kafka admin requests: topics and their configuration.
 *
 * Topic changes go through the same transactional catalog as the SQL
 * functions: the broker hands each change (create a topic, delete it, add
 * partitions, change its configuration) to the database-connected nagare
 * worker through the channel (queue/channel.h; at most ADMIN_MAX_RUNNING at
 * a time, the others wait here); the worker runs nagare.create_topic() and
 * friends in a transaction of its own, refreshes the shared topic table,
 * and answers with the SQLSTATE and message, which become a Kafka error
 * code and message.  So a topic made by a Kafka admin client shows in
 * nagare.topics, and one made from SQL shows in Metadata; validation and
 * its errors are the same both ways.  The loop does not wait for the
 * worker: a request's answer is sent when the last of its changes is done,
 * or when its timeout passes (REQUEST_TIMED_OUT; the change may still
 * happen, as in Kafka), or at once when its client has gone.
 *
 * CreateTopics, CreatePartitions and DeleteTopics are charged to the
 * client's controller_mutation_rate quota first (partitions created or
 * deleted; broker/throttle.c): a strict version's item fails with
 * THROTTLING_QUOTA_EXCEEDED while the quota is exceeded, as in Kafka.
 *
 * Metadata may create a topic it is asked for (nagare.auto_create_topics)
 * with nobody waiting for the answer.  A creation that fails (a limit, a
 * name SQL refuses) is remembered for AUTO_CREATE_RETRY_MS: Metadata then
 * answers its error (POLICY_VIOLATION, INVALID_TOPIC_EXCEPTION, ...) and
 * neither asks the worker again nor logs again, so a client retrying its
 * Metadata every second costs one attempt and one LOG line per period.
 *
 * DescribeConfigs and DeleteRecords need no SQL: the first reads the
 * broker's topic map, the second moves the log start offset
 * (logstore/retention.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "broker/acl_api.h"
#include "broker/admin.h"
#include "broker/errmap.h"
#include "broker/kafka_api.h"
#include "broker/throttle.h"
#include "broker/topicmap.h"
#include "logstore/log.h"
#include "topic/config.h"
#include "nagare.h"
#include "queue/channel.h"

#define ADMIN_DEFAULT_TIMEOUT_MS 30000

/*
 * Most topic changes in the channel at once: a flood of them, or a worker
 * that does not run, leaves the channel room for consumer groups.
 */
#define ADMIN_MAX_RUNNING	32

/*
 * Most changes waiting behind those: beyond it a change fails at once with
 * REQUEST_TIMED_OUT, as it would after waiting (each takes at most ~5 kB of
 * the broker's memory, its settings included; a client sending changes
 * faster than the worker carries them out cannot grow that without bound).
 */
#define ADMIN_MAX_WAITING	1024
#define ADMIN_WAITING_MESSAGE "too many topic changes are waiting for the nagare worker"

typedef struct AdminRequest AdminRequest;

/* One result of an admin request: a topic or a config resource */
typedef struct AdminItem
{
	KafkaStr	name;			/* copied */
	int8		resource_type;	/* AlterConfigs */
	int16		error;
	char	   *message;		/* NULL if none */
	int32		partitions;		/* CreateTopics */
	int16		replication;	/* CreateTopics */
	KafkaUuid	topic_id;		/* DeleteTopics v6 */
} AdminItem;

struct AdminRequest
{
	NagareConn *conn;
	NagareResponse *resp;
	NagareRequestId id;
	int			nitems;
	AdminItem  *items;
	int			outstanding;	/* operations not answered yet */
	char	   *client;			/* ,"k": member of the payload (audit) */
};

/* One change for the worker */
typedef struct AdminOp
{
	dlist_node	node;			/* in waiting_ops or running_ops */
	NagareChannelKind kind;
	bool		validate_only;
	int32		count;
	char		name[NAGARE_MAX_TOPIC_NAME + 1];
	char	   *config;			/* JSON object text, or NULL */
	char	   *client;			/* ,"k": member of the payload, or NULL */
	AdminRequest *req;			/* NULL: nobody waits (auto-creation) */
	AdminItem  *item;
	TimestampTz deadline;
} AdminOp;

/*
 * Failed auto-creations remembered (see above): the most recent
 * AUTO_CREATE_FAILURES, the oldest replaced first.
 */
#define AUTO_CREATE_RETRY_MS	10000
#define AUTO_CREATE_FAILURES	64

typedef struct AutoCreateFailure
{
	char		name[NAGARE_MAX_TOPIC_NAME + 1];	/* "" if unused */
	int16		error;
	TimestampTz at;
} AutoCreateFailure;

static AutoCreateFailure auto_failures[AUTO_CREATE_FAILURES];
static int	auto_failure_next = 0;

static MemoryContext admin_context = NULL;
static dlist_head waiting_ops = DLIST_STATIC_INIT(waiting_ops);	/* not handed yet */
static dlist_head running_ops = DLIST_STATIC_INIT(running_ops);	/* in the channel */
static int	nrunning = 0;
static int	nwaiting = 0;

static void request_item_done(AdminRequest *req);

/*
 * controller_mutation_rate (KIP-599, broker/throttle.c): charge permits
 * partitions created or deleted for item; false, with the item failed
 * with THROTTLING_QUOTA_EXCEEDED, if a strict version refuses it.
 */
static bool
mutation_allowed(AdminRequest *req, AdminItem *item, double permits)
{
	if (nagare_throttle_mutation(req->resp, req->id.api_key, req->id.api_version, permits))
		return true;
	item->error = KAFKA_ERROR_THROTTLING_QUOTA_EXCEEDED;
	item->message = MemoryContextStrdup(nagare_conn_context(req->conn),
										"Permitted controller mutation rate exceeded.");
	return false;
}

/* Kafka's ConfigResource types */
#define RESOURCE_TOPIC	2
#define RESOURCE_BROKER	4

/* Kafka's ConfigSource values */
#define SOURCE_DYNAMIC_TOPIC	1
#define SOURCE_DEFAULT			5

/* Kafka's ConfigType values */
#define TYPE_STRING	2
#define TYPE_INT	3
#define TYPE_LONG	5

static MemoryContext
admin_cxt(void)
{
	if (admin_context == NULL)
		admin_context = AllocSetContextCreate(TopMemoryContext, "nagare admin",
											  ALLOCSET_DEFAULT_SIZES);
	return admin_context;
}

static AdminRequest *
request_new(NagareConn *conn, const KafkaRequestHeader *hdr, int nitems)
{
	MemoryContext cxt = nagare_conn_context(conn);
	AdminRequest *req = MemoryContextAllocZero(cxt, sizeof(AdminRequest));

	req->conn = conn;
	req->id = nagare_request_id(hdr);
	req->nitems = nitems;
	req->items = MemoryContextAllocZero(cxt, sizeof(AdminItem) * Max(nitems, 1));
	req->resp = nagare_conn_new_response(conn);
	req->outstanding = 1;		/* released by request_start_done() */
	{
		StringInfoData k;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		initStringInfo(&k);
		nagare_audit_client_member(&k, conn, hdr);
		req->client = k.data;
		MemoryContextSwitchTo(old);
	}
	return req;
}

static void
item_error(AdminRequest *req, AdminItem *item, int16 error, const char *message)
{
	item->error = error;
	if (message)
		item->message = MemoryContextStrdup(nagare_conn_context(req->conn), message);
}

/*
 * Queue a change for the worker; false if ADMIN_MAX_WAITING wait already
 * (the item, if any, then has failed).
 */
static bool
op_submit(AdminRequest *req, AdminItem *item, NagareChannelKind kind, const char *name,
		  int32 count, const char *config, bool validate_only, int32 timeout_ms)
{
	AdminOp    *op;

	if (nwaiting >= ADMIN_MAX_WAITING)
	{
		if (req != NULL)
			item_error(req, item, KAFKA_ERROR_REQUEST_TIMED_OUT, ADMIN_WAITING_MESSAGE);
		return false;
	}
	op = MemoryContextAllocZero(admin_cxt(), sizeof(AdminOp));

	op->kind = kind;
	op->validate_only = validate_only;
	op->count = count;
	strlcpy(op->name, name, sizeof(op->name));
	op->config = config ? MemoryContextStrdup(admin_cxt(), config) : NULL;
	op->client = req ? MemoryContextStrdup(admin_cxt(), req->client) : NULL;
	op->req = req;
	op->item = item;
	op->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   timeout_ms > 0 ? timeout_ms : ADMIN_DEFAULT_TIMEOUT_MS);
	if (req)
		req->outstanding++;
	dlist_push_tail(&waiting_ops, &op->node);
	nwaiting++;
	return true;
}

/* What a SQLSTATE from the worker means to a Kafka client */
static int16
map_sqlstate(const char *state, NagareChannelKind kind)
{
	int16		error = nagare_kafka_error_for_sqlstate(state, KAFKA_ERROR_UNKNOWN_SERVER_ERROR);

	/* the value a partition change gives is the partition count */
	if (error == KAFKA_ERROR_INVALID_CONFIG && kind == NAGARE_ADMIN_CREATE_PARTITIONS)
		return KAFKA_ERROR_INVALID_PARTITIONS;
	return error;
}

/* The failure of the auto-creation of name, if it is recent enough */
static AutoCreateFailure *
auto_failure(const char *name, TimestampTz now)
{
	for (int i = 0; i < AUTO_CREATE_FAILURES; i++)
	{
		AutoCreateFailure *f = &auto_failures[i];

		if (f->name[0] == '\0' || strcmp(f->name, name) != 0)
			continue;
		if (now >= TimestampTzPlusMilliseconds(f->at, AUTO_CREATE_RETRY_MS))
			return NULL;
		return f;
	}
	return NULL;
}

/* An auto-creation failed: remember it, and say so once */
static void
auto_create_failed(const char *name, int16 error, const char *message)
{
	AutoCreateFailure *f = NULL;

	for (int i = 0; i < AUTO_CREATE_FAILURES && f == NULL; i++)
		if (strcmp(auto_failures[i].name, name) == 0)
			f = &auto_failures[i];
	if (f == NULL)
	{
		f = &auto_failures[auto_failure_next];
		auto_failure_next = (auto_failure_next + 1) % AUTO_CREATE_FAILURES;
	}
	strlcpy(f->name, name, sizeof(f->name));
	f->error = error;
	f->at = GetCurrentTimestamp();
	ereport(LOG,
			(errmsg("nagare broker: could not create topic \"%s\" for a Kafka client: %s",
					name, message && message[0] ? message : kafka_error_name(error)),
			 errdetail("Metadata answers %s for it for the next %d s.",
					   kafka_error_name(error), AUTO_CREATE_RETRY_MS / 1000)));
}

static void
op_finish(AdminOp *op, int16 error, const char *message)
{
	if (op->req == NULL && op->kind == NAGARE_ADMIN_CREATE_TOPIC &&
		error != KAFKA_ERROR_NONE && error != KAFKA_ERROR_TOPIC_ALREADY_EXISTS)
		auto_create_failed(op->name, error, message);
	if (op->req != NULL)
	{
		if (op->item->error == KAFKA_ERROR_NONE)
			item_error(op->req, op->item, error, error != KAFKA_ERROR_NONE ? message : NULL);
		request_item_done(op->req);
		op->req = NULL;
	}
}

static void
op_free(AdminOp *op)
{
	if (op->config)
		pfree(op->config);
	if (op->client)
		pfree(op->client);
	pfree(op);
}

/* The worker's answer to a change (channel callback) */
static void
op_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	AdminOp    *op = arg;

	/* submitted without a deadline: there is always an answer */
	Assert(sqlstate != NULL);
	op_finish(op, map_sqlstate(sqlstate, op->kind), data);
	dlist_delete(&op->node);
	nrunning--;
	op_free(op);
}

/* Hand a change to the worker (payload in shmem.h); false if the channel is full */
static bool
op_hand(AdminOp *op)
{
	StringInfoData json;
	bool		ok;

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"t\":");
	escape_json(&json, op->name);
	appendStringInfo(&json, ",\"p\":%d,\"c\":%s,\"v\":%s%s}", op->count,
					 op->config ? op->config : "{}", op->validate_only ? "true" : "false",
					 op->client ? op->client : "");
	/* no deadline: nagare_admin_turn() times the client out, the op waits on */
	ok = nagare_channel_submit(op->kind, json.data, json.len, 0, op_answered, op);
	pfree(json.data);
	return ok;
}

/*
 * Each loop turn: time out what waits too long, and hand waiting changes to
 * the worker while there is room.  Answers come through op_answered().
 */
void
nagare_admin_turn(TimestampTz now)
{
	dlist_mutable_iter iter;
	dlist_iter	riter;
	bool can_hand = true;

	/*
	 * A request whose client has gone is given up at once: its timeout (up
	 * to INT32_MAX ms) would keep the connection's memory.  A running change
	 * still completes.
	 */
	dlist_foreach(riter, &running_ops)
	{
		AdminOp    *op = dlist_container(AdminOp, node, riter.cur);

		if (op->req != NULL && (now >= op->deadline || nagare_conn_closing(op->req->conn)))
			op_finish(op, KAFKA_ERROR_REQUEST_TIMED_OUT,
					  "the nagare worker did not carry out the change in time; check that it runs (nagare.database)");
	}

	/*
	 * Handed in order; once one cannot be, the rest wait, but each is still
	 * timed out (an op that cannot time out, such as an auto-creation, must
	 * not keep the requests behind it waiting past their deadline).
	 */
	dlist_foreach_modify(iter, &waiting_ops)
	{
		AdminOp    *op = dlist_container(AdminOp, node, iter.cur);

		if (op->req != NULL && (now >= op->deadline || nagare_conn_closing(op->req->conn)))
		{
			dlist_delete(&op->node);
			nwaiting--;
			op_finish(op, KAFKA_ERROR_REQUEST_TIMED_OUT, ADMIN_WAITING_MESSAGE);
			op_free(op);
			continue;
		}
		if (!can_hand)
			continue;
		if (nrunning >= ADMIN_MAX_RUNNING || !op_hand(op))
		{
			can_hand = false;
			continue;
		}
		dlist_delete(&op->node);
		nwaiting--;
		dlist_push_tail(&running_ops, &op->node);
		nrunning++;
	}
}

/* Is anything waiting for the worker (the loop then wakes up to time it out)? */
bool
nagare_admin_busy(void)
{
	return !dlist_is_empty(&waiting_ops) || nrunning > 0;
}

/* Is a change of kind to topic key waiting or running? */
static bool
op_queued(dlist_head *ops, NagareChannelKind kind, const char *key)
{
	dlist_iter	iter;

	dlist_foreach(iter, ops)
	{
		AdminOp    *op = dlist_container(AdminOp, node, iter.cur);

		if (op->kind == kind && strcmp(op->name, key) == 0)
			return true;
	}
	return false;
}

/*
 * Metadata asked for a topic that does not exist and may create it: queue
 * its creation with nagare.num_partitions partitions, unless it is queued
 * already, failed recently, or the extension does not exist.  Returns the
 * topic's error for Metadata: LEADER_NOT_AVAILABLE while it is being
 * created, a recent failure's error, else UNKNOWN_TOPIC_OR_PARTITION.
 */
int16
nagare_admin_auto_create(const char *name, int len)
{
	char		key[NAGARE_MAX_TOPIC_NAME + 1];
	AutoCreateFailure *failed;

	if (len <= 0 || len > NAGARE_MAX_TOPIC_NAME)
		return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
	/* no extension, no catalog to create it in */
	if (pg_atomic_read_u32(&nagare_shared->extension_state) == NAGARE_EXTENSION_ABSENT)
		return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
	memcpy(key, name, len);
	key[len] = '\0';
	if (op_queued(&waiting_ops, NAGARE_ADMIN_CREATE_TOPIC, key) ||
		op_queued(&running_ops, NAGARE_ADMIN_CREATE_TOPIC, key))
		return KAFKA_ERROR_LEADER_NOT_AVAILABLE;
	if ((failed = auto_failure(key, GetCurrentTimestamp())) != NULL)
		return failed->error;
	/* too many changes waiting: the client asks again */
	if (!op_submit(NULL, NULL, NAGARE_ADMIN_CREATE_TOPIC, key, nagare_num_partitions,
				   NULL, false, 0))
		return KAFKA_ERROR_LEADER_NOT_AVAILABLE;
	ereport(LOG,
			(errmsg("nagare broker: creating topic \"%s\" with %d partition(s) for a Kafka client (nagare.auto_create_topics)",
					key, nagare_num_partitions)));
	return KAFKA_ERROR_LEADER_NOT_AVAILABLE;
}

/*---- building JSON for the worker ----*/

/* Adds "name": value to the object being built in buf (empty: none yet) */
static void
json_add(StringInfo buf, KafkaStr name, KafkaStr value)
{
	char	   *n = nagare_kstr_dup(CurrentMemoryContext, name);

	appendStringInfoString(buf, buf->len == 0 ? "{" : ", ");
	escape_json(buf, n);
	appendStringInfoString(buf, ": ");
	if (value.len < 0)
		appendStringInfoString(buf, "null");
	else
	{
		char	   *v = nagare_kstr_dup(CurrentMemoryContext, value);

		escape_json(buf, v);
		pfree(v);
	}
	pfree(n);
}

/*
 * Closes the settings object in cfg and queues the item's change with it,
 * or fails the item if the object is too large for the worker.
 */
static void
config_submit(AdminRequest *req, AdminItem *it, NagareChannelKind kind, int32 count,
			  StringInfo cfg, bool validate_only, int32 timeout_ms)
{
	appendStringInfoString(cfg, cfg->len == 0 ? "{}" : "}");
	if (cfg->len >= NAGARE_ADMIN_CONFIG_MAX)
		item_error(req, it, KAFKA_ERROR_INVALID_CONFIG, "too many configuration entries");
	else
		op_submit(req, it, kind, it->name.ptr, count, cfg->data, validate_only, timeout_ms);
	pfree(cfg->data);
}

/* The request counted one extra operation while it was being started */
static void
request_item_done(AdminRequest *req)
{
	NagareRequestId id = req->id;
	MemoryContext cxt = nagare_conn_context(req->conn);
	int			i;

	if (--req->outstanding > 0)
		return;

	switch (id.api_key)
	{
		case KAFKA_API_CREATE_TOPICS:
			{
				KafkaCreateTopicsResponse resp;

				memset(&resp, 0, sizeof(resp));
				resp.TopicsCount = req->nitems;
				resp.Topics = MemoryContextAllocZero(cxt, sizeof(KafkaCreatableTopicResult) * Max(req->nitems, 1));
				for (i = 0; i < req->nitems; i++)
				{
					KafkaCreatableTopicResult *r = &resp.Topics[i];
					AdminItem  *it = &req->items[i];
					const BrokerTopic *t = it->error ? NULL :
						nagare_broker_topic(it->name.ptr, it->name.len);

					r->Name = it->name;
					r->ErrorCode = it->error;
					r->ErrorMessage = kafka_str(it->message);
					r->NumPartitions = it->error ? -1 : (t ? t->partitions : it->partitions);
					r->ReplicationFactor = it->error ? -1 : 1;
					if (t)
						r->TopicId = t->uuid;
					r->ConfigsCount = 0;
				}
				nagare_kafka_response_ready(req->resp, id, &resp, NULL);
				pfree(resp.Topics);
				break;
			}
		case KAFKA_API_DELETE_TOPICS:
			{
				KafkaDeleteTopicsResponse resp;

				memset(&resp, 0, sizeof(resp));
				resp.ResponsesCount = req->nitems;
				resp.Responses = MemoryContextAllocZero(cxt, sizeof(KafkaDeletableTopicResult) * Max(req->nitems, 1));
				for (i = 0; i < req->nitems; i++)
				{
					resp.Responses[i].Name = req->items[i].name;
					resp.Responses[i].TopicId = req->items[i].topic_id;
					resp.Responses[i].ErrorCode = req->items[i].error;
					resp.Responses[i].ErrorMessage = kafka_str(req->items[i].message);
				}
				nagare_kafka_response_ready(req->resp, id, &resp, NULL);
				pfree(resp.Responses);
				break;
			}
		case KAFKA_API_CREATE_PARTITIONS:
			{
				KafkaCreatePartitionsResponse resp;

				memset(&resp, 0, sizeof(resp));
				resp.ResultsCount = req->nitems;
				resp.Results = MemoryContextAllocZero(cxt, sizeof(KafkaCreatePartitionsTopicResult) * Max(req->nitems, 1));
				for (i = 0; i < req->nitems; i++)
				{
					resp.Results[i].Name = req->items[i].name;
					resp.Results[i].ErrorCode = req->items[i].error;
					resp.Results[i].ErrorMessage = kafka_str(req->items[i].message);
				}
				nagare_kafka_response_ready(req->resp, id, &resp, NULL);
				pfree(resp.Results);
				break;
			}
		case KAFKA_API_ALTER_CONFIGS:
		case KAFKA_API_INCREMENTAL_ALTER_CONFIGS:
			{
				/* both responses have the same shape */
				KafkaAlterConfigsResponse resp;

				StaticAssertStmt(sizeof(KafkaAlterConfigsResourceResponse) ==
								 sizeof(KafkaIncrementalAlterConfigsResourceResponse),
								 "AlterConfigs and IncrementalAlterConfigs responses differ");
				memset(&resp, 0, sizeof(resp));
				resp.ResponsesCount = req->nitems;
				resp.Responses = MemoryContextAllocZero(cxt, sizeof(KafkaAlterConfigsResourceResponse) * Max(req->nitems, 1));
				for (i = 0; i < req->nitems; i++)
				{
					resp.Responses[i].ErrorCode = req->items[i].error;
					resp.Responses[i].ErrorMessage = kafka_str(req->items[i].message);
					resp.Responses[i].ResourceType = req->items[i].resource_type;
					resp.Responses[i].ResourceName = req->items[i].name;
				}
				nagare_kafka_response_ready(req->resp, id, &resp, NULL);
				pfree(resp.Responses);
				break;
			}
		default:
			elog(ERROR, "nagare broker: admin request for API %d", id.api_key);
	}
	for (i = 0; i < req->nitems; i++)
	{
		if (req->items[i].name.ptr)
			pfree((void *) req->items[i].name.ptr);
		if (req->items[i].message)
			pfree(req->items[i].message);
	}
	pfree(req->items);
	pfree(req);
}

/* Is name (len) also named by an earlier entry of names[0..i)? */
static bool
duplicate_name(const AdminItem *items, int i)
{
	int			k;

	for (k = 0; k < i; k++)
		if (items[k].name.len == items[i].name.len &&
			memcmp(items[k].name.ptr, items[i].name.ptr, items[i].name.len) == 0)
			return true;
	return false;
}

/*---- CreateTopics ----*/

void
nagare_handle_create_topics(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaCreateTopicsRequest *r = &body->CreateTopics;
	AdminRequest *req = request_new(conn, hdr, r->TopicsCount);
	MemoryContext cxt = nagare_conn_context(conn);
	bool		cluster_create = nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER,
														 NAGARE_ACL_CLUSTER_NAME,
														 strlen(NAGARE_ACL_CLUSTER_NAME),
														 KAFKA_ACL_CREATE);
	int			i;

	for (i = 0; i < r->TopicsCount; i++)
	{
		KafkaCreatableTopic *ct = &r->Topics[i];
		AdminItem  *it = &req->items[i];
		StringInfoData cfg;
		int32		partitions = ct->NumPartitions;
		int			k;

		it->name = nagare_kstr_copy(cxt, ct->Name);
		if (duplicate_name(req->items, i))
		{
			item_error(req, it, KAFKA_ERROR_INVALID_REQUEST, "the topic is named twice in the request");
			continue;
		}
		if (!cluster_create && !nagare_authorized_topic(conn, ct->Name, KAFKA_ACL_CREATE))
		{
			item_error(req, it, KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED,
					   "CREATE on the CLUSTER or on the TOPIC is needed");
			continue;
		}
		if (!nagare_kafka_topic_name_valid(ct->Name.ptr, ct->Name.len))
		{
			item_error(req, it, KAFKA_ERROR_INVALID_TOPIC_EXCEPTION,
					   "topic names are 1 to 249 ASCII letters, digits, '.', '_' and '-'");
			continue;
		}
		if (ct->NumPartitions == 0 || ct->NumPartitions < -1)
		{
			item_error(req, it, KAFKA_ERROR_INVALID_PARTITIONS,
					   "the number of partitions must be at least 1, or -1 for nagare.num_partitions");
			continue;
		}
		if (ct->ReplicationFactor == 0 || ct->ReplicationFactor < -1)
		{
			item_error(req, it, KAFKA_ERROR_INVALID_REPLICATION_FACTOR,
					   "the replication factor must be 1, or -1 for the default");
			continue;
		}
		if (ct->ReplicationFactor > 1)
		{
			item_error(req, it, KAFKA_ERROR_INVALID_REPLICATION_FACTOR,
					   "nagare is one broker: the replication factor is 1 (PostgreSQL's replication makes copies)");
			continue;
		}
		if (ct->AssignmentsCount > 0)
		{
			bool		ok = true;

			for (k = 0; k < ct->AssignmentsCount; k++)
				if (ct->Assignments[k].BrokerIdsCount != 1 ||
					ct->Assignments[k].BrokerIds[0] != NAGARE_NODE_ID ||
					ct->Assignments[k].PartitionIndex != k)
					ok = false;
			if (!ok || ct->NumPartitions != -1)
			{
				item_error(req, it, KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT,
						   "every partition has exactly one replica, on broker 0");
				continue;
			}
			partitions = ct->AssignmentsCount;
		}
		if (partitions == -1)
			partitions = nagare_num_partitions;
		it->partitions = partitions;

		if (!(hdr->RequestApiVersion >= 1 && r->validateOnly) &&
			!mutation_allowed(req, it, partitions))
			continue;

		initStringInfo(&cfg);
		for (k = 0; k < ct->ConfigsCount; k++)
			json_add(&cfg, ct->Configs[k].Name, ct->Configs[k].Value);
		config_submit(req, it, NAGARE_ADMIN_CREATE_TOPIC, partitions, &cfg,
					  hdr->RequestApiVersion >= 1 && r->validateOnly, r->timeoutMs);
	}
	request_item_done(req);
}

/*---- DeleteTopics ----*/

void
nagare_handle_delete_topics(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaDeleteTopicsRequest *r = &body->DeleteTopics;
	bool		v6 = hdr->RequestApiVersion >= 6;
	int			n = v6 ? r->TopicsCount : r->TopicNamesCount;
	AdminRequest *req = request_new(conn, hdr, n);
	MemoryContext cxt = nagare_conn_context(conn);
	int			i;

	for (i = 0; i < n; i++)
	{
		AdminItem  *it = &req->items[i];
		KafkaStr	name = v6 ? r->Topics[i].Name : r->TopicNames[i];
		const BrokerTopic *t = NULL;

		if (v6 && name.len < 0)
		{
			/* by topic id: one the client may not DESCRIBE is unknown */
			t = nagare_described_topic_by_id(conn, &r->Topics[i].TopicId);
			it->topic_id = r->Topics[i].TopicId;
			if (t == NULL)
			{
				it->name = kafka_str_null();
				item_error(req, it, KAFKA_ERROR_UNKNOWN_TOPIC_ID, "no topic has this id");
				continue;
			}
			name = kafka_str(t->name);
		}
		it->name = nagare_kstr_copy(cxt, name);
		if (!nagare_authorized_topic(conn, name, KAFKA_ACL_DELETE))
		{
			item_error(req, it, KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED,
					   "DELETE on the TOPIC is needed");
			continue;
		}
		if (t == NULL)
			t = nagare_broker_topic(name.ptr, name.len);
		if (t == NULL)
		{
			item_error(req, it, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION, "the topic does not exist");
			continue;
		}
		it->topic_id = t->uuid;
		if (!mutation_allowed(req, it, t->partitions))
			continue;
		op_submit(req, it, NAGARE_ADMIN_DELETE_TOPIC, it->name.ptr, 0, NULL, false, r->TimeoutMs);
	}
	request_item_done(req);
}

/*---- CreatePartitions ----*/

void
nagare_handle_create_partitions(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaCreatePartitionsRequest *r = &body->CreatePartitions;
	AdminRequest *req = request_new(conn, hdr, r->TopicsCount);
	MemoryContext cxt = nagare_conn_context(conn);
	int			i;

	for (i = 0; i < r->TopicsCount; i++)
	{
		KafkaCreatePartitionsTopic *ct = &r->Topics[i];
		AdminItem  *it = &req->items[i];
		const BrokerTopic *t;

		it->name = nagare_kstr_copy(cxt, ct->Name);
		if (duplicate_name(req->items, i))
		{
			item_error(req, it, KAFKA_ERROR_INVALID_REQUEST, "the topic is named twice in the request");
			continue;
		}
		if (!nagare_authorized_topic(conn, ct->Name, KAFKA_ACL_ALTER))
		{
			item_error(req, it, KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED,
					   "ALTER on the TOPIC is needed");
			continue;
		}
		t = nagare_broker_topic(ct->Name.ptr, ct->Name.len);
		if (t == NULL)
		{
			item_error(req, it, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION, "the topic does not exist");
			continue;
		}
		if (ct->Count <= t->partitions)
		{
			char		msg[128];

			snprintf(msg, sizeof(msg), "the topic has %d partitions; the count can only grow",
					 t->partitions);
			item_error(req, it, KAFKA_ERROR_INVALID_PARTITIONS, msg);
			continue;
		}
		if (ct->AssignmentsCount > 0)
		{
			int			k;

			for (k = 0; k < ct->AssignmentsCount; k++)
				if (ct->Assignments[k].BrokerIdsCount != 1 ||
					ct->Assignments[k].BrokerIds[0] != NAGARE_NODE_ID)
					break;
			if (k < ct->AssignmentsCount || ct->AssignmentsCount != ct->Count - t->partitions)
			{
				item_error(req, it, KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT,
						   "every partition has exactly one replica, on broker 0");
				continue;
			}
		}
		if (!r->ValidateOnly && !mutation_allowed(req, it, ct->Count - t->partitions))
			continue;
		op_submit(req, it, NAGARE_ADMIN_CREATE_PARTITIONS, it->name.ptr, ct->Count, NULL,
				  r->ValidateOnly, r->TimeoutMs);
	}
	request_item_done(req);
}

/*---- AlterConfigs and IncrementalAlterConfigs ----*/

/* Common checks of a config resource; false if it got an error */
static bool
config_resource_ok(AdminRequest *req, AdminItem *it, int8 type, KafkaStr name)
{
	it->resource_type = type;
	it->name = nagare_kstr_copy(nagare_conn_context(req->conn), name);
	if (type == RESOURCE_BROKER && !nagare_authorized_cluster(req->conn, KAFKA_ACL_ALTER_CONFIGS))
	{
		item_error(req, it, KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED,
				   "ALTER_CONFIGS on the CLUSTER is needed");
		return false;
	}
	if (type == RESOURCE_TOPIC && !nagare_authorized_topic(req->conn, name, KAFKA_ACL_ALTER_CONFIGS))
	{
		item_error(req, it, KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED,
				   "ALTER_CONFIGS on the TOPIC is needed");
		return false;
	}
	if (type == RESOURCE_BROKER)
	{
		item_error(req, it, KAFKA_ERROR_INVALID_REQUEST,
				   "broker settings are PostgreSQL settings (nagare.*): change them with ALTER SYSTEM");
		return false;
	}
	if (type != RESOURCE_TOPIC)
	{
		item_error(req, it, KAFKA_ERROR_INVALID_REQUEST, "only topic configurations can be changed");
		return false;
	}
	if (nagare_broker_topic(name.ptr, name.len) == NULL)
	{
		item_error(req, it, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION, "the topic does not exist");
		return false;
	}
	return true;
}

void
nagare_handle_alter_configs(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaAlterConfigsRequest *r = &body->AlterConfigs;
	AdminRequest *req = request_new(conn, hdr, r->ResourcesCount);
	int			i;

	for (i = 0; i < r->ResourcesCount; i++)
	{
		KafkaAlterConfigsResource *res = &r->Resources[i];
		AdminItem  *it = &req->items[i];
		StringInfoData cfg;
		int			k;

		if (!config_resource_ok(req, it, res->ResourceType, res->ResourceName))
			continue;
		initStringInfo(&cfg);
		for (k = 0; k < res->ConfigsCount; k++)
			json_add(&cfg, res->Configs[k].Name, res->Configs[k].Value);
		config_submit(req, it, NAGARE_ADMIN_REPLACE_CONFIG, 0, &cfg, r->ValidateOnly, 0);
	}
	request_item_done(req);
}

void
nagare_handle_incremental_alter_configs(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body)
{
	KafkaIncrementalAlterConfigsRequest *r = &body->IncrementalAlterConfigs;
	AdminRequest *req = request_new(conn, hdr, r->ResourcesCount);
	int			i;

	for (i = 0; i < r->ResourcesCount; i++)
	{
		KafkaIncrementalAlterConfigsResource *res = &r->Resources[i];
		AdminItem  *it = &req->items[i];
		StringInfoData cfg;
		int			k;

		if (!config_resource_ok(req, it, res->ResourceType, res->ResourceName))
			continue;
		initStringInfo(&cfg);
		for (k = 0; k < res->ConfigsCount; k++)
		{
			KafkaIncrementalAlterableConfig *c = &res->Configs[k];

			if (c->ConfigOperation == 0)	/* SET */
				json_add(&cfg, c->Name, c->Value);
			else if (c->ConfigOperation == 1)	/* DELETE: back to the default */
				json_add(&cfg, c->Name, kafka_str(NULL));
			else
				break;
		}
		if (k < res->ConfigsCount)
		{
			item_error(req, it, KAFKA_ERROR_INVALID_CONFIG,
					   "APPEND and SUBTRACT apply to list settings, and nagare's topic settings are not lists");
			pfree(cfg.data);
			continue;
		}
		config_submit(req, it, NAGARE_ADMIN_ALTER_CONFIG, 0, &cfg, r->ValidateOnly, 0);
	}
	request_item_done(req);
}

/*---- DescribeConfigs ----*/

static bool
key_wanted(const KafkaDescribeConfigsResource *res, const char *name)
{
	int			k;

	if (res->ConfigurationKeysCount < 0)
		return true;
	for (k = 0; k < res->ConfigurationKeysCount; k++)
		if (res->ConfigurationKeys[k].len == (int32) strlen(name) &&
			memcmp(res->ConfigurationKeys[k].ptr, name, res->ConfigurationKeys[k].len) == 0)
			return true;
	return false;
}

/* Kafka's ConfigType of a setting */
static int8
config_type(const NagareConfigSetting *s)
{
	switch (s->kind)
	{
		case NAGARE_CONFIG_INT32:
			return TYPE_INT;
		case NAGARE_CONFIG_INT64:
			return TYPE_LONG;
		case NAGARE_CONFIG_ENUM:
		case NAGARE_CONFIG_FIXED:
			break;
	}
	return TYPE_STRING;
}

void
nagare_handle_describe_configs(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaDescribeConfigsRequest *r = &body->DescribeConfigs;
	KafkaDescribeConfigsResponse resp;
	int16		version = hdr->RequestApiVersion;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.ResultsCount = r->ResourcesCount;
	resp.Results = nagare_request_palloc(sizeof(KafkaDescribeConfigsResult) * Max(r->ResourcesCount, 1));
	if (resp.Results == NULL)
	{
		nagare_request_out_of_memory(conn, hdr->RequestApiKey, version);
		return;
	}
	for (i = 0; i < resp.ResultsCount; i++)
	{
		KafkaDescribeConfigsResource *res = &r->Resources[i];
		KafkaDescribeConfigsResult *out = &resp.Results[i];
		const BrokerTopic *t = NULL;
		NagareTopicConfig defaults;
		int			k;

		memset(out, 0, sizeof(*out));
		out->ResourceType = res->ResourceType;
		out->ResourceName = res->ResourceName;
		out->ErrorMessage = kafka_str(NULL);
		nagare_config_defaults(&defaults);
		if (res->ResourceType == RESOURCE_TOPIC &&
			!nagare_authorized_topic(conn, res->ResourceName, KAFKA_ACL_DESCRIBE_CONFIGS))
		{
			out->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
			out->ErrorMessage = kafka_str("DESCRIBE_CONFIGS on the TOPIC is needed");
			continue;
		}
		if (res->ResourceType == RESOURCE_BROKER &&
			!nagare_authorized_cluster(conn, KAFKA_ACL_DESCRIBE_CONFIGS))
		{
			out->ErrorCode = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
			out->ErrorMessage = kafka_str("DESCRIBE_CONFIGS on the CLUSTER is needed");
			continue;
		}
		if (res->ResourceType == RESOURCE_TOPIC)
		{
			t = nagare_broker_topic(res->ResourceName.ptr, res->ResourceName.len);
			if (t == NULL)
			{
				out->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
				out->ErrorMessage = kafka_str("the topic does not exist");
				continue;
			}
		}
		else if (res->ResourceType != RESOURCE_BROKER)
		{
			out->ErrorCode = KAFKA_ERROR_INVALID_REQUEST;
			out->ErrorMessage = kafka_str("only topic and broker configurations can be described");
			continue;
		}
		out->Configs = nagare_request_palloc(sizeof(KafkaDescribeConfigsResourceResult) *
											 nagare_config_setting_count);
		if (out->Configs == NULL)
		{
			out->ErrorCode = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
			out->ErrorMessage = kafka_str("out of memory");
			continue;
		}
		/* every setting, as topicconfig_fields.h documents them */
		for (k = 0; k < nagare_config_setting_count; k++)
		{
			const NagareConfigSetting *s = &nagare_config_settings[k];
			KafkaDescribeConfigsResourceResult *c;
			bool		overridden;
			char	   *value;

			if (!key_wanted(res, s->name))
				continue;
			overridden = t != NULL && nagare_config_is_set(s, &t->overrides);
			value = nagare_config_value_text(s, t ? &t->config : &defaults);
			c = &out->Configs[out->ConfigsCount++];
			memset(c, 0, sizeof(*c));
			c->Name = kafka_str(s->name);
			c->Value = kafka_str(value);	/* palloc'd: freed with the request */
			c->ReadOnly = (s->kind == NAGARE_CONFIG_FIXED);
			c->IsDefault = !overridden;
			c->ConfigSource = overridden ? SOURCE_DYNAMIC_TOPIC : SOURCE_DEFAULT;
			c->IsSensitive = false;
			c->SynonymsCount = 0;
			c->ConfigType = config_type(s);
			c->Documentation = kafka_str(version >= 3 && r->IncludeDocumentation ? s->doc : NULL);
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*---- DeleteRecords ----*/

void
nagare_handle_delete_records(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaDeleteRecordsRequest *r = &body->DeleteRecords;
	KafkaDeleteRecordsResponse resp;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.TopicsCount = r->TopicsCount;
	resp.Topics = nagare_request_palloc(sizeof(KafkaDeleteRecordsTopicResult) * Max(r->TopicsCount, 1));
	if (resp.Topics == NULL)
	{
		nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
		return;
	}
	for (i = 0; i < resp.TopicsCount; i++)
	{
		KafkaDeleteRecordsTopic *dt = &r->Topics[i];
		KafkaDeleteRecordsTopicResult *out = &resp.Topics[i];
		bool		denied = !nagare_authorized_topic(conn, dt->Name, KAFKA_ACL_DELETE);
		const BrokerTopic *t = denied ? NULL : nagare_broker_topic(dt->Name.ptr, dt->Name.len);
		int			p;

		out->Name = dt->Name;
		out->PartitionsCount = dt->PartitionsCount;
		out->Partitions = nagare_request_palloc(sizeof(KafkaDeleteRecordsPartitionResult) *
												Max(dt->PartitionsCount, 1));
		if (out->Partitions == NULL)
		{
			/* records of earlier topics may be deleted: a retry is harmless */
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
			return;
		}
		for (p = 0; p < dt->PartitionsCount; p++)
		{
			KafkaDeleteRecordsPartitionResult *pr = &out->Partitions[p];
			NagarePartition *part;
			LogPartition *lp;
			uint64		incarnation;

			pr->PartitionIndex = dt->Partitions[p].PartitionIndex;
			pr->LowWatermark = -1;
			if (denied)
			{
				pr->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
				continue;
			}
			part = t ? nagare_broker_partition(t, pr->PartitionIndex, true, &incarnation) : NULL;
			lp = part ? nagare_log_get(part, incarnation) : NULL;
			if (lp == NULL)
			{
				pr->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			pr->ErrorCode = nagare_log_delete_records(lp, dt->Partitions[p].Offset, &pr->LowWatermark) ?
				KAFKA_ERROR_NONE : KAFKA_ERROR_OFFSET_OUT_OF_RANGE;
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}
