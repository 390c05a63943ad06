--
-- Topic DDL: create, alter, delete; names and configuration as Kafka has them
--
\set VERBOSITY default
SELECT nagare.create_topic('t.basic');
SELECT nagare.create_topic('t-three_parts', 3, '{"retention.ms": 3600000, "segment.bytes": "1048576"}');
SELECT topic, partitions, overrides FROM nagare.topics WHERE topic LIKE 't%' ORDER BY topic;
SELECT config->'retention.ms' AS retention_ms, config->'segment.bytes' AS segment_bytes,
       config->'cleanup.policy' AS policy, config->'compression.type' AS compression
  FROM nagare.topics WHERE topic = 't-three_parts';
-- the defaults come from the server's settings
SELECT config->'retention.ms' = to_jsonb(7 * 24 * 3600 * 1000::bigint) AS default_retention
  FROM nagare.topics WHERE topic = 't.basic';

-- names follow Kafka's rules
SELECT nagare.create_topic('');
SELECT nagare.create_topic('.');
SELECT nagare.create_topic('..');
SELECT nagare.create_topic('has space');
SELECT nagare.create_topic('slash/no');
SELECT nagare.create_topic('ümlaut');
SELECT nagare.create_topic(repeat('x', 250));
SELECT nagare.create_topic(repeat('x', 249)) IS NULL AS created_249;
SELECT nagare.create_topic(NULL);
SELECT nagare.create_topic('t.basic');

-- partition counts
SELECT nagare.create_topic('bad', 0);
SELECT nagare.create_topic('bad', 100001);

-- configuration
SELECT nagare.create_topic('bad', 1, '{"retention.minutes": 5}');
SELECT nagare.create_topic('bad', 1, '{"retention.ms": "soon"}');
SELECT nagare.create_topic('bad', 1, '{"retention.ms": -2}');
SELECT nagare.create_topic('bad', 1, '{"segment.bytes": 13}');
SELECT nagare.create_topic('bad', 1, '{"segment.bytes": 1.5}');
SELECT nagare.create_topic('bad', 1, '{"compression.type": "brotli"}');
SELECT nagare.create_topic('bad', 1, '{"compression.type": 1}');
SELECT nagare.create_topic('bad', 1, '{"cleanup.policy": "compact"}');
SELECT nagare.create_topic('bad', 1, '{"cleanup.policy": "keep"}');
SELECT nagare.create_topic('bad', 1, '{"retention.ms": null}');
SELECT nagare.create_topic('bad', 1, '[1, 2]');
SELECT nagare.create_topic('bad', 1, '{"max.message.bytes": 2000000000}');
SELECT nagare.create_topic('ok.policy', 1, '{"cleanup.policy": "delete", "compression.type": "zstd"}');
SELECT overrides FROM nagare.topics WHERE topic = 'ok.policy';
SELECT count(*) AS bad_topics FROM nagare.topic WHERE name = 'bad';

-- alter: raise partitions, set and reset settings
SELECT nagare.alter_topic('t.basic', partitions => 4);
SELECT nagare.alter_topic('t-three_parts', config => '{"retention.ms": null, "retention.bytes": 1000000}');
SELECT topic, partitions, overrides FROM nagare.topics WHERE topic IN ('t.basic', 't-three_parts') ORDER BY topic;
SELECT nagare.alter_topic('t.basic', partitions => 2);
SELECT nagare.alter_topic('t.basic', config => '{"nope": 1}');
SELECT nagare.alter_topic('missing', 2);
SELECT topic, partition FROM nagare.partitions WHERE topic = 't.basic' ORDER BY partition;

-- DDL is transactional
BEGIN;
SELECT nagare.create_topic('t.rolled_back', 2);
SELECT count(*) FROM nagare.topics WHERE topic = 't.rolled_back';
ROLLBACK;
SELECT count(*) FROM nagare.topics WHERE topic = 't.rolled_back';

BEGIN;
SELECT nagare.delete_topic('t-three_parts');
SELECT count(*) FROM nagare.topics WHERE topic = 't-three_parts';
ROLLBACK;
SELECT count(*) FROM nagare.topics WHERE topic = 't-three_parts';

BEGIN;
SELECT nagare.alter_topic('t-three_parts', 5);
ROLLBACK;
SELECT partitions FROM nagare.topics WHERE topic = 't-three_parts';

-- delete and re-create under the same name in one transaction
SELECT topic_id AS old_id FROM nagare.topics WHERE topic = 't-three_parts' \gset
BEGIN;
SELECT nagare.delete_topic('t-three_parts');
SELECT nagare.create_topic('t-three_parts', 1);
COMMIT;
SELECT partitions, topic_id <> :old_id AS new_id FROM nagare.topics WHERE topic = 't-three_parts';
SELECT nagare.delete_topic('t-three_parts');
SELECT nagare.delete_topic('t-three_parts');
SELECT count(*) FROM nagare.topics WHERE topic = 't-three_parts';

-- two-phase commit of topic DDL is refused
BEGIN;
SELECT nagare.create_topic('t.prepared');
PREPARE TRANSACTION 'nagare_ddl';
SELECT count(*) FROM nagare.topics WHERE topic = 't.prepared';

-- the server's limits hold where they are declared: nagare.max_partitions
-- (8192) over all topics and nagare.max_topics (1024), at create_topic()
-- and alter_topic(), with SQLSTATE 53400 and a hint (POLICY_VIOLATION to
-- Kafka clients); the detail counts the other topics' partitions
CREATE FUNCTION pg_temp.refused(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE sql;
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN format('%s %s (%s)', st, msg, hint);
END $$;
SELECT pg_temp.refused($$SELECT nagare.create_topic('t.too_many', 8193)$$);
SELECT nagare.create_topic('t.limit', 2);
SELECT pg_temp.refused($$SELECT nagare.alter_topic('t.limit', 8193)$$);
SELECT pg_temp.refused($$SELECT count(*) FROM (SELECT nagare.create_topic('t.lim.' || i) FROM generate_series(1, 1025) i) x$$);
SELECT count(*) AS left_behind FROM nagare.topic WHERE name LIKE 't.lim.%' OR name = 't.too_many';
SELECT partitions FROM nagare.topics WHERE topic = 't.limit';
SELECT nagare.delete_topic('t.limit');
