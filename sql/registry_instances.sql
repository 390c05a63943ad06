-- The service registry's live instances: registration and its validation,
-- the wall between tenants (members register their services' instances),
-- heartbeats in shared memory, the views, the audit trail, and rollback.
-- (TTL expiry, deregistration of critical instances, restarts and the cost
-- of heartbeats: test/t/180_instances.pl.)
\set SHOW_CONTEXT never
\i sql/include/wait_acls.sql
-- a statement's error as "SQLSTATE message", with its hint
\i sql/include/try.sql

CREATE ROLE ia_admin;
CREATE ROLE ia_member;
CREATE ROLE ib_member;
CREATE ROLE i_platform;
CREATE ROLE i_outsider;
GRANT USAGE ON SCHEMA nagare TO ia_admin, ia_member, ib_member, i_platform, i_outsider;
ALTER SYSTEM SET nagare.allow_everyone_if_no_acl_found = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT nagare.create_tenant('insta');
SELECT nagare.create_tenant('instb');
SELECT nagare.add_tenant_principal('insta', 'ia_admin', admin => true);
SELECT nagare.add_tenant_principal('insta', 'ia_member');
SELECT nagare.add_tenant_principal('instb', 'ib_member');
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:i_platform', 'ALTER');
SELECT pg_temp.wait_acls();
SELECT nagare.register_service('cart', tenant => 'insta');
SELECT nagare.register_service('ledger');

-- Registration: the id defaults to the service's name; no TTL: passing
SELECT nagare.register_instance('ledger', address => '192.0.2.1', port => 5432);
SELECT nagare.register_instance('cart', 'cart-1', address => '192.0.2.10', port => 8080,
                                tags => '{primary,v2}', meta => '{"version": "1.4.2"}',
                                ttl => '30s', deregister_critical_after => '10min');
SELECT nagare.register_instance('cart', 'cart-2', address => '2001:db8::2', port => 8080, ttl => '30s');
SELECT nagare.register_instance('cart', 'cart-3', address => 'cart-3.insta.svc', port => 8080,
                                ttl => '30s', status => 'passing');
SELECT service, id, address, port, tags, meta, status, output, live, extract(epoch FROM ttl) AS ttl_s,
       extract(epoch FROM deregister_critical_after) AS deregister_s,
       ttl_remaining BETWEEN 0 AND 30 AS ttl_running
  FROM nagare.instances ORDER BY id;
SELECT * FROM nagare.service_health WHERE service IN ('cart', 'ledger') ORDER BY service;

-- Validation
SELECT pg_temp.try($$SELECT nagare.register_instance('nope', address => '192.0.2.1', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'a b', address => '192.0.2.1', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', repeat('x', 129), address => '192.0.2.1', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '10.1', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1/24', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '[2001:db8::1]', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => 'fe80::1%eth0', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => 'bad_name.svc', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 0)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 65536)$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, tags => '{""}')$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1,
                                                     tags => array_fill('tag-of-some-length'::text, ARRAY[20]))$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, meta => '[]')$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, meta => '{"n": 2}')$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, meta => '{"consul-x": "y"}')$$);
SELECT pg_temp.try(format($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, meta => %L)$$,
                          (SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 65) i)));
-- meta is kept in shared memory: at most NAGARE_INSTANCE_META_MAX - 1 bytes of JSON text
SELECT pg_temp.try(format($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, meta => %L)$$,
                          (SELECT jsonb_object_agg('k' || i, repeat('v', 100)) FROM generate_series(1, 10) i)));
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, ttl => '0s')$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, deregister_critical_after => '1min')$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'x', address => '192.0.2.1', port => 1, ttl => '1s', status => 'ok')$$);
SELECT pg_temp.try($$SELECT nagare.register_instance('ledger', 'cart-1', address => '192.0.2.1', port => 1)$$);
SELECT count(*) AS instances FROM nagare.service_instance;

-- Heartbeats: shared memory only; each returns the status before
SELECT nagare.pass_instance('cart-1', 'HTTP GET /health: 200');
SELECT nagare.warn_instance('cart-2', 'disk 91% full');
SELECT nagare.fail_instance('cart-3');
SELECT nagare.pass_instance('cart-1');
SELECT id, status, output FROM nagare.instances WHERE service = 'cart' ORDER BY id;
SELECT pg_temp.try($$SELECT nagare.pass_instance('nope')$$);
SELECT pg_temp.try($$SELECT nagare.pass_instance(NULL)$$);
-- a note longer than 255 bytes is cut to whole characters that fit
SELECT nagare.warn_instance('cart-2', repeat('é', 200));
SELECT octet_length(output) AS bytes, output = repeat('é', 127) AS whole_characters
  FROM nagare.instances WHERE id = 'cart-2';
SELECT nagare.warn_instance('cart-2', 'disk 91% full');

-- Registering an id again replaces it: critical again until a pass
SELECT nagare.register_instance('cart', 'cart-1', address => '192.0.2.11', port => 8081, ttl => '30s');
SELECT id, address, port, tags, status, output FROM nagare.instances WHERE id = 'cart-1';

-- Rollback leaves nothing, in shared memory or the table; so does a
-- rolled-back savepoint
BEGIN;
SELECT nagare.register_instance('cart', 'cart-tmp', address => '192.0.2.99', port => 1);
SELECT id, live FROM nagare.instances WHERE id = 'cart-tmp';
ROLLBACK;
SELECT count(*) AS rolled_back FROM nagare.instances WHERE id = 'cart-tmp';
SELECT count(*) AS live FROM nagare._instances_live() WHERE id = 'cart-tmp';
BEGIN;
SAVEPOINT s;
SELECT nagare.register_instance('cart', 'cart-sp', address => '192.0.2.98', port => 1);
ROLLBACK TO SAVEPOINT s;
SELECT nagare.register_instance('cart', 'cart-kept', address => '192.0.2.97', port => 1);
COMMIT;
SELECT id FROM nagare._instances_live() WHERE id LIKE 'cart-%' AND id NOT IN ('cart-1', 'cart-2', 'cart-3') ORDER BY id;
BEGIN;
SELECT nagare.deregister_instance('cart-kept');
ROLLBACK;
SELECT count(*) AS still_live FROM nagare._instances_live() WHERE id = 'cart-kept';
SELECT nagare.deregister_instance('cart-kept');
SELECT count(*) AS gone FROM nagare._instances_live() WHERE id = 'cart-kept';
SELECT pg_temp.try($$SELECT nagare.deregister_instance('cart-kept')$$);

-- Who may: a tenant's members and admins its services' instances, the
-- platform any; others read only
SET ROLE ia_member;
SELECT nagare.register_instance('cart', 'cart-m', address => '192.0.2.20', port => 8080, ttl => '30s');
SELECT nagare.pass_instance('cart-m');
SELECT nagare.deregister_instance('cart-m');
SELECT pg_temp.try($$SELECT nagare.register_instance('ledger', 'ledger-m', address => '192.0.2.21', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.pass_instance('ledger')$$);
RESET ROLE;
SET ROLE ib_member;
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'cart-b', address => '192.0.2.22', port => 1)$$);
SELECT pg_temp.try($$SELECT nagare.pass_instance('cart-1')$$);
SELECT pg_temp.try($$SELECT nagare.fail_instance('cart-1')$$);
SELECT pg_temp.try($$SELECT nagare.deregister_instance('cart-1')$$);
-- past the functions, row-level security: nothing to change
WITH u AS (UPDATE nagare.service_instance SET port = 1 WHERE id = 'cart-1' RETURNING 1)
SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM nagare.service_instance WHERE id = 'cart-1' RETURNING 1)
SELECT count(*) AS deleted FROM d;
SELECT count(*) AS reads_all FROM nagare.instances WHERE service IN ('cart', 'ledger');
RESET ROLE;
SET ROLE i_outsider;
SELECT pg_temp.try($$SELECT nagare.register_instance('cart', 'cart-o', address => '192.0.2.23', port => 1)$$);
SELECT pg_temp.try($$INSERT INTO nagare.service_instance (service, id, address, port) VALUES ('cart', 'cart-o', '192.0.2.23', 1)$$);
SELECT count(*) AS reads_all FROM nagare.instances WHERE service IN ('cart', 'ledger');
RESET ROLE;
SET ROLE i_platform;
SELECT nagare.register_instance('ledger', 'ledger-2', address => '192.0.2.2', port => 5432, ttl => '1h');
SELECT nagare.pass_instance('cart-2');
RESET ROLE;
SELECT id, status FROM nagare.instances WHERE id IN ('ledger-2', 'cart-2') ORDER BY id;

-- The audit trail: registrations and deregistrations, not heartbeats; a
-- tenant's principals read their services' rows
SELECT role, operation, object_name FROM nagare.audit_log
 WHERE object_type = 'SERVICE_INSTANCE' ORDER BY id;
SET ROLE ia_member;
SELECT count(*) AS own_rows FROM nagare.audit WHERE object_type = 'SERVICE_INSTANCE';
RESET ROLE;
SET ROLE ib_member;
SELECT count(*) AS other_tenants_rows FROM nagare.audit WHERE object_type = 'SERVICE_INSTANCE';
RESET ROLE;

-- A deleted service takes its instances (a superuser's DELETE, past the
-- functions)
DELETE FROM nagare.service WHERE name = 'ledger';
SELECT count(*) AS ledger_live FROM nagare._instances_live() WHERE service = 'ledger';

-- clean up
DELETE FROM nagare.service;
SELECT count(*) AS live FROM nagare._instances_live();
SELECT nagare.drop_tenant('insta');
SELECT nagare.drop_tenant('instb');
SELECT count(*) FROM nagare.delete_acls('CLUSTER', 'kafka-cluster', 'LITERAL', 'User:i_platform');
ALTER SYSTEM RESET nagare.allow_everyone_if_no_acl_found;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
REVOKE USAGE ON SCHEMA nagare FROM ia_admin, ia_member, ib_member, i_platform, i_outsider;
DROP ROLE ia_admin;
DROP ROLE ia_member;
DROP ROLE ib_member;
DROP ROLE i_platform;
DROP ROLE i_outsider;
