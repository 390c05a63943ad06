-- Per-client usage in SQL: nagare.client_usage and nagare.connections, the
-- accounting of SQL callers, the wall between tenants, reset.
\i sql/include/wait_acls.sql

CREATE ROLE u_admin;
CREATE ROLE u_member;
CREATE ROLE u_other;
CREATE ROLE u_ops;
GRANT USAGE ON SCHEMA nagare TO u_admin, u_member, u_other, u_ops;
ALTER SYSTEM SET nagare.allow_everyone_if_no_acl_found = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT nagare.create_tenant('ua');
SELECT nagare.create_tenant('ub');
SELECT nagare.add_tenant_principal('ua', 'u_admin', admin => true);
SELECT nagare.add_tenant_principal('ua', 'u_member');
SELECT nagare.add_tenant_principal('ub', 'u_other');
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:u_ops', 'DESCRIBE');
SELECT nagare.create_topic('ua.t', 1);
SELECT nagare.create_topic('ub.t', 1);
SELECT pg_temp.wait_acls();

-- the views' columns
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'nagare' AND table_name = 'client_usage' ORDER BY ordinal_position;
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'nagare' AND table_name = 'connections' ORDER BY ordinal_position;

-- from a clean slate
SELECT nagare.reset_client_usage();
SELECT count(*) FROM nagare.client_usage WHERE source = 'sql' AND requests > 0;

-- SQL callers are counted as User:<current_user> with application_name
SET ROLE u_member;
SET application_name = 'app-m';
SELECT "offset" FROM nagare.send('ua.t', 'k', 'value-1');
SELECT "offset" FROM nagare.send_batch('ua.t', ARRAY['k', 'k']::bytea[], ARRAY['value-2', 'value-3']::bytea[]);
SELECT count(*) FROM nagare.consume('ua.t', 0, 0, 10);
SELECT count(*) FROM nagare.consume('ua.t', 0, 1, 1);
SET application_name = 'app-m2';
SELECT "offset" FROM nagare.send('ua.t', NULL, 'value-4');
RESET ROLE;
SET ROLE u_other;
SET application_name = 'app-o';
SELECT "offset" FROM nagare.send('ub.t', NULL, 'x');
SELECT nagare.send('ua.t', NULL, 'not allowed');             -- refused: not counted
RESET ROLE;
RESET application_name;

SELECT source, tenant, principal, client_id, connections, connections_total,
       requests, requests_by_api, records_in, records_out, bytes_in, bytes_out,
       errors, errors_by_code, throttle_ms,
       time_us > 0 AS timed, requests_1m = requests AS recent,
       since <= now() AS since_ok, last_active >= since AS active_ok
  FROM nagare.client_usage ORDER BY principal, client_id;

-- the wall: a principal sees itself, a tenant's admin its tenant's
-- principals, DESCRIBE on the CLUSTER everything
SET ROLE u_member;
SELECT principal, client_id FROM nagare.client_usage ORDER BY 1, 2;
SELECT principal, client_id FROM nagare._client_usage() ORDER BY 1, 2;
RESET ROLE;
SET ROLE u_admin;
SELECT principal, client_id FROM nagare.client_usage ORDER BY 1, 2;
RESET ROLE;
SET ROLE u_other;
SELECT principal, client_id FROM nagare.client_usage ORDER BY 1, 2;
RESET ROLE;
SET ROLE u_ops;
SELECT principal, client_id FROM nagare.client_usage ORDER BY 1, 2;
SELECT count(*) FROM nagare.connections;                      -- no Kafka client here
RESET ROLE;

-- reset is the platform's
SET ROLE u_admin;
SELECT nagare.reset_client_usage();
RESET ROLE;
SET ROLE u_ops;
SELECT nagare.reset_client_usage();                           -- DESCRIBE is not ALTER
RESET ROLE;
SELECT nagare.reset_client_usage();
-- the session of this test is still attached as u_other/app-o: kept, zeroed
SELECT principal, client_id, connections, connections_total, requests
  FROM nagare.client_usage ORDER BY 1, 2;

-- nagare.client_usage = off counts nothing
ALTER SYSTEM SET nagare.client_usage = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT "offset" FROM nagare.send('ua.t', NULL, 'uncounted');
SELECT count(*) FROM nagare.client_usage WHERE requests > 0;
ALTER SYSTEM RESET nagare.client_usage;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT "offset" FROM nagare.send('ua.t', NULL, 'counted');
SELECT principal, client_id, requests, records_in FROM nagare.client_usage WHERE requests > 0;

-- clean up
SELECT nagare.delete_topic('ua.t'), nagare.delete_topic('ub.t');
SELECT nagare.drop_tenant('ua');
SELECT nagare.drop_tenant('ub');
SELECT count(*) FROM nagare.delete_acls();
SELECT nagare.reset_client_usage();
ALTER SYSTEM RESET nagare.allow_everyone_if_no_acl_found;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
REVOKE USAGE ON SCHEMA nagare FROM u_admin, u_member, u_other, u_ops;
DROP ROLE u_admin;
DROP ROLE u_member;
DROP ROLE u_other;
DROP ROLE u_ops;
