-- ACLs: the model, its validation, and the SQL door deciding like Kafka's
-- StandardAuthorizer for current_user ("User:<role>").

-- wait until the shared copy (what every process decides from) shows the table
\i sql/include/wait_acls.sql

CREATE ROLE acl_alice;
CREATE ROLE acl_bob;
GRANT USAGE ON SCHEMA nagare TO acl_alice, acl_bob;
SELECT nagare.create_topic('acl_t1');
SELECT nagare.create_topic('acl_t2');
SELECT nagare.create_topic('other_t');
SELECT pg_temp.wait_acls();
SELECT allow_everyone_if_no_acl_found, acls FROM nagare.acl_status;

-- with no ACL at all, every role may use every topic (all listeners are PLAINTEXT)
SET ROLE acl_bob;
SELECT "partition", "offset" FROM nagare.send('acl_t1', 'k', 'v0');
RESET ROLE;

-- invalid ACLs, refused as Kafka refuses them
SELECT nagare.create_acl('BANANA', 'x', 'User:a', 'READ');
SELECT nagare.create_acl('TOPIC', 'x', 'User:a', 'FLY');
SELECT nagare.create_acl('CLUSTER', 'x', 'User:a', 'ALTER');
SELECT nagare.create_acl('TOPIC', 'acl_t1', 'alice', 'READ');
SELECT nagare.create_acl('TOPIC', '', 'User:a', 'READ');
SELECT nagare.create_acl('TOPIC', 'x', 'User:a', 'READ', 'MAYBE');
SELECT nagare.create_acl('TOPIC', 'x', 'User:a', 'ANY');
SELECT nagare.create_acl('TOPIC', 'x', 'User:a', 'READ', pattern_type => 'MATCH');
SELECT nagare.create_acl('TOPIC', repeat('x', 256), 'User:a', 'READ');

-- Alice may write acl_t1 and read everything named acl_*; nobody else may
SELECT nagare.create_acl('TOPIC', 'acl_t1', 'User:acl_alice', 'WRITE');
SELECT nagare.create_acl('topic', 'acl_t1', 'User:acl_alice', 'write');  -- exists: false
SELECT nagare.create_acl('TOPIC', 'acl_', 'User:acl_alice', 'READ', pattern_type => 'PREFIXED');
SELECT nagare.create_acl('GROUP', 'acl_g', 'User:acl_alice', 'ALL');
SELECT pg_temp.wait_acls();
SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
  FROM nagare.acls ORDER BY 1, 2, 3, 4, 5, 6;

-- delegating ACL administration: ALTER on the CLUSTER
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:acl_bob', 'ALTER');
SELECT pg_temp.wait_acls();
SET ROLE acl_bob;
SELECT nagare.create_acl('TOPIC', 'other_t', 'User:acl_bob', 'READ');
SELECT count(*) AS visible_with_alter FROM nagare.acls;
SELECT resource_name, operation FROM nagare.delete_acls('TOPIC', 'other_t');
RESET ROLE;
SELECT pg_temp.wait_acls();

SET ROLE acl_alice;
SELECT "partition", "offset" FROM nagare.send('acl_t1', 'k', 'v1');
SELECT count(*) FROM nagare.consume('acl_t1');
SELECT count(*) FROM nagare.consume('acl_t2');               -- READ by the prefix
SELECT "partition", "offset" FROM nagare.send('acl_t2', 'k', 'v');  -- no WRITE on acl_t2
SELECT nagare.authorized('TOPIC', 'acl_t1', 'DESCRIBE');     -- WRITE implies DESCRIBE
SELECT nagare.authorized('TOPIC', 'acl_t1', 'DELETE');
SELECT nagare.authorized('GROUP', 'acl_g', 'DELETE');        -- ALL
SELECT nagare.authorized('TOPIC', 'other_t', 'WRITE');       -- no ACL on it: allowed
SELECT topic FROM nagare.topics WHERE topic LIKE 'acl%' OR topic = 'other_t' ORDER BY 1;
SELECT count(*) FROM nagare.acls;                            -- only the ACL of what she may ALTER (acl_g)
SELECT nagare.create_acl('TOPIC', 'acl_t1', 'User:acl_alice', 'DELETE');
RESET ROLE;

SET ROLE acl_bob;
SELECT "partition", "offset" FROM nagare.send('acl_t1', 'k', 'v');
SELECT count(*) FROM nagare.consume('acl_t1');
SELECT nagare.delete_topic('acl_t2');
SELECT topic FROM nagare.topics WHERE topic LIKE 'acl%' OR topic = 'other_t' ORDER BY 1;
RESET ROLE;

-- DENY wins over ALLOW; User:* matches every principal
SELECT nagare.create_acl('TOPIC', 'acl_t1', 'User:*', 'WRITE', 'DENY');
SELECT pg_temp.wait_acls();
SET ROLE acl_alice;
SELECT "partition", "offset" FROM nagare.send('acl_t1', 'k', 'v');
RESET ROLE;

-- filters: MATCH finds every ACL that applies to a name
SELECT resource_name, pattern_type, operation, permission
  FROM nagare.acl a
 WHERE nagare.acl_matches(a.resource_type, a.resource_name, a.pattern_type, a.principal, a.host,
                          a.operation, a.permission, 'TOPIC', 'acl_t1', 'MATCH', NULL, NULL, 'ANY', 'ANY')
 ORDER BY 1, 2, 3, 4;
SELECT * FROM nagare.delete_acls(resource_type => 'NOPE');
SELECT resource_type, resource_name, operation, permission FROM nagare.delete_acls() ORDER BY 1, 2, 3, 4;
SELECT pg_temp.wait_acls();
SELECT acls, overflow FROM nagare.acl_status;
SELECT denied > 0 AS denials_counted FROM nagare.acl_status;

-- a rolled-back change leaves nothing
BEGIN;
SELECT nagare.create_acl('TOPIC', 'x', 'User:x', 'READ');
ROLLBACK;
SELECT count(*) FROM nagare.acl;

SELECT nagare.delete_topic('acl_t1');
SELECT nagare.delete_topic('acl_t2');
SELECT nagare.delete_topic('other_t');
REVOKE USAGE ON SCHEMA nagare FROM acl_alice, acl_bob;
DROP ROLE acl_alice;
DROP ROLE acl_bob;
