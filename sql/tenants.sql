-- Tenants: namespaces "<tenant>." owned through PREFIXED ACLs, delegated
-- administration within limits, and isolation between tenants.
\i sql/include/wait_acls.sql

CREATE ROLE ta_admin;
CREATE ROLE ta_user;
CREATE ROLE tb_user;
GRANT USAGE ON SCHEMA nagare TO ta_admin, ta_user, tb_user;

-- tenancy needs what has no ACL closed: nagare.allow_everyone_if_no_acl_found
-- is off once a listener authenticates; here it is set off by hand
ALTER SYSTEM SET nagare.allow_everyone_if_no_acl_found = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT allow_everyone_if_no_acl_found FROM nagare.acl_status;
SELECT nagare.create_tenant('teama', max_topics => 2, max_partitions => 3,
                            max_retention_ms => 691200000);
SELECT nagare.create_tenant('teamb');
SELECT nagare.create_tenant('teamb');                         -- exists
SELECT nagare.create_tenant('bad.name');                      -- a name is letters, digits, _ and -
SELECT nagare.add_tenant_principal('teama', 'ta_admin', admin => true);
SELECT nagare.add_tenant_principal('teama', 'ta_user');
SELECT nagare.add_tenant_principal('teamb', 'tb_user');
SELECT nagare.add_tenant_principal('teama', 'tb_user');       -- one tenant per role
SELECT nagare.add_tenant_principal('teamc', 'tb_user');       -- no such tenant
SELECT pg_temp.wait_acls();
SELECT principal, resource_type, resource_name, pattern_type, operation
  FROM nagare.acls WHERE principal IN ('User:ta_admin', 'User:ta_user') ORDER BY 1, 2, 5;

-- the tenant's admin creates topics from psql, within the limits
SET ROLE ta_admin;
SELECT nagare.create_topic('teama.orders', 2);
SELECT nagare.create_topic('teama.big', 2);                   -- 4 partitions > 3
SELECT nagare.create_topic('teama.events', 1, '{"retention.ms": "777600000"}');  -- 9 days > 8 days
SELECT nagare.create_topic('teama.events', 1);
SELECT nagare.create_topic('teama.more', 1);                  -- a third topic > 2
SELECT nagare.alter_topic('teama.orders', 3);                 -- 4 partitions > 3
SELECT nagare.alter_topic('teama.orders', NULL, '{"retention.ms": "3600000"}');
SELECT nagare.create_topic('teamb.intruder');                 -- not its namespace
SELECT nagare.create_topic('teama');                          -- nor this: no "." after the name
-- ... and delegates access within its namespace, not beyond
SELECT nagare.create_acl('TOPIC', 'teama.orders', 'User:ta_user', 'DELETE');
SELECT nagare.create_acl('TOPIC', 'teamb.', 'User:ta_admin', 'READ', pattern_type => 'PREFIXED');
SELECT nagare.create_acl('TOPIC', 'team', 'User:ta_admin', 'READ', pattern_type => 'PREFIXED');
SELECT tenant, topics, partitions, admins, members FROM nagare.tenants;
RESET ROLE;
SELECT pg_temp.wait_acls();

SET ROLE tb_user;
SELECT nagare.create_topic('teamb.payments');
RESET ROLE;

-- tenant B's principal sees and touches nothing of tenant A
SET ROLE tb_user;
SELECT topic FROM nagare.topics WHERE topic LIKE 'team%' ORDER BY 1;
SELECT name FROM nagare.topic WHERE name LIKE 'team%' ORDER BY 1;
SELECT topic FROM nagare.partitions WHERE topic LIKE 'team%' ORDER BY 1;
SELECT tenant FROM nagare.tenants;
SELECT "partition", "offset" FROM nagare.send('teama.orders', 'k', 'v');
SELECT count(*) FROM nagare.consume('teama.orders');
SELECT nagare.delete_topic('teama.orders');
SELECT nagare.alter_topic('teama.orders', NULL, '{"retention.ms": "1"}');
SELECT * FROM nagare.reset_group_offsets('teama.group', 'teama.orders', 'earliest');
SELECT nagare.delete_group('teama.group');
SELECT count(*) FROM nagare.delete_acls('TOPIC', 'teama.', 'PREFIXED');
SELECT count(*) FROM nagare.acls WHERE resource_name LIKE 'teama%';
SELECT count(*) FROM nagare.audit WHERE object_name LIKE '%teama%';
RESET ROLE;

-- tenant A's member uses its topics
SET ROLE ta_user;
SELECT "partition", "offset" FROM nagare.send('teama.orders', 'k', 'v', partition => 0);
SELECT count(*) FROM nagare.consume('teama.orders');
SELECT topic FROM nagare.topics WHERE topic LIKE 'team%' ORDER BY 1;
SELECT count(*) > 0 AS sees_own_audit FROM nagare.audit WHERE object_name LIKE 'teama%';
SELECT * FROM nagare.reset_group_offsets('teama.g1', 'teama.orders', 'earliest', create_group => true);
SELECT nagare.delete_group('teama.g1');                       -- members may not DELETE
RESET ROLE;
SET ROLE ta_admin;
SELECT nagare.delete_group('teama.g1');
RESET ROLE;

-- the platform raises a limit; dropping needs the topics gone
SELECT nagare.alter_tenant('teama', max_topics => 3, max_partitions => 10, max_retention_ms => 691200000);
SELECT nagare.drop_tenant('teama');
SELECT nagare.delete_topic('teama.orders'), nagare.delete_topic('teama.events'),
       nagare.delete_topic('teamb.payments');
SELECT nagare.drop_tenant('teama');
SELECT nagare.drop_tenant('teamb');
SELECT count(*) FROM nagare.delete_acls();
SELECT operation, object_name FROM nagare.audit_log WHERE object_type = 'TENANT' AND object_name IN ('teama', 'teamb') ORDER BY id;
ALTER SYSTEM RESET nagare.allow_everyone_if_no_acl_found;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT allow_everyone_if_no_acl_found FROM nagare.acl_status;
REVOKE USAGE ON SCHEMA nagare FROM ta_admin, ta_user, tb_user;
DROP ROLE ta_admin;
DROP ROLE ta_user;
DROP ROLE tb_user;
