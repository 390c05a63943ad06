-- Dependencies in SQL: declarations (their errors, who may, the audit), the
-- observed edges of SQL callers as the nagare worker flushes them, the
-- views, the wall between tenants, the exports.  Kafka clients and a
-- restart: test/t/200_dependencies.pl.
\i sql/include/wait_acls.sql
\i sql/include/try.sql
-- until the nagare worker flushed n observed edges of topics like pattern
CREATE FUNCTION pg_temp.wait_edges(pattern text, n integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..200 LOOP
    IF (SELECT count(*) FROM nagare.observed_dependency WHERE topic LIKE pattern) >= n THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;

CREATE ROLE da_admin;
CREATE ROLE da_member;
CREATE ROLE db_admin;
CREATE ROLE d_ops;
GRANT USAGE ON SCHEMA nagare TO da_admin, da_member, db_admin, d_ops;
ALTER SYSTEM SET nagare.allow_everyone_if_no_acl_found = off;
ALTER SYSTEM SET nagare.dependency_flush_interval = '1s';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT nagare.create_tenant('depa');
SELECT nagare.create_tenant('depb');
SELECT nagare.add_tenant_principal('depa', 'da_admin', admin => true);
SELECT nagare.add_tenant_principal('depa', 'da_member');
SELECT nagare.add_tenant_principal('depb', 'db_admin', admin => true);
-- the platform's reader: DESCRIBE on the CLUSTER
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:d_ops', 'DESCRIBE');
SELECT nagare.create_topic('depa.orders', 1);
SELECT nagare.create_topic('depa.invoices', 1);
SELECT nagare.create_topic('depa.notices', 1);
SELECT nagare.create_topic('depb.audit', 1);
SELECT pg_temp.wait_acls();
SELECT nagare.register_service('d-orders', tenant => 'depa');
SELECT nagare.register_service('d-billing', tenant => 'depa');
SELECT nagare.register_service('d-audit', tenant => 'depb');
SELECT nagare.set_service_identity('d-orders', 'User:da_member', 'orders-app', 'sql');
SELECT nagare.set_service_identity('d-billing', 'User:da_member', 'billing-app', 'sql');
SELECT nagare.set_service_identity('d-audit', 'User:db_admin', '*', 'sql');

-- Declarations: errors
SELECT pg_temp.try($$SELECT nagare.declare_dependency('nope', 'depa.orders', 'produce')$$);
SELECT pg_temp.try($$SELECT nagare.declare_dependency('d-orders', 'depa.orders', 'write')$$);
SELECT pg_temp.try($$SELECT nagare.declare_dependency('d-orders', 'depa.orders', NULL)$$);
SELECT pg_temp.try($$SELECT nagare.declare_dependency('d-orders', '', 'produce')$$);
SELECT pg_temp.try($$SELECT nagare.declare_dependency('d-orders', repeat('t', 250), 'produce')$$);
SELECT pg_temp.try($$SELECT nagare.drop_declared_dependency('d-orders', 'depa.orders', 'consume')$$);

-- who may: the tenant's admins and the platform; not a member, not another tenant
SET ROLE da_member;
SELECT pg_temp.try($$SELECT nagare.declare_dependency('d-orders', 'depa.orders', 'produce')$$);
RESET ROLE;
SET ROLE db_admin;
SELECT pg_temp.try($$SELECT nagare.declare_dependency('d-orders', 'depa.orders', 'produce')$$);
SELECT pg_temp.try($$INSERT INTO nagare.declared_dependency (service, topic, kind) VALUES ('d-orders', 'x', 'produce')$$);
SELECT nagare.declare_dependency('d-audit', 'depa.invoices', 'consume');
RESET ROLE;
SET ROLE da_admin;
SELECT nagare.declare_dependency('d-orders', 'depa.orders', 'produce');
SELECT nagare.declare_dependency('d-orders', 'depa.orders', 'produce');  -- again: nothing new
SELECT nagare.declare_dependency('d-billing', 'depa.orders', 'consume');
SELECT nagare.declare_dependency('d-billing', 'depa.invoices', 'produce');
SELECT nagare.declare_dependency('d-billing', 'depa.refunds', 'produce');  -- never happens
WITH d AS (DELETE FROM nagare.declared_dependency WHERE service = 'd-audit' RETURNING 1) SELECT count(*) FROM d;
SELECT service, kind, topic FROM nagare.declared_dependencies ORDER BY 1, 2, 3;
RESET ROLE;
-- a retired service declares nothing
SELECT nagare.register_service('d-old', tenant => 'depa');
SELECT nagare.retire_service('d-old');
SELECT pg_temp.try($$SELECT nagare.declare_dependency('d-old', 'depa.orders', 'consume')$$);

-- the audit trail: the tenant's admins see their services' declarations, not another's
SELECT operation, object_name, role FROM nagare.audit_log
 WHERE object_type = 'DEPENDENCY' ORDER BY id;
SET ROLE da_admin;
SELECT object_name FROM nagare.audit WHERE object_type = 'DEPENDENCY' ORDER BY 1;
RESET ROLE;
SET ROLE db_admin;
SELECT object_name FROM nagare.audit WHERE object_type = 'DEPENDENCY' ORDER BY 1;
RESET ROLE;

-- Observed: SQL callers, each a client (User:<role>, application_name)
SET ROLE da_member;
SET application_name = 'orders-app';
SELECT count(*) FROM (SELECT nagare.send('depa.orders', 'k', 'order-' || i) FROM generate_series(1, 3) i) s;
SET application_name = 'billing-app';
SELECT count(*) FROM nagare.consume('depa.orders', 0, 0, 10);
SELECT count(*) FROM nagare.send_batch('depa.invoices', NULL, ARRAY['inv-1', 'inv-2']::bytea[]);
BEGIN;
SELECT nagare.publish('depa.notices', NULL, 'notice-1');
COMMIT;
SET application_name = 'stray';
SELECT count(*) FROM nagare.consume('depa.invoices', 0, 0, 10);   -- no service: unknown
RESET application_name;
RESET ROLE;
SET ROLE db_admin;
SET application_name = 'audit-app';
SELECT count(*) FROM nagare.send('depb.audit', NULL, 'a');
RESET application_name;
RESET ROLE;
SELECT pg_temp.wait_edges('dep%', 6);

SELECT source, tenant, principal, client_id, kind, topic, group_id, records,
       bytes > 0 AS bytes, records_per_sec > 0 AS rate, first_seen <= last_seen AS seen
  FROM nagare.observed_dependency WHERE topic LIKE 'dep%' ORDER BY client_id, kind, topic;
SELECT service, kind, topic, records, quiet FROM nagare.dependencies
 WHERE topic LIKE 'dep%' ORDER BY 1, 2, 3;

-- the wall: a tenant sees its own clients' edges; the platform every one
SET ROLE da_admin;
SELECT pg_temp.try($$SELECT count(*) FROM nagare.observed_dependency$$);  -- not readable
SELECT service, kind, topic FROM nagare.dependencies WHERE topic LIKE 'dep%' ORDER BY 1, 2, 3;
SELECT service, kind, topic FROM nagare.unobserved_dependencies WHERE service LIKE 'd-%' ORDER BY 1, 2, 3;
RESET ROLE;
SET ROLE db_admin;
SELECT service, kind, topic FROM nagare.dependencies WHERE topic LIKE 'dep%' ORDER BY 1, 2, 3;
SELECT service, kind, topic FROM nagare.unobserved_dependencies WHERE service LIKE 'd-%' ORDER BY 1, 2, 3;
SELECT nagare.dependency_graph_json()->'edges' @> '[{"to": "service:d-billing"}]' AS sees_billing;
-- a function of the caller's in a WHERE clause sees no row the wall hides
CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
  $$BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END$$;
SELECT count(*) FROM nagare.observed_dependencies WHERE pg_temp.leak(principal);
SELECT count(*) FROM nagare.dependencies WHERE pg_temp.leak(topic);
SELECT count(*) FROM nagare.unobserved_dependencies WHERE pg_temp.leak(topic);
DROP FUNCTION pg_temp.leak(text);
RESET ROLE;
SET ROLE d_ops;
SELECT count(DISTINCT tenant) FROM nagare.observed_dependencies WHERE topic LIKE 'dep%';
RESET ROLE;

-- observed, not declared; declared, never observed
SELECT service, kind, topic FROM nagare.undeclared_dependencies WHERE topic LIKE 'dep%' ORDER BY 1, 2, 3;
SELECT service, kind, topic FROM nagare.unobserved_dependencies WHERE service LIKE 'd-%' ORDER BY 1, 2, 3;

-- who consumes what d-orders produces; what d-audit depends on, transitively
SELECT topic, consumer, group_id FROM nagare.consumers_of('d-orders');
SELECT topic, consumer FROM nagare.consumers_of('d-billing');
SELECT depends_on, depth, topic, path FROM nagare.depends_on('unknown');
SELECT depends_on, depth, topic, path FROM nagare.depends_on('d-billing');
SELECT count(*) FROM nagare.depends_on('d-orders');

-- the exports
SELECT nagare.dependency_graph_dot() ~ '^digraph nagare \{' AS dot_head,
       nagare.dependency_graph_dot() ~ '"service:d-orders" -> "topic:depa.orders" \[label="produce\\n[0-9.]+ rec/s' AS dot_edge,
       nagare.dependency_graph_dot() ~ '"topic:depa.invoices" -> "service:unknown"' AS dot_unknown;
SELECT nagare._dot_quote(E'a"b\\c\nd');
SELECT jsonb_array_length(nagare.dependency_graph_json()->'nodes') >= 6 AS json_nodes,
       nagare.dependency_graph_json()->'edges' @> '[{"from": "topic:depa.orders", "to": "service:d-billing", "kind": "consume"}]' AS json_edge;

-- quiet: no traffic for nagare.dependency_quiet_after (a session may set its own)
SELECT pg_sleep(1.5);
SET nagare.dependency_quiet_after = '1s';
SELECT bool_and(quiet) FROM nagare.dependencies WHERE topic LIKE 'dep%';
RESET nagare.dependency_quiet_after;
SELECT bool_or(quiet) FROM nagare.dependencies WHERE topic LIKE 'dep%';

-- more traffic adds to the totals
SET ROLE da_member;
SET application_name = 'orders-app';
SELECT count(*) FROM nagare.send('depa.orders', 'k', 'order-4');
RESET application_name;
RESET ROLE;
CREATE FUNCTION pg_temp.wait_records(n bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..200 LOOP
    IF (SELECT records FROM nagare.observed_dependency WHERE topic = 'depa.orders' AND kind = 'produce') = n THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;
SELECT pg_temp.wait_records(4);

-- a service dropped takes its declarations
DELETE FROM nagare.service WHERE name = 'd-old';
SELECT nagare.drop_declared_dependency('d-audit', 'depa.invoices', 'consume');

-- clean up
DELETE FROM nagare.service WHERE name LIKE 'd-%';
SELECT count(*) FROM nagare.declared_dependency;
DELETE FROM nagare.observed_dependency WHERE topic LIKE 'dep%';
SELECT nagare.delete_topic('depa.orders'), nagare.delete_topic('depa.invoices'), nagare.delete_topic('depa.notices'),
       nagare.delete_topic('depb.audit');
SELECT count(*) FROM nagare.delete_acls('CLUSTER', 'kafka-cluster', 'LITERAL', 'User:d_ops');
SELECT nagare.drop_tenant('depa'), nagare.drop_tenant('depb');
ALTER SYSTEM RESET nagare.allow_everyone_if_no_acl_found;
ALTER SYSTEM RESET nagare.dependency_flush_interval;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
REVOKE USAGE ON SCHEMA nagare FROM da_admin, da_member, db_admin, d_ops;
DROP ROLE da_admin;
DROP ROLE da_member;
DROP ROLE db_admin;
DROP ROLE d_ops;
