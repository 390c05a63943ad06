-- Consumer group offsets from SQL: reset, lag, delete.  (Groups with live
-- members need Kafka clients: test/t/110_consumer_groups.pl.)
SELECT nagare.create_topic('grp_t', 2);
SELECT count(*) FROM nagare.send_batch('grp_t', ARRAY['a','b','c','d','e'], ARRAY['1','2','3','4','5'],
                                       NULL, ARRAY[0,0,0,1,1]);
-- no groups yet
SELECT * FROM nagare.consumer_groups;
SELECT * FROM nagare.group_members;
-- a group that does not exist is refused (a misspelt name), unless created
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'earliest');
SELECT nagare.delete_group('g1');
-- reset an idle group to earliest, latest, an offset, a time
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'earliest', create_group => true);
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'latest', ARRAY[1]);
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 1::bigint, ARRAY[0]);
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 99::bigint);   -- clamped to the log
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', now() + interval '1 day');
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', now() - interval '1 day');
SELECT group_id, topic, partition, committed_offset, high_watermark, lag
  FROM nagare.consumer_lag ORDER BY 1, 2, 3;
-- a group known by its offsets only: the broker knows it too (Empty)
SELECT group_id, state, members FROM nagare.consumer_groups;
SELECT g->>'group', g->>'state' FROM jsonb_array_elements(nagare.group_snapshot()) g;
-- lag covers every partition: a partition never committed counts from the log start
SELECT count(*) FROM nagare.send_batch('grp_t', ARRAY['f','g'], ARRAY['6','7'], NULL, ARRAY[0,1]);
SELECT nagare.create_topic('grp_u', 3);
SELECT count(*) FROM nagare.send_batch('grp_u', ARRAY['a','b','c'], ARRAY['1','2','3'], NULL, ARRAY[0,1,2]);
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_u', 'latest', ARRAY[1]);
SELECT group_id, topic, partition, committed_offset, high_watermark, lag
  FROM nagare.consumer_lag WHERE topic = 'grp_u' ORDER BY 1, 2, 3;
SELECT sum(lag) FROM nagare.consumer_lag WHERE group_id = 'g1' AND topic = 'grp_u';
-- bad input
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'middle');
SELECT * FROM nagare.reset_group_offsets('g1', 'no_such_topic', 'earliest');
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'earliest', ARRAY[0, 2]);   -- no partition 2
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 0::bigint, ARRAY[-1]);
SELECT * FROM nagare.reset_group_offsets('g1', 'grp_t', 'earliest', ARRAY[NULL::integer]);
SELECT nagare.offset_for_time('no_such_topic', 0, now());
SELECT nagare.offset_for_time('grp_t', 0, now() - interval '1 day');
-- delete: gone from the table, the view and the broker; a second time it does not exist
SELECT nagare.delete_group('g1');
SELECT count(*) FROM nagare.group_offset;
SELECT * FROM nagare.consumer_groups;
SELECT count(*) FROM jsonb_array_elements(nagare.group_snapshot()) g WHERE g->>'group' = 'g1';
SELECT nagare.delete_group('g1');
-- a rolled-back delete leaves the group
SELECT count(*) FROM nagare.reset_group_offsets('g3', 'grp_t', 'latest', create_group => true);
BEGIN;
SELECT nagare.delete_group('g3');
ROLLBACK;
SELECT group_id, state FROM nagare.consumer_groups;
SELECT g->>'group', g->>'state' FROM jsonb_array_elements(nagare.group_snapshot()) g;
SELECT nagare.delete_group('g3');
-- deleting a topic deletes its offsets
SELECT count(*) FROM nagare.reset_group_offsets('g2', 'grp_t', 'latest', create_group => true);
SELECT nagare.delete_topic('grp_t');
SELECT count(*) FROM nagare.group_offset WHERE topic = 'grp_t';
SELECT nagare.delete_group('g2');
SELECT nagare.delete_topic('grp_u');
