--
-- send(), send_batch() and consume()
--
\set VERBOSITY default
SELECT nagare.create_topic('sc', 3);
SELECT nagare.create_topic('sc.one');

-- keys choose partitions as Kafka's Java producer does (murmur2), so these
-- agree with kafka-python's DefaultPartitioner
SELECT * FROM nagare.send('sc', 'k1', 'hello');
SELECT * FROM nagare.send('sc', 'k1'::bytea, 'again'::bytea);
SELECT key, (nagare.send('sc', key, 'v')).partition
  FROM (VALUES ('a'), ('b'), ('c'), ('21'), ('foobar')) k(key);

-- the partitioner: per topic ("partitioner": murmur2, the default, or crc32,
-- librdkafka's default consistent_random), or per call; crc32 % 5 computed
-- with Python's zlib.crc32, murmur2 % 5 with test/codec's batchtool
SELECT nagare.create_topic('pt.crc', 5, '{"partitioner": "crc32"}');
SELECT key, (nagare.send('pt.crc', key, 'v')).partition AS crc32,
       (nagare.send('pt.crc', key, 'v', partitioner => 'murmur2')).partition AS murmur2,
       (nagare.send('pt.crc', key::bytea, 'v'::bytea)).partition AS crc32_bytea
  FROM (VALUES ('a'), ('b'), ('c'), ('21'), ('foobar'), ('')) k(key);
SELECT * FROM nagare.send_batch('pt.crc', ARRAY['a', 'b', 'foobar'], ARRAY['1', '2', '3'],
                                partitioner => 'murmur2');
SELECT nagare.create_topic('pt.m', 3);
SELECT (nagare.send('pt.m', 'k1', 'v', partitioner => 'crc32')).partition AS crc32,
       (nagare.send('pt.m', 'k1', 'v')).partition AS topic_default;
SELECT nagare.alter_topic('pt.crc', config => '{"partitioner": "murmur2"}');
SELECT (nagare.send('pt.crc', 'foobar', 'v')).partition AS now_murmur2;
SELECT overrides FROM nagare.topics WHERE topic = 'pt.crc';
SELECT nagare.alter_topic('pt.crc', config => '{"partitioner": null}');
SELECT overrides FROM nagare.topics WHERE topic = 'pt.crc';
SELECT * FROM nagare.send('pt.m', 'k', 'v', partitioner => 'fnv1a');
SELECT nagare.create_topic('pt.bad', 1, '{"partitioner": "consistent_random"}');

-- the key may be left out (named notation); positionally it comes second,
-- and a key without a value names the null value
SELECT * FROM nagare.send('pt.m', value => 'no key', "partition" => 0);
SELECT * FROM nagare.send('pt.m', value => '{"no": "key"}'::jsonb, "partition" => 0);
SELECT * FROM nagare.send('pt.m', value => '\x01'::bytea, "partition" => 0);
SELECT * FROM nagare.send_batch('pt.m', "values" => ARRAY['nk1', 'nk2'], partitions => ARRAY[0, 0]);
SELECT * FROM nagare.send('pt.m', 'tombstone', NULL, "partition" => 0);
SELECT "offset", key, value FROM nagare.consume('pt.m', 0, 0, 100);

-- an explicit partition, null key and null value, jsonb value, headers
SELECT * FROM nagare.send('sc.one', NULL, NULL);
SELECT * FROM nagare.send('sc.one', '', '');
SELECT * FROM nagare.send('sc.one', 'j', '{"b": 1, "a": [true, null]}'::jsonb);
SELECT * FROM nagare.send('sc.one', '\x00ff10'::bytea, '\x000102fffe'::bytea,
                          '[["h", "1"], ["h", "2"], ["n", null]]');
SELECT * FROM nagare.send('sc.one', 'obj', 'v', '{"trace": "abc", "n": 5, "b": true}');
SELECT * FROM nagare.send('sc', 'k1', 'to p0', NULL, 0);

SELECT partition, "offset", key, value, headers FROM nagare.consume('sc.one', 0, 0, 100);
SELECT "offset", convert_from(value, 'UTF8') AS value FROM nagare.consume('sc', 2, 0, 10);
SELECT "offset", convert_from(value, 'UTF8') AS value FROM nagare.consume('sc', 2, 1, 1);
SELECT count(*) FROM nagare.consume('sc', 2, 0, 0);
SELECT "timestamp" BETWEEN now() - interval '1 hour' AND clock_timestamp() AS sane_timestamp
  FROM nagare.consume('sc.one', 0, 0, 1);

-- batches: one row per record, in input order
SELECT * FROM nagare.send_batch('sc', ARRAY['a', 'b', 'c', 'a'], ARRAY['1', '2', '3', '4']);
SELECT * FROM nagare.send_batch('sc.one', NULL, ARRAY['x', NULL, 'z']::text[],
                                ARRAY['{"h": "1"}', NULL, '[["k", "v"]]']::jsonb[]);
SELECT * FROM nagare.send_batch('sc', NULL, ARRAY['p1', 'p2']::bytea[], NULL, ARRAY[1, 1]);
SELECT * FROM nagare.send_batch('sc', NULL, ARRAY[]::text[]);
SELECT "offset", key, convert_from(value, 'UTF8') AS value, headers
  FROM nagare.consume('sc.one', 0, 5, 100);
SELECT count(*), min("offset"), max("offset")
  FROM nagare.send_batch('sc.one', NULL, (SELECT array_agg(g::text) FROM generate_series(1, 5000) g));
SELECT count(*), sum(convert_from(value, 'UTF8')::int) FROM nagare.consume('sc.one', 0, 8, 10000);

-- the partitions view
SELECT topic, partition, log_start_offset, high_watermark, segments, size_bytes > 0 AS has_bytes
  FROM nagare.partitions WHERE topic LIKE 'sc%' ORDER BY topic, partition;

-- every compression codec a Kafka client may use
SELECT nagare.create_topic('sc.' || c, 1, jsonb_build_object('compression.type', c))
  FROM unnest(ARRAY['gzip', 'snappy', 'lz4', 'zstd']) c;
SELECT c, (SELECT count(*) FROM nagare.send_batch('sc.' || c, NULL,
                  (SELECT array_agg(repeat(g::text, 50)) FROM generate_series(1, 300) g))) AS sent
  FROM unnest(ARRAY['gzip', 'snappy', 'lz4', 'zstd']) c;
SELECT c, (SELECT count(*) FROM nagare.send('sc.' || c, 'key', 'single')) AS sent
  FROM unnest(ARRAY['gzip', 'snappy', 'lz4', 'zstd']) c;
SELECT c,
       (SELECT count(*) FROM nagare.consume('sc.' || c, 0, 0, 1000)) AS records,
       (SELECT bool_and(convert_from(value, 'UTF8') = repeat(("offset" + 1)::text, 50))
          FROM nagare.consume('sc.' || c, 0, 0, 300)) AS intact,
       (SELECT convert_from(value, 'UTF8') FROM nagare.consume('sc.' || c, 0, 300, 1)) AS last,
       (SELECT size_bytes < 300 * 100 FROM nagare.partitions WHERE topic = 'sc.' || c) AS compressed
  FROM unnest(ARRAY['gzip', 'snappy', 'lz4', 'zstd']) c;

-- bad input
SELECT * FROM nagare.send('nosuch', 'k', 'v');
SELECT * FROM nagare.send(NULL, 'k', 'v');
SELECT * FROM nagare.send('sc', 'k', 'v', NULL, 3);
SELECT * FROM nagare.send('sc', 'k', 'v', NULL, -1);
SELECT * FROM nagare.send('sc', 'k', 'v', '"scalar"');
SELECT * FROM nagare.send('sc', 'k', 'v', '[["only-key"]]');
SELECT * FROM nagare.send('sc', 'k', 'v', '[[1, "v"]]');
SELECT * FROM nagare.send('sc', 'k', 'v', '{"h": {"nested": 1}}');
SELECT * FROM nagare.send_batch('sc', ARRAY['a'], ARRAY['1', '2']);
SELECT * FROM nagare.send_batch('sc', NULL, NULL::text[]);
SELECT * FROM nagare.send_batch('sc', NULL, ARRAY['1'], NULL, ARRAY[7]);
SELECT * FROM nagare.consume('nosuch', 0, 0, 1);
SELECT * FROM nagare.consume('sc', 3, 0, 1);
SELECT * FROM nagare.consume('sc', 0, -1, 1);
SELECT * FROM nagare.consume('sc', 0, 0, -1);
SELECT * FROM nagare.consume('sc', 0, 1000, 1);
SELECT count(*) FROM nagare.consume('sc', 0, (SELECT high_watermark FROM nagare.partitions
                                              WHERE topic = 'sc' AND partition = 0), 1);

-- records larger than max.message.bytes
SELECT nagare.create_topic('sc.small', 1, '{"max.message.bytes": 200}');
SELECT * FROM nagare.send('sc.small', 'k', repeat('x', 100));
SELECT * FROM nagare.send('sc.small', 'k', repeat('x', 200));
SELECT count(*) FROM nagare.send_batch('sc.small', NULL, array_fill('abcdefghij'::text, ARRAY[50]));
SELECT count(*), count(DISTINCT "offset") FROM nagare.consume('sc.small', 0, 0, 100);

-- a topic created in the same transaction cannot be written yet
BEGIN;
SELECT nagare.create_topic('sc.new');
SELECT * FROM nagare.send('sc.new', 'k', 'v');
ROLLBACK;

-- sends are not transactional: they stay after a rollback
BEGIN;
SELECT * FROM nagare.send('sc.one', 'rb', 'kept');
ROLLBACK;
-- (a rollback does not wait for its sends to be written; a commit after it does)
SELECT * FROM nagare.send('sc.one', 'after', 'rollback');
SELECT convert_from(value, 'UTF8') FROM nagare.consume('sc.one', 0, 5008, 2);

-- a transaction reads its own sends
BEGIN;
SELECT * FROM nagare.send('sc.one', 'mine', 'read your writes');
SELECT key, convert_from(value, 'UTF8') FROM nagare.consume('sc.one', 0, 5010, 1);
COMMIT;

-- a batch larger than max.message.bytes is split into several Kafka batches
SELECT nagare.create_topic('sc.split', 1, '{"max.message.bytes": 100000}');
SELECT count(*), min("offset"), max("offset")
  FROM nagare.send_batch('sc.split', NULL,
       (SELECT array_agg(lpad(g::text, 100, 'x')) FROM generate_series(1, 2000) g));
SELECT count(*), count(DISTINCT "offset"), bool_and(value = convert_to(lpad(("offset" + 1)::text, 100, 'x'), 'UTF8'))
  FROM nagare.consume('sc.split', 0, 0, 5000);
SELECT size_bytes > 2000 * 100 AS stored, segments FROM nagare.partitions WHERE topic = 'sc.split';
