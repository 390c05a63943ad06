-- The audit trail: administrative changes through SQL are rows of
-- nagare.audit_log (changes through Kafka: test/t/140_acl.pl).
SELECT max(id) AS start FROM nagare.audit_log \gset
CREATE ROLE audit_carol;
GRANT USAGE ON SCHEMA nagare TO audit_carol;

SELECT nagare.create_topic('audit_t', 2);
SELECT nagare.alter_topic('audit_t', 3, '{"retention.ms": "3600000"}');
SELECT nagare.create_acl('TOPIC', 'audit_t', 'User:audit_carol', 'DESCRIBE');
SELECT count(*) FROM nagare.delete_acls('TOPIC', 'audit_t');
INSERT INTO nagare.group_offset (group_id, topic, "partition", committed_offset)
  VALUES ('audit_g', 'audit_t', 0, 5);               -- a commit: not audited
SELECT * FROM nagare.reset_group_offsets('audit_g', 'audit_t', 'earliest', ARRAY[0]);
SELECT nagare.delete_group('audit_g');
SELECT nagare.delete_topic('audit_t');

SELECT role, principal, operation, object_type, object_name,
       "before" ->> 'partitions' AS partitions_before, "after" ->> 'partitions' AS partitions_after,
       "after" -> 'config' AS config_after
  FROM nagare.audit_log WHERE id > coalesce(:'start'::bigint, 0) ORDER BY id;
SELECT count(*) AS offset_rows_before_after
  FROM nagare.audit_log
 WHERE id > coalesce(:'start'::bigint, 0) AND object_type = 'GROUP'
   AND ("before" ->> 'committed_offset' IS NOT NULL OR "after" ->> 'committed_offset' IS NOT NULL);

-- only appends, for superusers too
UPDATE nagare.audit_log SET role = 'nobody';
DELETE FROM nagare.audit_log;
TRUNCATE nagare.audit_log;

-- a role sees the rows of what it may DESCRIBE: ACL changes need DESCRIBE on the CLUSTER
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:audit_carol', 'IDEMPOTENT_WRITE');
SELECT nagare.create_acl('TOPIC', 'audit_kept', 'User:audit_dave', 'READ');
DO $$ BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN (SELECT acls = (SELECT count(*) FROM nagare.acl) FROM nagare.acl_status);
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SET ROLE audit_carol;
SELECT count(*) AS acl_rows_seen FROM nagare.audit WHERE object_name = 'TOPIC:LITERAL:audit_kept';
SELECT count(*) > 0 AS topic_rows_seen FROM nagare.audit WHERE object_type = 'TOPIC';
INSERT INTO nagare.audit_log (role, operation, object_type, object_name) VALUES ('x', 'forged', 'TOPIC', 'x');
SET nagare.audit_client = '{"principal": "User:forged"}';
RESET ROLE;
SELECT count(*) AS acl_rows_platform FROM nagare.audit WHERE object_name = 'TOPIC:LITERAL:audit_kept';
SELECT count(*) FROM nagare.delete_acls();
REVOKE USAGE ON SCHEMA nagare FROM audit_carol;
DROP ROLE audit_carol;
