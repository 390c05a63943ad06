-- nagare.publish(): a record exists if and only if its transaction commits,
-- in commit order; table topics (change data capture).
-- wait for the ingest worker's replication slot
DO $$ BEGIN
  FOR i IN 1..200 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM nagare.ingest);
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT slot_name, wal_level FROM nagare.ingest;
CREATE FUNCTION pg_temp.wait_hwm(t text, want bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  FOR i IN 1..400 LOOP
    SELECT sum(high_watermark) INTO n FROM nagare.partitions WHERE topic = t;
    EXIT WHEN n >= want;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN n;
END $$;
SELECT nagare.create_topic('pub_t', 1);
-- committed, rolled back, a rolled-back savepoint, a failed transaction
BEGIN;
SELECT nagare.publish('pub_t', 'k1', 'one');
SELECT nagare.publish('pub_t', 'k2', '{"n": 2}'::jsonb, '{"source": "regress"}');
COMMIT;
BEGIN;
SELECT nagare.publish('pub_t', 'k3', 'rolled back');
ROLLBACK;
BEGIN;
SELECT nagare.publish('pub_t', 'k4', 'four');
SAVEPOINT s;
SELECT nagare.publish('pub_t', 'k5', 'savepoint rolled back');
ROLLBACK TO s;
SELECT nagare.publish('pub_t', NULL::text, 'six');
COMMIT;
BEGIN;
SELECT nagare.publish('pub_t', 'k7', 'failed');
SELECT 1 / 0;
COMMIT;
-- nothing is visible before the commit: send() is, publish() is not
BEGIN;
SELECT nagare.publish('pub_t', 'k8', 'eight');
SELECT pg_temp.wait_hwm('pub_t', 4);
COMMIT;
SELECT pg_temp.wait_hwm('pub_t', 5);
SELECT "offset", convert_from(key, 'UTF8') AS key, convert_from(value, 'UTF8') AS value,
       (SELECT array_agg(h.key ORDER BY h.key) FROM unnest(headers) h) AS header_keys
  FROM nagare.consume('pub_t', 0, 0, 100);
-- bad input
SELECT nagare.publish('no_such_topic', 'k', 'v');
SELECT nagare.publish('pub_t', 'k', 'v', NULL, 5);
SELECT nagare.publish('pub_t', 'k', 'v', '"not an object"');
-- table topics
CREATE TABLE cdc_orders (id integer PRIMARY KEY, item text, qty numeric, tags text[],
                         meta jsonb, doc bytea, big text);
INSERT INTO cdc_orders VALUES (1, 'tea', 2.50, '{green,hot}', '{"x": 1}', '\x0102', NULL);
SELECT nagare.create_table_topic('cdc_orders', 'cdc', partitions => 1);
SELECT relation, topic, tombstones FROM nagare.table_topics;
INSERT INTO cdc_orders VALUES (2, 'milk', 1, NULL, NULL, NULL,
                               (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i));
UPDATE cdc_orders SET qty = 3 WHERE id = 1;
UPDATE cdc_orders SET item = 'oat milk' WHERE id = 2;   -- big is TOASTed and unchanged
DELETE FROM cdc_orders WHERE id = 2;
ALTER TABLE cdc_orders ADD COLUMN note text;
INSERT INTO cdc_orders (id, item, note) VALUES (3, 'cake', 'new column');
TRUNCATE cdc_orders;
SELECT pg_temp.wait_hwm('cdc', 8);
SELECT "offset", convert_from(key, 'UTF8') AS key,
       v->>'op' AS op,
       v->'after'->>'item' AS item, v->'after'->>'qty' AS qty, v->'after'->'tags' AS tags,
       v->'after'->>'doc' AS doc, length(v->'after'->>'big') AS big_len,
       v->'after'->>'note' AS note, v->'before' AS before, v->'unchanged_toast' AS unchanged,
       v->'source'->>'table' AS "table", (v->'source' ? 'commit_lsn') AS has_lsn,
       value IS NULL AS tombstone
  FROM nagare.consume('cdc', 0, 0, 100),
       LATERAL (SELECT convert_from(value, 'UTF8')::jsonb AS v) x;
SELECT nagare.drop_table_topic('cdc_orders');
INSERT INTO cdc_orders VALUES (4, 'not published');
SELECT nagare.create_table_topic('cdc_orders');  -- again, default topic name
SELECT nagare.create_table_topic('cdc_orders');
SELECT nagare.drop_table_topic('cdc_orders');
SELECT nagare.drop_table_topic('cdc_orders');
SELECT nagare.create_table_topic('nagare.topic_id_seq');
-- a record that does not fit its topic fails in the publishing transaction
-- (54000), counting the nagare.lsn header the ingest worker adds: the
-- largest record publish() takes is delivered
SELECT nagare.create_topic('pub_small', 1, '{"max.message.bytes": 1000}');
CREATE FUNCTION pg_temp.largest_publishable(t text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer := 0;
BEGIN
  FOR i IN 800..1000 LOOP
    BEGIN
      PERFORM nagare.publish(t, 'k', repeat('x', i));
      n := i;
      RAISE EXCEPTION 'taken back';
    EXCEPTION WHEN raise_exception THEN NULL;
              WHEN program_limit_exceeded THEN EXIT;
    END;
  END LOOP;
  RETURN n;
END $$;
SELECT pg_temp.largest_publishable('pub_small') AS n \gset
SELECT :n;
-- (largest_publishable() stops only at 54000, program_limit_exceeded)
SELECT nagare.publish('pub_small', 'k', repeat('x', :n + 1));
SELECT nagare.publish('pub_small', 'k', repeat('x', :n));
SELECT pg_temp.wait_hwm('pub_small', 1);
SELECT length(value) FROM nagare.consume('pub_small', 0, 0, 10);
SELECT count(*) FROM nagare.undelivered;
-- on_error: dead_letter (default, its topic is made), skip, stop; changeable
CREATE TABLE cdc_policy (id integer PRIMARY KEY);
SELECT nagare.create_table_topic('cdc_policy', snapshot => false, on_error => 'ignore');
SELECT nagare.create_table_topic('cdc_policy', 'cdc_policy', snapshot => false, dead_letter_topic => 'cdc_policy');
SELECT nagare.create_table_topic('cdc_policy', snapshot => false);
SELECT relation, topic, on_error, dead_letter_topic, stopped_at, held FROM nagare.table_topics WHERE relation = 'cdc_policy'::regclass;
SELECT topic FROM nagare.topics WHERE topic LIKE 'public.cdc_policy%' ORDER BY 1;
SELECT nagare.alter_table_topic('cdc_policy', on_error => 'stop');
SELECT nagare.alter_table_topic('cdc_policy', on_error => 'dead_letter', dead_letter_topic => 'cdc_policy_dead');
SELECT relation, on_error, dead_letter_topic FROM nagare.table_topics WHERE relation = 'cdc_policy'::regclass;
SELECT topic FROM nagare.topics WHERE topic = 'cdc_policy_dead';
SELECT nagare.resume_table_topic('cdc_policy');
-- the topic of a table topic cannot be deleted; DROP TABLE drops the table topic
SELECT nagare.delete_topic('public.cdc_policy');
ALTER TABLE cdc_policy RENAME TO cdc_policy2;
SELECT relation FROM nagare.table_topics WHERE topic = 'public.cdc_policy';
DROP TABLE cdc_policy2;
SELECT count(*) FROM nagare.table_topic tt WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tt.relid);
SELECT nagare.delete_topic('public.cdc_policy');
