/* nagare--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION nagare" to load this file. \quit

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

REVOKE ALL ON nagare.topic FROM PUBLIC;
GRANT SELECT ON nagare.topic TO PUBLIC;

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
CREATE FUNCTION nagare.send(topic text, key bytea, value bytea,
                            headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL)
RETURNS nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.send(text, bytea, bytea, jsonb, integer) IS
  'append one record now (not transactional); durable once the transaction commits';

CREATE FUNCTION nagare.send(topic text, key text, value text,
                            headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL)
RETURNS nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send'
LANGUAGE C VOLATILE;

CREATE FUNCTION nagare.send(topic text, key text, value jsonb,
                            headers jsonb DEFAULT NULL, "partition" integer DEFAULT NULL)
RETURNS nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send'
LANGUAGE C VOLATILE;

CREATE FUNCTION nagare.send_batch(topic text, keys bytea[], "values" bytea[],
                                  headers jsonb[] DEFAULT NULL,
                                  partitions integer[] DEFAULT NULL)
RETURNS SETOF nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send_batch'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION nagare.send_batch(text, bytea[], bytea[], jsonb[], integer[]) IS
  'append many records in one request; returns (partition, offset) of each, in order';

CREATE FUNCTION nagare.send_batch(topic text, keys text[], "values" text[],
                                  headers jsonb[] DEFAULT NULL,
                                  partitions integer[] DEFAULT NULL)
RETURNS SETOF nagare.send_result
AS 'MODULE_PATHNAME', 'nagare_send_batch'
LANGUAGE C VOLATILE;

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

CREATE FUNCTION nagare.broker_status(
    OUT pid integer, OUT state text,
    OUT queue_size bigint, OUT queue_used bigint, OUT queue_not_durable bigint,
    OUT appended_batches bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'nagare_broker_status'
LANGUAGE C VOLATILE;

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
 WHERE t.deleted_at IS NULL;
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
 WHERE t.deleted_at IS NULL;
COMMENT ON VIEW nagare.partitions IS 'partitions with log start offset, high watermark, segments and bytes on disk';

CREATE VIEW nagare.broker AS SELECT * FROM nagare.broker_status();

GRANT USAGE ON SCHEMA nagare TO PUBLIC;
GRANT SELECT ON nagare.topics, nagare.partitions, nagare.broker TO PUBLIC;
