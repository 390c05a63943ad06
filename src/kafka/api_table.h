/*-------------------------------------------------------------------------
 *
 * api_table.h
 *	  The Kafka APIs nagare serves: one entry per API key, the only place
 *	  where an API's versions, handler, ACL and quota class are written.
 *
 * This is an X-macro list, like PostgreSQL's kwlist.h: it has no include
 * guard, and whoever includes it defines KAFKA_API() first to pick the
 * columns it needs, then undefines it.  The readers:
 *
 *	src/kafka/protocol.c	kafka_apis[], the codec table: versions, name,
 *							ACL and quota columns, and the generated
 *							decoder and encoder of each API (by token
 *							pasting: kafka_<Name>Request_decode_body,
 *							kafka_<Name>Response_encode_body).  It ignores
 *							the handler column, which is only a token there.
 *	src/broker/kafka_api.h	the handler prototypes.
 *	src/broker/kafka_api.c	the dispatch table (handler by API key).
 *	test/proto/gen_messages.py
 *							reads Name, MinVersion, MaxVersion and
 *							FlexibleVersion, generates api_<name>.c and
 *							messages.h for exactly those versions, and
 *							refuses a FlexibleVersion or key that disagrees
 *							with Kafka's schema (test/proto/schemas).
 *
 * ApiVersions advertises kafka_apis[] as it is, and every version in it is
 * accepted, decoded, handled and encoded: the codec's range is the range
 * served.  After changing a line, run `make -C test/proto generate`.
 *
 * The columns of KAFKA_API(ApiKey, Name, MinVersion, MaxVersion,
 * FlexibleVersion, Handler, AclOperation, ResourceType, QuotaClass):
 *
 *	ApiKey			KafkaApiKey (protocol.h).  Entries are in increasing
 *					key order (kafka_api_lookup searches by bisection;
 *					the generator and test_proto check the order); a key
 *					listed twice does not build (-Woverride-init in
 *					kafka_api.c).
 *	Name			Kafka's name of the API (the schema file is
 *					<Name>Request.json); a bare token.
 *	MinVersion, MaxVersion
 *					the versions served, chosen as explained below.
 *	FlexibleVersion	the first flexible version of the schema (KIP-482),
 *					even where it lies above MaxVersion, so that request
 *					headers of newer versions are still read right;
 *					INT16_MAX if the schema has none.
 *	Handler			the broker's handler, void (NagareConn *, const
 *					KafkaRequestHeader *, KafkaRequestBody *).
 *	AclOperation, ResourceType
 *					what Kafka's KafkaApis authorizes first for the API
 *					(KafkaAclOperation, KafkaResourceType; the secondary
 *					checks are listed below).  KAFKA_ACL_UNKNOWN with
 *					KAFKA_RESOURCE_UNKNOWN: none (ApiVersions).
 *	QuotaClass		the quota the API is throttled by (KafkaQuotaClass):
 *					PRODUCE and FETCH are byte rates, CONTROLLER_MUTATION
 *					(KIP-599) counts created and deleted partitions,
 *					REQUEST is request time (KIP-124).  Every API also
 *					counts towards REQUEST, as in Kafka (Produce only with
 *					acks != 0).
 *
 * The ACL columns, and the secondary checks below, are what each handler
 * asks of src/broker/acl_api.c before it reveals whether a resource exists;
 * they match what Kafka does (core/src/main/scala/kafka/server/KafkaApis.scala,
 * ConfigHelper.scala and AclApis.scala, apache/kafka 1eb7644349cb).  Nothing
 * enforces the quota column yet.
 *
 * Authorization beyond the first check, per Kafka:
 *
 *	Produce			WRITE on the TRANSACTIONAL_ID when it has one.
 *	Fetch			CLUSTER_ACTION on the CLUSTER for a follower fetch.
 *	Metadata		auto-creating a topic needs CREATE on the CLUSTER or
 *					on the TOPIC.
 *	OffsetCommit	also READ on each TOPIC.
 *	OffsetFetch		also DESCRIBE on each TOPIC (others are left out).
 *	FindCoordinator	DESCRIBE on the TRANSACTIONAL_ID for a transaction
 *					coordinator key.
 *	ListGroups		without DESCRIBE on the CLUSTER, only the groups with
 *					DESCRIBE on the GROUP are listed.
 *	CreateTopics	CREATE on the CLUSTER, or else on each TOPIC; the
 *					configs returned need DESCRIBE_CONFIGS on the TOPIC.
 *	DeleteTopics	DESCRIBE on the TOPIC too when named by topic id.
 *					By id (DeleteTopics v6, Metadata v12+, Fetch v13+), a
 *					topic the principal may not DESCRIBE is UNKNOWN_TOPIC_ID,
 *					as an id no topic has (Kafka: TOPIC_AUTHORIZATION_FAILED,
 *					it does not count ids as secret).
 *	InitProducerId	WRITE on the TRANSACTIONAL_ID when it has one;
 *					without one, IDEMPOTENT_WRITE on the CLUSTER or WRITE
 *					on any TOPIC.
 *	DescribeConfigs, AlterConfigs, IncrementalAlterConfigs
 *					per resource: the TOPIC, or the CLUSTER for a broker
 *					resource (and the GROUP for a group resource).
 *	OffsetDelete	also READ on each TOPIC.
 *	DescribeCluster	none to describe the brokers; the cluster's authorized
 *					operations need DESCRIBE on the CLUSTER (else 0), as
 *					in Metadata.
 *	DescribeClientQuotas, AlterClientQuotas
 *					without the CLUSTER ACL, nagare lets a principal of a
 *					tenant describe its tenant's quotas, and a tenant's
 *					admin alter them within the platform's caps
 *					(broker/quota_api.c).
 *
 * Versions.  The ranges were chosen so that every client nagare must serve
 * finds a version it can use (research/clients.md):
 *
 *	ApiVersions 0-3		librdkafka 2.0.2 sends v3 (then v0 on any error),
 *						kafka-python v0, kafkajs picks 2, @platformatic 3.
 *	Metadata 0-13		kafka-python v0 (bootstrap probe) and v1, its admin
 *						client up to 5; librdkafka 4; kafkajs 6;
 *						@platformatic 9-12 -> 12; the Java client 4.x
 *						13 (its top-level ErrorCode, KIP-1102, is
 *						always NONE: no REBOOTSTRAP_REQUIRED on one
 *						node).  v10+ carry topic ids, v12+ name topics
 *						by id.
 *	Produce 0-13		record batch v2 needs >= 3 (librdkafka enables
 *						MsgVer2 only if 3 is in the range); librdkafka and
 *						kafkajs pick 7; kafka-python infers broker 2.4 from
 *						Produce v8 and uses v7; @platformatic 7-11 -> 11;
 *						the Java client 4.x and franz-go 13, which names
 *						topics by id (KIP-516: an id the principal may not
 *						DESCRIBE is UNKNOWN_TOPIC_ID, like an unknown one;
 *						then WRITE on the name).  v10-11's KIP-951 tags
 *						(CurrentLeader, NodeEndpoints) go only with
 *						NOT_LEADER_OR_FOLLOWER, which one node never
 *						answers; v12 (KIP-890 part 2) changes only
 *						transactional produce, still refused.
 *						v0-2 carry legacy message sets (magic 0/1, see
 *						legacy.h); librdkafka 2.0.2 enables gzip and
 *						snappy only if the broker's range includes v0.
 *	Fetch 4-17			kafka-python v4; librdkafka and kafkajs 11 (ZSTD
 *						for librdkafka needs Fetch 10 and Produce 7);
 *						@platformatic 12-17 -> 17 (its streaming
 *						consumer needs topic ids: 13+); the Java client
 *						4.x 17.  v13+ name topics by id (an id the
 *						principal may not DESCRIBE is UNKNOWN_TOPIC_ID,
 *						like an unknown one); v15's ReplicaState and
 *						v17's ReplicaDirectoryId concern followers and
 *						are ignored, as is ReplicaId (no follower
 *						fetches); v16's NodeEndpoints are only sent
 *						with NOT_LEADER_OR_FOLLOWER, which one node
 *						never answers.
 *	ListOffsets 1-7		kafka-python v1; librdkafka 2; kafkajs 3;
 *						@platformatic 5-9 -> 7.
 *	CreateTopics 2-7	librdkafka 4, kafka-python 3, kafkajs 3,
 *						@platformatic 7.
 *	DeleteTopics 1-6	librdkafka and kafkajs 1, kafka-python 3,
 *						@platformatic 6.
 *	CreatePartitions 0-3	librdkafka 0, kafka-python and kafkajs 1.
 *	DescribeConfigs 0-4	librdkafka 1, kafka-python and kafkajs 2,
 *						@platformatic 2-4 -> 4.
 *	AlterConfigs 0-2	librdkafka 0, kafka-python and kafkajs 1,
 *						@platformatic 2.
 *	IncrementalAlterConfigs 0-1	@platformatic 1 (Java admin tools).
 *	DeleteRecords 0-2	librdkafka and kafkajs 1.
 *	OffsetForLeaderEpoch 2-4	Kafka 4.0's range (v0-1 are gone there):
 *						librdkafka 2 (offset validation after a leader
 *						change), franz-go and its kadm 4, the Java
 *						client 4.  Every partition has had one leader
 *						epoch, 0: epoch 0 ends at the high watermark,
 *						any other is unknown (-1, -1).
 *	InitProducerId 0-4	librdkafka 4 (idempotent producer), kafkajs 1,
 *						@platformatic 3-5 -> 4.
 *	SaslHandshake 0-1	kafka-python 0 (then raw SASL frames, see
 *						broker/sasl_server.c); librdkafka uses 1 only with
 *						SaslAuthenticate 0 offered; kafkajs and
 *						@platformatic 1.
 *	SaslAuthenticate 0-2	librdkafka 0, kafkajs 1, @platformatic 2.
 *						Neither needs an ACL (Kafka authorizes nothing
 *						before authentication).
 *	DescribeAcls, CreateAcls, DeleteAcls 0-3
 *						every version of the schema (v1 adds
 *						PREFIXED patterns, which librdkafka needs);
 *						the Java admin client uses 3.
 *	DescribeClientQuotas, AlterClientQuotas 0-1
 *						every version of the schema; the Java admin
 *						client (kafka-configs) uses 1.
 *
 * Consumer groups (see the "Older versions" notes in messages.h for what
 * differs between versions):
 *
 *	FindCoordinator 0-4	kafka-python 0; librdkafka and kafkajs 2;
 *						@platformatic 4-6 -> 4 (batched CoordinatorKeys).
 *	JoinGroup 0-9		kafka-python 2; librdkafka and kafkajs 5;
 *						@platformatic 6-9 -> 9.
 *	SyncGroup 0-5		kafka-python 1; librdkafka and kafkajs 3;
 *						@platformatic 4-5 -> 5.
 *	Heartbeat 0-4		kafka-python 1; librdkafka and kafkajs 3;
 *						@platformatic 4.
 *	LeaveGroup 0-5		kafka-python and librdkafka 1; kafkajs 3;
 *						@platformatic 4-5 -> 5.
 *	OffsetCommit 0-10	kafka-python 2; kafkajs 5; librdkafka 7;
 *						@platformatic 8-9 -> 9; franz-go 10 (v10 names
 *						topics by id, KIP-848: UNKNOWN_TOPIC_ID as in
 *						Fetch, then READ on the name); the Java client's
 *						classic consumer stays at 9.
 *	OffsetFetch 0-10	kafka-python 1; kafkajs 4; librdkafka 7;
 *						@platformatic 8-9 -> 9 (batched Groups);
 *						franz-go 10 (topics by id, as OffsetCommit).
 *	DescribeGroups 0-5	kafkajs 2; kafka-python 3; librdkafka 4;
 *						@platformatic 5.
 *	ListGroups 0-5		kafkajs and kafka-python 2; librdkafka 4;
 *						@platformatic 4-5 -> 5.
 *	DeleteGroups 0-2	librdkafka and kafkajs 1; @platformatic 2.
 *	OffsetDelete 0		librdkafka 0 (the only version).
 *	DescribeCluster 0-1	the Java AdminClient's describeCluster() (it asks
 *						for the cluster's authorized operations only
 *						here once Metadata is past v10).
 *	DescribeProducers 0	the only version: kafka-transactions.sh
 *						describe-producers (READ on the TOPIC, as in
 *						Kafka).
 *	ConsumerGroupHeartbeat 0-1	KIP-848 (group.protocol=consumer):
 *						librdkafka 2.12+ and the Java client 4.x; v1
 *						(Kafka 4.0) lets the client choose its member id
 *						and adds SubscribedTopicRegex.  Also DESCRIBE on
 *						each subscribed TOPIC (TOPIC_AUTHORIZATION_FAILED).
 *	ConsumerGroupDescribe 0	the admin clients' describe of a consumer
 *						group (Kafka 4.0's range).
 *	DescribeTopicPartitions 0	the only version (KIP-966): the Java
 *						AdminClient 3.8+'s describeTopics(), which
 *						kafka-topics.sh --describe uses (DESCRIBE on each
 *						TOPIC, as Metadata).
 *
 * Adding a version within the schemas in test/proto/schemas: change
 * MaxVersion here (and the reason above), `make -C test/proto generate`,
 * and update test_proto.c's advertised[] (the test's hand-written copy of
 * what ApiVersions says).  The handler must then handle the new version.
 *
 * Copyright (c) 2025, nagare developers
 *
 * src/kafka/api_table.h
 *
 *-------------------------------------------------------------------------
 */

/* there is deliberately not an #ifndef KAFKA_API_TABLE_H here */

/*	ApiKey, Name, MinVersion, MaxVersion, FlexibleVersion,
 *		Handler, AclOperation, ResourceType, QuotaClass */
KAFKA_API(KAFKA_API_PRODUCE, Produce, 0, 13, 9,
		  nagare_handle_produce, KAFKA_ACL_WRITE, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_PRODUCE)
KAFKA_API(KAFKA_API_FETCH, Fetch, 4, 17, 12,
		  nagare_handle_fetch, KAFKA_ACL_READ, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_FETCH)
KAFKA_API(KAFKA_API_LIST_OFFSETS, ListOffsets, 1, 7, 6,
		  nagare_handle_list_offsets, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_METADATA, Metadata, 0, 13, 9,
		  nagare_handle_metadata, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_OFFSET_COMMIT, OffsetCommit, 0, 10, 8,
		  nagare_handle_offset_commit, KAFKA_ACL_READ, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_OFFSET_FETCH, OffsetFetch, 0, 10, 6,
		  nagare_handle_offset_fetch, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_FIND_COORDINATOR, FindCoordinator, 0, 4, 3,
		  nagare_handle_find_coordinator, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_JOIN_GROUP, JoinGroup, 0, 9, 6,
		  nagare_handle_join_group, KAFKA_ACL_READ, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_HEARTBEAT, Heartbeat, 0, 4, 4,
		  nagare_handle_heartbeat, KAFKA_ACL_READ, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_LEAVE_GROUP, LeaveGroup, 0, 5, 4,
		  nagare_handle_leave_group, KAFKA_ACL_READ, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_SYNC_GROUP, SyncGroup, 0, 5, 4,
		  nagare_handle_sync_group, KAFKA_ACL_READ, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DESCRIBE_GROUPS, DescribeGroups, 0, 5, 5,
		  nagare_handle_describe_groups, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_LIST_GROUPS, ListGroups, 0, 5, 3,
		  nagare_handle_list_groups, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_SASL_HANDSHAKE, SaslHandshake, 0, 1, INT16_MAX,
		  nagare_handle_sasl_handshake, KAFKA_ACL_UNKNOWN, KAFKA_RESOURCE_UNKNOWN, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_API_VERSIONS, ApiVersions, 0, 3, 3,
		  nagare_handle_api_versions, KAFKA_ACL_UNKNOWN, KAFKA_RESOURCE_UNKNOWN, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_CREATE_TOPICS, CreateTopics, 2, 7, 5,
		  nagare_handle_create_topics, KAFKA_ACL_CREATE, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_CONTROLLER_MUTATION)
KAFKA_API(KAFKA_API_DELETE_TOPICS, DeleteTopics, 1, 6, 4,
		  nagare_handle_delete_topics, KAFKA_ACL_DELETE, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_CONTROLLER_MUTATION)
KAFKA_API(KAFKA_API_DELETE_RECORDS, DeleteRecords, 0, 2, 2,
		  nagare_handle_delete_records, KAFKA_ACL_DELETE, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_INIT_PRODUCER_ID, InitProducerId, 0, 4, 2,
		  nagare_handle_init_producer_id, KAFKA_ACL_IDEMPOTENT_WRITE, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_OFFSET_FOR_LEADER_EPOCH, OffsetForLeaderEpoch, 2, 4, 4,
		  nagare_handle_offset_for_leader_epoch, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DESCRIBE_ACLS, DescribeAcls, 0, 3, 2,
		  nagare_handle_describe_acls, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_CREATE_ACLS, CreateAcls, 0, 3, 2,
		  nagare_handle_create_acls, KAFKA_ACL_ALTER, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DELETE_ACLS, DeleteAcls, 0, 3, 2,
		  nagare_handle_delete_acls, KAFKA_ACL_ALTER, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DESCRIBE_CONFIGS, DescribeConfigs, 0, 4, 4,
		  nagare_handle_describe_configs, KAFKA_ACL_DESCRIBE_CONFIGS, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_ALTER_CONFIGS, AlterConfigs, 0, 2, 2,
		  nagare_handle_alter_configs, KAFKA_ACL_ALTER_CONFIGS, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_SASL_AUTHENTICATE, SaslAuthenticate, 0, 2, 2,
		  nagare_handle_sasl_authenticate, KAFKA_ACL_UNKNOWN, KAFKA_RESOURCE_UNKNOWN, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_CREATE_PARTITIONS, CreatePartitions, 0, 3, 2,
		  nagare_handle_create_partitions, KAFKA_ACL_ALTER, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_CONTROLLER_MUTATION)
KAFKA_API(KAFKA_API_DELETE_GROUPS, DeleteGroups, 0, 2, 2,
		  nagare_handle_delete_groups, KAFKA_ACL_DELETE, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_INCREMENTAL_ALTER_CONFIGS, IncrementalAlterConfigs, 0, 1, 1,
		  nagare_handle_incremental_alter_configs, KAFKA_ACL_ALTER_CONFIGS, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_OFFSET_DELETE, OffsetDelete, 0, 0, INT16_MAX,
		  nagare_handle_offset_delete, KAFKA_ACL_DELETE, KAFKA_RESOURCE_GROUP, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DESCRIBE_CLIENT_QUOTAS, DescribeClientQuotas, 0, 1, 1,
		  nagare_handle_describe_client_quotas, KAFKA_ACL_DESCRIBE_CONFIGS, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_ALTER_CLIENT_QUOTAS, AlterClientQuotas, 0, 1, 1,
		  nagare_handle_alter_client_quotas, KAFKA_ACL_ALTER_CONFIGS, KAFKA_RESOURCE_CLUSTER, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DESCRIBE_CLUSTER, DescribeCluster, 0, 1, 0,
		  nagare_handle_describe_cluster, KAFKA_ACL_UNKNOWN, KAFKA_RESOURCE_UNKNOWN, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DESCRIBE_PRODUCERS, DescribeProducers, 0, 0, 0,
		  nagare_handle_describe_producers, KAFKA_ACL_READ, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_CONSUMER_GROUP_HEARTBEAT, ConsumerGroupHeartbeat, 0, 1, 0,
		  nagare_handle_consumer_group_heartbeat, KAFKA_ACL_READ, KAFKA_RESOURCE_GROUP,
		  KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_CONSUMER_GROUP_DESCRIBE, ConsumerGroupDescribe, 0, 0, 0,
		  nagare_handle_consumer_group_describe, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_GROUP,
		  KAFKA_QUOTA_REQUEST)
KAFKA_API(KAFKA_API_DESCRIBE_TOPIC_PARTITIONS, DescribeTopicPartitions, 0, 0, 0,
		  nagare_handle_describe_topic_partitions, KAFKA_ACL_DESCRIBE, KAFKA_RESOURCE_TOPIC, KAFKA_QUOTA_REQUEST)
