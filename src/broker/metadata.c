/*-------------------------------------------------------------------------
 *
 * metadata.c
 *	  Kafka Metadata, DescribeCluster and DescribeTopicPartitions requests:
 *	  the broker, the cluster and the topics.
 *
 * nagare is a cluster of one broker (node NAGARE_NODE_ID), which is also the
 * controller (kafkajs and librdkafka's admin client send topic changes to
 * the controller) and the leader of every partition, with leader epoch 0.
 * The broker's address is the one advertised for the listener the client
 * came in on (nagare.advertised_listeners, else nagare.advertised_host or
 * the address the client connected to, and the listener's port), so that a
 * client that reached the broker on an SSL listener is sent back to it.
 *
 * Unknown topics are UNKNOWN_TOPIC_OR_PARTITION; with auto-creation (the
 * request allows it, from v4, and nagare.auto_create_topics is on) the
 * topic is created through the nagare worker and the answer is
 * LEADER_NOT_AVAILABLE until it exists, which is what Kafka answers while it
 * creates a topic: clients ask again.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "acl/acl.h"
#include "broker/acl_api.h"
#include "broker/admin.h"
#include "broker/kafka_api.h"
#include "broker/topicmap.h"
#include "nagare.h"

static int32 node_list[1] = {NAGARE_NODE_ID};

/* the topic's authorized operations, when the request asks for them */
static int32
topic_operations(NagareConn *conn, const KafkaMetadataRequest *req, const char *name)
{
	if (!req->IncludeTopicAuthorizedOperations)
		return PG_INT32_MIN;
	return nagare_authorized_operations(conn, KAFKA_RESOURCE_TOPIC, name, strlen(name));
}

static void
fill_topic(KafkaMetadataResponseTopic *rt, const BrokerTopic *t)
{
	int			p;

	rt->ErrorCode = KAFKA_ERROR_NONE;
	rt->Name = kafka_str(t->name);
	rt->TopicId = t->uuid;
	rt->IsInternal = false;
	rt->TopicAuthorizedOperations = PG_INT32_MIN;
	rt->PartitionsCount = t->partitions;
	rt->Partitions = nagare_request_palloc(sizeof(KafkaMetadataResponsePartition) *
										   Max(t->partitions, 1));
	if (rt->Partitions == NULL)
	{
		rt->PartitionsCount = 0;
		rt->ErrorCode = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
		return;
	}
	for (p = 0; p < t->partitions; p++)
	{
		KafkaMetadataResponsePartition *rp = &rt->Partitions[p];

		memset(rp, 0, sizeof(*rp));
		rp->ErrorCode = KAFKA_ERROR_NONE;
		rp->PartitionIndex = p;
		rp->LeaderId = NAGARE_NODE_ID;
		rp->LeaderEpoch = 0;
		rp->ReplicaNodesCount = 1;
		rp->ReplicaNodes = node_list;
		rp->IsrNodesCount = 1;
		rp->IsrNodes = node_list;
		rp->OfflineReplicasCount = 0;
		rp->OfflineReplicas = NULL;
	}
}

void
nagare_handle_metadata(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaMetadataRequest *req = &body->Metadata;
	int16		version = hdr->RequestApiVersion;
	KafkaMetadataResponse resp;
	KafkaMetadataResponseBroker broker;
	char		host[256];
	int			i;

	memset(&resp, 0, sizeof(resp));
	memset(&broker, 0, sizeof(broker));
	nagare_advertised_address(conn, host, sizeof(host), &broker.Port);
	broker.NodeId = NAGARE_NODE_ID;
	broker.Host = kafka_str(host);
	broker.Rack = kafka_str(NULL);
	resp.ThrottleTimeMs = 0;
	resp.BrokersCount = 1;
	resp.Brokers = &broker;
	resp.ClusterId = kafka_str(nagare_cluster_id());
	resp.ControllerId = NAGARE_NODE_ID;
	/* v13's top-level error (KIP-1102): never REBOOTSTRAP_REQUIRED here */
	resp.ErrorCode = KAFKA_ERROR_NONE;
	resp.ClusterAuthorizedOperations =
		req->IncludeClusterAuthorizedOperations
			? nagare_authorized_operations(conn, KAFKA_RESOURCE_CLUSTER, NULL, 0)
			: PG_INT32_MIN;

	if (kafka_MetadataRequest_all_topics(req, version))
	{
		const BrokerTopic **list;
		int			n = nagare_broker_topic_list(&list);

		resp.Topics = nagare_request_palloc(sizeof(KafkaMetadataResponseTopic) * Max(n, 1));
		if (resp.Topics == NULL)
		{
			/* no topic-less answer: that would say there are none */
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, version);
			return;
		}
		resp.TopicsCount = 0;
		for (i = 0; i < n; i++)
		{
			/* topics the client may not DESCRIBE are left out silently */
			if (!nagare_authorized_quiet(conn, KAFKA_RESOURCE_TOPIC, list[i]->name,
										 strlen(list[i]->name), KAFKA_ACL_DESCRIBE))
				continue;
			memset(&resp.Topics[resp.TopicsCount], 0, sizeof(KafkaMetadataResponseTopic));
			fill_topic(&resp.Topics[resp.TopicsCount], list[i]);
			resp.Topics[resp.TopicsCount++].TopicAuthorizedOperations =
				topic_operations(conn, req, list[i]->name);
		}
	}
	else
	{
		int			n = req->TopicsCount;
		bool		auto_create = nagare_auto_create_topics &&
			(version < 4 || req->AllowAutoTopicCreation);

		resp.Topics = nagare_request_palloc(sizeof(KafkaMetadataResponseTopic) * Max(n, 1));
		if (resp.Topics == NULL)
		{
			/* no topic-less answer: that would say there are none */
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, version);
			return;
		}
		for (i = 0; i < n; i++)
		{
			KafkaMetadataRequestTopic *rq = &req->Topics[i];
			KafkaMetadataResponseTopic *rt = &resp.Topics[i];
			const BrokerTopic *t;

			memset(rt, 0, sizeof(*rt));
			rt->Name = rq->Name;
			rt->TopicAuthorizedOperations = PG_INT32_MIN;
			if (rq->Name.len < 0)
			{
				/* an id the client may not DESCRIBE is an unknown id */
				t = nagare_described_topic_by_id(conn, &rq->TopicId);
				if (t == NULL)
				{
					rt->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_ID;
					rt->TopicId = rq->TopicId;
					continue;
				}
			}
			else if (!nagare_authorized_topic(conn, rq->Name, KAFKA_ACL_DESCRIBE))
			{
				/* before its existence is revealed; no topic id */
				rt->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
				continue;
			}
			else
				t = nagare_broker_topic(rq->Name.ptr, rq->Name.len);
			if (t != NULL)
			{
				fill_topic(rt, t);
				rt->TopicAuthorizedOperations = topic_operations(conn, req, t->name);
				continue;
			}
			if (!nagare_kafka_topic_name_valid(rq->Name.ptr, rq->Name.len))
				rt->ErrorCode = KAFKA_ERROR_INVALID_TOPIC_EXCEPTION;
			else if (auto_create &&
					 !nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
											  strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_CREATE) &&
					 !nagare_authorized_topic(conn, rq->Name, KAFKA_ACL_CREATE))
				rt->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
			else if (auto_create)
				rt->ErrorCode = nagare_admin_auto_create(rq->Name.ptr, rq->Name.len);
			else
				rt->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
		}
		resp.TopicsCount = n;
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*
 * DescribeCluster: the one broker as Metadata describes it, for the
 * listener the client came in on.  The broker is not a KRaft controller:
 * asking for controllers (EndpointType 2) is MISMATCHED_ENDPOINT_TYPE.
 */
void
nagare_handle_describe_cluster(NagareConn *conn, const KafkaRequestHeader *hdr,
							   KafkaRequestBody *body)
{
	KafkaDescribeClusterRequest *req = &body->DescribeCluster;
	KafkaDescribeClusterResponse resp;
	KafkaDescribeClusterBroker broker;
	char host[256];

	memset(&resp, 0, sizeof(resp));
	memset(&broker, 0, sizeof(broker));
	resp.ErrorMessage = kafka_str(NULL);
	resp.EndpointType = req->EndpointType;
	resp.ClusterId = kafka_str(nagare_cluster_id());
	resp.ControllerId = NAGARE_NODE_ID;
	/* v13's top-level error (KIP-1102): never REBOOTSTRAP_REQUIRED here */
	resp.ErrorCode = KAFKA_ERROR_NONE;
	resp.ClusterAuthorizedOperations = PG_INT32_MIN;
	if (req->EndpointType != 1)
	{
		resp.ErrorCode = KAFKA_ERROR_MISMATCHED_ENDPOINT_TYPE;
		resp.ErrorMessage = kafka_str("nagare's broker describes brokers, not controllers");
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}
	nagare_advertised_address(conn, host, sizeof(host), &broker.Port);
	broker.BrokerId = NAGARE_NODE_ID;
	broker.Host = kafka_str(host);
	broker.Rack = kafka_str(NULL);
	resp.BrokersCount = 1;
	resp.Brokers = &broker;
	if (req->IncludeClusterAuthorizedOperations)
		resp.ClusterAuthorizedOperations =
			nagare_authorized_operations(conn, KAFKA_RESOURCE_CLUSTER, NULL, 0);
	nagare_kafka_respond(conn, hdr, &resp);
}

/*
 * DescribeTopicPartitions (KIP-966, what the Java AdminClient 3.8+ uses to
 * describe topics): topics in name order with their partitions, at most
 * ResponsePartitionLimit partitions (and at most 2000, Kafka's
 * max.request.partition.size.limit) from the cursor on; NextCursor names
 * the topic and partition where the next page starts, or is null.  No
 * topics named: every topic the principal may DESCRIBE (others left out
 * silently, as in Metadata).  Named ones it may not DESCRIBE are
 * TOPIC_AUTHORIZATION_FAILED, unknown ones UNKNOWN_TOPIC_OR_PARTITION; a
 * cursor naming a topic the request does not name is INVALID_REQUEST for
 * every topic, as in Kafka.  Each partition: leader 0 with epoch 0, the
 * one node as replica and in-sync replica, no eligible leader replicas
 * (ELR) beyond it, none offline.  Authorized operations are always given.
 */
#define DTP_MAX_PARTITIONS 2000

typedef struct DtpTopic
{
	KafkaStr name;
	const BrokerTopic *t;
	int16 error;
} DtpTopic;

static int
dtp_cmp(const void *a, const void *b)
{
	const DtpTopic *x = a;
	const DtpTopic *y = b;
	int c = memcmp(x->name.ptr, y->name.ptr, Min(x->name.len, y->name.len));

	return c != 0 ? c : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

/* name (len bytes) against the cursor's topic: <0, 0, >0 */
static int
dtp_cmp_cursor(KafkaStr name, KafkaStr cursor)
{
	DtpTopic a = {.name = name};
	DtpTopic b = {.name = cursor};

	return dtp_cmp(&a, &b);
}

void
nagare_handle_describe_topic_partitions(NagareConn *conn, const KafkaRequestHeader *hdr,
										KafkaRequestBody *body)
{
	KafkaDescribeTopicPartitionsRequest *req = &body->DescribeTopicPartitions;
	KafkaDescribeTopicPartitionsResponse resp;
	DtpTopic *topics;
	int ntopics = 0;
	int remaining = Min(Max(req->ResponsePartitionLimit, 1), DTP_MAX_PARTITIONS);
	bool cursor = !req->CursorIsNull;
	bool bad_cursor = false;
	int i;

	memset(&resp, 0, sizeof(resp));
	resp.NextCursorIsNull = true;
	if (req->TopicsCount == 0)
	{
		const BrokerTopic **list;
		int n = nagare_broker_topic_list(&list);

		topics = nagare_request_palloc(sizeof(DtpTopic) * Max(n, 1));
		if (topics == NULL)
		{
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
			return;
		}
		for (i = 0; i < n; i++)
		{
			if (!nagare_authorized_quiet(conn, KAFKA_RESOURCE_TOPIC, list[i]->name,
										 strlen(list[i]->name), KAFKA_ACL_DESCRIBE))
				continue;
			topics[ntopics].name = kafka_str(list[i]->name);
			topics[ntopics].t = list[i];
			topics[ntopics++].error = KAFKA_ERROR_NONE;
		}
	}
	else
	{
		topics = nagare_request_palloc(sizeof(DtpTopic) * req->TopicsCount);
		if (topics == NULL)
		{
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
			return;
		}
		bad_cursor = cursor;
		for (i = 0; i < req->TopicsCount; i++)
		{
			topics[ntopics].name = req->Topics[i].Name;
			topics[ntopics].t = NULL;
			topics[ntopics++].error = KAFKA_ERROR_NONE;
			if (cursor && dtp_cmp_cursor(req->Topics[i].Name, req->Cursor.TopicName) == 0)
				bad_cursor = false;
		}
	}
	qsort(topics, ntopics, sizeof(DtpTopic), dtp_cmp);

	resp.Topics = nagare_request_palloc(
		sizeof(KafkaDescribeTopicPartitionsResponseTopic) * Max(ntopics, 1));
	if (resp.Topics == NULL)
	{
		nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
		return;
	}
	for (i = 0; i < ntopics; i++)
	{
		DtpTopic *d = &topics[i];
		KafkaDescribeTopicPartitionsResponseTopic *rt;
		int first = 0;
		int n;
		int p;

		/* a name asked twice is answered once */
		if (i > 0 && dtp_cmp(&topics[i - 1], d) == 0)
			continue;
		if (cursor && !bad_cursor)
		{
			int c = dtp_cmp_cursor(d->name, req->Cursor.TopicName);

			if (c < 0)
				continue;
			if (c == 0)
				first = Max(req->Cursor.PartitionIndex, 0);
		}
		rt = &resp.Topics[resp.TopicsCount];
		memset(rt, 0, sizeof(*rt));
		rt->Name = d->name;
		rt->TopicAuthorizedOperations = PG_INT32_MIN;
		if (bad_cursor)
		{
			rt->ErrorCode = KAFKA_ERROR_INVALID_REQUEST;
			resp.TopicsCount++;
			continue;
		}
		if (req->TopicsCount > 0)
		{
			/* authorized before its existence is revealed */
			if (!nagare_authorized_topic(conn, d->name, KAFKA_ACL_DESCRIBE))
				rt->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
			else if ((d->t = nagare_broker_topic(d->name.ptr, d->name.len)) == NULL)
				rt->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
			if (rt->ErrorCode != KAFKA_ERROR_NONE)
			{
				resp.TopicsCount++;
				continue;
			}
		}
		if (remaining == 0)
		{
			/* the next page starts here */
			resp.NextCursorIsNull = false;
			resp.NextCursor.TopicName = d->name;
			resp.NextCursor.PartitionIndex = first;
			break;
		}
		rt->TopicId = d->t->uuid;
		rt->IsInternal = false;
		rt->TopicAuthorizedOperations =
			nagare_authorized_operations(conn, KAFKA_RESOURCE_TOPIC, d->t->name,
										 strlen(d->t->name));
		n = Max(Min(d->t->partitions - first, remaining), 0);
		rt->Partitions = nagare_request_palloc(
			sizeof(KafkaDescribeTopicPartitionsResponsePartition) * Max(n, 1));
		if (rt->Partitions == NULL)
		{
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
			return;
		}
		rt->PartitionsCount = n;
		for (p = 0; p < n; p++)
		{
			KafkaDescribeTopicPartitionsResponsePartition *rp = &rt->Partitions[p];

			memset(rp, 0, sizeof(*rp));
			rp->ErrorCode = KAFKA_ERROR_NONE;
			rp->PartitionIndex = first + p;
			rp->LeaderId = NAGARE_NODE_ID;
			rp->LeaderEpoch = 0;
			rp->ReplicaNodesCount = 1;
			rp->ReplicaNodes = node_list;
			rp->IsrNodesCount = 1;
			rp->IsrNodes = node_list;
			rp->EligibleLeaderReplicasCount = 0;
			rp->LastKnownElrCount = 0;
			rp->OfflineReplicasCount = 0;
		}
		resp.TopicsCount++;
		remaining -= n;
		if (first + n < d->t->partitions)
		{
			/* the topic goes on in the next page */
			resp.NextCursorIsNull = false;
			resp.NextCursor.TopicName = d->name;
			resp.NextCursor.PartitionIndex = first + n;
			break;
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}
