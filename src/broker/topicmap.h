/*-------------------------------------------------------------------------
 *
 * topicmap.h
 *	  The broker's view of the topic catalog, by name and by topic id, for
 *	  Kafka requests.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_TOPICS_H
#define NAGARE_BROKER_TOPICS_H

#include "kafka/protocol.h"
#include "shmem.h"

/* The Kafka node id of this broker: nagare is a cluster of one */
#define NAGARE_NODE_ID	0

typedef struct BrokerTopic
{
	char		name[NAGARE_MAX_TOPIC_NAME + 1];	/* hash key */
	int32		topic_id;
	int32		partitions;
	NagareTopicConfig config;	/* effective: overrides over the GUCs */
	NagareTopicConfig overrides;	/* what the topic sets itself */
	KafkaUuid	uuid;
} BrokerTopic;

/*
 * Pointers returned stay valid until the next call of any of these
 * functions in a later loop turn: use them within one request.
 */
extern const BrokerTopic *nagare_broker_topic(const char *name, int len);
extern const BrokerTopic *nagare_broker_topic_by_uuid(const KafkaUuid *id);
extern int	nagare_broker_topic_list(const BrokerTopic ***list);
extern NagarePartition *nagare_broker_partition(const BrokerTopic *t, int32 partition,
												bool create, uint64 *incarnation);
extern const char *nagare_cluster_id(void);
extern bool nagare_kafka_topic_name_valid(const char *name, int len);

struct NagareConn;
extern void nagare_advertised_address(struct NagareConn *conn, char *host, size_t hostlen,
									  int32 *port);

/* bumped by the broker on SIGHUP: the GUC defaults may have changed */
extern int	nagare_broker_reload_count;

#endif							/* NAGARE_BROKER_TOPICS_H */
