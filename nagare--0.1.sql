/* nagare--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION nagare" to load this file. \quit

--
-- Where the extension may be created.  nagare serves the one database
-- nagare.database names (its workers connect to it): created anywhere else
-- it would show empty views and refuse every call, so it refuses to be.
-- The advisory lock is the one under which the nagare worker cleans up
-- after DROP EXTENSION (the replication slot, the broker's topics; see
-- src/worker/worker.c): held until this CREATE EXTENSION commits.
--
SELECT pg_catalog.pg_advisory_xact_lock(1851877234, 0);
DO $$
BEGIN
  IF pg_catalog.current_setting('nagare.database', true) IS NULL THEN
    RAISE EXCEPTION 'nagare must be loaded via shared_preload_libraries'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Add nagare to shared_preload_libraries in postgresql.conf, restart the server and create the extension in the database nagare.database names.';
  END IF;
  IF pg_catalog.current_database() <> pg_catalog.current_setting('nagare.database') THEN
    RAISE EXCEPTION 'nagare serves database "%", not "%"',
                    pg_catalog.current_setting('nagare.database'), pg_catalog.current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = pg_catalog.format('Create the extension in database "%s", or set nagare.database = ''%s'' in postgresql.conf and restart the server.',
                                     pg_catalog.current_setting('nagare.database'), pg_catalog.current_database());
  END IF;
END $$;

--
-- Catalog
--
-- One row per topic.  A deleted topic keeps its row, with deleted_at set,
-- until the broker has removed its files; then the nagare worker removes the
-- row.  Users read topics through the nagare.topics view and change them
-- with create_topic(), alter_topic() and delete_topic(), which validate
-- names and configuration the way Kafka does.
--
CREATE SEQUENCE nagare.topic_id_seq AS integer;

CREATE TABLE nagare.topic (
    id          integer PRIMARY KEY DEFAULT nextval('nagare.topic_id_seq'),
    name        text NOT NULL,
    topic_uuid  uuid NOT NULL DEFAULT gen_random_uuid(),
    partitions  integer NOT NULL CHECK (partitions BETWEEN 1 AND 100000),
    config      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT current_user,
    deleted_at  timestamptz
);
ALTER SEQUENCE nagare.topic_id_seq OWNED BY nagare.topic.id;
CREATE UNIQUE INDEX topic_name_key ON nagare.topic (name) WHERE deleted_at IS NULL;
COMMENT ON TABLE nagare.topic IS 'nagare topics; change them with nagare.create_topic(), alter_topic() and delete_topic()';

SELECT pg_catalog.pg_extension_config_dump('nagare.topic', '');
SELECT pg_catalog.pg_extension_config_dump('nagare.topic_id_seq', '');

-- Every role may use the topic functions; the ACLs say on what.  Row-level
-- security (policies after nagare.authorized() below) shows a role the
-- topics it may DESCRIBE and lets the functions change what it may CREATE,
-- ALTER or DELETE; superusers and the nagare worker bypass it.
REVOKE ALL ON nagare.topic FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON nagare.topic TO PUBLIC;
GRANT USAGE ON SEQUENCE nagare.topic_id_seq TO PUBLIC;
ALTER TABLE nagare.topic ENABLE ROW LEVEL SECURITY;

--
-- Types
--
CREATE TYPE nagare.header AS (key text, value bytea);
COMMENT ON TYPE nagare.header IS 'a Kafka record header';

CREATE TYPE nagare.send_result AS ("partition" integer, "offset" bigint);

CREATE TYPE nagare.message AS (
    "partition" integer,
    "offset"    bigint,
    "timestamp" timestamptz,
    key         bytea,
    value       bytea,
    headers     nagare.header[]
);
COMMENT ON TYPE nagare.message IS 'a Kafka record as nagare.consume() returns it';

--
-- Authorization: the ACLs (nagare.acl, below) decide for current_user as
-- they decide for a Kafka principal "User:<role>"; superusers may do
-- anything.  Views show a role only what it may DESCRIBE.
--
CREATE FUNCTION nagare.authorized(resource_type text, resource_name text, operation text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'nagare_sql_authorized'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION nagare.authorized(text, text, text) IS
  'whether current_user may do the operation on the resource, by the ACLs (superusers may do anything)';

CREATE FUNCTION nagare.authorize(resource_type text, resource_name text, operation text)
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_sql_authorize'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION nagare.authorize(text, text, text) IS
  'raise insufficient_privilege (42501) unless current_user may do the operation on the resource';

-- DESCRIBE_CONFIGS too: alter_topic() locks the row (SELECT ... FOR UPDATE,
-- which needs this policy as well as topic_change), and ALTER_CONFIGS alone
-- (which implies DESCRIBE_CONFIGS, not DESCRIBE) must let it change configs,
-- as it lets AlterConfigs.  nagare.topics still shows only what the role may
-- DESCRIBE.
CREATE POLICY topic_describe ON nagare.topic FOR SELECT
  USING (nagare.authorized('TOPIC', name, 'DESCRIBE')
         OR nagare.authorized('TOPIC', name, 'DESCRIBE_CONFIGS'));
CREATE POLICY topic_create ON nagare.topic FOR INSERT
  WITH CHECK (nagare.authorized('CLUSTER', 'kafka-cluster', 'CREATE')
              OR nagare.authorized('TOPIC', name, 'CREATE'));
CREATE POLICY topic_change ON nagare.topic FOR UPDATE
  USING (nagare.authorized('TOPIC', name, 'ALTER')
         OR nagare.authorized('TOPIC', name, 'ALTER_CONFIGS')
         OR nagare.authorized('TOPIC', name, 'DELETE'));

--
-- Topic DDL (transactional)
--
CREATE FUNCTION nagare.create_topic(topic text, partitions integer DEFAULT 1,
                                    config jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_create_topic'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.create_topic(text, integer, jsonb) IS
  'create a topic; config takes Kafka topic settings such as {"retention.ms": "86400000"}';

CREATE FUNCTION nagare.alter_topic(topic text, partitions integer DEFAULT NULL,
                                   config jsonb DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_alter_topic'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.alter_topic(text, integer, jsonb) IS
  'raise the partition count and/or change settings; a setting given as null returns to the default';

CREATE FUNCTION nagare.delete_topic(topic text)
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_delete_topic'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nagare.delete_topic(text) IS
  'delete a topic; its files are removed after the transaction commits';

--
-- Producing
--
-- Every argument after the topic has a default: the key may be left out
-- with named notation, send('t', value => 'v') (positionally, the second
-- argument is the key).  partitioner overrides the topic's "partitioner"
-- setting for the call: 'murmur2' (Kafka's Java client) or 'crc32'
-- (librdkafka's default); null uses the topic's.
CREATE FUNCTION nagare.send(topic text, key bytea DEFAULT NULL, value bytea DEFAULT NULL,
                            headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL,
                            partitioner text DEFAULT NULL)
RETURNS nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.send(text, bytea, bytea, jsonb, integer, text) IS
  'append one record now (not transactional); durable once the transaction commits';

CREATE FUNCTION nagare.send(topic text, key text DEFAULT NULL, value text DEFAULT NULL,
                            headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL,
                            partitioner text DEFAULT NULL)
RETURNS nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.send(text, text, text, jsonb, integer, text) IS
  'append one record now (not transactional), key and value as UTF-8 text';

CREATE FUNCTION nagare.send(topic text, key text DEFAULT NULL, value jsonb DEFAULT NULL,
                            headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL,
                            partitioner text DEFAULT NULL)
RETURNS nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.send(text, text, jsonb, jsonb, integer, text) IS
  'append one record now (not transactional), the value as JSON text';

-- publish(): the record exists if and only if the transaction commits
CREATE FUNCTION nagare.publish(topic text, key bytea DEFAULT NULL, value bytea DEFAULT NULL,
                               headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL,
                               partitioner text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_publish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.publish(text, bytea, bytea, jsonb, integer, text) IS
  'publish a record if and only if the transaction commits (needs wal_level = logical)';

CREATE FUNCTION nagare.publish(topic text, key text DEFAULT NULL, value text DEFAULT NULL,
                               headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL,
                               partitioner text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_publish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.publish(text, text, text, jsonb, integer, text) IS
  'publish a record if and only if the transaction commits, key and value as UTF-8 text';

CREATE FUNCTION nagare.publish(topic text, key text DEFAULT NULL, value jsonb DEFAULT NULL,
                               headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL,
                               partitioner text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_publish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.publish(text, text, jsonb, jsonb, integer, text) IS
  'publish a record if and only if the transaction commits, the value as JSON text';

CREATE FUNCTION nagare.send_batch(topic text, keys bytea[] DEFAULT NULL,
                                  "values" bytea[] DEFAULT NULL,
                                  headers jsonb[] DEFAULT NULL,
                                  partitions integer[] DEFAULT NULL,
                                  partitioner text DEFAULT NULL)
RETURNS SETOF nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send_batch'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.send_batch(text, bytea[], bytea[], jsonb[], integer[], text) IS
  'append many records in one request; returns (partition, offset) of each, in order';

CREATE FUNCTION nagare.send_batch(topic text, keys text[] DEFAULT NULL,
                                  "values" text[] DEFAULT NULL,
                                  headers jsonb[] DEFAULT NULL,
                                  partitions integer[] DEFAULT NULL,
                                  partitioner text DEFAULT NULL)
RETURNS SETOF nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send_batch'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.send_batch(text, text[], text[], jsonb[], integer[], text) IS
  'append many records in one request, keys and values as UTF-8 text';

--
-- Consuming
--
CREATE FUNCTION nagare.consume(topic text, "partition" integer DEFAULT 0,
                               from_offset bigint DEFAULT 0,
                               max_records integer DEFAULT 100)
RETURNS SETOF nagare.message
AS 'MODULE_PATHNAME', 'nagare_consume'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nagare.consume(text, integer, bigint, integer) IS
  'read up to max_records records of a partition, starting at from_offset';

--
-- Observability
--
CREATE FUNCTION nagare.topic_config(overrides jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'nagare_topic_config'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION nagare.topic_config(jsonb) IS
  'effective topic configuration: the given overrides over the server defaults';

CREATE FUNCTION nagare.partition_status(
    OUT topic_id integer, OUT "partition" integer,
    OUT log_start_offset bigint, OUT high_watermark bigint,
    OUT segments integer, OUT size_bytes bigint, OUT directory text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'nagare_partition_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.partition_status() IS
  'every partition in the broker''s shared table, by topic id: log start offset, high watermark, segments, bytes and directory (nagare.partitions shows them by topic name)';

CREATE FUNCTION nagare.broker_status(
    OUT pid integer, OUT state text,
    OUT queue_size bigint, OUT queue_used bigint, OUT queue_not_durable bigint,
    OUT appended_batches bigint, OUT fetch_buffered_bytes bigint, OUT fetch_direct_bytes bigint,
    OUT auth_failures bigint, OUT listen_sockets integer, OUT connections integer)
RETURNS record
AS 'MODULE_PATHNAME', 'nagare_broker_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.broker_status() IS
  'the broker''s pid and state, the append ring''s size and use, its counters, its Kafka listening sockets and live connections (the view nagare.broker)';

CREATE VIEW nagare.topics AS
SELECT t.name AS topic,
       t.id AS topic_id,
       t.topic_uuid,
       t.partitions,
       nagare.topic_config(t.config) AS config,
       t.config AS overrides,
       t.created_at,
       t.created_by
  FROM nagare.topic t
 WHERE t.deleted_at IS NULL
   AND nagare.authorized('TOPIC', t.name, 'DESCRIBE');
COMMENT ON VIEW nagare.topics IS 'topics with their effective configuration';

CREATE VIEW nagare.partitions AS
SELECT t.name AS topic,
       p.p AS "partition",
       coalesce(s.log_start_offset, 0) AS log_start_offset,
       coalesce(s.high_watermark, 0) AS high_watermark,
       coalesce(s.high_watermark, 0) - coalesce(s.log_start_offset, 0) AS records,
       coalesce(s.segments, 0) AS segments,
       coalesce(s.size_bytes, 0) AS size_bytes,
       coalesce(s.directory, format('pg_nagare/%s-%s', t.id, p.p)) AS directory
  FROM nagare.topic t
 CROSS JOIN LATERAL generate_series(0, t.partitions - 1) AS p(p)
  LEFT JOIN nagare.partition_status() s ON s.topic_id = t.id AND s."partition" = p.p
 WHERE t.deleted_at IS NULL
   AND nagare.authorized('TOPIC', t.name, 'DESCRIBE');
COMMENT ON VIEW nagare.partitions IS 'partitions with log start offset, high watermark, segments and bytes on disk';

CREATE VIEW nagare.broker AS SELECT * FROM nagare.broker_status();

-- Consumer groups.  The broker coordinates groups in its memory (members,
-- generations, assignments) and publishes them as JSON for the views below;
-- committed offsets are rows of nagare.group_offset, written by the nagare
-- worker when a Kafka client commits (batched, acknowledged after commit).
-- delete_group() and reset_group_offsets(create_group => true) tell the broker as
-- they commit (nagare._group_notice(), src/sql/groups.c), so Kafka's
-- ListGroups and DescribeGroups agree with the views at once.
CREATE TABLE nagare.group_offset (
    group_id          text NOT NULL,
    topic             text NOT NULL,
    "partition"       integer NOT NULL,
    committed_offset  bigint NOT NULL,
    leader_epoch      integer,
    metadata          text,
    committed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, "partition")
);
COMMENT ON TABLE nagare.group_offset IS 'offsets committed by consumer groups; change them with nagare.reset_group_offsets() and nagare.delete_group()';
SELECT pg_catalog.pg_extension_config_dump('nagare.group_offset', '');
-- Roles reach the offsets of the groups the ACLs let them (Kafka's
-- OffsetFetch DESCRIBE, OffsetCommit READ, DeleteGroups DELETE); the
-- nagare worker and superusers bypass row-level security.
GRANT SELECT, INSERT, UPDATE, DELETE ON nagare.group_offset TO PUBLIC;
ALTER TABLE nagare.group_offset ENABLE ROW LEVEL SECURITY;
CREATE POLICY group_offset_describe ON nagare.group_offset FOR SELECT
  USING (nagare.authorized('GROUP', group_id, 'DESCRIBE'));
CREATE POLICY group_offset_commit ON nagare.group_offset FOR INSERT
  WITH CHECK (nagare.authorized('GROUP', group_id, 'READ'));
CREATE POLICY group_offset_reset ON nagare.group_offset FOR UPDATE
  USING (nagare.authorized('GROUP', group_id, 'READ'));
CREATE POLICY group_offset_delete ON nagare.group_offset FOR DELETE
  USING (nagare.authorized('GROUP', group_id, 'DELETE'));

CREATE FUNCTION nagare.group_snapshot()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'nagare_group_snapshot'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.group_snapshot() IS
  'the broker''s consumer groups as JSON (used by nagare.consumer_groups, nagare.group_members and nagare.consumer_lag)';

CREATE FUNCTION nagare._group_notice(group_id text, op text)
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_group_notice'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nagare._group_notice(text, text) IS
  'internal: tell the broker, when this transaction commits, that it deleted (op ''deleted'', needs DELETE on the group) or created (''created'', needs READ) a consumer group';

-- Does the group exist: the broker knows it, or it has committed offsets?
-- (The offsets first: an index lookup, where the snapshot is parsed whole.)
CREATE FUNCTION nagare._group_exists(group_id text)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM nagare.group_offset o WHERE o.group_id = $1) THEN
    RETURN true;
  END IF;
  RETURN EXISTS (SELECT 1 FROM jsonb_array_elements(nagare.group_snapshot()) g
                  WHERE g->>'group' = $1);
END $$;
COMMENT ON FUNCTION nagare._group_exists(text) IS
  'internal: whether a consumer group exists (the broker knows it or it has committed offsets)';

CREATE VIEW nagare.consumer_groups AS
WITH live AS (
  SELECT g FROM jsonb_array_elements(nagare.group_snapshot()) AS g
   WHERE nagare.authorized('GROUP', g->>'group', 'DESCRIBE')
)
SELECT g->>'group' AS group_id,
       g->>'state' AS state,
       g->>'protocol_type' AS protocol_type,
       g->>'protocol' AS protocol,
       (g->>'generation')::integer AS generation,
       g->>'leader' AS leader,
       jsonb_array_length(g->'members') AS members,
       g->>'type' AS group_type
  FROM live
UNION ALL
SELECT DISTINCT o.group_id, 'Empty', NULL::text, NULL::text, NULL::integer, NULL::text, 0, NULL::text
  FROM nagare.group_offset o
 WHERE NOT EXISTS (SELECT 1 FROM live WHERE live.g->>'group' = o.group_id)
   AND nagare.authorized('GROUP', o.group_id, 'DESCRIBE');
COMMENT ON VIEW nagare.consumer_groups IS
  'consumer groups: the broker''s live groups, and groups known only by their committed offsets; group_type is classic or consumer (KIP-848, whose generation is the group epoch)';

CREATE VIEW nagare.group_members AS
SELECT g->>'group' AS group_id,
       m->>'member_id' AS member_id,
       m->>'instance_id' AS instance_id,
       m->>'client_id' AS client_id,
       m->>'client_host' AS client_host,
       m->>'principal' AS principal,
       (m->>'session_timeout_ms')::integer AS session_timeout_ms,
       m->'assignment' AS assignment,
       ARRAY(SELECT jsonb_array_elements_text(m->'subscription')) AS subscription
  FROM jsonb_array_elements(nagare.group_snapshot()) AS g,
       jsonb_array_elements(g->'members') AS m
 WHERE nagare.authorized('GROUP', g->>'group', 'DESCRIBE');
COMMENT ON VIEW nagare.group_members IS
  'members of consumer groups, with their client, the principal their connection joined as, assigned partitions ([{"topic", "partitions"}]) and subscribed topics';

-- nagare.consumer_lag, with lag in time and the group's service, is in the
-- section "SLIs and SLOs".

-- The first offset of a partition whose record timestamp is at or after ts
-- (or the high watermark if there is none), as Kafka's ListOffsets by time.
CREATE FUNCTION nagare.offset_for_time(topic text, "partition" integer, ts timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  start bigint;
  hwm bigint;
  hit bigint;
BEGIN
  SELECT p.log_start_offset, p.high_watermark INTO start, hwm
    FROM nagare.partitions p WHERE p.topic = $1 AND p."partition" = $2;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partition % of topic "%" does not exist', $2, $1
      USING ERRCODE = 'undefined_object';
  END IF;
  WHILE start < hwm LOOP
    SELECT min(c."offset") INTO hit
      FROM nagare.consume($1, $2, start, 10000) c WHERE c."timestamp" >= $3;
    IF hit IS NOT NULL THEN
      RETURN hit;
    END IF;
    start := start + 10000;
  END LOOP;
  RETURN hwm;
END $$;
COMMENT ON FUNCTION nagare.offset_for_time(text, integer, timestamptz) IS
  'the first offset of a partition whose record timestamp is at or after a time (the high watermark if none), as Kafka''s ListOffsets by time';

CREATE FUNCTION nagare._check_group_idle(group_id text)
RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  n integer;
BEGIN
  SELECT count(*) INTO n FROM nagare.group_members m WHERE m.group_id = $1;
  IF n > 0 THEN
    RAISE EXCEPTION 'consumer group "%" has % live member(s)', $1, n
      USING ERRCODE = 'object_in_use',
            HINT = 'Stop its consumers first (see nagare.group_members); Kafka refuses this too.';
  END IF;
END $$;
COMMENT ON FUNCTION nagare._check_group_idle(text) IS
  'internal: raise 55006 if the consumer group has live members';

-- Kafka's kafka-consumer-groups --reset-offsets, for one topic of an idle
-- group.  Unlike Kafka's tool, which resets a group that does not exist
-- (state Dead) and so creates it, a group nagare does not know is refused
-- unless create_group => true: a misspelt name would otherwise start a new group.
CREATE FUNCTION nagare.reset_group_offsets(group_id text, topic text, to_position text,
                                           partitions integer[] DEFAULT NULL,
                                           create_group boolean DEFAULT false)
RETURNS TABLE ("partition" integer, old_offset bigint, new_offset bigint)
LANGUAGE plpgsql AS $$
BEGIN
  IF to_position NOT IN ('earliest', 'latest') THEN
    RAISE EXCEPTION 'invalid reset position "%"', to_position
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''earliest'' or ''latest'', an offset (bigint) or a time (timestamptz).';
  END IF;
  RETURN QUERY SELECT * FROM nagare._reset_group_offsets($1, $2, $4,
    CASE to_position WHEN 'earliest' THEN 'earliest' ELSE 'latest' END, NULL, NULL, $5);
END $$;
COMMENT ON FUNCTION nagare.reset_group_offsets(text, text, text, integer[], boolean) IS
  'set an idle consumer group''s offsets on a topic (all or the given partitions) to ''earliest'' or ''latest'', as kafka-consumer-groups --reset-offsets; a group that does not exist only with create_group => true';

CREATE FUNCTION nagare.reset_group_offsets(group_id text, topic text, to_offset bigint,
                                           partitions integer[] DEFAULT NULL,
                                           create_group boolean DEFAULT false)
RETURNS TABLE ("partition" integer, old_offset bigint, new_offset bigint)
LANGUAGE sql AS $$
  SELECT * FROM nagare._reset_group_offsets($1, $2, $4, 'offset', $3, NULL, $5)
$$;
COMMENT ON FUNCTION nagare.reset_group_offsets(text, text, bigint, integer[], boolean) IS
  'set an idle consumer group''s offsets on a topic to an offset (clamped to each partition''s log), as kafka-consumer-groups --reset-offsets --to-offset; a group that does not exist only with create_group => true';

CREATE FUNCTION nagare.reset_group_offsets(group_id text, topic text, to_time timestamptz,
                                           partitions integer[] DEFAULT NULL,
                                           create_group boolean DEFAULT false)
RETURNS TABLE ("partition" integer, old_offset bigint, new_offset bigint)
LANGUAGE sql AS $$
  SELECT * FROM nagare._reset_group_offsets($1, $2, $4, 'time', NULL, $3, $5)
$$;
COMMENT ON FUNCTION nagare.reset_group_offsets(text, text, timestamptz, integer[], boolean) IS
  'set an idle consumer group''s offsets on a topic to the first record at or after a time, as kafka-consumer-groups --reset-offsets --to-datetime; a group that does not exist only with create_group => true';

CREATE FUNCTION nagare._reset_group_offsets(group_id text, topic text, partitions integer[],
                                            how text, to_offset bigint, to_time timestamptz,
                                            create_group boolean)
RETURNS TABLE ("partition" integer, old_offset bigint, new_offset bigint)
LANGUAGE plpgsql AS $$
DECLARE
  p record;
  target bigint;
  old bigint;
  missing integer;
  np integer;
BEGIN
  -- Kafka's alterConsumerGroupOffsets: READ on the GROUP and on the TOPIC
  PERFORM nagare.authorize('GROUP', $1, 'READ');
  PERFORM nagare.authorize('TOPIC', $2, 'READ');
  PERFORM pg_catalog.set_config('nagare.audit_operation', 'reset_group_offsets', true);
  PERFORM nagare._check_group_idle($1);
  IF NOT EXISTS (SELECT 1 FROM nagare.topics t WHERE t.topic = $2) THEN
    RAISE EXCEPTION 'topic "%" does not exist', $2 USING ERRCODE = 'undefined_object';
  END IF;
  SELECT t.partitions INTO np FROM nagare.topics t WHERE t.topic = $2;
  SELECT min(x) INTO missing FROM unnest($3) AS x WHERE x IS NULL OR x < 0 OR x >= np;
  IF missing IS NOT NULL OR array_position($3, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'partition % of topic "%" does not exist', coalesce(missing::text, 'NULL'), $2
      USING ERRCODE = 'undefined_object',
            HINT = format('Topic "%s" has %s partition(s), 0 to %s.', $2, np, np - 1);
  END IF;
  IF NOT nagare._group_exists($1) THEN
    IF NOT coalesce(create_group, false) THEN
      RAISE EXCEPTION 'consumer group "%" does not exist', $1
        USING ERRCODE = 'undefined_object',
              HINT = 'Check the name (see nagare.consumer_groups); to create offsets for a new group, pass create_group => true.';
    END IF;
    PERFORM nagare._group_notice($1, 'created');
  END IF;
  FOR p IN SELECT * FROM nagare.partitions x
            WHERE x.topic = $2 AND ($3 IS NULL OR x."partition" = ANY ($3))
            ORDER BY x."partition"
  LOOP
    target := CASE how
      WHEN 'earliest' THEN p.log_start_offset
      WHEN 'latest' THEN p.high_watermark
      WHEN 'offset' THEN least(greatest(to_offset, p.log_start_offset), p.high_watermark)
      ELSE nagare.offset_for_time($2, p."partition", to_time)
    END;
    SELECT o.committed_offset INTO old FROM nagare.group_offset o
     WHERE o.group_id = $1 AND o.topic = $2 AND o."partition" = p."partition";
    IF NOT FOUND THEN
      old := NULL;
    END IF;
    INSERT INTO nagare.group_offset AS o (group_id, topic, "partition", committed_offset, committed_at)
    VALUES ($1, $2, p."partition", target, now())
    ON CONFLICT ON CONSTRAINT group_offset_pkey DO UPDATE
      SET committed_offset = excluded.committed_offset, leader_epoch = NULL, metadata = NULL,
          committed_at = excluded.committed_at;
    "partition" := p."partition";
    old_offset := old;
    new_offset := target;
    RETURN NEXT;
  END LOOP;
END $$;
COMMENT ON FUNCTION nagare._reset_group_offsets(text, text, integer[], text, bigint, timestamptz, boolean) IS
  'internal: the work of nagare.reset_group_offsets()';

-- Kafka's DeleteGroups: only an empty group, and a group that does not
-- exist is an error (GROUP_ID_NOT_FOUND to Kafka clients).
CREATE FUNCTION nagare.delete_group(group_id text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM nagare.authorize('GROUP', $1, 'DELETE');
  PERFORM pg_catalog.set_config('nagare.audit_operation', 'delete_group', true);
  PERFORM nagare._check_group_idle($1);
  IF NOT nagare._group_exists($1) THEN
    RAISE EXCEPTION 'consumer group "%" does not exist', $1
      USING ERRCODE = 'undefined_object',
            HINT = 'See nagare.consumer_groups for the groups.';
  END IF;
  DELETE FROM nagare.group_offset o WHERE o.group_id = $1;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM nagare._group_notice($1, 'deleted');
  RETURN n;
END $$;
COMMENT ON FUNCTION nagare.delete_group(text) IS
  'delete an empty consumer group: its committed offsets (the count is returned) and the broker''s group, as Kafka''s DeleteGroups; refused while it has live members, an error for a group that does not exist';

-- Table topics: every committed change of a table becomes a record of its
-- topic (logical decoding, decode/plugin.c).  The output plugin reads this
-- table with the historic snapshot of each decoded transaction, which it
-- may because it is a user catalog table.  relid is a regclass, so that
-- pg_dump writes the table's name and pg_restore finds the new table; the
-- event trigger nagare._drop_table_topics() (end of this script) removes the
-- row when the table is dropped.
--
-- A change that cannot be delivered (larger than the topic's
-- max.message.bytes or than the append ring takes, its topic gone) goes
-- where on_error says (docs/operations.md, "Poison records"):
-- 'dead_letter' (a record in dead_letter_topic, default "<topic>.dlq"),
-- 'skip', or 'stop' (the table topic stops at that change: it and every
-- later change are held in nagare.undelivered until
-- nagare.resume_table_topic()).  Every case is a row of nagare.undelivered;
-- every other topic keeps flowing.
CREATE TABLE nagare.table_topic (
    relid       regclass PRIMARY KEY,
    topic       text NOT NULL,
    tombstones  boolean NOT NULL DEFAULT true,
    on_error    text NOT NULL DEFAULT 'dead_letter'
                CHECK (on_error IN ('dead_letter', 'skip', 'stop')),
    dead_letter_topic text,
    stopped_at  pg_lsn,
    stop_reason text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT current_user
) WITH (user_catalog_table = true);
COMMENT ON TABLE nagare.table_topic IS
  'tables whose changes feed topics; change with nagare.create_table_topic(), alter_table_topic(), resume_table_topic() and drop_table_topic()';
SELECT pg_catalog.pg_extension_config_dump('nagare.table_topic', '');

-- What ingest could not deliver: one row per record, by its position in
-- the commit order (nagare.lsn, "<commit LSN>/<index>"), written by the
-- ingest worker (decode/ingest.c).  action: 'dead_letter' (a record went to
-- dead_letter_topic), 'skipped' (nothing was appended), 'held' (its table
-- topic is stopped; delivered, and the row deleted, after
-- resume_table_topic()).  key and value are the whole record, so nothing
-- is lost: delete the rows once dealt with.
CREATE TABLE nagare.undelivered (
    id          bigserial PRIMARY KEY,
    position    text NOT NULL UNIQUE,
    lsn         pg_lsn NOT NULL,
    xid         bigint,
    commit_time timestamptz,
    relid       regclass,
    relation    text,
    topic       text NOT NULL,
    action      text NOT NULL CHECK (action IN ('dead_letter', 'skipped', 'held')),
    reason      text NOT NULL,
    dead_letter_topic text,
    size        bigint,
    key         bytea,
    value       bytea,
    headers     jsonb,
    redeliver_from bigint[],
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nagare.undelivered IS
  'records ingest could not deliver (dead-lettered, skipped, or held by a stopped table topic), with their commit LSN, xid and reason';
COMMENT ON COLUMN nagare.undelivered.redeliver_from IS
  'internal: each partition''s high watermark before a held record was delivered again, to find it after a crash';
SELECT pg_catalog.pg_extension_config_dump('nagare.undelivered', '');
SELECT pg_catalog.pg_extension_config_dump('nagare.undelivered_id_seq', '');

CREATE VIEW nagare.table_topics AS
SELECT t.relid AS "relation", t.topic, t.tombstones, t.on_error,
       coalesce(t.dead_letter_topic, t.topic || '.dlq') AS dead_letter_topic,
       t.stopped_at, t.stop_reason,
       (SELECT count(*) FROM nagare.undelivered u WHERE u.relid = t.relid AND u.action = 'held') AS held,
       t.created_at, t.created_by
  FROM nagare.table_topic t;
COMMENT ON VIEW nagare.table_topics IS
  'table topics: the table, its topic, what happens to a change that cannot be delivered, and whether it is stopped';

-- on_error and the dead-letter topic, checked; creates the dead-letter
-- topic (1 partition) when it is needed and missing
CREATE FUNCTION nagare._table_topic_policy(topic text, on_error text, dead_letter_topic text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  dlq text := coalesce($3, $1 || '.dlq');
BEGIN
  IF $2 IS NULL OR $2 NOT IN ('dead_letter', 'skip', 'stop') THEN
    RAISE EXCEPTION 'invalid on_error "%"', $2 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'on_error is ''dead_letter'', ''skip'' or ''stop''.';
  END IF;
  IF dlq = $1 THEN
    RAISE EXCEPTION 'the dead-letter topic of table topic "%" cannot be its own topic', $1
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF $2 = 'dead_letter' AND NOT EXISTS (SELECT 1 FROM nagare.topics x WHERE x.topic = dlq) THEN
    PERFORM nagare.create_topic(dlq, 1);
  END IF;
END $$;
COMMENT ON FUNCTION nagare._table_topic_policy(text, text, text) IS
  'internal: check a table topic''s on_error and dead-letter topic, and create the dead-letter topic if needed';

CREATE FUNCTION nagare.create_table_topic("relation" regclass, topic text DEFAULT NULL,
                                          partitions integer DEFAULT 1,
                                          snapshot boolean DEFAULT true,
                                          tombstones boolean DEFAULT true,
                                          on_error text DEFAULT 'dead_letter',
                                          dead_letter_topic text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  t text;
  keycols text[];
  r record;
  n bigint := 0;
BEGIN
  IF current_setting('wal_level') <> 'logical' THEN
    RAISE EXCEPTION 'table topics need wal_level = logical'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Set wal_level = logical in postgresql.conf and restart the server.';
  END IF;
  SELECT coalesce($2, n.nspname || '.' || c.relname) INTO t
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = $1 AND c.relkind IN ('r', 'p');
  IF t IS NULL THEN
    RAISE EXCEPTION '"%" is not a table', $1 USING ERRCODE = 'wrong_object_type';
  END IF;
  IF EXISTS (SELECT 1 FROM nagare.table_topic tt WHERE tt.relid = $1) THEN
    RAISE EXCEPTION 'table "%" already has a topic', $1 USING ERRCODE = 'duplicate_object',
      HINT = 'Drop it with nagare.drop_table_topic() first.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM nagare.topics x WHERE x.topic = t) THEN
    PERFORM nagare.create_topic(t, $3);
  END IF;
  PERFORM nagare._table_topic_policy(t, $6, $7);
  INSERT INTO nagare.table_topic (relid, topic, tombstones, on_error, dead_letter_topic)
  VALUES ($1, t, $5, $6, $7);
  IF snapshot THEN
    -- A consistent start: writers of the table wait for this transaction,
    -- and the rows read here are exactly those committed before its changes
    -- start to be decoded with the topic.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
      RAISE EXCEPTION 'the initial snapshot of a table topic needs READ COMMITTED'
        USING ERRCODE = 'invalid_transaction_state',
              HINT = 'Run create_table_topic() in a READ COMMITTED transaction, or with snapshot => false.';
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE MODE', $1);
    SELECT array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum)) INTO keycols
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = $1
       AND (CASE (SELECT c.relreplident FROM pg_class c WHERE c.oid = $1)
              WHEN 'i' THEN i.indisreplident
              WHEN 'd' THEN i.indisprimary
              ELSE false END);
    FOR r IN EXECUTE format('SELECT to_jsonb(x) AS j FROM %s x', $1) LOOP
      PERFORM nagare.publish(t,
        CASE WHEN keycols IS NULL THEN NULL
             ELSE (SELECT jsonb_object_agg(k, r.j -> k) FROM unnest(keycols) k)::text END,
        jsonb_build_object('op', 'r', 'before', NULL, 'after', r.j,
                           'source', jsonb_build_object('db', current_database(),
                                                        'schema', (SELECT n2.nspname FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace WHERE c2.oid = $1),
                                                        'table', (SELECT c3.relname FROM pg_class c3 WHERE c3.oid = $1),
                                                        'snapshot', true)));
      n := n + 1;
    END LOOP;
    RAISE NOTICE 'table topic "%": % existing row(s) published as a snapshot', t, n;
  END IF;
  RETURN t;
END $$;
COMMENT ON FUNCTION nagare.create_table_topic(regclass, text, integer, boolean, boolean, text, text) IS
  'feed a topic with every committed change of a table (change data capture), after an optional snapshot of its rows; on_error (dead_letter, skip, stop) says where a change that cannot be delivered goes';

CREATE FUNCTION nagare.alter_table_topic("relation" regclass, on_error text DEFAULT NULL,
                                         dead_letter_topic text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  tt nagare.table_topic;
BEGIN
  SELECT * INTO tt FROM nagare.table_topic x WHERE x.relid = $1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table "%" has no topic', $1 USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM nagare._table_topic_policy(tt.topic, coalesce($2, tt.on_error),
                                     coalesce($3, tt.dead_letter_topic));
  UPDATE nagare.table_topic x
     SET on_error = coalesce($2, x.on_error),
         dead_letter_topic = coalesce($3, x.dead_letter_topic)
   WHERE x.relid = $1;
END $$;
COMMENT ON FUNCTION nagare.alter_table_topic(regclass, text, text) IS
  'change where a change of the table that cannot be delivered goes: on_error (dead_letter, skip, stop) and the dead-letter topic';

CREATE FUNCTION nagare.resume_table_topic("relation" regclass)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE nagare.table_topic x SET stopped_at = NULL, stop_reason = NULL WHERE x.relid = $1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table "%" has no topic', $1 USING ERRCODE = 'undefined_object';
  END IF;
  RETURN (SELECT count(*) FROM nagare.undelivered u WHERE u.relid = $1 AND u.action = 'held');
END $$;
COMMENT ON FUNCTION nagare.resume_table_topic(regclass) IS
  'restart a stopped table topic: the ingest worker delivers its held changes, in commit order, with the table topic''s current on_error, then the new ones; returns how many are held';

CREATE FUNCTION nagare.drop_table_topic("relation" regclass)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM nagare.table_topic tt WHERE tt.relid = $1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table "%" has no topic', $1 USING ERRCODE = 'undefined_object';
  END IF;
  UPDATE nagare.undelivered u SET action = 'skipped', reason = u.reason || '; its table topic was dropped'
   WHERE u.relid = $1 AND u.action = 'held';
END $$;
COMMENT ON FUNCTION nagare.drop_table_topic(regclass) IS
  'stop feeding the topic with the table''s changes (the topic and its records stay); held changes become skipped';

CREATE VIEW nagare.ingest AS
SELECT s.slot_name, s.active, s.restart_lsn, s.confirmed_flush_lsn,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn) AS lag_bytes,
       current_setting('wal_level') AS wal_level
  FROM pg_catalog.pg_replication_slots s
 WHERE s.slot_name = 'nagare';
COMMENT ON VIEW nagare.ingest IS
  'the replication slot through which published records and table changes reach their topics, and the WAL it holds back';

GRANT USAGE ON SCHEMA nagare TO PUBLIC;
GRANT SELECT ON nagare.topics, nagare.partitions, nagare.broker TO PUBLIC;
GRANT SELECT ON nagare.consumer_groups, nagare.group_members TO PUBLIC;

--
-- ACLs: Kafka's model, one table for both doors.  The Kafka APIs
-- (DescribeAcls, CreateAcls, DeleteAcls and every check of the broker) and
-- the SQL functions decide from the same rows: the nagare worker copies
-- them into shared memory after each committed change (nagare.max_acls
-- rows at most), and one evaluator (src/acl/acl.c) decides as Kafka's
-- StandardAuthorizer does.  Change them with nagare.create_acl() and
-- nagare.delete_acls() (or Kafka's kafka-acls and AdminClients).
--
CREATE TABLE nagare.acl (
    id             bigserial PRIMARY KEY,
    resource_type  text NOT NULL
                   CHECK (resource_type IN ('TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID')),
    resource_name  text NOT NULL CHECK (resource_name <> '' AND octet_length(resource_name) <= 255),
    pattern_type   text NOT NULL DEFAULT 'LITERAL' CHECK (pattern_type IN ('LITERAL', 'PREFIXED')),
    principal      text NOT NULL CHECK (principal ~ '^[^:]+:.+$' AND octet_length(principal) < 128),
    host           text NOT NULL DEFAULT '*' CHECK (host <> '' AND octet_length(host) < 64),
    operation      text NOT NULL
                   CHECK (operation IN ('ALL', 'READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER',
                                        'DESCRIBE', 'CLUSTER_ACTION', 'DESCRIBE_CONFIGS',
                                        'ALTER_CONFIGS', 'IDEMPOTENT_WRITE', 'CREATE_TOKENS',
                                        'DESCRIBE_TOKENS')),
    permission     text NOT NULL CHECK (permission IN ('ALLOW', 'DENY')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     name NOT NULL DEFAULT current_user,
    UNIQUE (resource_type, resource_name, pattern_type, principal, host, operation, permission)
);
COMMENT ON TABLE nagare.acl IS 'Kafka ACLs, checked by the Kafka APIs and the SQL functions; change them with nagare.create_acl() and nagare.delete_acls()';
SELECT pg_catalog.pg_extension_config_dump('nagare.acl', '');
SELECT pg_catalog.pg_extension_config_dump('nagare.acl_id_seq', '');
-- Row-level security lets every role use the functions (and Kafka's tools)
-- with its own rights: the ACLs themselves say who may see (DESCRIBE on the
-- CLUSTER) and change (ALTER on the CLUSTER) them.  Superusers and the
-- nagare worker, which carries out Kafka clients' requests after the broker
-- authorized them, bypass it.
REVOKE ALL ON nagare.acl FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON nagare.acl TO PUBLIC;
GRANT USAGE ON SEQUENCE nagare.acl_id_seq TO PUBLIC;
ALTER TABLE nagare.acl ENABLE ROW LEVEL SECURITY;

-- Any change of nagare.acl, however made, reaches the shared copy once its
-- transaction commits.
CREATE FUNCTION nagare._acl_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'nagare_acl_changed'
LANGUAGE C;
COMMENT ON FUNCTION nagare._acl_changed() IS
  'internal: the trigger that has the nagare worker copy nagare.acl into shared memory once the change commits';
REVOKE EXECUTE ON FUNCTION nagare._acl_changed() FROM PUBLIC;
CREATE TRIGGER acl_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nagare.acl
  FOR EACH STATEMENT EXECUTE FUNCTION nagare._acl_changed();

-- nagare extends Kafka here: besides DESCRIBE/ALTER on the CLUSTER, ALTER
-- on an ACL's own resource (pattern) lets a principal see and manage it;
-- that is how a tenant's admins manage their namespace.
CREATE POLICY acl_describe ON nagare.acl FOR SELECT
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
         OR nagare.authorized(resource_type, resource_name, 'ALTER'));
CREATE POLICY acl_create ON nagare.acl FOR INSERT
  WITH CHECK (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER')
              OR nagare.authorized(resource_type, resource_name, 'ALTER'));
CREATE POLICY acl_delete ON nagare.acl FOR DELETE
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER')
         OR nagare.authorized(resource_type, resource_name, 'ALTER'));

CREATE FUNCTION nagare.acl_matches(resource_type text, resource_name text, pattern_type text,
                                   principal text, host text, operation text, permission text,
                                   f_resource_type text, f_resource_name text, f_pattern_type text,
                                   f_principal text, f_host text, f_operation text,
                                   f_permission text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'nagare_acl_matches'
LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION nagare.acl_matches(text, text, text, text, text, text, text, text, text, text, text, text, text, text) IS
  'whether an ACL matches a Kafka ACL binding filter (null strings and ANY match anything; pattern MATCH: every ACL that applies to the name)';

CREATE FUNCTION nagare.create_acl(resource_type text, resource_name text, principal text,
                                  operation text, permission text DEFAULT 'ALLOW',
                                  host text DEFAULT '*', pattern_type text DEFAULT 'LITERAL')
RETURNS boolean
AS 'MODULE_PATHNAME', 'nagare_create_acl'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.create_acl(text, text, text, text, text, text, text) IS
  'add a Kafka ACL (returns false if it existed); needs ALTER on the CLUSTER or on the ACL''s resource';

CREATE TYPE nagare.acl_binding AS (
    resource_type text, resource_name text, pattern_type text, principal text, host text,
    operation text, permission text);

CREATE FUNCTION nagare.delete_acls(resource_type text DEFAULT 'ANY', resource_name text DEFAULT NULL,
                                   pattern_type text DEFAULT 'ANY', principal text DEFAULT NULL,
                                   host text DEFAULT NULL, operation text DEFAULT 'ANY',
                                   permission text DEFAULT 'ANY')
RETURNS SETOF nagare.acl_binding
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- what the role may not ALTER is left alone (row-level security)
  PERFORM nagare.acl_matches('TOPIC', 'x', 'LITERAL', 'User:x', '*', 'READ', 'ALLOW',
                             $1, $2, $3, $4, $5, $6, $7);  -- validates the filter
  RETURN QUERY
    DELETE FROM nagare.acl a
     WHERE nagare.acl_matches(a.resource_type, a.resource_name, a.pattern_type, a.principal,
                              a.host, a.operation, a.permission, $1, $2, $3, $4, $5, $6, $7)
    RETURNING a.resource_type, a.resource_name, a.pattern_type, a.principal, a.host,
              a.operation, a.permission;
END $$;
COMMENT ON FUNCTION nagare.delete_acls(text, text, text, text, text, text, text) IS
  'delete the ACLs that match a Kafka ACL binding filter and return them; of those, the ones on resources the role may ALTER (or all, with ALTER on the CLUSTER)';

CREATE VIEW nagare.acls WITH (security_invoker = true) AS
SELECT a.resource_type, a.resource_name, a.pattern_type, a.principal, a.host,
       a.operation, a.permission, a.created_at, a.created_by
  FROM nagare.acl a;
COMMENT ON VIEW nagare.acls IS
  'Kafka ACLs (shown to roles that may DESCRIBE the CLUSTER)';
GRANT SELECT ON nagare.acls TO PUBLIC;

CREATE FUNCTION nagare.acl_status(
    OUT loaded boolean, OUT acls integer, OUT overflow boolean, OUT version bigint,
    OUT allow_everyone_if_no_acl_found boolean, OUT denied bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'nagare_acl_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.acl_status() IS
  'the shared copy of the ACLs: loaded, how many, overflow, version, the effective allow.everyone.if.no.acl.found, and the authorizations denied (the view nagare.acl_status)';

CREATE VIEW nagare.acl_status AS SELECT * FROM nagare.acl_status();
COMMENT ON VIEW nagare.acl_status IS
  'the ACLs as the broker and backends decide from them (the copy in shared memory), and the authorizations denied since server start';
GRANT SELECT ON nagare.acl_status TO PUBLIC;

--
-- The audit trail: every administrative change of topics, ACLs and
-- consumer groups' offsets, through SQL or the Kafka admin APIs, is a row
-- here (the trigger nagare._audit(), src/sql/audit.c).  Only appends: no
-- role, superusers included, may update or delete rows.  A role reads the
-- rows of what it may DESCRIBE (ACL changes: DESCRIBE on the CLUSTER or
-- ALTER on the ACL's resource); superusers read all.
--
CREATE TABLE nagare.audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    role         name NOT NULL,
    principal    text,
    client_host  text,
    client_id    text,
    operation    text NOT NULL,
    object_type  text NOT NULL,
    object_name  text NOT NULL,
    "before"     jsonb,
    "after"      jsonb
);
COMMENT ON TABLE nagare.audit_log IS
  'administrative changes (topics, ACLs, group offsets) through SQL or Kafka: when, who (role; Kafka principal, host and client.id), what (operation, object, before and after); append-only';
SELECT pg_catalog.pg_extension_config_dump('nagare.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('nagare.audit_log_id_seq', '');
REVOKE ALL ON nagare.audit_log FROM PUBLIC;
GRANT SELECT ON nagare.audit_log TO PUBLIC;
ALTER TABLE nagare.audit_log ENABLE ROW LEVEL SECURITY;
-- Whether the current role may read an audit row: the rows of what it may
-- DESCRIBE (ACL changes: DESCRIBE on the CLUSTER or ALTER on the ACL's
-- resource), quota changes to the platform (DESCRIBE_CONFIGS on the
-- CLUSTER) and the entity's tenant, service, endpoint, identity, SLO, instance and
-- declared dependency changes
-- to the platform and the tenant that owns the service (a service's: before
-- or after the change).  The one rule of audit_describe; plpgsql, so that
-- it may name the functions and tables of later sections.
CREATE FUNCTION nagare._audit_visible(object_type text, object_name text, row_before jsonb, row_after jsonb)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN CASE $1
    WHEN 'ACL' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
                    OR nagare.authorized(split_part($2, ':', 1),
                                         substr($2, length(split_part($2, ':', 1))
                                                             + length(split_part($2, ':', 2)) + 3),
                                         'ALTER')
    WHEN 'TENANT' THEN nagare.authorized('TOPIC', $2 || '.', 'DESCRIBE')
    WHEN 'QUOTA' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE_CONFIGS')
                      OR nagare._quota_entity_tenant($2) = nagare._quota_role_tenant(current_user)
    WHEN 'SERVICE' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
                        OR nagare._quota_role_tenant(current_user) IN ($3->>'tenant', $4->>'tenant')
    WHEN 'SERVICE_ENDPOINT' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
                                 OR nagare._quota_role_tenant(current_user)
                                    = (SELECT s.tenant FROM nagare.service s
                                        WHERE s.name = split_part($2, '/', 1))
    WHEN 'SERVICE_INSTANCE' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
                                 OR nagare._quota_role_tenant(current_user)
                                    = (SELECT s.tenant FROM nagare.service s
                                        WHERE s.name = split_part($2, '/', 1))
    WHEN 'SERVICE_SLO' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
                            OR nagare._quota_role_tenant(current_user)
                               = (SELECT s.tenant FROM nagare.service s
                                   WHERE s.name = split_part($2, '/', 1))
    WHEN 'SERVICE_IDENTITY' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
                                 OR nagare._quota_role_tenant(current_user)
                                    = (SELECT s.tenant FROM nagare.service s
                                        WHERE s.name = split_part($2, '/', 1))
    WHEN 'DEPENDENCY' THEN nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
                           OR nagare._quota_role_tenant(current_user)
                              = (SELECT s.tenant FROM nagare.service s
                                  WHERE s.name = split_part($2, '/', 1))
    ELSE nagare.authorized($1, $2, 'DESCRIBE')
  END;
END $$;
COMMENT ON FUNCTION nagare._audit_visible(text, text, jsonb, jsonb) IS
  'internal: whether the current role may read an audit row (the row-level security of nagare.audit_log)';
CREATE POLICY audit_describe ON nagare.audit_log FOR SELECT
  USING (nagare._audit_visible(object_type, object_name, "before", "after"));

CREATE FUNCTION nagare._audit_log_append_only()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'nagare.audit_log only takes new rows'
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'The audit trail cannot be changed or deleted.';
END $$;
COMMENT ON FUNCTION nagare._audit_log_append_only() IS
  'internal: the trigger that refuses to change or delete rows of nagare.audit_log';
REVOKE EXECUTE ON FUNCTION nagare._audit_log_append_only() FROM PUBLIC;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON nagare.audit_log
  FOR EACH ROW EXECUTE FUNCTION nagare._audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON nagare.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION nagare._audit_log_append_only();

CREATE FUNCTION nagare._audit()
RETURNS trigger
AS 'MODULE_PATHNAME', 'nagare_audit_trigger'
LANGUAGE C;
COMMENT ON FUNCTION nagare._audit() IS
  'internal: the trigger that writes a row of nagare.audit_log for each administrative change';
REVOKE EXECUTE ON FUNCTION nagare._audit() FROM PUBLIC;
CREATE TRIGGER topic_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.topic
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();
CREATE TRIGGER acl_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.acl
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();
CREATE TRIGGER group_offset_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.group_offset
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

CREATE VIEW nagare.audit WITH (security_invoker = true) AS
SELECT id, at, role, principal, client_host, client_id, operation, object_type, object_name,
       "before", "after"
  FROM nagare.audit_log;
COMMENT ON VIEW nagare.audit IS
  'the audit trail, as far as the current role may see it';
GRANT SELECT ON nagare.audit TO PUBLIC;

--
-- Tenants: a team's namespace.  A tenant owns every topic, consumer group
-- and transactional id whose name starts with "<tenant>." (docs/tenants.md
-- says why a prefix), its principals (PostgreSQL roles, User:<role> to
-- Kafka), and limits the platform sets.  Ownership is ACLs: each principal
-- of a tenant gets PREFIXED ACLs on the namespace (members READ, WRITE,
-- CREATE, DESCRIBE, DESCRIBE_CONFIGS; admins ALL), so the broker and the
-- SQL functions enforce tenants with the one evaluator, and a tenant's
-- admins manage the ACLs of their namespace (ALTER on a resource lets a
-- principal manage its ACLs).  Limits are checked by create_topic() and
-- alter_topic(), whoever calls them (Kafka requests included): over a
-- limit is SQLSTATE 53400, POLICY_VIOLATION to Kafka clients.
--
CREATE TABLE nagare.tenant (
    name              text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
    max_topics        integer CHECK (max_topics >= 0),
    max_partitions    integer CHECK (max_partitions >= 0),
    max_retention_ms  bigint CHECK (max_retention_ms >= -1),
    max_bytes         bigint CHECK (max_bytes >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    created_by        name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE nagare.tenant IS 'tenants: namespaces "<name>." of topics, groups and transactional ids, with limits';
SELECT pg_catalog.pg_extension_config_dump('nagare.tenant', '');

CREATE TABLE nagare.tenant_principal (
    tenant     text NOT NULL REFERENCES nagare.tenant ON DELETE CASCADE,
    role       name NOT NULL,
    is_admin   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant, role)
);
SELECT pg_catalog.pg_extension_config_dump('nagare.tenant_principal', '');
REVOKE ALL ON nagare.tenant, nagare.tenant_principal FROM PUBLIC;

-- the ACLs a tenant principal holds on the namespace
CREATE FUNCTION nagare._tenant_acls(tenant text, role name, is_admin boolean)
RETURNS TABLE (resource_type text, operation text)
LANGUAGE sql IMMUTABLE AS $$
  SELECT rt, op
    FROM unnest(ARRAY['TOPIC', 'GROUP', 'TRANSACTIONAL_ID']) rt,
         unnest(CASE WHEN $3 THEN ARRAY['ALL']
                     ELSE ARRAY['READ', 'WRITE', 'CREATE', 'DESCRIBE', 'DESCRIBE_CONFIGS'] END) op
$$;
COMMENT ON FUNCTION nagare._tenant_acls(text, name, boolean) IS
  'internal: the ACLs a principal (or admin) of a tenant holds on its namespace; nagare.add_tenant_principal() grants them, as its caller';

CREATE FUNCTION nagare.create_tenant(name text, max_topics integer DEFAULT NULL,
                                     max_partitions integer DEFAULT NULL,
                                     max_retention_ms bigint DEFAULT NULL,
                                     max_bytes bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare.authorize('CLUSTER', 'kafka-cluster', 'ALTER');
  IF $1 !~ '^[A-Za-z0-9_-]{1,64}$' THEN
    RAISE EXCEPTION 'invalid tenant name "%"', $1 USING ERRCODE = 'invalid_name',
      HINT = 'A tenant name is 1 to 64 letters, digits, "_" and "-"; its namespace is "<name>.".';
  END IF;
  INSERT INTO nagare.tenant (name, max_topics, max_partitions, max_retention_ms, max_bytes)
  VALUES ($1, $2, $3, $4, $5);
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'tenant "%" already exists', $1 USING ERRCODE = 'duplicate_object';
END $$;
COMMENT ON FUNCTION nagare.create_tenant(text, integer, integer, bigint, bigint) IS
  'create a tenant owning the names "<name>." (limits: null = none); platform only (ALTER on the CLUSTER)';

CREATE FUNCTION nagare.alter_tenant(name text, max_topics integer DEFAULT NULL,
                                    max_partitions integer DEFAULT NULL,
                                    max_retention_ms bigint DEFAULT NULL,
                                    max_bytes bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare.authorize('CLUSTER', 'kafka-cluster', 'ALTER');
  UPDATE nagare.tenant t SET max_topics = $2, max_partitions = $3, max_retention_ms = $4,
                             max_bytes = $5
   WHERE t.name = $1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tenant "%" does not exist', $1 USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION nagare.alter_tenant(text, integer, integer, bigint, bigint) IS
  'set a tenant''s limits (null = none); platform only';

CREATE FUNCTION nagare.drop_tenant(name text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare.authorize('CLUSTER', 'kafka-cluster', 'ALTER');
  IF EXISTS (SELECT 1 FROM nagare.topic t WHERE t.deleted_at IS NULL AND starts_with(t.name, $1 || '.')) THEN
    RAISE EXCEPTION 'tenant "%" still has topics', $1 USING ERRCODE = 'dependent_objects_still_exist',
      HINT = 'Delete its topics first.';
  END IF;
  IF EXISTS (SELECT 1 FROM nagare.service s WHERE s.tenant = $1 AND s.retired_at IS NULL) THEN
    RAISE EXCEPTION 'tenant "%" still owns services', $1 USING ERRCODE = 'dependent_objects_still_exist',
      HINT = 'Retire them (nagare.retire_service()) or move them to another tenant (nagare.alter_service(name, tenant => ...)) first.';
  END IF;
  -- its retired services become the platform's
  UPDATE nagare.service s SET tenant = NULL WHERE s.tenant = $1;
  DELETE FROM nagare.acl a
   WHERE a.pattern_type = 'PREFIXED' AND a.resource_name = $1 || '.'
     AND a.principal IN (SELECT 'User:' || p.role FROM nagare.tenant_principal p WHERE p.tenant = $1);
  DELETE FROM nagare.tenant t WHERE t.name = $1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tenant "%" does not exist', $1 USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION nagare.drop_tenant(text) IS 'drop a tenant without topics or services (its retired services become the platform''s), and its principals'' ACLs; platform only';

CREATE FUNCTION nagare.add_tenant_principal(tenant text, role name, admin boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a record;
BEGIN
  PERFORM nagare.authorize('CLUSTER', 'kafka-cluster', 'ALTER');
  IF NOT EXISTS (SELECT 1 FROM nagare.tenant t WHERE t.name = $1) THEN
    RAISE EXCEPTION 'tenant "%" does not exist', $1 USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = $2) THEN
    RAISE EXCEPTION 'role "%" does not exist', $2 USING ERRCODE = 'undefined_object';
  END IF;
  IF EXISTS (SELECT 1 FROM nagare.tenant_principal p WHERE p.role = $2 AND p.tenant <> $1) THEN
    RAISE EXCEPTION 'role "%" belongs to another tenant', $2 USING ERRCODE = 'duplicate_object';
  END IF;
  DELETE FROM nagare.acl x
   WHERE x.pattern_type = 'PREFIXED' AND x.resource_name = $1 || '.' AND x.principal = 'User:' || $2;
  INSERT INTO nagare.tenant_principal AS p VALUES ($1, $2, $3)
    ON CONFLICT ON CONSTRAINT tenant_principal_pkey DO UPDATE SET is_admin = excluded.is_admin;
  FOR a IN SELECT * FROM nagare._tenant_acls($1, $2, $3) LOOP
    PERFORM nagare.create_acl(a.resource_type, $1 || '.', 'User:' || $2, a.operation,
                              pattern_type => 'PREFIXED');
  END LOOP;
END $$;
COMMENT ON FUNCTION nagare.add_tenant_principal(text, name, boolean) IS
  'make a role (Kafka principal User:<role>) a principal of a tenant, or one of its admins; platform only';

CREATE FUNCTION nagare.remove_tenant_principal(tenant text, role name)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare.authorize('CLUSTER', 'kafka-cluster', 'ALTER');
  DELETE FROM nagare.tenant_principal p WHERE p.tenant = $1 AND p.role = $2;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" is not a principal of tenant "%"', $2, $1 USING ERRCODE = 'undefined_object';
  END IF;
  DELETE FROM nagare.acl x
   WHERE x.pattern_type = 'PREFIXED' AND x.resource_name = $1 || '.' AND x.principal = 'User:' || $2;
END $$;
COMMENT ON FUNCTION nagare.remove_tenant_principal(text, name) IS
  'take a role out of a tenant, with its ACLs on the namespace; platform only';

-- Called by create_topic() and alter_topic() (with the new partition count
-- and effective retention.ms; -2 = unchanged): the limits of the tenant
-- whose namespace holds the topic.
CREATE FUNCTION nagare._tenant_check(topic text, partitions integer, retention_ms bigint,
                                     creating boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t nagare.tenant;
  n bigint;
BEGIN
  SELECT * INTO t FROM nagare.tenant x WHERE starts_with($1, x.name || '.');
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF $4 AND t.max_topics IS NOT NULL THEN
    SELECT count(*) INTO n FROM nagare.topic x WHERE x.deleted_at IS NULL AND starts_with(x.name, t.name || '.');
    IF n + 1 > t.max_topics THEN
      RAISE EXCEPTION 'tenant "%" may have at most % topics', t.name, t.max_topics
        USING ERRCODE = 'configuration_limit_exceeded',
              HINT = 'Delete a topic of the tenant, or ask the platform to raise max_topics (nagare.alter_tenant()).';
    END IF;
  END IF;
  IF t.max_partitions IS NOT NULL THEN
    SELECT coalesce(sum(x.partitions), 0) INTO n FROM nagare.topic x
     WHERE x.deleted_at IS NULL AND starts_with(x.name, t.name || '.') AND x.name <> $1;
    IF n + $2 > t.max_partitions THEN
      RAISE EXCEPTION 'tenant "%" may have at most % partitions (% with this change)', t.name, t.max_partitions, n + $2
        USING ERRCODE = 'configuration_limit_exceeded',
              HINT = 'Use fewer partitions, or ask the platform to raise max_partitions (nagare.alter_tenant()).';
    END IF;
  END IF;
  IF t.max_retention_ms IS NOT NULL AND $3 <> -2
     AND ($3 = -1 OR $3 > t.max_retention_ms) AND t.max_retention_ms <> -1 THEN
    RAISE EXCEPTION 'tenant "%" may keep records at most % ms (retention.ms = %)', t.name, t.max_retention_ms, $3
      USING ERRCODE = 'configuration_limit_exceeded',
            HINT = 'Set a lower retention.ms, or ask the platform to raise max_retention_ms (nagare.alter_tenant()).';
  END IF;
  IF t.max_bytes IS NOT NULL THEN
    SELECT coalesce(sum(s.size_bytes), 0) INTO n
      FROM nagare.partition_status() s JOIN nagare.topic x ON x.id = s.topic_id
     WHERE x.deleted_at IS NULL AND starts_with(x.name, t.name || '.');
    IF n > t.max_bytes THEN
      RAISE EXCEPTION 'tenant "%" uses % bytes on disk, over its limit of %', t.name, n, t.max_bytes
        USING ERRCODE = 'configuration_limit_exceeded',
              HINT = 'Lower retention.ms or delete topics, or ask the platform to raise max_bytes.';
    END IF;
  END IF;
END $$;
COMMENT ON FUNCTION nagare._tenant_check(text, integer, bigint, boolean) IS
  'internal: the limits of the topic''s tenant, checked by create_topic() and alter_topic() (53400 over a limit)';
REVOKE EXECUTE ON FUNCTION nagare._tenant_check(text, integer, bigint, boolean) FROM PUBLIC;

CREATE VIEW nagare.tenants AS
SELECT t.name AS tenant, t.name || '.' AS namespace, t.max_topics, t.max_partitions,
       t.max_retention_ms, t.max_bytes,
       (SELECT count(*) FROM nagare.topic x WHERE x.deleted_at IS NULL AND starts_with(x.name, t.name || '.')) AS topics,
       (SELECT coalesce(sum(x.partitions), 0) FROM nagare.topic x WHERE x.deleted_at IS NULL AND starts_with(x.name, t.name || '.')) AS partitions,
       (SELECT array_agg(p.role ORDER BY p.role) FROM nagare.tenant_principal p WHERE p.tenant = t.name AND p.is_admin) AS admins,
       (SELECT array_agg(p.role ORDER BY p.role) FROM nagare.tenant_principal p WHERE p.tenant = t.name AND NOT p.is_admin) AS members
  FROM nagare.tenant t
 WHERE nagare.authorized('TOPIC', t.name || '.', 'DESCRIBE');
COMMENT ON VIEW nagare.tenants IS 'tenants, their usage and limits (shown to the platform and to the tenant''s own principals)';
GRANT SELECT ON nagare.tenants TO PUBLIC;

CREATE TRIGGER tenant_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.tenant
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();
CREATE TRIGGER tenant_principal_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.tenant_principal
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

--
-- Quotas: Kafka's client quotas (docs/quotas.md), in one table for both
-- doors.  A row of nagare.quota sets one key of one entity; entities are
-- written as kafka-configs describes them: 'user=alice',
-- 'user=alice,client-id=app1', 'client-id=app1', 'user=<default>',
-- 'user=<default>,client-id=<default>', 'client-id=<default>',
-- 'ip=10.0.0.1', 'ip=<default>', and nagare's 'tenant=payments': a budget
-- all principals of the tenant share.  Keys and values are validated as
-- Kafka validates them (nagare._quota_entity(), src/quota/quota.c).  The
-- nagare worker copies the tables, with each role's tenant, into shared
-- memory after every committed change (nagare.max_quotas entries); the
-- broker enforces and nagare.effective_quota() resolves from that copy, by
-- Kafka's precedence.  Change quotas with nagare.set_quota() and
-- nagare.remove_quota() (or Kafka's kafka-configs and AdminClients:
-- DescribeClientQuotas, AlterClientQuotas).
--
-- Who may: the platform (ALTER_CONFIGS on the CLUSTER, or superuser) any
-- quota; a tenant's admins the quotas of their tenant's principals
-- (user=<role>[,client-id=...]) and of their tenant (tenant=<name>), for
-- the keys the platform capped with nagare.set_tenant_quota_cap(), at most
-- the cap (42501 otherwise).  Every change is an audit row (object type
-- QUOTA; caps: TENANT).
--
CREATE TYPE nagare.quota_entity_parts AS (entity text, user_name text, client_id text, ip text,
                                    tenant text);

CREATE FUNCTION nagare._quota_entity(entity text, key text DEFAULT NULL, value float8 DEFAULT NULL)
RETURNS nagare.quota_entity_parts
AS 'MODULE_PATHNAME', 'nagare_quota_entity_sql'
LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION nagare._quota_entity(text, text, float8) IS
  'a quota entity in its canonical text and its components ("<default>" for a default); 22023 with Kafka''s message if it, or the key and value, are invalid';

CREATE TABLE nagare.quota (
    entity  text NOT NULL,
    key     text NOT NULL,
    value   float8 NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now(),
    set_by  name NOT NULL DEFAULT current_user,
    PRIMARY KEY (entity, key),
    CHECK ((nagare._quota_entity(entity, key, value)).entity = entity)
);
COMMENT ON TABLE nagare.quota IS
  'Kafka client quotas (and nagare''s tenant quotas): one key of one entity per row; change them with nagare.set_quota() and nagare.remove_quota()';
SELECT pg_catalog.pg_extension_config_dump('nagare.quota', '');

CREATE TABLE nagare.tenant_quota_cap (
    tenant  text NOT NULL REFERENCES nagare.tenant ON DELETE CASCADE,
    key     text NOT NULL,
    value   float8 NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now(),
    set_by  name NOT NULL DEFAULT current_user,
    PRIMARY KEY (tenant, key),
    CHECK ((nagare._quota_entity('tenant=' || tenant, key, value)).entity IS NOT NULL)
);
COMMENT ON TABLE nagare.tenant_quota_cap IS
  'the platform''s caps: what a tenant''s admins may set, and the tenant''s shared limit where the tenant sets none; change them with nagare.set_tenant_quota_cap()';
SELECT pg_catalog.pg_extension_config_dump('nagare.tenant_quota_cap', '');

-- The tenant of a role, and of a quota entity (tenant=<t>, or user=<a
-- principal of t>[,client-id=...]); null if none.  They read
-- nagare.tenant_principal, which roles cannot.
CREATE FUNCTION nagare._quota_role_tenant(role name)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT p.tenant FROM nagare.tenant_principal p WHERE p.role = $1
$$;
COMMENT ON FUNCTION nagare._quota_role_tenant(name) IS
  'internal: the tenant of a role (null if none); the row-level security of nagare.quota and nagare.tenant_quota_cap asks it as the querying role';

CREATE FUNCTION nagare._quota_entity_tenant(entity text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(e.tenant,
                  (SELECT p.tenant FROM nagare.tenant_principal p
                    WHERE e.user_name <> '<default>' AND p.role::text = e.user_name))
    FROM nagare._quota_entity($1) e
$$;
COMMENT ON FUNCTION nagare._quota_entity_tenant(text) IS
  'internal: the tenant of a quota entity (tenant=<t>, or user=<a principal of t>[,...]); row-level security and nagare.quotas ask it as the querying role';

CREATE FUNCTION nagare._quota_tenant_exists(tenant text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM nagare.tenant t WHERE t.name = $1)
$$;
COMMENT ON FUNCTION nagare._quota_tenant_exists(text) IS
  'internal: whether a tenant exists; set_quota() and set_tenant_quota_cap() ask it as their caller';

-- Whether role, an admin of a tenant, may set key of entity to value (null:
-- remove it): an entity of its tenant, a key the platform capped, at most
-- the cap.  The row-level security of nagare.quota asks it;
-- nagare._quota_tenant_authorize() says why not.
CREATE FUNCTION nagare._quota_tenant_admin_may(role name, entity text, key text, value float8)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (
    SELECT 1 FROM nagare.tenant_principal a
      JOIN nagare.tenant_quota_cap c ON c.tenant = a.tenant AND c.key = $3
     WHERE a.role = $1 AND a.is_admin
       AND a.tenant = nagare._quota_entity_tenant($2)
       AND ($4 IS NULL OR $4 <= c.value))
$$;
COMMENT ON FUNCTION nagare._quota_tenant_admin_may(name, text, text, float8) IS
  'internal: whether a tenant''s admin may set a quota key of an entity to a value; the row-level security of nagare.quota asks it as the querying role';

CREATE FUNCTION nagare._quota_tenant_authorize(role name, entity text, key text, value float8)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t text;
  cap float8;
BEGIN
  SELECT a.tenant INTO t FROM nagare.tenant_principal a WHERE a.role = $1 AND a.is_admin;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'permission denied to change the quotas of "%"', $2
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'The platform changes quotas (ALTER_CONFIGS on the CLUSTER); a tenant''s admins change those of the tenant and its principals, within the caps the platform sets with nagare.set_tenant_quota_cap().';
  END IF;
  IF nagare._quota_entity_tenant($2) IS DISTINCT FROM t THEN
    RAISE EXCEPTION 'quota entity "%" is not of tenant "%"', $2, t
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('The admins of tenant "%s" change the quotas of tenant=%s and of user=<a principal of the tenant>[,client-id=...]; the platform changes the others.', t, t);
  END IF;
  SELECT c.value INTO cap FROM nagare.tenant_quota_cap c WHERE c.tenant = t AND c.key = $3;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tenant "%" has no cap on %: only the platform sets it', t, $3
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'The platform lets a tenant''s admins set a key by capping it with nagare.set_tenant_quota_cap().';
  END IF;
  IF $4 > cap THEN
    RAISE EXCEPTION '% = % is above the cap of tenant "%" (%)', $3, $4, t, cap
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Set at most the cap, or ask the platform to raise it with nagare.set_tenant_quota_cap().';
  END IF;
END $$;
COMMENT ON FUNCTION nagare._quota_tenant_authorize(name, text, text, float8) IS
  'internal: raise 42501, saying why, unless a tenant''s admin may set the quota key of the entity to the value; set_quota() and remove_quota() call it as their caller';

-- Row-level security lets every role use the functions (and Kafka's tools)
-- with its own rights; superusers and the nagare worker acting for a Kafka
-- client with ALTER_CONFIGS on the CLUSTER bypass it.
REVOKE ALL ON nagare.quota, nagare.tenant_quota_cap FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON nagare.quota, nagare.tenant_quota_cap TO PUBLIC;
ALTER TABLE nagare.quota ENABLE ROW LEVEL SECURITY;
ALTER TABLE nagare.tenant_quota_cap ENABLE ROW LEVEL SECURITY;
CREATE POLICY quota_describe ON nagare.quota FOR SELECT
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE_CONFIGS')
         OR nagare._quota_entity_tenant(entity) = nagare._quota_role_tenant(current_user));
CREATE POLICY quota_set ON nagare.quota FOR INSERT
  WITH CHECK (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS')
              OR nagare._quota_tenant_admin_may(current_user, entity, key, value));
CREATE POLICY quota_change ON nagare.quota FOR UPDATE
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS')
         OR nagare._quota_tenant_admin_may(current_user, entity, key, NULL))
  WITH CHECK (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS')
              OR nagare._quota_tenant_admin_may(current_user, entity, key, value));
CREATE POLICY quota_remove ON nagare.quota FOR DELETE
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS')
         OR nagare._quota_tenant_admin_may(current_user, entity, key, NULL));
CREATE POLICY tenant_quota_cap_describe ON nagare.tenant_quota_cap FOR SELECT
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE_CONFIGS')
         OR tenant = nagare._quota_role_tenant(current_user));
CREATE POLICY tenant_quota_cap_set ON nagare.tenant_quota_cap FOR INSERT
  WITH CHECK (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS'));
CREATE POLICY tenant_quota_cap_change ON nagare.tenant_quota_cap FOR UPDATE
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS'));
CREATE POLICY tenant_quota_cap_remove ON nagare.tenant_quota_cap FOR DELETE
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS'));

CREATE FUNCTION nagare.set_quota(entity text, key text, value float8)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e nagare.quota_entity_parts;
BEGIN
  IF $2 IS NULL OR $3 IS NULL THEN
    RAISE EXCEPTION 'the key and value of a quota must not be null' USING ERRCODE = 'null_value_not_allowed',
      HINT = 'Remove a quota with nagare.remove_quota().';
  END IF;
  e := nagare._quota_entity($1, $2, $3);
  IF e.tenant IS NOT NULL AND NOT nagare._quota_tenant_exists(e.tenant) THEN
    RAISE EXCEPTION 'tenant "%" does not exist', e.tenant USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS') THEN
    PERFORM nagare._quota_tenant_authorize(current_user, e.entity, $2, $3);
  END IF;
  -- a new entity needs room in the shared copy (as its last sync counted it)
  IF NOT EXISTS (SELECT 1 FROM nagare.quota q WHERE q.entity = e.entity)
     AND (SELECT s.entries FROM nagare.quota_status() s)
         >= pg_catalog.current_setting('nagare.max_quotas')::integer THEN
    RAISE EXCEPTION 'too many client quotas: nagare.max_quotas is %',
                    pg_catalog.current_setting('nagare.max_quotas')
      USING ERRCODE = 'configuration_limit_exceeded',
            HINT = 'Remove quotas with nagare.remove_quota(), or raise nagare.max_quotas and restart the server.';
  END IF;
  INSERT INTO nagare.quota AS q (entity, key, value) VALUES (e.entity, $2, $3)
    ON CONFLICT ON CONSTRAINT quota_pkey
    DO UPDATE SET value = excluded.value, set_at = now(), set_by = current_user
    WHERE q.value IS DISTINCT FROM excluded.value;
END $$;
COMMENT ON FUNCTION nagare.set_quota(text, text, float8) IS
  'set a client quota: entity as kafka-configs shows it (''user=alice'', ''user=alice,client-id=app1'', ''client-id=<default>'', ''ip=10.0.0.1'', ''tenant=payments''), a Kafka quota key and its value';

CREATE FUNCTION nagare.remove_quota(entity text, key text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e nagare.quota_entity_parts;
BEGIN
  e := nagare._quota_entity($1);
  IF NOT nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS') THEN
    PERFORM nagare._quota_tenant_authorize(current_user, e.entity, $2, NULL);
  END IF;
  DELETE FROM nagare.quota q WHERE q.entity = e.entity AND q.key = $2;
  RETURN FOUND;
END $$;
COMMENT ON FUNCTION nagare.remove_quota(text, text) IS
  'remove a key of a client quota entity (returns false if it was not set); the next level of Kafka''s precedence applies';

CREATE FUNCTION nagare.set_tenant_quota_cap(tenant text, key text, value float8)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare.authorize('CLUSTER', 'kafka-cluster', 'ALTER_CONFIGS');
  IF $2 IS NULL THEN
    RAISE EXCEPTION 'the key of a tenant''s quota cap must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM nagare._quota_entity('tenant=' || $1, $2, $3);
  IF NOT nagare._quota_tenant_exists($1) THEN
    RAISE EXCEPTION 'tenant "%" does not exist', $1 USING ERRCODE = 'undefined_object';
  END IF;
  IF $3 IS NULL THEN
    DELETE FROM nagare.tenant_quota_cap c WHERE c.tenant = $1 AND c.key = $2;
  ELSE
    INSERT INTO nagare.tenant_quota_cap AS c (tenant, key, value) VALUES ($1, $2, $3)
      ON CONFLICT ON CONSTRAINT tenant_quota_cap_pkey
      DO UPDATE SET value = excluded.value, set_at = now(), set_by = current_user
      WHERE c.value IS DISTINCT FROM excluded.value;
  END IF;
END $$;
COMMENT ON FUNCTION nagare.set_tenant_quota_cap(text, text, float8) IS
  'cap a quota key of a tenant (null removes the cap): its admins may set that key on the tenant and its principals up to the cap, and the tenant''s principals share the cap where the tenant sets no value; platform only (ALTER_CONFIGS on the CLUSTER)';

-- what a tenant's drop leaves behind: its own quotas (caps cascade)
CREATE FUNCTION nagare._tenant_quotas_drop()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM nagare.quota q WHERE q.entity = 'tenant=' || OLD.name;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION nagare._tenant_quotas_drop() IS
  'internal: the trigger that removes a dropped tenant''s own quotas';
REVOKE EXECUTE ON FUNCTION nagare._tenant_quotas_drop() FROM PUBLIC;
CREATE TRIGGER tenant_quotas_drop AFTER DELETE ON nagare.tenant
  FOR EACH ROW EXECUTE FUNCTION nagare._tenant_quotas_drop();

-- Any change of the quotas, the caps or the principals of tenants reaches
-- the shared copy once its transaction commits.
CREATE FUNCTION nagare._quota_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'nagare_quota_changed'
LANGUAGE C;
COMMENT ON FUNCTION nagare._quota_changed() IS
  'internal: the trigger that has the nagare worker copy the quotas into shared memory once the change commits';
REVOKE EXECUTE ON FUNCTION nagare._quota_changed() FROM PUBLIC;
CREATE TRIGGER quota_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nagare.quota
  FOR EACH STATEMENT EXECUTE FUNCTION nagare._quota_changed();
CREATE TRIGGER tenant_quota_cap_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nagare.tenant_quota_cap
  FOR EACH STATEMENT EXECUTE FUNCTION nagare._quota_changed();
CREATE TRIGGER tenant_principal_quota_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nagare.tenant_principal
  FOR EACH STATEMENT EXECUTE FUNCTION nagare._quota_changed();

CREATE TRIGGER quota_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.quota
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();
CREATE TRIGGER tenant_quota_cap_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.tenant_quota_cap
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

CREATE VIEW nagare.quotas WITH (security_invoker = true) AS
SELECT q.entity, e.user_name, e.client_id, e.ip,
       coalesce(e.tenant, nagare._quota_entity_tenant(q.entity)) AS tenant,
       q.key, q.value, q.set_at, q.set_by
  FROM nagare.quota q, LATERAL nagare._quota_entity(q.entity) e;
COMMENT ON VIEW nagare.quotas IS
  'client quotas (shown to the platform, and to the principals of the entity''s tenant)';
GRANT SELECT ON nagare.quotas TO PUBLIC;

CREATE VIEW nagare.tenant_quotas WITH (security_invoker = true) AS
SELECT coalesce(c.tenant, substr(q.entity, 8)) AS tenant, coalesce(c.key, q.key) AS key,
       c.value AS cap, q.value AS value,
       CASE WHEN q.value IS NULL THEN c.value WHEN c.value IS NULL THEN q.value
            ELSE least(q.value, c.value) END AS tenant_limit
  FROM nagare.tenant_quota_cap c
  FULL JOIN (SELECT x.entity, x.key, x.value FROM nagare.quota x WHERE starts_with(x.entity, 'tenant=')) q
    ON q.entity = 'tenant=' || c.tenant AND q.key = c.key;
COMMENT ON VIEW nagare.tenant_quotas IS
  'per tenant and key: the platform''s cap, the tenant''s own value, and the limit its principals share (the value, at most the cap; else the cap)';
GRANT SELECT ON nagare.tenant_quotas TO PUBLIC;

CREATE FUNCTION nagare.effective_quota(user_name text, client_id text DEFAULT NULL,
    OUT key text, OUT value float8, OUT entity text, OUT by_user boolean,
    OUT by_client boolean, OUT tenant text, OUT tenant_limit float8,
    OUT tenant_limit_source text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'nagare_effective_quota'
LANGUAGE C STABLE;
COMMENT ON FUNCTION nagare.effective_quota(text, text) IS
  'the quotas that apply to a client (user without "User:", client id): per key the limit, the entity that set it (Kafka''s precedence), whether its budget is per user and/or per client id, and the limit of the user''s tenant';

CREATE FUNCTION nagare.quota_status(
    OUT loaded boolean, OUT entries integer, OUT overflow boolean, OUT version bigint,
    OUT changes bigint, OUT synced bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'nagare_quota_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.quota_status() IS
  'the shared copy of the quotas: loaded, entries, overflow, version, and the changes committed and synced (the view nagare.quota_status)';

CREATE VIEW nagare.quota_status AS SELECT * FROM nagare.quota_status();
COMMENT ON VIEW nagare.quota_status IS
  'the quotas as the broker and backends resolve them (the copy in shared memory); it shows every committed change once synced >= changes';
GRANT SELECT ON nagare.quota_status TO PUBLIC;

--
-- Service registry: the catalog.  A service is a name (a DNS label, since
-- discovery answers <name>.service.<domain>), the team that owns it (a
-- tenant; null: the platform's own), a description, a lifecycle
-- (experimental, production, deprecated), a tier (1 most critical to 4
-- least), links (repository, docs, runbook, dashboards: any name to an
-- http(s) URL) and endpoints (an absolute URL each, internal or public,
-- with the protocol and port derived from it).  Register and change them
-- with nagare.register_service(), alter_service(), retire_service(),
-- unretire_service(), set_service_endpoint() and drop_service_endpoint();
-- read them in nagare.services and nagare.service_endpoints (docs/registry.md).
--
-- Who may: everyone reads the catalog (the company's, as in Backstage);
-- the platform (ALTER on the CLUSTER, or superuser) manages every service
-- and chooses its tenant; a tenant's admins register, change and retire
-- the services of their own tenant and their endpoints (42501 otherwise,
-- with a hint naming who may).  One rule, nagare._service_may(), says it
-- for the functions and the row-level security.  Every change is an audit
-- row (object type SERVICE, or SERVICE_ENDPOINT "<service>/<endpoint>").
--
-- The rules of names and URLs live in nagare._service_label() and
-- nagare._service_url(); the BEFORE triggers apply them to every row,
-- however written, and derive an endpoint's protocol and port.
--
CREATE TABLE nagare.service (
    name         text PRIMARY KEY,
    tenant       text REFERENCES nagare.tenant,
    description  text,
    lifecycle    text NOT NULL DEFAULT 'experimental',
    tier         smallint,
    links        jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   name NOT NULL DEFAULT current_user,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
CREATE INDEX service_tenant_idx ON nagare.service (tenant);
COMMENT ON TABLE nagare.service IS
  'the service catalog, retired services included (retired_at set); change it with nagare.register_service(), alter_service(), retire_service() and unretire_service()';
COMMENT ON COLUMN nagare.service.tenant IS 'the owning team; null: the platform''s own';
COMMENT ON COLUMN nagare.service.lifecycle IS 'experimental, production or deprecated';
COMMENT ON COLUMN nagare.service.tier IS
  'how critical: 1 = most critical (an outage stops the business), 2 = important, 3 = degraded service is tolerated, 4 = least (internal tools, experiments); null = unknown';
COMMENT ON COLUMN nagare.service.links IS 'an object of link name to absolute http(s) URL: repository, docs, runbook, dashboards, any name';
SELECT pg_catalog.pg_extension_config_dump('nagare.service', '');

CREATE TABLE nagare.service_endpoint (
    service     text NOT NULL REFERENCES nagare.service ON DELETE CASCADE,
    name        text NOT NULL,
    url         text NOT NULL,
    visibility  text NOT NULL DEFAULT 'internal',
    protocol    text NOT NULL,
    port        integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT current_user,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, name)
);
COMMENT ON TABLE nagare.service_endpoint IS
  'the endpoints of services: an absolute URL, internal or public, its protocol and port; change them with nagare.set_service_endpoint() and drop_service_endpoint()';
SELECT pg_catalog.pg_extension_config_dump('nagare.service_endpoint', '');

-- A service's or endpoint's name: one DNS label, lower case.
CREATE FUNCTION nagare._service_label(label text, what text DEFAULT 'service')
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF $1 IS NULL THEN
    RAISE EXCEPTION 'a % name must not be null', $2 USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF $1 !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
    RAISE EXCEPTION 'invalid % name "%"', $2, $1 USING ERRCODE = 'invalid_name',
      HINT = CASE WHEN $2 = 'service' THEN 'A service' ELSE 'An ' || $2 END
             || ' name is a DNS label: 1 to 63 lower-case letters, digits and "-", not starting or ending with "-"'
             || CASE WHEN $2 = 'service' THEN ' (discovery answers <name>.service.<domain>).' ELSE '.' END;
  END IF;
  RETURN $1;
END $$;
COMMENT ON FUNCTION nagare._service_label(text, text) IS
  'internal: the name of a service (or, what => ''endpoint'', of an endpoint) if it is a DNS label, else 42602 with the rule; the catalog''s functions and triggers call it as their caller';

-- The URL schemes endpoints may use, with their default ports (null: the
-- URL must give one).
CREATE FUNCTION nagare._service_url_schemes(OUT scheme text, OUT default_port integer)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  VALUES ('http', 80), ('https', 443), ('grpc', NULL), ('grpcs', 443), ('ws', 80), ('wss', 443),
         ('tcp', NULL), ('udp', NULL), ('kafka', 9092), ('postgres', 5432), ('postgresql', 5432),
         ('mysql', 3306), ('redis', 6379), ('rediss', 6379), ('amqp', 5672), ('amqps', 5671),
         ('nats', 4222)
$$;
COMMENT ON FUNCTION nagare._service_url_schemes() IS
  'internal: the URL schemes of endpoints and their default ports (null: the URL must give a port); nagare._service_url() reads it';

-- An absolute URL, scheme://host[:port][/path][?query][#fragment]: a known
-- scheme (of schemes, if given), a host that is a DNS name, an IPv4 address
-- or an IPv6 address in brackets, no user information, a port from 1 to
-- 65535 (else the scheme's default), and nothing in the rest that must be
-- percent-encoded.  what names the URL in the messages.
CREATE FUNCTION nagare._service_url(url text, what text DEFAULT 'URL', schemes text[] DEFAULT NULL,
                                    OUT scheme text, OUT host text, OUT port integer)
RETURNS record
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  form CONSTANT text := 'Write an absolute URL, scheme://host[:port][/path], such as https://api.example.com/v1.';
  brackets CONSTANT text := 'An IPv6 address is written in brackets: http://[2001:db8::1]:8080/.';
  m text[];
  authority text;
  rest text;
  after_host text;
  default_port integer;
BEGIN
  IF url IS NULL OR url = '' THEN
    RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'invalid_parameter_value', HINT = form;
  END IF;
  IF length(url) > 2048 THEN
    RAISE EXCEPTION '% is longer than 2048 characters', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF url ~ '[^\x21-\x7e]' THEN
    RAISE EXCEPTION '% "%" contains a space, a control character or a non-ASCII character', what, url
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Percent-encode them (a space is %20).';
  END IF;
  m := regexp_match(url, '^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$');
  IF m IS NULL THEN
    RAISE EXCEPTION '% "%" is not absolute: it has no scheme://', what, url
      USING ERRCODE = 'invalid_parameter_value', HINT = form;
  END IF;
  scheme := lower(m[1]);
  rest := m[2];
  SELECT s.default_port INTO default_port FROM nagare._service_url_schemes() s
   WHERE s.scheme = _service_url.scheme AND (schemes IS NULL OR s.scheme = ANY (schemes));
  IF NOT FOUND THEN
    RAISE EXCEPTION '% "%" has an unknown scheme "%"', what, url, scheme
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Known schemes: ' || coalesce(array_to_string(schemes, ', '),
                                                 (SELECT string_agg(s.scheme, ', ') FROM nagare._service_url_schemes() s)) || '.';
  END IF;
  authority := substring(rest FROM '^[^/?#]*');
  rest := substr(rest, length(authority) + 1);
  IF strpos(authority, '@') > 0 THEN
    -- not quoted: what precedes the "@" may be a password
    RAISE EXCEPTION '% has user information ("...@" before the host)', what
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Credentials do not belong in the catalog: keep them in a secret store and register the URL without them.';
  END IF;
  IF starts_with(authority, '[') THEN
    m := regexp_match(authority, '^\[([^]]*)\](.*)$');
    IF m IS NULL THEN
      RAISE EXCEPTION '% "%" has "[" without "]"', what, url
        USING ERRCODE = 'invalid_parameter_value',
              HINT = brackets;
    END IF;
    host := m[1];
    after_host := m[2];
    BEGIN
      IF host !~ '^[0-9A-Fa-f:.]+$' OR strpos(host, ':') = 0 OR family(host::inet) <> 6 THEN
        RAISE invalid_text_representation;
      END IF;
    EXCEPTION WHEN invalid_text_representation THEN
      RAISE EXCEPTION '% "%": "%" is not an IPv6 address', what, url, host
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Between brackets comes an IPv6 address such as 2001:db8::1 (no zone, no prefix length).';
    END;
  ELSIF authority ~ ':.*:' THEN
    RAISE EXCEPTION '% "%" has more than one ":" in host and port', what, url
      USING ERRCODE = 'invalid_parameter_value',
            HINT = brackets;
  ELSE
    host := substring(authority FROM '^[^:]*');
    after_host := substr(authority, length(host) + 1);
    IF host = '' THEN
      RAISE EXCEPTION '% "%" has no host', what, url USING ERRCODE = 'invalid_parameter_value', HINT = form;
    END IF;
    IF host ~ '^[0-9.]+$' THEN
      IF host !~ '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$' THEN
        RAISE EXCEPTION '% "%": "%" is not an IPv4 address', what, url, host
          USING ERRCODE = 'invalid_parameter_value',
                HINT = 'An IPv4 address is four numbers from 0 to 255 separated by ".", such as 192.0.2.10.';
      END IF;
    ELSIF length(host) > 253
          OR host !~ '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$' THEN
      RAISE EXCEPTION '% "%": "%" is not a host name', what, url, host
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'A host is a DNS name (labels of 1 to 63 letters, digits and "-", not starting or ending with "-", joined by "."; 253 characters at most), an IPv4 address, or an IPv6 address in brackets.';
    END IF;
  END IF;
  IF after_host <> '' THEN
    IF after_host !~ '^:' THEN
      RAISE EXCEPTION '% "%" has "%" after the host', what, url, after_host
        USING ERRCODE = 'invalid_parameter_value', HINT = form;
    END IF;
    IF after_host ~ '^:[0-9]{1,5}$' THEN
      port := substr(after_host, 2)::integer;
    END IF;
    IF port IS NULL OR port NOT BETWEEN 1 AND 65535 THEN
      RAISE EXCEPTION '% "%" has an invalid port "%"', what, url, substr(after_host, 2)
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'A port is a number from 1 to 65535; leave it out for the scheme''s default.';
    END IF;
  ELSE
    port := default_port;
    IF port IS NULL THEN
      RAISE EXCEPTION '% "%" has no port, and % has no default port', what, url, scheme
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('Give the port: %s://%s:<port>.', scheme, authority);
    END IF;
  END IF;
  IF rest ~ '[^A-Za-z0-9._~!$&''()*+,;=:@/?#%-]' THEN
    RAISE EXCEPTION '% "%" has "%", which must be percent-encoded', what, url,
                    substring(rest FROM '[^A-Za-z0-9._~!$&''()*+,;=:@/?#%-]')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Percent-encode it as %XX (RFC 3986).';
  END IF;
  IF regexp_replace(rest, '%[0-9A-Fa-f]{2}', '', 'g') ~ '%' THEN
    RAISE EXCEPTION '% "%" has a "%%" not followed by two hexadecimal digits', what, url
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Write a "%" itself as %25.';
  END IF;
END $$;
COMMENT ON FUNCTION nagare._service_url(text, text, text[]) IS
  'internal: the scheme, host and port (given, else the scheme''s default) of an absolute URL, or 22023 saying what is wrong; the catalog''s triggers call it as their caller';

-- A service's links: an object of names to http(s) URLs.
CREATE FUNCTION nagare._service_links(links jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  l record;
BEGIN
  IF jsonb_typeof($1) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'links must be a JSON object, not %', coalesce(jsonb_typeof($1), 'null')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Write {"repository": "https://...", "runbook": "https://..."}.';
  END IF;
  FOR l IN SELECT * FROM jsonb_each($1) LOOP
    IF l.key = '' OR length(l.key) > 64 OR l.key ~ '[[:cntrl:]]' THEN
      RAISE EXCEPTION 'invalid link name "%"', l.key USING ERRCODE = 'invalid_parameter_value',
        HINT = 'A link name is 1 to 64 characters, such as "repository", "docs", "runbook" or "dashboard".';
    END IF;
    IF jsonb_typeof(l.value) <> 'string' THEN
      RAISE EXCEPTION 'link "%" must be a URL string, not %', l.key, jsonb_typeof(l.value)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM nagare._service_url(l.value #>> '{}', format('link "%s" URL', l.key), ARRAY['http', 'https']);
  END LOOP;
  RETURN $1;
END $$;
COMMENT ON FUNCTION nagare._service_links(jsonb) IS
  'internal: links if they are an object of names to absolute http(s) URLs, else 22023; the trigger of nagare.service calls it as its caller';

-- Ownership.  The tenant's-admin half reads nagare.tenant_principal, which
-- roles cannot; the rule whole is nagare._service_may().
CREATE FUNCTION nagare._service_admin_may(role name, tenant text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM nagare.tenant_principal p
                  WHERE p.role = $1 AND p.tenant = $2 AND p.is_admin)
$$;
COMMENT ON FUNCTION nagare._service_admin_may(name, text) IS
  'internal: whether a role is an admin of the tenant (so manages its services); nagare._service_may() asks it as the querying role';

CREATE FUNCTION nagare._service_may(tenant text)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER')
         OR nagare._service_admin_may(current_user, $1)
$$;
COMMENT ON FUNCTION nagare._service_may(text) IS
  'internal: whether current_user may manage the services of a tenant (null: the platform''s): the platform (ALTER on the CLUSTER) any, a tenant''s admins their tenant''s; the row-level security of the catalog and its functions ask it';

-- 42501 unless current_user may: action 'register' (tenant: the new
-- service's), 'change' (the service's) or 'move' (to tenant).
CREATE FUNCTION nagare._service_authorize(action text, service text, tenant text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  owner text := CASE WHEN $3 IS NULL THEN 'the platform' ELSE format('tenant "%s"', $3) END;
  hint text;
BEGIN
  IF nagare._service_may($3) THEN
    RETURN;
  END IF;
  hint := CASE
    WHEN $1 = 'move' THEN 'Moving a service to another tenant is the platform''s (ALTER on the CLUSTER, or a superuser).'
    WHEN $3 IS NULL THEN 'Services without a tenant are the platform''s: only the platform (ALTER on the CLUSTER, or a superuser) manages them; a tenant''s admins register services of their tenant (tenant => ''<tenant>'').'
    ELSE format('The admins of tenant "%s" and the platform (ALTER on the CLUSTER) manage its services; everyone else only reads them.', $3)
  END;
  IF $1 = 'register' THEN
    RAISE EXCEPTION 'permission denied to register service "%" for %', $2, owner
      USING ERRCODE = 'insufficient_privilege', HINT = hint;
  ELSIF $1 = 'move' THEN
    RAISE EXCEPTION 'permission denied to move service "%" to %', $2, owner
      USING ERRCODE = 'insufficient_privilege', HINT = hint;
  END IF;
  RAISE EXCEPTION 'permission denied to change service "%" of %', $2, owner
    USING ERRCODE = 'insufficient_privilege', HINT = hint;
END $$;
COMMENT ON FUNCTION nagare._service_authorize(text, text, text) IS
  'internal: raise 42501, naming who may, unless current_user may register (''register''), change (''change'') or move a service to (''move'') the tenant; the catalog''s functions call it as their caller';

-- Everyone reads the catalog; the functions change it with the caller's
-- rights, which row-level security holds to nagare._service_may().
-- Superusers bypass it.  An endpoint is its service's: a retired service
-- takes no new or changed endpoint.
REVOKE ALL ON nagare.service, nagare.service_endpoint FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON nagare.service TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON nagare.service_endpoint TO PUBLIC;
ALTER TABLE nagare.service ENABLE ROW LEVEL SECURITY;
ALTER TABLE nagare.service_endpoint ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_read ON nagare.service FOR SELECT USING (true);
CREATE POLICY service_register ON nagare.service FOR INSERT
  WITH CHECK (nagare._service_may(tenant));
CREATE POLICY service_change ON nagare.service FOR UPDATE
  USING (nagare._service_may(tenant)) WITH CHECK (nagare._service_may(tenant));
CREATE POLICY service_endpoint_read ON nagare.service_endpoint FOR SELECT USING (true);
CREATE POLICY service_endpoint_set ON nagare.service_endpoint FOR INSERT
  WITH CHECK (EXISTS (SELECT 1 FROM nagare.service s
                       WHERE s.name = service AND s.retired_at IS NULL AND nagare._service_may(s.tenant)));
CREATE POLICY service_endpoint_change ON nagare.service_endpoint FOR UPDATE
  USING (EXISTS (SELECT 1 FROM nagare.service s WHERE s.name = service AND nagare._service_may(s.tenant)))
  WITH CHECK (EXISTS (SELECT 1 FROM nagare.service s
                       WHERE s.name = service AND s.retired_at IS NULL AND nagare._service_may(s.tenant)));
CREATE POLICY service_endpoint_drop ON nagare.service_endpoint FOR DELETE
  USING (EXISTS (SELECT 1 FROM nagare.service s WHERE s.name = service AND nagare._service_may(s.tenant)));

-- Every row, however written, follows the rules; an update keeps who
-- created it and when, and stamps changed_at.  (Inserts keep what they
-- are given, so that pg_restore brings back the rows as they were.)
CREATE FUNCTION nagare._service_row()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare._service_label(NEW.name);
  IF NEW.lifecycle IS NULL OR NEW.lifecycle NOT IN ('experimental', 'production', 'deprecated') THEN
    RAISE EXCEPTION 'invalid lifecycle "%" of service "%"', NEW.lifecycle, NEW.name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A lifecycle is experimental, production or deprecated (retire_service() takes a service out of the catalog''s views).';
  END IF;
  IF NEW.tier NOT BETWEEN 1 AND 4 THEN
    RAISE EXCEPTION 'invalid tier % of service "%"', NEW.tier, NEW.name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A tier is 1 (most critical) to 4 (least), or null (unknown).';
  END IF;
  NEW.links := nagare._service_links(coalesce(NEW.links, '{}'));
  IF TG_OP = 'UPDATE' THEN
    IF NEW.name <> OLD.name THEN
      RAISE EXCEPTION 'service "%" cannot be renamed', OLD.name USING ERRCODE = 'feature_not_supported',
        HINT = 'Its name is how it is found: register the new name and retire the old one.';
    END IF;
    NEW.created_at := OLD.created_at;
    NEW.created_by := OLD.created_by;
    NEW.changed_at := now();
  END IF;
  RETURN NEW;
END $$;
COMMENT ON FUNCTION nagare._service_row() IS
  'internal: the trigger that checks each row of nagare.service (name, lifecycle, tier, links) and stamps changes';
REVOKE EXECUTE ON FUNCTION nagare._service_row() FROM PUBLIC;
CREATE TRIGGER service_row BEFORE INSERT OR UPDATE ON nagare.service
  FOR EACH ROW EXECUTE FUNCTION nagare._service_row();

CREATE FUNCTION nagare._service_endpoint_row()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  u record;
BEGIN
  PERFORM nagare._service_label(NEW.name, 'endpoint');
  u := nagare._service_url(NEW.url, format('endpoint "%s" URL', NEW.name));
  IF NEW.visibility IS NULL OR NEW.visibility NOT IN ('internal', 'public') THEN
    RAISE EXCEPTION 'invalid visibility "%" of endpoint "%"', NEW.visibility, NEW.name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'An endpoint is internal (reached inside the company''s networks) or public (from the internet).';
  END IF;
  NEW.protocol := coalesce(NEW.protocol, u.scheme);
  IF NEW.protocol !~ '^[a-z][a-z0-9+.-]{0,31}$' THEN
    RAISE EXCEPTION 'invalid protocol "%" of endpoint "%"', NEW.protocol, NEW.name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A protocol is 1 to 32 lower-case letters, digits, "+", "." and "-", starting with a letter (such as http, grpc, graphql); null takes the URL''s scheme.';
  END IF;
  NEW.port := u.port;
  IF TG_OP = 'UPDATE' THEN
    IF (NEW.service, NEW.name) <> (OLD.service, OLD.name) THEN
      RAISE EXCEPTION 'endpoint "%" of service "%" cannot be renamed', OLD.name, OLD.service
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Set the new endpoint and drop the old one.';
    END IF;
    NEW.created_at := OLD.created_at;
    NEW.created_by := OLD.created_by;
    NEW.changed_at := now();
  END IF;
  RETURN NEW;
END $$;
COMMENT ON FUNCTION nagare._service_endpoint_row() IS
  'internal: the trigger that checks each row of nagare.service_endpoint (name, URL, visibility, protocol), derives its protocol and port, and stamps changes';
REVOKE EXECUTE ON FUNCTION nagare._service_endpoint_row() FROM PUBLIC;
CREATE TRIGGER service_endpoint_row BEFORE INSERT OR UPDATE ON nagare.service_endpoint
  FOR EACH ROW EXECUTE FUNCTION nagare._service_endpoint_row();

CREATE TRIGGER service_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.service
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();
CREATE TRIGGER service_endpoint_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.service_endpoint
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

-- A service as the functions find it: its row, or 42704.
CREATE FUNCTION nagare._service_get(service text)
RETURNS nagare.service
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  SELECT * INTO s FROM nagare.service x WHERE x.name = $1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'service "%" does not exist', $1 USING ERRCODE = 'undefined_object',
      HINT = 'nagare.services lists the services; nagare.register_service() registers one.';
  END IF;
  RETURN s;
END $$;
COMMENT ON FUNCTION nagare._service_get(text) IS
  'internal: the row of a service, or 42704; the catalog''s functions call it as their caller';

-- 55000 if service s is retired: it takes no new what
CREATE FUNCTION nagare._service_live(s nagare.service, what text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF s.retired_at IS NOT NULL THEN
    RAISE EXCEPTION 'service "%" is retired', s.name USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = format('A retired service takes no new %s; nagare.unretire_service() brings it back.', what);
  END IF;
END $$;
COMMENT ON FUNCTION nagare._service_live(nagare.service, text) IS
  'internal: raise 55000 if the service is retired (it takes no new endpoint, identity, instance, declared dependency or SLO)';

CREATE FUNCTION nagare.register_service(name text, tenant text DEFAULT NULL,
                                        description text DEFAULT NULL,
                                        lifecycle text DEFAULT 'experimental',
                                        tier integer DEFAULT NULL, links jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  retired timestamptz;
BEGIN
  PERFORM nagare._service_label($1);
  IF $2 IS NOT NULL AND NOT nagare._quota_tenant_exists($2) THEN
    RAISE EXCEPTION 'tenant "%" does not exist', $2 USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM nagare._service_authorize('register', $1, $2);
  SELECT s.retired_at INTO retired FROM nagare.service s WHERE s.name = $1;
  IF FOUND THEN
    RAISE EXCEPTION 'service "%" already exists', $1 USING ERRCODE = 'duplicate_object',
      HINT = CASE WHEN retired IS NULL THEN 'Change it with nagare.alter_service().'
                  ELSE format('It was retired at %s; nagare.unretire_service() brings it back.', retired) END;
  END IF;
  INSERT INTO nagare.service (name, tenant, description, lifecycle, tier, links)
  VALUES ($1, $2, nullif($3, ''), $4, $5, coalesce($6, '{}'));
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'service "%" already exists', $1 USING ERRCODE = 'duplicate_object',
    HINT = 'Change it with nagare.alter_service().';
END $$;
COMMENT ON FUNCTION nagare.register_service(text, text, text, text, integer, jsonb) IS
  'register a service: a DNS-label name, its tenant (null: the platform''s), description, lifecycle (experimental, production, deprecated), tier (1 most critical to 4) and links ({"runbook": "https://..."}); the platform, or an admin of the tenant';

CREATE FUNCTION nagare.alter_service(name text, tenant text DEFAULT NULL,
                                     description text DEFAULT NULL, lifecycle text DEFAULT NULL,
                                     tier integer DEFAULT NULL, links jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
  new_tenant text;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  new_tenant := CASE WHEN $2 IS NULL THEN s.tenant ELSE nullif($2, '') END;
  IF new_tenant IS DISTINCT FROM s.tenant THEN
    IF new_tenant IS NOT NULL AND NOT nagare._quota_tenant_exists(new_tenant) THEN
      RAISE EXCEPTION 'tenant "%" does not exist', new_tenant USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM nagare._service_authorize('move', $1, new_tenant);
  END IF;
  IF $6 IS NOT NULL AND jsonb_typeof($6) <> 'object' THEN
    PERFORM nagare._service_links($6);  -- says what is wrong
  END IF;
  UPDATE nagare.service x
     SET tenant = new_tenant,
         description = CASE WHEN $3 IS NULL THEN x.description ELSE nullif($3, '') END,
         lifecycle = coalesce($4, x.lifecycle),
         tier = CASE WHEN $5 IS NULL THEN x.tier ELSE nullif($5, 0) END,
         links = CASE WHEN $6 IS NULL THEN x.links ELSE jsonb_strip_nulls(x.links || $6) END
   WHERE x.name = $1
     AND (x.tenant, x.description, x.lifecycle, x.tier, x.links)
         IS DISTINCT FROM
         (new_tenant, CASE WHEN $3 IS NULL THEN x.description ELSE nullif($3, '') END,
          coalesce($4, x.lifecycle), CASE WHEN $5 IS NULL THEN x.tier ELSE nullif($5, 0) END,
          CASE WHEN $6 IS NULL THEN x.links ELSE jsonb_strip_nulls(x.links || $6) END);
END $$;
COMMENT ON FUNCTION nagare.alter_service(text, text, text, text, integer, jsonb) IS
  'change a service: only the arguments given change; description => '''' and tier => 0 clear them, links is a patch (a link set to null is removed), tenant => another tenant (or '''' for the platform''s) moves it, which is the platform''s';

CREATE FUNCTION nagare.retire_service(name text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  IF s.retired_at IS NOT NULL THEN
    RAISE EXCEPTION 'service "%" is already retired', $1 USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = format('It was retired at %s.', s.retired_at);
  END IF;
  UPDATE nagare.service x SET retired_at = now() WHERE x.name = $1;
END $$;
COMMENT ON FUNCTION nagare.retire_service(text) IS
  'retire a service: its row and endpoints stay (nagare.service) but leave nagare.services and nagare.service_endpoints, and it takes no new endpoint; nagare.unretire_service() brings it back';

CREATE FUNCTION nagare.unretire_service(name text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  IF s.retired_at IS NULL THEN
    RAISE EXCEPTION 'service "%" is not retired', $1 USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE nagare.service x SET retired_at = NULL WHERE x.name = $1;
END $$;
COMMENT ON FUNCTION nagare.unretire_service(text) IS
  'bring a retired service back into the catalog''s views, with its endpoints';

CREATE FUNCTION nagare.set_service_endpoint(service text, name text, url text,
                                            visibility text DEFAULT 'internal',
                                            protocol text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_label($2, 'endpoint');
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  -- locked until this transaction ends: a retirement committed meanwhile is
  -- seen here, one that comes later waits for this endpoint
  SELECT x.retired_at INTO s.retired_at FROM nagare.service x WHERE x.name = $1 FOR SHARE;
  PERFORM nagare._service_live(s, 'or changed endpoint');
  INSERT INTO nagare.service_endpoint AS e (service, name, url, visibility, protocol)
  VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT ON CONSTRAINT service_endpoint_pkey
    DO UPDATE SET url = excluded.url, visibility = excluded.visibility, protocol = excluded.protocol
    WHERE (e.url, e.visibility, e.protocol) IS DISTINCT FROM (excluded.url, excluded.visibility, excluded.protocol);
END $$;
COMMENT ON FUNCTION nagare.set_service_endpoint(text, text, text, text, text) IS
  'add or replace an endpoint of a service: an absolute URL (scheme://host[:port][/path]), internal or public, and its protocol (null: the URL''s scheme); the port is the URL''s or the scheme''s default';

CREATE FUNCTION nagare.drop_service_endpoint(service text, name text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  DELETE FROM nagare.service_endpoint e WHERE e.service = $1 AND e.name = $2;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'service "%" has no endpoint "%"', $1, $2 USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION nagare.drop_service_endpoint(text, text) IS
  'remove an endpoint of a service';

CREATE VIEW nagare.services WITH (security_invoker = true) AS
SELECT s.name AS service, s.tenant, s.description, s.lifecycle, s.tier, s.links,
       coalesce((SELECT jsonb_object_agg(e.name, jsonb_build_object('url', e.url, 'visibility', e.visibility,
                                                                    'protocol', e.protocol, 'port', e.port))
                   FROM nagare.service_endpoint e WHERE e.service = s.name), '{}') AS endpoints,
       s.created_at, s.created_by, s.changed_at
  FROM nagare.service s
 WHERE s.retired_at IS NULL;
COMMENT ON VIEW nagare.services IS
  'the services that are not retired: owning tenant (null: the platform''s), description, lifecycle, tier, links, and endpoints as {"<name>": {"url", "visibility", "protocol", "port"}}; readable by every role';
GRANT SELECT ON nagare.services TO PUBLIC;

CREATE VIEW nagare.service_endpoints WITH (security_invoker = true) AS
SELECT e.service, e.name AS endpoint, e.url, e.visibility, e.protocol, e.port, s.tenant,
       e.created_at, e.created_by, e.changed_at
  FROM nagare.service_endpoint e JOIN nagare.service s ON s.name = e.service
 WHERE s.retired_at IS NULL;
COMMENT ON VIEW nagare.service_endpoints IS
  'the endpoints of services that are not retired, one row each; readable by every role';
GRANT SELECT ON nagare.service_endpoints TO PUBLIC;


-- Service registry: identities.  Which clients are a service's own, so
-- that what nagare sees them do (nagare.client_usage, the dependency graph,
-- a service's SLIs) is the service's: Kafka clients by their principal and
-- client.id, SQL callers (send(), publish(), consume()) by User:<role> and
-- application_name -- the source, principal and client_id of
-- nagare.client_usage.  A declaration is a source, a principal and a
-- client_id, either of the last two a pattern where * stands for any run of
-- characters (client_id '*', the default: any).  nagare.service_of() finds
-- a client's service: of the declarations that match it, the one with an
-- exact principal before a pattern, then the longer principal, then an
-- exact client_id, then the longer client_id (ties: the first service by
-- name); none: null, which the readers show as "unknown".  Each
-- declaration is one service's (the primary key).  The platform declares
-- any; a tenant's admins declare, for their tenant's services, the exact
-- principals (User:<role>) of their tenant's roles, with any client_id.
-- Every change is an audit row (object type SERVICE_IDENTITY, named
-- "<service>/<source>/<principal>/<client_id>").
CREATE TABLE nagare.service_identity (
    service     text NOT NULL REFERENCES nagare.service ON DELETE CASCADE,
    source      text NOT NULL,
    principal   text NOT NULL,
    client_id   text NOT NULL DEFAULT '*',
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT current_user,
    PRIMARY KEY (source, principal, client_id),
    CONSTRAINT service_identity_source CHECK (source IN ('kafka', 'sql')),
    CONSTRAINT service_identity_principal
      CHECK (principal ~ '^[A-Za-z]+:.' AND length(principal) <= 255
             AND (source = 'kafka' OR principal LIKE 'User:%')),
    CONSTRAINT service_identity_client_id CHECK (client_id <> '' AND length(client_id) <= 255)
);
CREATE INDEX service_identity_service_idx ON nagare.service_identity (service);
COMMENT ON TABLE nagare.service_identity IS
  'which clients are a service''s own: source (kafka or sql), principal and client_id (client.id or application_name), either a pattern where * is any run of characters; change them with nagare.set_service_identity() and drop_service_identity()';
SELECT pg_catalog.pg_extension_config_dump('nagare.service_identity', '');

-- A pattern of * as a LIKE pattern (\ escapes)
CREATE FUNCTION nagare._glob_like(pattern text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT replace(regexp_replace($1, '([\\%_])', '\\\1', 'g'), '*', '%')
$$;
COMMENT ON FUNCTION nagare._glob_like(text) IS
  'internal: a pattern where * is any run of characters, as a LIKE pattern';

CREATE FUNCTION nagare.service_of(source text, principal text, client_id text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT i.service
    FROM nagare.service_identity i JOIN nagare.service s ON s.name = i.service
   WHERE i.source = $1 AND s.retired_at IS NULL
     AND $2 LIKE nagare._glob_like(i.principal)
     AND coalesce($3, '') LIKE nagare._glob_like(i.client_id)
   ORDER BY strpos(i.principal, '*') = 0 DESC, length(replace(i.principal, '*', '')) DESC,
            strpos(i.client_id, '*') = 0 DESC, length(replace(i.client_id, '*', '')) DESC,
            i.service
   LIMIT 1
$$;
COMMENT ON FUNCTION nagare.service_of(text, text, text) IS
  'the service a client is (source kafka or sql, principal, client.id or application_name): of the declarations of nagare.service_identity that match, an exact principal before a pattern, then the longer principal, then an exact client_id, then the longer one; null if none matches';

-- Whether current_user may declare principal as one of service s's
-- identities: the platform any; the tenant's admins their tenant's roles'
-- exact principals (42501 otherwise, naming who may)
CREATE FUNCTION nagare._service_identity_authorize(s nagare.service, principal text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare._service_authorize('change', s.name, s.tenant);
  IF nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER') THEN
    RETURN;
  END IF;
  IF strpos($2, '*') > 0 OR $2 NOT LIKE 'User:%'
     OR nagare._quota_role_tenant(substr($2, 6)::name) IS DISTINCT FROM s.tenant THEN
    RAISE EXCEPTION 'permission denied to declare "%" an identity of service "%"', $2, s.name
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('The admins of tenant "%s" declare the principals of its own roles (User:<role>, no pattern); the platform (ALTER on the CLUSTER) declares any.', s.tenant);
  END IF;
END $$;
COMMENT ON FUNCTION nagare._service_identity_authorize(nagare.service, text) IS
  'internal: raise 42501 unless current_user may declare the principal an identity of the service';

CREATE FUNCTION nagare.set_service_identity(service text, principal text, client_id text DEFAULT '*',
                                            source text DEFAULT 'kafka')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
  other text;
BEGIN
  s := nagare._service_get($1);
  IF $4 IS NULL OR $4 NOT IN ('kafka', 'sql') THEN
    RAISE EXCEPTION 'invalid source "%"', $4 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'The source is ''kafka'' (a Kafka client: its principal and client.id) or ''sql'' (a SQL caller: User:<role> and application_name).';
  END IF;
  IF $2 IS NULL OR $2 !~ '^[A-Za-z]+:.' OR length($2) > 255 OR ($4 = 'sql' AND $2 NOT LIKE 'User:%') THEN
    RAISE EXCEPTION 'invalid principal "%"', $2 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A principal is <type>:<name> (User:alice), at most 255 bytes, where * stands for any run of characters; a SQL caller''s is User:<role>.';
  END IF;
  IF $3 IS NULL OR $3 = '' OR length($3) > 255 THEN
    RAISE EXCEPTION 'invalid client_id "%"', $3 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A client_id is a client.id (or application_name) or a pattern where * stands for any run of characters, at most 255 bytes; ''*'' matches every one.';
  END IF;
  PERFORM nagare._service_identity_authorize(s, $2);
  PERFORM nagare._service_live(s, 'identity');
  SELECT i.service INTO other FROM nagare.service_identity i
   WHERE i.source = $4 AND i.principal = $2 AND i.client_id = $3;
  IF other = $1 THEN
    RETURN;
  ELSIF other IS NOT NULL THEN
    RAISE EXCEPTION '% client % with client_id % is already an identity of service "%"', $4, $2, $3, other
      USING ERRCODE = 'unique_violation',
            HINT = 'An identity is one service''s: drop it there first (nagare.drop_service_identity()), or declare a narrower client_id.';
  END IF;
  INSERT INTO nagare.service_identity (service, source, principal, client_id) VALUES ($1, $4, $2, $3);
END $$;
COMMENT ON FUNCTION nagare.set_service_identity(text, text, text, text) IS
  'declare a client a service''s own: a Kafka principal (source ''kafka'') or User:<role> (''sql''), and a client.id or application_name (''*'': any); either may be a pattern where * is any run of characters';

CREATE FUNCTION nagare.drop_service_identity(service text, principal text, client_id text DEFAULT '*',
                                             source text DEFAULT 'kafka')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  DELETE FROM nagare.service_identity i
   WHERE i.service = $1 AND i.source = $4 AND i.principal = $2 AND i.client_id = $3;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'service "%" has no identity % client % with client_id %', $1, $4, $2, $3
      USING ERRCODE = 'undefined_object', HINT = 'nagare.service_identities lists them.';
  END IF;
END $$;
COMMENT ON FUNCTION nagare.drop_service_identity(text, text, text, text) IS
  'remove a declaration of nagare.set_service_identity()';

REVOKE ALL ON nagare.service_identity FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON nagare.service_identity TO PUBLIC;
ALTER TABLE nagare.service_identity ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_identity_read ON nagare.service_identity FOR SELECT USING (true);
CREATE POLICY service_identity_set ON nagare.service_identity FOR INSERT
  WITH CHECK (EXISTS (SELECT 1 FROM nagare.service s
                       WHERE s.name = service AND s.retired_at IS NULL AND nagare._service_may(s.tenant))
              AND (nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER')
                   OR (strpos(principal, '*') = 0 AND principal LIKE 'User:%'
                       AND nagare._quota_role_tenant(substr(principal, 6)::name)
                           = (SELECT s.tenant FROM nagare.service s WHERE s.name = service))));
CREATE POLICY service_identity_drop ON nagare.service_identity FOR DELETE
  USING (EXISTS (SELECT 1 FROM nagare.service s WHERE s.name = service AND nagare._service_may(s.tenant)));
CREATE TRIGGER service_identity_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.service_identity
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

CREATE VIEW nagare.service_identities WITH (security_invoker = true) AS
SELECT i.service, s.tenant, i.source, i.principal, i.client_id, i.created_at, i.created_by
  FROM nagare.service_identity i JOIN nagare.service s ON s.name = i.service
 WHERE s.retired_at IS NULL;
COMMENT ON VIEW nagare.service_identities IS
  'the clients each service that is not retired declared its own (nagare.set_service_identity()); readable by every role';
GRANT SELECT ON nagare.service_identities TO PUBLIC;

-- Dependencies (docs/registry.md, "Dependencies").  What nagare sees
-- clients do: the broker (Kafka Produce and Fetch) and the SQL callers of
-- send(), send_batch(), publish() and consume() count records and bytes
-- per edge -- a client (source, tenant, principal, client_id), a topic, a
-- kind (produce, publish, consume) and, for consume, the consumer group --
-- in shared memory (src/deps); the nagare worker adds them here every
-- nagare.dependency_flush_interval (src/worker/depsflush.c), with the
-- records and bytes per second over the last minute.  A client is its
-- service by nagare.service_of(), or 'unknown'.  Services declare the
-- edges they mean to have (nagare.declare_dependency()); the views
-- compare the two.  The wall: the platform (DESCRIBE on the CLUSTER) sees
-- every observed edge; a role, the edges of its own principal and of the
-- clients of its tenant.
CREATE TABLE nagare.observed_dependency (
    source          text NOT NULL CHECK (source IN ('kafka', 'sql', 'overflow')),
    tenant          text NOT NULL,
    principal       text NOT NULL,
    client_id       text NOT NULL,
    topic           text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('produce', 'publish', 'consume')),
    group_id        text NOT NULL DEFAULT '',
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    records         bigint NOT NULL DEFAULT 0,
    bytes           bigint NOT NULL DEFAULT 0,
    records_per_sec double precision NOT NULL DEFAULT 0,
    bytes_per_sec   double precision NOT NULL DEFAULT 0,
    flushed_at      timestamptz NOT NULL,
    PRIMARY KEY (source, tenant, principal, client_id, topic, kind, group_id)
);
COMMENT ON TABLE nagare.observed_dependency IS
  'the dependency edges nagare saw, one row per client (source, tenant, principal, client_id), topic, kind and consumer group: totals since first seen, rates over the last minute; written by the nagare worker, read through nagare.observed_dependencies';
REVOKE ALL ON nagare.observed_dependency FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('nagare.observed_dependency', '');

CREATE TABLE nagare.declared_dependency (
    service     text NOT NULL REFERENCES nagare.service ON DELETE CASCADE,
    topic       text NOT NULL CHECK (topic <> '' AND length(topic) <= 249),
    kind        text NOT NULL CHECK (kind IN ('produce', 'publish', 'consume')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name NOT NULL DEFAULT current_user,
    PRIMARY KEY (service, topic, kind)
);
COMMENT ON TABLE nagare.declared_dependency IS
  'the topics each service says it produces, publishes or consumes; change with nagare.declare_dependency() and drop_declared_dependency()';
SELECT pg_catalog.pg_extension_config_dump('nagare.declared_dependency', '');

CREATE FUNCTION nagare._dependency_kind(kind text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF $1 IS NULL OR $1 NOT IN ('produce', 'publish', 'consume') THEN
    RAISE EXCEPTION 'invalid dependency kind "%"', $1 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A service declares that it ''produce''s (Kafka Produce, send()), ''publish''es (publish()) or ''consume''s (Kafka Fetch, consume()) a topic.';
  END IF;
END $$;
COMMENT ON FUNCTION nagare._dependency_kind(text) IS
  'internal: raise 22023 unless the kind is produce, publish or consume';

CREATE FUNCTION nagare.declare_dependency(service text, topic text, kind text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._dependency_kind($3);
  IF $2 IS NULL OR $2 = '' OR length($2) > 249 THEN
    RAISE EXCEPTION 'invalid topic name "%"', $2 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A topic name is 1 to 249 characters; the topic need not exist yet.';
  END IF;
  PERFORM nagare._service_authorize('change', s.name, s.tenant);
  PERFORM nagare._service_live(s, 'declared dependency');
  INSERT INTO nagare.declared_dependency (service, topic, kind) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING;
END $$;
COMMENT ON FUNCTION nagare.declare_dependency(text, text, text) IS
  'declare that a service produces, publishes or consumes a topic (kind ''produce'', ''publish'' or ''consume''); nagare.undeclared_dependencies and unobserved_dependencies compare declarations with traffic';

CREATE FUNCTION nagare.drop_declared_dependency(service text, topic text, kind text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  DELETE FROM nagare.declared_dependency d
   WHERE d.service = $1 AND d.topic = $2 AND d.kind = $3;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'service "%" declared no % of topic "%"', $1, $3, $2
      USING ERRCODE = 'undefined_object', HINT = 'nagare.declared_dependencies lists them.';
  END IF;
END $$;
COMMENT ON FUNCTION nagare.drop_declared_dependency(text, text, text) IS
  'remove a declaration of nagare.declare_dependency()';

REVOKE ALL ON nagare.declared_dependency FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON nagare.declared_dependency TO PUBLIC;
ALTER TABLE nagare.declared_dependency ENABLE ROW LEVEL SECURITY;
CREATE POLICY declared_dependency_read ON nagare.declared_dependency FOR SELECT USING (true);
CREATE POLICY declared_dependency_set ON nagare.declared_dependency FOR INSERT
  WITH CHECK (EXISTS (SELECT 1 FROM nagare.service s
                       WHERE s.name = service AND s.retired_at IS NULL AND nagare._service_may(s.tenant)));
CREATE POLICY declared_dependency_drop ON nagare.declared_dependency FOR DELETE
  USING (EXISTS (SELECT 1 FROM nagare.service s WHERE s.name = service AND nagare._service_may(s.tenant)));
CREATE TRIGGER declared_dependency_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.declared_dependency
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

CREATE VIEW nagare.declared_dependencies WITH (security_invoker = true) AS
SELECT d.service, s.tenant, d.kind, d.topic, d.created_at, d.created_by
  FROM nagare.declared_dependency d JOIN nagare.service s ON s.name = d.service
 WHERE s.retired_at IS NULL;
COMMENT ON VIEW nagare.declared_dependencies IS
  'the topics each service that is not retired declared it produces, publishes or consumes (nagare.declare_dependency()); readable by every role';
GRANT SELECT ON nagare.declared_dependencies TO PUBLIC;

-- The wall of observed edges: the platform, the client's own role, its tenant's roles
CREATE FUNCTION nagare._dependency_visible(tenant text, principal text)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
         OR $2 = 'User:' || current_user
         OR ($1 <> '' AND $1 = nagare._quota_role_tenant(current_user))
$$;
COMMENT ON FUNCTION nagare._dependency_visible(text, text) IS
  'internal: whether current_user sees an observed edge of a client of this tenant and principal: the platform (DESCRIBE on the CLUSTER) all, a role its own and its tenant''s';

-- the owner's view (not security_invoker): the table is not PUBLIC's, the wall is in the
-- WHERE; a security barrier, so that no caller's function sees a row before the wall
CREATE VIEW nagare.observed_dependencies WITH (security_barrier = true) AS
SELECT coalesce(nagare.service_of(o.source, o.principal, o.client_id), 'unknown') AS service,
       o.source, o.tenant, o.principal, o.client_id, o.kind, o.topic, o.group_id,
       o.first_seen, o.last_seen, o.records, o.bytes, o.records_per_sec, o.bytes_per_sec,
       o.last_seen < now() - current_setting('nagare.dependency_quiet_after')::interval AS quiet
  FROM nagare.observed_dependency o
 WHERE nagare._dependency_visible(o.tenant, o.principal);
COMMENT ON VIEW nagare.observed_dependencies IS
  'the dependency edges nagare saw, per client (service: nagare.service_of() or ''unknown''; source ''overflow'': edges beyond nagare.max_dependency_edges), with totals, records and bytes per second over the last minute, and quiet (no traffic for nagare.dependency_quiet_after); the platform sees all, a role its own clients'' and its tenant''s';
GRANT SELECT ON nagare.observed_dependencies TO PUBLIC;

-- Service-level edges: the observed ones by service, and table topics
-- (the service of the table's owner, as a SQL client, produces the topic)
CREATE VIEW nagare.dependencies WITH (security_barrier = true) AS
SELECT o.service, o.kind, o.topic, o.group_id,
       min(o.first_seen) AS first_seen, max(o.last_seen) AS last_seen,
       sum(o.records)::bigint AS records, sum(o.bytes)::bigint AS bytes,
       sum(o.records_per_sec) AS records_per_sec, sum(o.bytes_per_sec) AS bytes_per_sec,
       bool_and(o.quiet) AS quiet
  FROM nagare.observed_dependencies o
 WHERE o.source <> 'overflow'
 GROUP BY o.service, o.kind, o.topic, o.group_id
UNION ALL
SELECT coalesce(nagare.service_of('sql', 'User:' || r.rolname, ''), 'unknown'), 'table',
       t.topic, '', t.created_at, NULL, NULL, NULL, NULL, NULL, false
  FROM nagare.table_topic t
  JOIN pg_catalog.pg_class c ON c.oid = t.relid
  JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
 WHERE nagare._dependency_visible(coalesce(nagare._quota_role_tenant(r.rolname), ''),
                                  'User:' || r.rolname);
COMMENT ON VIEW nagare.dependencies IS
  'the dependency graph by service: kind produce, publish or consume (with its consumer group) of a topic as observed, and table (the service of a table topic''s table owner produces the topic); first and last seen, totals, rates per second over the last minute, quiet; under the wall of nagare.observed_dependencies';
GRANT SELECT ON nagare.dependencies TO PUBLIC;

CREATE FUNCTION nagare.consumers_of(service text)
RETURNS TABLE (topic text, consumer text, group_id text, first_seen timestamptz,
               last_seen timestamptz, records_per_sec double precision, quiet boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.topic, c.service, c.group_id, c.first_seen, c.last_seen, c.records_per_sec, c.quiet
    FROM nagare.dependencies c
   WHERE c.kind = 'consume'
     AND c.topic IN (SELECT p.topic FROM nagare.dependencies p
                      WHERE p.service = $1 AND p.kind IN ('produce', 'publish', 'table'))
   ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION nagare.consumers_of(text) IS
  'who consumes the topics a service produces, publishes or feeds from a table: topic, consuming service (or ''unknown''), group, seen, rate, quiet';

CREATE FUNCTION nagare.depends_on(service text)
RETURNS TABLE (depends_on text, depth integer, topic text, path text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE edge AS (
    SELECT DISTINCT c.service AS consumer, p.service AS producer, c.topic
      FROM nagare.dependencies c
      JOIN nagare.dependencies p
        ON p.topic = c.topic AND p.kind IN ('produce', 'publish', 'table')
     WHERE c.kind = 'consume' AND p.service <> c.service
  ), walk (depends_on, depth, topic, path) AS (
    SELECT e.producer, 1, e.topic, ARRAY[$1, e.producer]
      FROM edge e WHERE e.consumer = $1
    UNION ALL
    SELECT e.producer, w.depth + 1, e.topic, w.path || e.producer
      FROM walk w JOIN edge e ON e.consumer = w.depends_on
     WHERE e.producer <> ALL (w.path)
  )
  SELECT DISTINCT ON (w.depends_on) w.depends_on, w.depth, w.topic, w.path
    FROM walk w
   ORDER BY w.depends_on, w.depth, w.path
$$;
COMMENT ON FUNCTION nagare.depends_on(text) IS
  'what a service depends on, transitively: each service that produces, publishes or feeds from a table a topic it (or, further, what it depends on) consumes, at its least depth, the topic of the last hop and the path; cycle-safe';

CREATE VIEW nagare.undeclared_dependencies WITH (security_barrier = true) AS
SELECT d.service, d.kind, d.topic, d.group_id, d.first_seen, d.last_seen, d.quiet
  FROM nagare.dependencies d
 WHERE d.service <> 'unknown' AND d.kind <> 'table'
   AND NOT EXISTS (SELECT 1 FROM nagare.declared_dependency x
                    WHERE x.service = d.service AND x.topic = d.topic AND x.kind = d.kind);
COMMENT ON VIEW nagare.undeclared_dependencies IS
  'observed edges of services that the service did not declare (nagare.declare_dependency()); clients of no service are nagare.dependencies'' ''unknown''';
GRANT SELECT ON nagare.undeclared_dependencies TO PUBLIC;

CREATE VIEW nagare.unobserved_dependencies WITH (security_barrier = true) AS
SELECT x.service, x.kind, x.topic, x.created_at AS declared_at
  FROM nagare.declared_dependency x JOIN nagare.service s ON s.name = x.service
 WHERE s.retired_at IS NULL
   AND (nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
        OR s.tenant = nagare._quota_role_tenant(current_user))
   AND NOT EXISTS (SELECT 1 FROM nagare.dependencies d
                    WHERE d.service = x.service AND d.topic = x.topic AND d.kind = x.kind);
COMMENT ON VIEW nagare.unobserved_dependencies IS
  'declared edges (nagare.declare_dependency()) never observed; the platform sees all services'', a role its tenant''s';
GRANT SELECT ON nagare.unobserved_dependencies TO PUBLIC;

-- A DOT string: "..." with \ and " escaped and newlines as \n
CREATE FUNCTION nagare._dot_quote(s text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT '"' || replace(replace(replace($1, '\', '\\'), '"', '\"'), E'\n', '\n') || '"'
$$;
COMMENT ON FUNCTION nagare._dot_quote(text) IS
  'internal: a string as a Graphviz DOT quoted string';

CREATE FUNCTION nagare._dependency_label(kind text, group_id text, records_per_sec double precision,
                                         bytes_per_sec double precision)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT $1 || CASE WHEN $2 <> '' THEN ' (' || $2 || ')' ELSE '' END
         || CASE WHEN $3 IS NULL THEN ''
                 ELSE E'\n' || round($3::numeric, 1) || ' rec/s, '
                      || pg_size_pretty(round($4)::bigint) || '/s' END
$$;
COMMENT ON FUNCTION nagare._dependency_label(text, text, double precision, double precision) IS
  'internal: the label of an edge of the dependency graph: kind, group, rates';

CREATE FUNCTION nagare.dependency_graph_dot()
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH d AS (SELECT * FROM nagare.dependencies),
  node AS (
    SELECT DISTINCT 'service:' || d.service AS id, d.service AS label,
           CASE WHEN d.service = 'unknown' THEN 'shape=box, style=dashed' ELSE 'shape=box, style=rounded' END AS attrs
      FROM d
    UNION
    SELECT DISTINCT 'topic:' || d.topic, d.topic, 'shape=ellipse' FROM d
  )
  SELECT E'digraph nagare {\n  rankdir=LR;\n  node [fontname="Helvetica"];\n  edge [fontname="Helvetica", fontsize=10];\n'
         || coalesce((SELECT string_agg(format('  %s [label=%s, %s];', nagare._dot_quote(n.id),
                                               nagare._dot_quote(n.label), n.attrs), E'\n'
                                        ORDER BY n.id) || E'\n' FROM node n), '')
         || coalesce((SELECT string_agg(format('  %s -> %s [label=%s%s];',
                                               nagare._dot_quote(CASE WHEN d.kind = 'consume' THEN 'topic:' || d.topic ELSE 'service:' || d.service END),
                                               nagare._dot_quote(CASE WHEN d.kind = 'consume' THEN 'service:' || d.service ELSE 'topic:' || d.topic END),
                                               nagare._dot_quote(nagare._dependency_label(d.kind, d.group_id, d.records_per_sec, d.bytes_per_sec)),
                                               CASE WHEN d.quiet THEN ', style=dashed, color=gray' ELSE '' END), E'\n'
                                        ORDER BY d.service, d.kind, d.topic, d.group_id) || E'\n' FROM d), '')
         || E'}\n'
$$;
COMMENT ON FUNCTION nagare.dependency_graph_dot() IS
  'the dependency graph (nagare.dependencies) as Graphviz DOT: services (boxes; clients of no service: one dashed "unknown") and topics (ellipses), edges labelled with kind, group and rates, quiet ones dashed; render with dot -Tsvg';

CREATE FUNCTION nagare.dependency_graph_json()
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH d AS (SELECT * FROM nagare.dependencies)
  SELECT jsonb_build_object(
    'nodes', coalesce((SELECT jsonb_agg(n ORDER BY n->>'id') FROM (
        SELECT DISTINCT jsonb_build_object('id', 'service:' || d.service, 'type', 'service',
                                           'name', d.service) AS n FROM d
        UNION
        SELECT DISTINCT jsonb_build_object('id', 'topic:' || d.topic, 'type', 'topic',
                                           'name', d.topic) FROM d) x), '[]'),
    'edges', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'from', CASE WHEN d.kind = 'consume' THEN 'topic:' || d.topic ELSE 'service:' || d.service END,
        'to', CASE WHEN d.kind = 'consume' THEN 'service:' || d.service ELSE 'topic:' || d.topic END,
        'kind', d.kind, 'group', nullif(d.group_id, ''), 'first_seen', d.first_seen,
        'last_seen', d.last_seen, 'records', d.records, 'bytes', d.bytes,
        'records_per_sec', d.records_per_sec, 'bytes_per_sec', d.bytes_per_sec, 'quiet', d.quiet)
        ORDER BY d.service, d.kind, d.topic, d.group_id) FROM d), '[]'))
$$;
COMMENT ON FUNCTION nagare.dependency_graph_json() IS
  'the dependency graph (nagare.dependencies) as JSON: {"nodes": [{id, type, name}], "edges": [{from, to, kind, group, first_seen, last_seen, records, bytes, records_per_sec, bytes_per_sec, quiet}]}';

-- Service registry: instances.  An instance of a catalog service is where
-- it runs: an id (Consul's ServiceID, unique over all services), an
-- address and port, tags and metadata, and a TTL check with Consul's
-- semantics: passing, warning or critical as the instance last said
-- (nagare.pass_instance(), warn_instance(), fail_instance(), each of which
-- starts the TTL again), critical ("TTL expired") when the TTL lapses, and
-- deregistered once critical for longer than deregister_critical_after.
-- Register with nagare.register_instance(), remove with
-- deregister_instance(); read nagare.instances and nagare.service_health
-- (docs/registry.md, "Instances and health").
--
-- The live state is in shared memory (src/instances): heartbeats change
-- only that.  A registration reaches it when its transaction commits (the
-- trigger nagare._instance_row(), src/sql/service_instances.c); the nagare worker
-- writes status changes here once a second (one transaction for all) and
-- loads the shared table from here at server start (src/worker/instancesync.c).
-- status, output and status_changed_at are the last status written.
--
-- Who may: everyone reads; the platform (ALTER on the CLUSTER, or a
-- superuser) and every principal of the service's tenant (members too:
-- services register themselves) register, beat and deregister its
-- instances (nagare._instance_may()).  Registrations and deregistrations
-- are audit rows (SERVICE_INSTANCE "<service>/<id>"); heartbeats and status
-- changes are not.
CREATE TABLE nagare.service_instance (
    service                    text NOT NULL REFERENCES nagare.service ON DELETE CASCADE,
    id                         text PRIMARY KEY,
    address                    text NOT NULL,
    port                       integer NOT NULL,
    tags                       text[] NOT NULL DEFAULT '{}',
    meta                       jsonb NOT NULL DEFAULT '{}',
    ttl                        interval,
    deregister_critical_after  interval,
    status                     text NOT NULL DEFAULT 'critical'
                               CHECK (status IN ('passing', 'warning', 'critical')),
    output                     text,
    registered_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    registered_by              name NOT NULL DEFAULT current_user,
    status_changed_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX service_instance_service_idx ON nagare.service_instance (service);
COMMENT ON TABLE nagare.service_instance IS
  'the registered instances of services; register with nagare.register_instance(), remove with deregister_instance(); status is the last one written (the live one is in nagare.instances)';
COMMENT ON COLUMN nagare.service_instance.id IS 'unique over all services (Consul''s ServiceID): 1 to 128 printable ASCII characters, no space';
COMMENT ON COLUMN nagare.service_instance.address IS 'an IPv4 or IPv6 literal, or a DNS name (DNS A and AAAA answers need a literal)';
COMMENT ON COLUMN nagare.service_instance.ttl IS 'the TTL check: critical unless a heartbeat comes within it; null: no check, always passing';
COMMENT ON COLUMN nagare.service_instance.deregister_critical_after IS 'deregistered once critical this long; null: never';
SELECT pg_catalog.pg_extension_config_dump('nagare.service_instance', '');

-- The tenant-principal half of the rule: any principal of the tenant.
CREATE FUNCTION nagare._instance_member_may(role name, tenant text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM nagare.tenant_principal p WHERE p.role = $1 AND p.tenant = $2)
$$;
COMMENT ON FUNCTION nagare._instance_member_may(name, text) IS
  'internal: whether a role is a principal (admin or member) of the tenant; nagare._instance_may() asks it as the querying role';

CREATE FUNCTION nagare._instance_may(service text)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT nagare.authorized('CLUSTER', 'kafka-cluster', 'ALTER')
         OR EXISTS (SELECT 1 FROM nagare.service s
                     WHERE s.name = $1 AND nagare._instance_member_may(current_user, s.tenant))
$$;
COMMENT ON FUNCTION nagare._instance_may(text) IS
  'internal: whether current_user may register, beat and deregister instances of the service: the platform (ALTER on the CLUSTER) any, a tenant''s principals (admins and members) its services''; the row-level security of nagare.service_instance and its functions ask it';

-- 42501 unless current_user may manage the instances of service
CREATE FUNCTION nagare._instance_authorize(action text, service text, id text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  tenant text := (SELECT s.tenant FROM nagare.service s WHERE s.name = $2);
BEGIN
  IF nagare._instance_may($2) THEN
    RETURN;
  END IF;
  RAISE EXCEPTION 'permission denied to % instance "%" of service "%"', $1, $3, $2
    USING ERRCODE = 'insufficient_privilege',
          HINT = CASE WHEN tenant IS NULL
                      THEN 'Service "' || $2 || '" is the platform''s: only the platform (ALTER on the CLUSTER, or a superuser) manages its instances.'
                      ELSE format('The principals of tenant "%s" (its admins and members) and the platform (ALTER on the CLUSTER) manage the instances of its services; everyone else only reads them.', tenant) END;
END $$;
COMMENT ON FUNCTION nagare._instance_authorize(text, text, text) IS
  'internal: raise 42501, naming who may, unless current_user may manage the instances of the service; the instance functions call it as their caller';

-- The service of an instance, or 42704; 42501 unless current_user may beat
-- or deregister it.  The heartbeats (C) call it as their caller.
CREATE FUNCTION nagare._instance_check(id text, action text DEFAULT 'beat')
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  svc text := (SELECT i.service FROM nagare.service_instance i WHERE i.id = $1);
BEGIN
  IF svc IS NULL THEN
    RAISE EXCEPTION 'instance "%" does not exist', $1 USING ERRCODE = 'undefined_object',
      HINT = 'nagare.instances lists the instances; nagare.register_instance() registers one (again, after it was deregistered).';
  END IF;
  PERFORM nagare._instance_authorize($2, svc, $1);
  RETURN svc;
END $$;
COMMENT ON FUNCTION nagare._instance_check(text, text) IS
  'internal: the service of the instance, or 42704; 42501 unless current_user may manage it; the heartbeats and deregister_instance() call it as their caller';

-- Everyone reads; the functions write with the caller's rights, which
-- row-level security holds to nagare._instance_may().  The nagare worker
-- and superusers bypass it.
REVOKE ALL ON nagare.service_instance FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON nagare.service_instance TO PUBLIC;
ALTER TABLE nagare.service_instance ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_instance_read ON nagare.service_instance FOR SELECT USING (true);
CREATE POLICY service_instance_register ON nagare.service_instance FOR INSERT
  WITH CHECK (nagare._instance_may(service));
CREATE POLICY service_instance_change ON nagare.service_instance FOR UPDATE
  USING (nagare._instance_may(service)) WITH CHECK (nagare._instance_may(service));
CREATE POLICY service_instance_deregister ON nagare.service_instance FOR DELETE
  USING (nagare._instance_may(service));

CREATE FUNCTION nagare._instance_row()
RETURNS trigger
AS 'MODULE_PATHNAME', 'nagare_instance_row'
LANGUAGE C;
COMMENT ON FUNCTION nagare._instance_row() IS
  'internal: hands registrations and deregistrations to the shared instance table when their transaction commits (trigger of nagare.service_instance)';
REVOKE ALL ON FUNCTION nagare._instance_row() FROM PUBLIC;
CREATE TRIGGER service_instance_row AFTER INSERT OR UPDATE OR DELETE ON nagare.service_instance
  FOR EACH ROW EXECUTE FUNCTION nagare._instance_row();
CREATE TRIGGER service_instance_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.service_instance
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

CREATE FUNCTION nagare.register_instance(service text, id text DEFAULT NULL,
                                         address text DEFAULT NULL, port integer DEFAULT NULL,
                                         tags text[] DEFAULT '{}', meta jsonb DEFAULT '{}',
                                         ttl interval DEFAULT NULL,
                                         deregister_critical_after interval DEFAULT NULL,
                                         status text DEFAULT 'critical')
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
  iid text := coalesce($2, $1);
  other text;
  k text;
  v jsonb;
  ip inet;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_live(s, 'instance');
  PERFORM nagare._instance_authorize('register', $1, iid);
  IF iid !~ '^[!-~]{1,128}$' THEN
    RAISE EXCEPTION 'invalid instance id "%"', iid USING ERRCODE = 'invalid_parameter_value',
      HINT = 'An instance id has 1 to 128 printable ASCII characters, no space.';
  END IF;
  IF $3 IS NULL OR $3 = '' THEN
    RAISE EXCEPTION 'instance "%" needs an address', iid USING ERRCODE = 'invalid_parameter_value',
      HINT = 'An IPv4 or IPv6 literal (DNS answers it as A and AAAA records), or a DNS name (answered as the SRV target, and as a CNAME while no instance of the service has an IP address).';
  END IF;
  IF $3 ~ '^[0-9./]+$' OR $3 ~ '[:%]' THEN
    -- an IP literal: as inet reads it, without prefix or zone
    BEGIN
      ip := $3::inet;
    EXCEPTION WHEN invalid_text_representation THEN
      ip := NULL;
    END;
    IF ip IS NULL OR $3 ~ '[/%]' OR (family(ip) = 4 AND host(ip) <> $3) THEN
      RAISE EXCEPTION 'invalid instance address "%"', $3 USING ERRCODE = 'invalid_parameter_value',
        HINT = 'An IPv4 literal (192.0.2.10), an IPv6 literal without brackets, zone or prefix (2001:db8::1), or a DNS name.';
    END IF;
  ELSIF length($3) > 253
        OR $3 !~ '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$' THEN
    RAISE EXCEPTION 'invalid instance address "%"', $3 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A DNS name is labels of 1 to 63 letters, digits and "-" (not starting or ending with "-") joined by ".", at most 253 characters; or give an IP literal (DNS answers it as A and AAAA records).';
  END IF;
  IF $4 IS NULL OR $4 NOT BETWEEN 1 AND 65535 THEN
    RAISE EXCEPTION 'instance "%" port % is not 1 to 65535', iid, coalesce($4::text, 'null')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(coalesce($5, '{}')) t WHERE t IS NULL OR t = '' OR t ~ '[[:cntrl:]]') THEN
    RAISE EXCEPTION 'invalid tag of instance "%"', iid USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A tag is a non-empty string without control characters.';
  END IF;
  IF jsonb_typeof(coalesce($6, '{}')) <> 'object' THEN
    RAISE EXCEPTION 'meta of instance "%" is not a JSON object', iid USING ERRCODE = 'invalid_parameter_value',
      HINT = 'meta is an object of string values: {"version": "1.4.2"}.';
  END IF;
  IF (SELECT count(*) FROM jsonb_object_keys(coalesce($6, '{}'))) > 64 THEN
    RAISE EXCEPTION 'meta of instance "%" has more than 64 keys', iid USING ERRCODE = 'program_limit_exceeded',
      HINT = 'Consul''s limits: 64 keys, a key of at most 128 characters, a value of at most 512.';
  END IF;
  FOR k, v IN SELECT * FROM jsonb_each(coalesce($6, '{}')) LOOP
    IF k !~ '^[A-Za-z0-9_-]{1,128}$' OR k LIKE 'consul-%' THEN
      RAISE EXCEPTION 'invalid meta key "%" of instance "%"', k, iid USING ERRCODE = 'invalid_parameter_value',
        HINT = 'A meta key has 1 to 128 letters, digits, "_" and "-", and does not start with "consul-" (Consul''s rules).';
    END IF;
    IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') > 512 THEN
      RAISE EXCEPTION 'meta "%" of instance "%" is not a string of at most 512 characters', k, iid
        USING ERRCODE = 'invalid_parameter_value',
        HINT = 'Meta values are strings (Consul''s): write numbers and flags as "2", "true".';
    END IF;
  END LOOP;
  IF $7 IS NOT NULL AND $7 <= interval '0' THEN
    RAISE EXCEPTION 'ttl of instance "%" must be positive', iid USING ERRCODE = 'invalid_parameter_value',
      HINT = 'null: no check (always passing).';
  END IF;
  IF $8 IS NOT NULL AND $8 <= interval '0' THEN
    RAISE EXCEPTION 'deregister_critical_after of instance "%" must be positive', iid
      USING ERRCODE = 'invalid_parameter_value', HINT = 'null: never deregistered.';
  END IF;
  IF $8 IS NOT NULL AND $7 IS NULL THEN
    RAISE EXCEPTION 'deregister_critical_after of instance "%" needs a ttl', iid
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Without a TTL check an instance is always passing.';
  END IF;
  IF $9 IS NULL OR $9 NOT IN ('passing', 'warning', 'critical') THEN
    RAISE EXCEPTION 'invalid status "%"', $9 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'The status is passing, warning or critical (Consul''s default: critical until the first pass).';
  END IF;
  SELECT i.service INTO other FROM nagare.service_instance i WHERE i.id = iid FOR UPDATE;
  IF FOUND AND other <> $1 THEN
    RAISE EXCEPTION 'instance id "%" is taken by service "%"', iid, other USING ERRCODE = 'duplicate_object',
      HINT = 'Instance ids are unique over all services: choose another, or deregister that one first.';
  END IF;
  -- registering an id again replaces it (Consul's): a new registered_at
  INSERT INTO nagare.service_instance AS i (service, id, address, port, tags, meta, ttl,
                                            deregister_critical_after, status, output)
  VALUES ($1, iid, $3, $4, coalesce($5, '{}'), coalesce($6, '{}'), $7, $8,
          CASE WHEN $7 IS NULL THEN 'passing' ELSE $9 END, NULL)
  ON CONFLICT ON CONSTRAINT service_instance_pkey DO UPDATE
    SET address = excluded.address, port = excluded.port, tags = excluded.tags,
        meta = excluded.meta, ttl = excluded.ttl,
        deregister_critical_after = excluded.deregister_critical_after,
        status = excluded.status, output = NULL, registered_at = clock_timestamp(),
        registered_by = current_user, status_changed_at = clock_timestamp()
    WHERE i.service = excluded.service;
  RETURN iid;
END $$;
COMMENT ON FUNCTION nagare.register_instance(text, text, text, integer, text[], jsonb, interval, interval, text) IS
  'register (or register again, replacing) an instance of a service: id (default the service''s name), address, port, tags, meta (string values), ttl (null: no check), deregister_critical_after, initial status (default critical until the first pass); returns the id; the platform, or a principal of the service''s tenant';

CREATE FUNCTION nagare.deregister_instance(id text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nagare._instance_check($1, 'deregister');
  DELETE FROM nagare.service_instance i WHERE i.id = $1;
END $$;
COMMENT ON FUNCTION nagare.deregister_instance(text) IS
  'remove an instance; the platform, or a principal of the service''s tenant';

CREATE FUNCTION nagare.pass_instance(id text, note text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'nagare_instance_pass'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.pass_instance(text, text) IS
  'a heartbeat: the instance is passing (note: its output) and its TTL starts again; returns the status before; touches shared memory only';
CREATE FUNCTION nagare.warn_instance(id text, note text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'nagare_instance_warn'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.warn_instance(text, text) IS
  'a heartbeat: the instance is warning (note: its output) and its TTL starts again; returns the status before; touches shared memory only';
CREATE FUNCTION nagare.fail_instance(id text, note text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'nagare_instance_fail'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.fail_instance(text, text) IS
  'a heartbeat: the instance is critical (note: its output) and its TTL starts again; returns the status before; touches shared memory only';

-- Registrations over HTTP (Consul's PUT /v1/agent/service/register, served
-- by the "nagare http" process, src/web): the nagare worker reads the body
-- with nagare._consul_registration() and registers it with
-- nagare.register_instance() as the HTTP client's role (src/worker/registrations.c),
-- so the same validation, walls and audit rows apply as from SQL.
CREATE FUNCTION nagare._go_duration(duration text, what text)
RETURNS interval
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m text[];
  total interval := interval '0';
BEGIN
  IF $1 IS NULL OR $1 = '' THEN
    RETURN NULL;
  END IF;
  IF $1 = '0' THEN
    RETURN interval '0';
  END IF;
  IF $1 !~ '^(([0-9]*\.)?[0-9]+(ns|us|µs|μs|ms|s|m|h))+$' THEN
    RAISE EXCEPTION 'invalid duration "%" of %', $1, $2 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A Go duration, as Consul takes it: "10s", "1m30s", "500ms", "2h".';
  END IF;
  FOR m IN SELECT regexp_matches($1, '(([0-9]*\.)?[0-9]+)(ns|us|µs|μs|ms|s|m|h)', 'g') LOOP
    total := total + m[1]::float8 * CASE m[3] WHEN 'h' THEN interval '1 hour'
                                              WHEN 'm' THEN interval '1 minute'
                                              WHEN 's' THEN interval '1 second'
                                              WHEN 'ms' THEN interval '1 millisecond'
                                              WHEN 'ns' THEN interval '0.001 microsecond'
                                              ELSE interval '1 microsecond' END;
  END LOOP;
  RETURN total;
END $$;
COMMENT ON FUNCTION nagare._go_duration(text, text) IS
  'internal: a Go duration ("10s", "1m30s") as an interval, or 22023 naming what it was for; nagare._consul_registration() reads TTLs with it';

CREATE FUNCTION nagare._consul_registration(registration jsonb, peer text,
                                            OUT service text, OUT id text, OUT address text,
                                            OUT port integer, OUT tags text[], OUT meta jsonb,
                                            OUT ttl interval, OUT deregister_critical_after interval,
                                            OUT status text)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r jsonb;
  c jsonb;
  checks jsonb := '[]';
  ckey text;
BEGIN
  IF jsonb_typeof($1) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'the registration is not a JSON object' USING ERRCODE = 'invalid_parameter_value',
      HINT = 'Consul''s form: {"Name": "orders", "ID": "orders-1", "Address": "10.0.0.5", "Port": 8080, "Check": {"TTL": "15s"}}.';
  END IF;
  -- Consul (Go's encoding/json) reads field names in any case
  SELECT jsonb_object_agg(lower(k), v) INTO r FROM jsonb_each($1) AS e(k, v);
  service := r->>'name';
  IF service IS NULL OR service = '' THEN
    RAISE EXCEPTION 'the registration has no Name' USING ERRCODE = 'invalid_parameter_value',
      HINT = 'Name is the catalog service the instance belongs to (nagare.services).';
  END IF;
  id := coalesce(nullif(r->>'id', ''), service);
  address := coalesce(nullif(r->>'address', ''), $2);
  IF r ? 'port' AND jsonb_typeof(r->'port') <> 'number' THEN
    RAISE EXCEPTION 'Port of instance "%" is not a number', id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  port := (r->>'port')::numeric::integer;
  IF r ? 'tags' AND jsonb_typeof(r->'tags') NOT IN ('array', 'null') THEN
    RAISE EXCEPTION 'Tags of instance "%" is not an array of strings', id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(nullif(r->'tags', 'null'), '[]')) t
              WHERE jsonb_typeof(t) <> 'string') THEN
    RAISE EXCEPTION 'Tags of instance "%" is not an array of strings', id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  tags := ARRAY(SELECT jsonb_array_elements_text(coalesce(nullif(r->'tags', 'null'), '[]')));
  meta := coalesce(nullif(r->'meta', 'null'), '{}');
  IF jsonb_typeof(r->'check') = 'object' THEN
    checks := checks || jsonb_build_array(r->'check');
  END IF;
  IF jsonb_typeof(r->'checks') = 'array' THEN
    checks := checks || (r->'checks');
  END IF;
  IF jsonb_array_length(checks) > 1 THEN
    RAISE EXCEPTION 'instance "%" has % checks', id, jsonb_array_length(checks)
      USING ERRCODE = 'feature_not_supported',
      HINT = 'nagare keeps one TTL check per instance (its CheckID is "service:<ID>").';
  END IF;
  status := 'passing';  -- no check: always passing
  IF jsonb_array_length(checks) = 1 THEN
    IF jsonb_typeof(checks->0) <> 'object' THEN
      RAISE EXCEPTION 'a check of instance "%" is not a JSON object', id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT jsonb_object_agg(lower(k), v) INTO c FROM jsonb_each(checks->0) AS e(k, v);
    c := coalesce(c, '{}');
    FOREACH ckey IN ARRAY ARRAY['http', 'tcp', 'grpc', 'args', 'script', 'dockercontainerid',
                                'h2ping', 'udp', 'osservice', 'aliasservice', 'aliasnode'] LOOP
      IF c ? ckey AND c->ckey <> 'null'::jsonb AND c->>ckey <> '' THEN
        RAISE EXCEPTION 'instance "%" has a check of a kind nagare does not run (%)', id, ckey
          USING ERRCODE = 'feature_not_supported',
          HINT = 'nagare keeps TTL checks, which the instance passes itself (PUT /v1/agent/check/pass/service:<ID>); give {"TTL": "15s"}.';
      END IF;
    END LOOP;
    IF coalesce(nullif(c->>'checkid', ''), nullif(c->>'id', ''), 'service:' || id) <> 'service:' || id THEN
      RAISE EXCEPTION 'check id "%" of instance "%" is not "service:%"', coalesce(c->>'checkid', c->>'id'), id, id
        USING ERRCODE = 'feature_not_supported',
        HINT = 'nagare names an instance''s TTL check as Consul names a service''s own check: leave CheckID out.';
    END IF;
    ttl := nagare._go_duration(c->>'ttl', 'TTL');
    IF ttl IS NULL THEN
      RAISE EXCEPTION 'the check of instance "%" has no TTL', id USING ERRCODE = 'invalid_parameter_value',
        HINT = 'nagare keeps TTL checks: {"TTL": "15s"}; leave the check out for an instance that is always passing.';
    END IF;
    deregister_critical_after := nagare._go_duration(c->>'deregistercriticalserviceafter',
                                                    'DeregisterCriticalServiceAfter');
    status := coalesce(nullif(c->>'status', ''), 'critical');
  END IF;
END $$;
COMMENT ON FUNCTION nagare._consul_registration(jsonb, text) IS
  'internal: the arguments of nagare.register_instance() from a registration in Consul''s JSON (PUT /v1/agent/service/register; peer: the address when it gives none); one TTL check at most';

CREATE FUNCTION nagare._instances_live(OUT id text, OUT service text, OUT status text, OUT output text,
                                       OUT last_beat timestamptz, OUT ttl_remaining double precision,
                                       OUT status_changed_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'nagare_instances_live'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare._instances_live() IS
  'internal: the live instances in shared memory: status, output, last beat, seconds until the TTL lapses; the view nagare.instances reads it';

CREATE VIEW nagare.instances WITH (security_invoker = true) AS
SELECT i.service, i.id, i.address, i.port, i.tags, i.meta,
       coalesce(l.status, i.status) AS status,
       CASE WHEN l.id IS NOT NULL THEN l.output ELSE i.output END AS output,
       l.last_beat, l.ttl_remaining, i.ttl, i.deregister_critical_after,
       coalesce(l.status_changed_at, i.status_changed_at) AS status_changed_at,
       l.id IS NOT NULL AS live, i.registered_at, i.registered_by
  FROM nagare.service_instance i LEFT JOIN nagare._instances_live() l ON l.id = i.id;
COMMENT ON VIEW nagare.instances IS
  'the registered instances with their live health: status, output, last beat, seconds until the TTL lapses (ttl_remaining), live (in shared memory); readable by every role';
GRANT SELECT ON nagare.instances TO PUBLIC;

CREATE VIEW nagare.service_health WITH (security_invoker = true) AS
SELECT s.name AS service, s.tenant,
       count(i.id) FILTER (WHERE i.status = 'passing') AS passing,
       count(i.id) FILTER (WHERE i.status = 'warning') AS warning,
       count(i.id) FILTER (WHERE i.status = 'critical') AS critical
  FROM nagare.service s LEFT JOIN nagare.instances i ON i.service = s.name
 WHERE s.retired_at IS NULL
 GROUP BY s.name, s.tenant;
COMMENT ON VIEW nagare.service_health IS
  'per service that is not retired: how many of its instances are passing, warning and critical; readable by every role';
GRANT SELECT ON nagare.service_health TO PUBLIC;


--
-- Usage: per-client usage and the broker's live connections, counted in
-- shared memory (docs/quotas.md).  A client is a source ('kafka' or
-- 'sql'), tenant, principal and client id (SQL callers of send(),
-- send_batch(), publish() and consume(): User:<current_user> and
-- application_name).  Both views show superusers and roles with DESCRIBE
-- on the CLUSTER every row, and other roles the rows of their own
-- principal and of the principals of the tenants they administer; the
-- functions behind them decide that themselves.
--
CREATE FUNCTION nagare._client_usage(
    OUT source text, OUT tenant text, OUT principal text, OUT client_id text,
    OUT connections integer, OUT connections_total bigint,
    OUT requests_by_api jsonb, OUT errors_by_code jsonb,
    OUT requests bigint, OUT bytes_in bigint, OUT bytes_out bigint,
    OUT records_in bigint, OUT records_out bigint, OUT time_us bigint,
    OUT errors bigint, OUT throttle_ms bigint,
    OUT requests_1m bigint, OUT bytes_in_1m bigint, OUT bytes_out_1m bigint,
    OUT records_in_1m bigint, OUT records_out_1m bigint, OUT time_us_1m bigint,
    OUT errors_1m bigint, OUT throttle_ms_1m bigint,
    OUT since timestamptz, OUT last_active timestamptz,
    OUT produce_results jsonb, OUT produce_latency_buckets bigint[],
    OUT produce_latency_sum_us bigint,
    OUT publish_latency_buckets bigint[], OUT publish_latency_sum_us bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'nagare_client_usage_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare._client_usage() IS
  'the rows of nagare.client_usage the current role may see';

CREATE VIEW nagare.client_usage AS
SELECT * FROM nagare._client_usage();
COMMENT ON VIEW nagare.client_usage IS
  'per client (source, tenant, principal, client id): requests, bytes and records in and out, broker time (µs), errors and throttle time (ms) since since, and in the last minute (the *_1m columns); requests by API and errors by Kafka error code as jsonb; the produce SLIs: Produce partition results by error code (jsonb), latency bucket counts (bounds: nagare.produce_latency_bounds_us(), then +Inf) and their sum in µs; SQL clients: the commit-to-consumable latency of the transactions they published in (and of table topic changes, for the table owner''s User:<owner> with an empty client id), the same buckets and their sum in µs';
GRANT SELECT ON nagare.client_usage TO PUBLIC;

-- The upper bounds (µs) of the produce latency buckets of
-- nagare.client_usage and nagare.service_sli_minute, 1-2-5 log-spaced
-- (src/usage/usage.c's nagare_usage_latency_bounds_us); a last bucket,
-- +Inf, follows them.
CREATE FUNCTION nagare.produce_latency_bounds_us()
RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY[50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
               200000, 500000, 1000000, 2000000, 5000000, 10000000]::bigint[]
$$;
COMMENT ON FUNCTION nagare.produce_latency_bounds_us() IS
  'the upper bounds in µs of the produce latency buckets (the last bucket, +Inf, is not listed)';

CREATE FUNCTION nagare._connections(
    OUT id bigint, OUT listener text, OUT security_protocol text,
    OUT tenant text, OUT principal text, OUT client_id text,
    OUT client_software_name text, OUT client_software_version text,
    OUT client_addr text, OUT client_port integer, OUT since timestamptz,
    OUT requests_in_flight integer, OUT muted_until timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'nagare_connections_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare._connections() IS
  'the rows of nagare.connections the current role may see';

CREATE VIEW nagare.connections AS
SELECT * FROM nagare._connections();
COMMENT ON VIEW nagare.connections IS
  'the broker''s live Kafka connections: listener, security protocol, tenant, principal, client id, client software (ApiVersions v3+), peer address, since when, requests in flight, muted until (while throttled)';
GRANT SELECT ON nagare.connections TO PUBLIC;

CREATE FUNCTION nagare.reset_client_usage()
RETURNS void
AS 'MODULE_PATHNAME', 'nagare_reset_client_usage'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.reset_client_usage() IS
  'zero the usage counters and forget the clients without live connections; platform only (ALTER on the CLUSTER)';

--
-- SLIs and SLOs (docs/registry.md, "SLIs and SLOs").  What the broker
-- measures per client (nagare.client_usage's produce_results and
-- produce_latency_buckets, src/usage), the registry's instance health and
-- consumer lag become per-service rows of nagare.service_sli_minute, one
-- per service and minute, which the nagare worker writes once a minute
-- (nagare.flush_sli(), src/worker/slisync.c) and keeps for
-- nagare.sli_retention.  A client's service is nagare.service_of(), or
-- 'unknown'.  Services declare SLOs on them (nagare.service_slo with
-- set_service_slo() and drop_service_slo(): the registry's ownership rule,
-- audited as SERVICE_SLO "<service>/<name>"); nagare.slo_status and
-- nagare.slo_alerts compute attainment, error budgets and burn rates.
-- Who reads the SLIs: the platform (DESCRIBE on the CLUSTER) every
-- service's and 'unknown', a tenant's principals their tenant's services';
-- the SLO declarations are readable by every role, as the catalog.
--

-- The timestamp of a record, read from the log by the calling backend
-- (src/sql/consume.c): consumer lag in time.
CREATE FUNCTION nagare.record_timestamp(topic text, "partition" integer, at_offset bigint)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'nagare_record_timestamp'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nagare.record_timestamp(text, integer, bigint) IS
  'the timestamp of the first record at or after an offset of a partition (null if there is none below the high watermark); needs DESCRIBE on the topic';

-- Consumer lag: every partition of every topic a group has committed on or
-- its members subscribe to.  A partition with no committed offset counts
-- from its log start: every record still stored is one the group has not
-- consumed (Kafka's kafka-consumer-groups --describe shows "-" there), so
-- sum(lag) is what the group has left to read.  lag_seconds is the age of
-- the oldest record not consumed (now minus the timestamp of the record at
-- the committed offset), 0 when nothing is left.  A group's service is
-- nagare.service_of('kafka', principal, client id) of its live members
-- (each member keeps the principal its connection joined as): their one
-- service, or 'unknown' if it is none's, and NULL when they are of more
-- than one (a group shared by services is no one's).  A group with no
-- live member has the service of the principal and client id that last
-- committed its offsets through the broker (since the broker started;
-- NULL if nothing was committed since).
CREATE VIEW nagare.consumer_lag AS
WITH snapshot AS (
  SELECT g FROM jsonb_array_elements(nagare.group_snapshot()) AS g
), subscribed AS (
  SELECT DISTINCT s.g->>'group' AS group_id, t.topic
    FROM snapshot s,
         jsonb_array_elements(s.g->'members') AS m,
         jsonb_array_elements_text(m->'subscription') AS t(topic)
), topics AS (
  SELECT DISTINCT o.group_id, o.topic FROM nagare.group_offset o
  UNION
  SELECT group_id, topic FROM subscribed
), member_service AS (
  SELECT s.g->>'group' AS group_id,
         coalesce(nagare.service_of('kafka', m->>'principal', m->>'client_id'), 'unknown') AS service
    FROM snapshot s
   CROSS JOIN LATERAL jsonb_array_elements(s.g->'members') AS m
), group_service AS (
  SELECT group_id, CASE WHEN count(DISTINCT service) = 1 THEN min(service) END AS service
    FROM member_service GROUP BY group_id
  UNION ALL
  SELECT s.g->>'group',
         coalesce(nagare.service_of('kafka', s.g->'committer'->>'principal',
                                    s.g->'committer'->>'client_id'), 'unknown')
    FROM snapshot s
   WHERE jsonb_array_length(s.g->'members') = 0 AND jsonb_typeof(s.g->'committer') = 'object'
)
SELECT t.group_id,
       p.topic,
       p."partition",
       o.committed_offset,
       p.high_watermark,
       p.high_watermark - f.next_offset AS lag,
       o.committed_at,
       CASE WHEN p.high_watermark > f.next_offset
            THEN greatest(extract(epoch FROM now() - nagare.record_timestamp(p.topic, p."partition", f.next_offset)), 0)::double precision
            ELSE 0::double precision
       END AS lag_seconds,
       gs.service
  FROM topics t
  JOIN nagare.partitions p ON p.topic = t.topic
  LEFT JOIN nagare.group_offset o
    ON o.group_id = t.group_id AND o.topic = p.topic AND o."partition" = p."partition"
  LEFT JOIN group_service gs ON gs.group_id = t.group_id
 CROSS JOIN LATERAL (SELECT CASE
         WHEN o.committed_offset IS NULL OR o.committed_offset = -2 THEN p.log_start_offset  -- "earliest"
         WHEN o.committed_offset = -1 THEN p.high_watermark                                  -- "latest"
         ELSE least(greatest(o.committed_offset, p.log_start_offset), p.high_watermark)
       END AS next_offset) f
 WHERE nagare.authorized('GROUP', t.group_id, 'DESCRIBE');
COMMENT ON VIEW nagare.consumer_lag IS
  'per group, every partition of the topics it committed on or subscribes to: committed offset (null if none), high watermark, lag (records not yet consumed, from the log start where nothing is committed; -1 and -2, the latest and earliest markers some clients commit, count as such), lag_seconds (the age of the oldest record not consumed) and the group''s service (nagare.service_of() of its live members'' principals and client ids, NULL if they are of more than one; with no live member, of who last committed its offsets)';

GRANT SELECT ON nagare.consumer_lag TO PUBLIC;

CREATE VIEW nagare.consumer_group_lag AS
SELECT group_id, service, count(*) AS partitions, sum(lag) AS lag, max(lag_seconds) AS lag_seconds
  FROM nagare.consumer_lag
 GROUP BY group_id, service;
COMMENT ON VIEW nagare.consumer_group_lag IS
  'per consumer group: its service, partitions, total lag in records and the largest lag in time (seconds) of nagare.consumer_lag';
GRANT SELECT ON nagare.consumer_group_lag TO PUBLIC;

-- The history: per service and minute, the produce results (good: error
-- code NONE), the latency bucket counts (bounds:
-- nagare.produce_latency_bounds_us(), then +Inf) and their sum, the
-- instances passing and all instances (at the minute's last flush), the
-- largest lag in time of the service's groups (at the last flush), and
-- the commit-to-consumable latency bucket counts and sum of the
-- transactions the service's SQL clients published in (or whose table
-- topic tables it owns), counted when the ingest worker made them durable.
CREATE TABLE nagare.service_sli_minute (
    service            text NOT NULL,
    minute             timestamptz NOT NULL,
    produce_good       bigint NOT NULL DEFAULT 0,
    produce_total      bigint NOT NULL DEFAULT 0,
    latency_buckets    bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[18]),
    latency_sum_us     bigint NOT NULL DEFAULT 0,
    instances_passing  integer NOT NULL DEFAULT 0,
    instances_total    integer NOT NULL DEFAULT 0,
    lag_seconds        double precision,
    publish_latency_buckets bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[18]),
    publish_latency_sum_us  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (service, minute),
    CHECK (produce_good BETWEEN 0 AND produce_total AND instances_passing BETWEEN 0 AND instances_total
           AND cardinality(latency_buckets) = 18 AND cardinality(publish_latency_buckets) = 18)
);
CREATE INDEX service_sli_minute_minute_idx ON nagare.service_sli_minute (minute);
COMMENT ON TABLE nagare.service_sli_minute IS
  'per service (or unknown) and minute: produce results good and total, produce latency bucket counts and sum (µs), instances passing and all, the largest consumer lag in seconds, publish()/table topic commit-to-consumable latency bucket counts and sum (µs); written by the nagare worker (nagare.flush_sli()), kept for nagare.sli_retention';
SELECT pg_catalog.pg_extension_config_dump('nagare.service_sli_minute', '');
REVOKE ALL ON nagare.service_sli_minute FROM PUBLIC;
GRANT SELECT ON nagare.service_sli_minute TO PUBLIC;
ALTER TABLE nagare.service_sli_minute ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_sli_minute_read ON nagare.service_sli_minute FOR SELECT
  USING (nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
         OR EXISTS (SELECT 1 FROM nagare.service s
                     WHERE s.name = service AND s.tenant = nagare._quota_role_tenant(current_user)));

-- What the last flush saw of each client's cumulative counters: the next
-- one counts what was added since (all of it for a client whose row began
-- since, i.e. a new client, a reset or a server start).
CREATE TABLE nagare._sli_baseline (
    source           text NOT NULL,
    principal        text NOT NULL,
    client_id        text NOT NULL,
    since            timestamptz NOT NULL,
    produce_good     bigint NOT NULL,
    produce_total    bigint NOT NULL,
    latency_buckets  bigint[] NOT NULL,
    latency_sum_us   bigint NOT NULL,
    publish_buckets  bigint[] NOT NULL,
    publish_sum_us   bigint NOT NULL,
    PRIMARY KEY (source, principal, client_id)
);
COMMENT ON TABLE nagare._sli_baseline IS
  'internal: the produce and publish latency counters of each client at the last nagare.flush_sli()';
REVOKE ALL ON nagare._sli_baseline FROM PUBLIC;

-- Write this minute's rows: the produce counts since the last flush, the
-- instances and the lag as they are now; delete rows older than
-- nagare.sli_retention, at most 10 batches of 1,000.  The nagare worker
-- calls it once a minute; superusers may call it to flush now.
CREATE FUNCTION nagare.flush_sli()
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m timestamptz := date_trunc('minute', now());
  cur jsonb;
  written integer;
  deleted integer;
  batches integer := 0;
BEGIN
  -- one flush at a time: each counts from the baseline the last one left
  LOCK TABLE nagare._sli_baseline IN EXCLUSIVE MODE;
  -- the counters, read once
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'source', u.source, 'principal', coalesce(u.principal, ''),
           'client_id', coalesce(u.client_id, ''), 'since', u.since,
           'good', coalesce((u.produce_results->>'NONE')::bigint, 0),
           'total', (SELECT coalesce(sum(v::bigint), 0) FROM jsonb_each_text(u.produce_results) r(k, v)),
           'buckets', to_jsonb(u.produce_latency_buckets), 'sum_us', u.produce_latency_sum_us,
           'pbuckets', to_jsonb(u.publish_latency_buckets), 'psum_us', u.publish_latency_sum_us)), '[]')
    INTO cur
    FROM nagare.client_usage u
   WHERE (u.source <> 'sql' AND (u.produce_results <> '{}' OR u.produce_latency_sum_us > 0))
      OR EXISTS (SELECT 1 FROM unnest(u.publish_latency_buckets) n WHERE n > 0);

  WITH c AS (
    SELECT x.*, ARRAY(SELECT jsonb_array_elements_text(x.buckets)::bigint) AS b,
           ARRAY(SELECT jsonb_array_elements_text(x.pbuckets)::bigint) AS pb
      FROM jsonb_to_recordset(cur) AS x(source text, principal text, client_id text, since timestamptz,
                                         good bigint, total bigint, buckets jsonb, sum_us bigint,
                                         pbuckets jsonb, psum_us bigint)
  ), d AS (
    -- since the baseline if it is the same row of the same client
    SELECT coalesce(nagare.service_of(c.source, c.principal, c.client_id), 'unknown') AS service,
           c.good - coalesce(b.produce_good, 0) AS good,
           c.total - coalesce(b.produce_total, 0) AS total,
           c.sum_us - coalesce(b.latency_sum_us, 0) AS sum_us,
           ARRAY(SELECT x - coalesce(y, 0) FROM unnest(c.b, b.latency_buckets) AS t(x, y)) AS buckets,
           c.psum_us - coalesce(b.publish_sum_us, 0) AS psum_us,
           ARRAY(SELECT x - coalesce(y, 0) FROM unnest(c.pb, b.publish_buckets) AS t(x, y)) AS pbuckets
      FROM c LEFT JOIN nagare._sli_baseline b
        ON b.source = c.source AND b.principal = c.principal AND b.client_id = c.client_id
       AND b.since = c.since AND b.produce_total <= c.total AND b.publish_sum_us <= c.psum_us
  ), produced AS (
    SELECT d.service, sum(d.good) AS good, sum(d.total) AS total, sum(d.sum_us) AS sum_us,
           ARRAY(SELECT sum(e.x)::bigint FROM d d2, unnest(d2.buckets) WITH ORDINALITY AS e(x, i)
                  WHERE d2.service = d.service GROUP BY e.i ORDER BY e.i) AS buckets,
           sum(d.psum_us) AS psum_us,
           ARRAY(SELECT sum(e.x)::bigint FROM d d2, unnest(d2.pbuckets) WITH ORDINALITY AS e(x, i)
                  WHERE d2.service = d.service GROUP BY e.i ORDER BY e.i) AS pbuckets
      FROM d GROUP BY d.service
  ), health AS (
    SELECT i.service, count(*) FILTER (WHERE i.status = 'passing') AS passing, count(*) AS total
      FROM nagare.instances i GROUP BY i.service
  ), lag AS (
    SELECT l.service, max(l.lag_seconds) AS lag_seconds
      FROM nagare.consumer_group_lag l WHERE l.service IS NOT NULL GROUP BY l.service
  ), rows AS (
    SELECT coalesce(p.service, h.service, l.service) AS service,
           coalesce(p.good, 0) AS good, coalesce(p.total, 0) AS total,
           coalesce(p.buckets, array_fill(0::bigint, ARRAY[18])) AS buckets, coalesce(p.sum_us, 0) AS sum_us,
           coalesce(h.passing, 0) AS passing, coalesce(h.total, 0) AS instances, l.lag_seconds,
           coalesce(p.pbuckets, array_fill(0::bigint, ARRAY[18])) AS pbuckets, coalesce(p.psum_us, 0) AS psum_us
      FROM produced p
      FULL JOIN health h ON h.service = p.service
      FULL JOIN lag l ON l.service = coalesce(p.service, h.service)
  )
  INSERT INTO nagare.service_sli_minute AS s
         (service, minute, produce_good, produce_total, latency_buckets, latency_sum_us,
          instances_passing, instances_total, lag_seconds, publish_latency_buckets, publish_latency_sum_us)
  SELECT service, m, good, total, buckets, sum_us, passing, instances, lag_seconds, pbuckets, psum_us FROM rows
   WHERE total > 0 OR sum_us > 0 OR instances > 0 OR lag_seconds IS NOT NULL
      OR EXISTS (SELECT 1 FROM unnest(pbuckets) n WHERE n > 0)
  ON CONFLICT (service, minute) DO UPDATE
     SET produce_good = s.produce_good + excluded.produce_good,
         produce_total = s.produce_total + excluded.produce_total,
         latency_buckets = ARRAY(SELECT x + y FROM unnest(s.latency_buckets, excluded.latency_buckets) AS t(x, y)),
         latency_sum_us = s.latency_sum_us + excluded.latency_sum_us,
         instances_passing = excluded.instances_passing,
         instances_total = excluded.instances_total,
         lag_seconds = coalesce(excluded.lag_seconds, s.lag_seconds),
         publish_latency_buckets = ARRAY(SELECT x + y FROM unnest(s.publish_latency_buckets,
                                                                  excluded.publish_latency_buckets) AS t(x, y)),
         publish_latency_sum_us = s.publish_latency_sum_us + excluded.publish_latency_sum_us;
  GET DIAGNOSTICS written = ROW_COUNT;

  DELETE FROM nagare._sli_baseline;
  INSERT INTO nagare._sli_baseline
  SELECT x.source, x.principal, x.client_id, x.since, x.good, x.total,
         ARRAY(SELECT jsonb_array_elements_text(x.buckets)::bigint), x.sum_us,
         ARRAY(SELECT jsonb_array_elements_text(x.pbuckets)::bigint), x.psum_us
    FROM jsonb_to_recordset(cur) AS x(source text, principal text, client_id text, since timestamptz,
                                       good bigint, total bigint, buckets jsonb, sum_us bigint,
                                       pbuckets jsonb, psum_us bigint);

  LOOP
    DELETE FROM nagare.service_sli_minute
     WHERE ctid = ANY (ARRAY(SELECT ctid FROM nagare.service_sli_minute
                              WHERE minute < now() - current_setting('nagare.sli_retention')::interval
                              LIMIT 1000));
    GET DIAGNOSTICS deleted = ROW_COUNT;
    batches := batches + 1;
    EXIT WHEN deleted < 1000 OR batches >= 10;
  END LOOP;
  RETURN written;
END $$;
COMMENT ON FUNCTION nagare.flush_sli() IS
  'write this minute''s rows of nagare.service_sli_minute (the produce and publish latency counts since the last flush, instance health and consumer lag now) and delete rows older than nagare.sli_retention; the nagare worker calls it once a minute; superusers only';
REVOKE EXECUTE ON FUNCTION nagare.flush_sli() FROM PUBLIC;

-- Percentiles from the latency buckets, as Prometheus's
-- histogram_quantile(): the bucket that holds the q-th event, and a linear
-- interpolation within it (from 0 for the first); in the +Inf bucket, the
-- last finite bound.  Milliseconds; null without events.
CREATE FUNCTION nagare.latency_quantile(q double precision, buckets bigint[])
RETURNS double precision
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bounds bigint[] := nagare.produce_latency_bounds_us();
  total numeric := 0;
  cum numeric := 0;
  rank numeric;
  lo numeric;
  i integer;
BEGIN
  IF q IS NULL OR q < 0 OR q > 1 OR q = 'NaN' THEN
    RAISE EXCEPTION 'invalid quantile %', coalesce(q::text, 'null') USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A quantile is between 0 and 1 (0.99 for the 99th percentile).';
  END IF;
  IF cardinality(buckets) IS DISTINCT FROM cardinality(bounds) + 1 THEN
    RAISE EXCEPTION 'expected % latency buckets, got %', cardinality(bounds) + 1, coalesce(cardinality(buckets), 0)
      USING ERRCODE = 'invalid_parameter_value',
      HINT = 'The buckets are those of nagare.client_usage and nagare.service_sli_minute: one per bound of nagare.produce_latency_bounds_us(), then +Inf.';
  END IF;
  SELECT sum(x) INTO total FROM unnest(buckets) x;
  IF total IS NULL OR total <= 0 THEN
    RETURN NULL;
  END IF;
  rank := q * total;
  FOR i IN 1 .. cardinality(buckets) LOOP
    CONTINUE WHEN coalesce(buckets[i], 0) <= 0;
    IF cum + buckets[i] >= rank THEN
      IF i > cardinality(bounds) THEN
        RETURN bounds[cardinality(bounds)] / 1000.0;
      END IF;
      lo := CASE WHEN i = 1 THEN 0 ELSE bounds[i - 1] END;
      RETURN ((lo + (bounds[i] - lo) * (rank - cum) / buckets[i]) / 1000.0)::double precision;
    END IF;
    cum := cum + buckets[i];
  END LOOP;
  RETURN bounds[cardinality(bounds)] / 1000.0;
END $$;
COMMENT ON FUNCTION nagare.latency_quantile(double precision, bigint[]) IS
  'the q-th quantile (0 to 1) in ms of latency bucket counts (nagare.client_usage, nagare.service_sli_minute), interpolated within its bucket as Prometheus''s histogram_quantile(); the last finite bound when it falls in +Inf; null without events';

-- Per service, over the last 5 minutes, hour and day of minute rows: the
-- produce and publish latency percentiles.
CREATE VIEW nagare.service_latency WITH (security_invoker = true) AS
WITH w(time_window) AS (VALUES (interval '5 minutes'), (interval '1 hour'), (interval '1 day')),
sums AS (
  SELECT m.service, w.time_window, e.sli, e.i, sum(e.x) AS x
    FROM w JOIN nagare.service_sli_minute m ON m.minute > now() - w.time_window
   CROSS JOIN LATERAL (
     SELECT 'produce_latency', u.i, u.x FROM unnest(m.latency_buckets) WITH ORDINALITY AS u(x, i)
     UNION ALL
     SELECT 'publish_latency', u.i, u.x FROM unnest(m.publish_latency_buckets) WITH ORDINALITY AS u(x, i)
   ) AS e(sli, i, x)
   GROUP BY 1, 2, 3, 4
), hist AS (
  SELECT service, time_window, sli, array_agg(x::bigint ORDER BY i) AS buckets, sum(x)::bigint AS events
    FROM sums GROUP BY 1, 2, 3
)
SELECT service, time_window, sli, events,
       nagare.latency_quantile(0.5, buckets) AS p50_ms,
       nagare.latency_quantile(0.9, buckets) AS p90_ms,
       nagare.latency_quantile(0.99, buckets) AS p99_ms,
       buckets
  FROM hist
 WHERE events > 0;
COMMENT ON VIEW nagare.service_latency IS
  'per service the role may see, SLI (produce_latency, publish_latency) and window (the minute rows of the last 5 minutes, hour and day): events and the 50th, 90th and 99th percentiles in ms (nagare.latency_quantile()), with the summed bucket counts';
GRANT SELECT ON nagare.service_latency TO PUBLIC;

-- SLOs.  An SLO of a service is a name, an SLI, an objective (the
-- fraction of good events, e.g. 0.999), a threshold and a window:
--   produce_success  events: Produce partition results; good: error code NONE
--   produce_latency  events: Produces answered; good: latency at most
--                    threshold ms, one of the bucket bounds
--   publish_latency  events: transactions that published or changed a
--                    table topic's table; good: commit to consumable in
--                    at most threshold ms, one of the bucket bounds
--   instance_health  events: instances, sampled once a minute; good: passing
--   consumer_lag     events: minutes with lag measured for the service's
--                    groups; good: the largest lag at most threshold seconds
CREATE TABLE nagare.service_slo (
    service      text NOT NULL REFERENCES nagare.service ON DELETE CASCADE,
    name         text NOT NULL,
    sli          text NOT NULL,
    objective    numeric NOT NULL,
    threshold    numeric,
    time_window  interval NOT NULL DEFAULT '28 days',
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   name NOT NULL DEFAULT current_user,
    PRIMARY KEY (service, name),
    CONSTRAINT service_slo_name CHECK (name ~ '^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$'),
    CONSTRAINT service_slo_sli
      CHECK (sli IN ('produce_success', 'produce_latency', 'publish_latency', 'instance_health', 'consumer_lag')),
    CONSTRAINT service_slo_objective CHECK (objective > 0 AND objective < 1),
    CONSTRAINT service_slo_threshold
      CHECK ((sli IN ('produce_latency', 'publish_latency', 'consumer_lag')) = (threshold IS NOT NULL) AND threshold > 0 IS NOT false),
    CONSTRAINT service_slo_window CHECK (time_window >= '5 minutes' AND time_window <= '366 days')
);
COMMENT ON TABLE nagare.service_slo IS
  'service level objectives: per service and name, the SLI (produce_success, produce_latency, publish_latency, instance_health, consumer_lag), the objective, the threshold (latency: ms; lag: seconds) and the window; change them with nagare.set_service_slo() and drop_service_slo()';
SELECT pg_catalog.pg_extension_config_dump('nagare.service_slo', '');
REVOKE ALL ON nagare.service_slo FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON nagare.service_slo TO PUBLIC;
ALTER TABLE nagare.service_slo ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_slo_read ON nagare.service_slo FOR SELECT USING (true);
CREATE POLICY service_slo_set ON nagare.service_slo FOR INSERT
  WITH CHECK (EXISTS (SELECT 1 FROM nagare.service s
                       WHERE s.name = service AND s.retired_at IS NULL AND nagare._service_may(s.tenant)));
CREATE POLICY service_slo_change ON nagare.service_slo FOR UPDATE
  USING (EXISTS (SELECT 1 FROM nagare.service s WHERE s.name = service AND nagare._service_may(s.tenant)))
  WITH CHECK (EXISTS (SELECT 1 FROM nagare.service s
                       WHERE s.name = service AND s.retired_at IS NULL AND nagare._service_may(s.tenant)));
CREATE POLICY service_slo_drop ON nagare.service_slo FOR DELETE
  USING (EXISTS (SELECT 1 FROM nagare.service s WHERE s.name = service AND nagare._service_may(s.tenant)));
CREATE TRIGGER service_slo_audit AFTER INSERT OR UPDATE OR DELETE ON nagare.service_slo
  FOR EACH ROW EXECUTE FUNCTION nagare._audit();

CREATE FUNCTION nagare.set_service_slo(service text, name text, sli text, objective numeric,
                                       threshold numeric DEFAULT NULL,
                                       time_window interval DEFAULT '28 days')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', s.name, s.tenant);
  PERFORM nagare._service_live(s, 'SLO');
  IF $2 IS NULL OR $2 !~ '^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$' THEN
    RAISE EXCEPTION 'invalid SLO name "%"', $2 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'An SLO''s name is 1 to 63 lower-case letters, digits, - and _, beginning and ending with a letter or digit.';
  END IF;
  IF $3 IS NULL OR $3 NOT IN ('produce_success', 'produce_latency', 'publish_latency', 'instance_health', 'consumer_lag') THEN
    RAISE EXCEPTION 'unknown SLI "%"', $3 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'The SLIs are produce_success, produce_latency and publish_latency (threshold in ms), instance_health and consumer_lag (threshold in seconds).';
  END IF;
  IF $4 IS NULL OR $4 <= 0 OR $4 >= 1 THEN
    RAISE EXCEPTION 'invalid objective %', coalesce($4::text, 'null') USING ERRCODE = 'invalid_parameter_value',
      HINT = 'The objective is the fraction of good events, above 0 and below 1 (0.999 for 99.9%).';
  END IF;
  IF $3 IN ('produce_success', 'instance_health') AND $5 IS NOT NULL THEN
    RAISE EXCEPTION 'SLI % takes no threshold', $3 USING ERRCODE = 'invalid_parameter_value',
      HINT = 'Only produce_latency and publish_latency (ms) and consumer_lag (seconds) have a threshold.';
  ELSIF $3 IN ('produce_latency', 'publish_latency')
        AND ($5 IS NULL OR NOT ($5 * 1000) = ANY (nagare.produce_latency_bounds_us()::numeric[])) THEN
    RAISE EXCEPTION 'invalid % threshold %', $3, coalesce($5::text, 'null') USING ERRCODE = 'invalid_parameter_value',
      HINT = format('The threshold is in ms and one of the latency buckets'' bounds: %s.',
                    (SELECT string_agg(trim_scale(b / 1000.0)::text, ', ') FROM unnest(nagare.produce_latency_bounds_us()) b));
  ELSIF $3 = 'consumer_lag' AND ($5 IS NULL OR $5 <= 0) THEN
    RAISE EXCEPTION 'invalid consumer_lag threshold %', coalesce($5::text, 'null') USING ERRCODE = 'invalid_parameter_value',
      HINT = 'The threshold is the largest acceptable lag in seconds, above 0.';
  END IF;
  IF $6 IS NULL OR $6 < '5 minutes' OR $6 > '366 days' THEN
    RAISE EXCEPTION 'invalid SLO window %', coalesce($6::text, 'null') USING ERRCODE = 'invalid_parameter_value',
      HINT = 'The window is between 5 minutes and 366 days (28 days is usual); nagare.sli_retention must keep it.';
  END IF;
  INSERT INTO nagare.service_slo AS o (service, name, sli, objective, threshold, time_window)
  VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT ON CONSTRAINT service_slo_pkey DO UPDATE
     SET sli = excluded.sli, objective = excluded.objective, threshold = excluded.threshold,
         time_window = excluded.time_window
   WHERE (o.sli, o.objective, o.threshold, o.time_window)
         IS DISTINCT FROM (excluded.sli, excluded.objective, excluded.threshold, excluded.time_window);
END $$;
COMMENT ON FUNCTION nagare.set_service_slo(text, text, text, numeric, numeric, interval) IS
  'declare or change a service''s SLO: name, SLI (produce_success, produce_latency, publish_latency, instance_health, consumer_lag), objective (e.g. 0.999), threshold (produce_latency and publish_latency: ms, a bucket bound; consumer_lag: seconds) and window; the service''s tenant admins or the platform';

CREATE FUNCTION nagare.drop_service_slo(service text, name text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s nagare.service;
BEGIN
  s := nagare._service_get($1);
  PERFORM nagare._service_authorize('change', $1, s.tenant);
  DELETE FROM nagare.service_slo o WHERE o.service = $1 AND o.name = $2;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'service "%" has no SLO "%"', $1, $2
      USING ERRCODE = 'undefined_object', HINT = 'nagare.slo_status lists them.';
  END IF;
END $$;
COMMENT ON FUNCTION nagare.drop_service_slo(text, text) IS
  'remove an SLO of nagare.set_service_slo()';

-- Per SLO, over its window and the burn-rate windows: good and all events
-- of the minute rows that began within the window.  Burn rate: the
-- fraction of bad events over the error budget's fraction (1 -
-- objective); null without events.
CREATE VIEW nagare.slo_status WITH (security_invoker = true) AS
WITH ev AS (
  SELECT o.service, o.name, m.minute,
         CASE o.sli
           WHEN 'produce_success' THEN m.produce_good
           WHEN 'produce_latency' THEN
             (SELECT coalesce(sum(x), 0) FROM unnest(m.latency_buckets[1:array_position(
                nagare.produce_latency_bounds_us(), (o.threshold * 1000)::bigint)]) x)
           WHEN 'publish_latency' THEN
             (SELECT coalesce(sum(x), 0) FROM unnest(m.publish_latency_buckets[1:array_position(
                nagare.produce_latency_bounds_us(), (o.threshold * 1000)::bigint)]) x)
           WHEN 'instance_health' THEN m.instances_passing
           ELSE CASE WHEN m.lag_seconds <= o.threshold THEN 1 ELSE 0 END
         END::numeric AS good,
         CASE o.sli
           WHEN 'produce_success' THEN m.produce_total
           WHEN 'produce_latency' THEN (SELECT coalesce(sum(x), 0) FROM unnest(m.latency_buckets) x)
           WHEN 'publish_latency' THEN (SELECT coalesce(sum(x), 0) FROM unnest(m.publish_latency_buckets) x)
           WHEN 'instance_health' THEN m.instances_total
           ELSE CASE WHEN m.lag_seconds IS NULL THEN 0 ELSE 1 END
         END::numeric AS total
    FROM nagare.service_slo o
    JOIN nagare.service_sli_minute m ON m.service = o.service AND m.minute > now() - o.time_window
), w AS (
  SELECT o.service, o.name, o.sli, o.objective, o.threshold, o.time_window,
         coalesce(sum(ev.good), 0) AS good, coalesce(sum(ev.total), 0) AS total,
         sum(ev.good) FILTER (WHERE ev.minute > now() - interval '5 minutes') AS g5m,
         sum(ev.total) FILTER (WHERE ev.minute > now() - interval '5 minutes') AS t5m,
         sum(ev.good) FILTER (WHERE ev.minute > now() - interval '30 minutes') AS g30m,
         sum(ev.total) FILTER (WHERE ev.minute > now() - interval '30 minutes') AS t30m,
         sum(ev.good) FILTER (WHERE ev.minute > now() - interval '1 hour') AS g1h,
         sum(ev.total) FILTER (WHERE ev.minute > now() - interval '1 hour') AS t1h,
         sum(ev.good) FILTER (WHERE ev.minute > now() - interval '2 hours') AS g2h,
         sum(ev.total) FILTER (WHERE ev.minute > now() - interval '2 hours') AS t2h,
         sum(ev.good) FILTER (WHERE ev.minute > now() - interval '6 hours') AS g6h,
         sum(ev.total) FILTER (WHERE ev.minute > now() - interval '6 hours') AS t6h,
         sum(ev.good) FILTER (WHERE ev.minute > now() - interval '1 day') AS g1d,
         sum(ev.total) FILTER (WHERE ev.minute > now() - interval '1 day') AS t1d,
         sum(ev.good) FILTER (WHERE ev.minute > now() - interval '3 days') AS g3d,
         sum(ev.total) FILTER (WHERE ev.minute > now() - interval '3 days') AS t3d
    FROM nagare.service_slo o
    LEFT JOIN ev ON ev.service = o.service AND ev.name = o.name
   WHERE nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE')
      OR EXISTS (SELECT 1 FROM nagare.service s
                  WHERE s.name = o.service AND s.tenant = nagare._quota_role_tenant(current_user))
   GROUP BY o.service, o.name, o.sli, o.objective, o.threshold, o.time_window
)
SELECT service, name, sli, objective, threshold, time_window,
       good::bigint AS good_events, total::bigint AS total_events,
       CASE WHEN total > 0 THEN (good / total)::double precision END AS sli_value,
       CASE WHEN total > 0 THEN good / total >= objective END AS met,
       ((1 - objective) * total)::double precision AS error_budget_events,
       ((1 - objective) * total - (total - good))::double precision AS error_budget_remaining_events,
       CASE WHEN total > 0 THEN (1 - (total - good) / ((1 - objective) * total))::double precision END
         AS error_budget_remaining,
       CASE WHEN t5m > 0 THEN ((1 - g5m / t5m) / (1 - objective))::double precision END AS burn_rate_5m,
       CASE WHEN t30m > 0 THEN ((1 - g30m / t30m) / (1 - objective))::double precision END AS burn_rate_30m,
       CASE WHEN t1h > 0 THEN ((1 - g1h / t1h) / (1 - objective))::double precision END AS burn_rate_1h,
       CASE WHEN t2h > 0 THEN ((1 - g2h / t2h) / (1 - objective))::double precision END AS burn_rate_2h,
       CASE WHEN t6h > 0 THEN ((1 - g6h / t6h) / (1 - objective))::double precision END AS burn_rate_6h,
       CASE WHEN t1d > 0 THEN ((1 - g1d / t1d) / (1 - objective))::double precision END AS burn_rate_1d,
       CASE WHEN t3d > 0 THEN ((1 - g3d / t3d) / (1 - objective))::double precision END AS burn_rate_3d
  FROM w;
COMMENT ON VIEW nagare.slo_status IS
  'per SLO the current role may see (the platform all, a tenant''s principals their services''): good and all events over its window, the SLI, whether it is met, the error budget in events and what remains (events and fraction), burn rates over 5m, 30m, 1h, 2h, 6h, 1d and 3d';
GRANT SELECT ON nagare.slo_status TO PUBLIC;

-- The SRE workbook's multiwindow, multi-burn-rate alerts ("Alerting on
-- SLOs", https://sre.google/workbook/alerting-on-slos/, approach 6): page
-- when the burn rate is above 14.4 over 1 hour and 5 minutes or above 6
-- over 6 hours and 30 minutes; ticket when above 3 over 1 day and 2 hours
-- or above 1 over 3 days and 6 hours.
CREATE VIEW nagare.slo_alerts WITH (security_invoker = true) AS
SELECT s.service, s.name, s.sli, r.severity, r.long_window, r.short_window, r.burn_rate_threshold,
       r.long_burn_rate, r.short_burn_rate, s.error_budget_remaining
  FROM nagare.slo_status s
 CROSS JOIN LATERAL (VALUES
   ('page', interval '1 hour', interval '5 minutes', 14.4, s.burn_rate_1h, s.burn_rate_5m),
   ('page', interval '6 hours', interval '30 minutes', 6, s.burn_rate_6h, s.burn_rate_30m),
   ('ticket', interval '1 day', interval '2 hours', 3, s.burn_rate_1d, s.burn_rate_2h),
   ('ticket', interval '3 days', interval '6 hours', 1, s.burn_rate_3d, s.burn_rate_6h))
   AS r(severity, long_window, short_window, burn_rate_threshold, long_burn_rate, short_burn_rate)
 WHERE r.long_burn_rate > r.burn_rate_threshold AND r.short_burn_rate > r.burn_rate_threshold;
COMMENT ON VIEW nagare.slo_alerts IS
  'the SLOs whose burn rates fire one of the SRE workbook''s multiwindow, multi-burn-rate alerts: page (14.4 over 1h and 5m, 6 over 6h and 30m) or ticket (3 over 1d and 2h, 1 over 3d and 6h), with the rates and the budget left';
GRANT SELECT ON nagare.slo_alerts TO PUBLIC;

--
-- Event triggers: nagare's catalog follows DDL on the objects it refers to.
--
-- DROP TABLE (and DROP SCHEMA ... CASCADE, DROP OWNED) of a table that has
-- a table topic drops the table topic with it, with a NOTICE; the topic
-- and its records stay.  Its held changes (nagare.undelivered) become
-- skipped: their table is gone.
-- SECURITY DEFINER: it runs for every DROP of every role, and roles cannot
-- read nagare.table_topic.
CREATE FUNCTION nagare._drop_table_topics()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
BEGIN
  -- DROP EXTENSION nagare drops this function's tables too
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() o
                  WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0)
     OR pg_catalog.to_regclass('nagare.table_topic') IS NULL
     OR pg_catalog.to_regclass('nagare.undelivered') IS NULL THEN
    RETURN;
  END IF;
  FOR r IN SELECT tt.relid::oid AS relid, tt.topic, o.object_identity
             FROM pg_catalog.pg_event_trigger_dropped_objects() o
             JOIN nagare.table_topic tt ON tt.relid::oid = o.objid
            WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0
  LOOP
    DELETE FROM nagare.table_topic tt WHERE tt.relid::oid = r.relid;
    UPDATE nagare.undelivered u
       SET action = CASE WHEN u.action = 'held' THEN 'skipped' ELSE u.action END,
           reason = CASE WHEN u.action = 'held' THEN u.reason || '; its table was dropped' ELSE u.reason END,
           relid = NULL
     WHERE u.relid::oid = r.relid;
    RAISE NOTICE 'table topic of % dropped with its table', r.object_identity
      USING DETAIL = format('The topic "%s" and its records are kept.', r.topic),
            HINT = format('Delete the topic with nagare.delete_topic(%L) if it is no longer needed.', r.topic);
  END LOOP;
END $$;
COMMENT ON FUNCTION nagare._drop_table_topics() IS
  'event trigger (sql_drop): drop the table topic of a dropped table';
REVOKE ALL ON FUNCTION nagare._drop_table_topics() FROM PUBLIC;
CREATE EVENT TRIGGER nagare_drop_table_topics ON sql_drop
  EXECUTE FUNCTION nagare._drop_table_topics();
