-- Consumer group offsets from SQL: reset, lag, delete.  (Groups with live
-- members need Kafka clients: test/t/110_consumer_groups.pl.)
SELECT nagare.create_topic('grp_t', 2);
SELECT count(*) FROM nagare.send_batch('grp_t', ARRAY['a','b','c','d','e'], ARRAY['1','2','3','4','5'],
                                       NULL, ARRAY[0,0,0,1,1]);
-- no groups yet
SELECT * FROM nagare.consumer_groups;
SELECT * FROM nagare.group_members;
-- reset an idle group to earliest, latest, an offset, a time
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'earliest');
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'latest', ARRAY[1]);
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 1::bigint, ARRAY[0]);
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 99::bigint);   -- clamped to the log
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', now() + interval '1 day');
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', now() - interval '1 day');
SELECT group_id, topic, partition, committed_offset, high_watermark, lag
  FROM nagare.consumer_lag ORDER BY 1, 2, 3;
-- a group known by its offsets only
SELECT group_id, state, members FROM nagare.consumer_groups;
-- bad input
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'middle');
SELECT * FROM nagare.reset_group_offsets('g1', 'no_such_topic', 'earliest');
SELECT nagare.offset_for_time('no_such_topic', 0, now());
SELECT nagare.offset_for_time('grp_t', 0, now() - interval '1 day');
-- delete
SELECT nagare.delete_group('g1');
SELECT nagare.delete_group('g1');
SELECT count(*) FROM nagare.group_offset;
-- deleting a topic deletes its offsets
SELECT count(*) FROM nagare.reset_group_offsets('g2', 'grp_t', 'latest');
SELECT nagare.delete_topic('grp_t');
SELECT count(*) FROM nagare.group_offset WHERE topic = 'grp_t';
