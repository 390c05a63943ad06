-- Client quotas: Kafka's entities, keys, validation and precedence;
-- nagare's tenant level, delegated to a tenant's admins below the platform's
-- caps; the audit trail.

-- wait until the shared copy (what the broker enforces) shows every commit
CREATE FUNCTION pg_temp.wait_quotas() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  want bigint := (SELECT changes FROM nagare.quota_status);
BEGIN
  FOR i IN 1..300 LOOP
    IF (SELECT loaded AND synced >= want FROM nagare.quota_status) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;

-- the SQLSTATE and message of a statement's error
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT pg_temp.wait_quotas();
SELECT loaded, overflow FROM nagare.quota_status;

--
-- Entities, keys and values, validated as Kafka validates them
--
SELECT * FROM nagare._quota_entity('client-id=app1,user=alice');   -- canonical: user first
SELECT * FROM nagare._quota_entity('user=<default>,client-id=<default>');
SELECT * FROM nagare._quota_entity('user=CN=alice,OU=eng');         -- a name may hold "," and "="
SELECT * FROM nagare._quota_entity('ip=<default>');
SELECT * FROM nagare._quota_entity('tenant=payments');
SELECT pg_temp.try($$SELECT nagare.set_quota('', 'producer_byte_rate', 1)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('group=g1', 'producer_byte_rate', 1)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a,user=b', 'producer_byte_rate', 1)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=', 'producer_byte_rate', 1)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a,client-id=', 'producer_byte_rate', 1)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a', 'producer_bytes_rate', 1)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a', 'producer_byte_rate', 0)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a', 'request_percentage', -5)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a', 'consumer_byte_rate', 1.5)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a', 'producer_byte_rate', 'NaN')$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a', 'connection_creation_rate', 10)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('ip=10.0.0.1', 'producer_byte_rate', 10)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('ip=10.0.0.1,user=a', 'connection_creation_rate', 10)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('ip=not-an-ip', 'connection_creation_rate', 10)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('ip=10.0.0.1', 'connection_creation_rate', 2.5)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('ip=10.0.0.1', 'connection_creation_rate', 3e9)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('tenant=nosuch', 'producer_byte_rate', 10)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('tenant=<default>', 'producer_byte_rate', 10)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('tenant=x,user=a', 'producer_byte_rate', 10)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=a', 'producer_byte_rate', NULL)$$);
-- the table keeps out what the functions refuse, written by hand too
SELECT pg_temp.try($$INSERT INTO nagare.quota (entity, key, value) VALUES ('user=a', 'producer_byte_rate', -1)$$);
SELECT pg_temp.try($$INSERT INTO nagare.quota (entity, key, value) VALUES ('client-id=x,user=a', 'producer_byte_rate', 1)$$);
-- an error message shows the hint
SELECT nagare.set_quota('users=a', 'producer_byte_rate', 1);
SELECT nagare.set_quota('user=a', 'bytes', 1);

-- ip quotas: connection_creation_rate only
SELECT nagare.set_quota('ip=10.0.0.1', 'connection_creation_rate', 10);
SELECT nagare.set_quota('ip=<default>', 'connection_creation_rate', 100);
SELECT nagare.set_quota('ip=::1', 'connection_creation_rate', 5);

--
-- Precedence, per key: Kafka's eight levels, the first configured wins
-- (ClientQuotaManager: (user, client-id), (user, default client-id), user,
-- (default user, client-id), (default user, default client-id), default
-- user, client-id, default client-id).  Each level gets its own value.
--
CREATE TEMP TABLE level (n int, entity text);
INSERT INTO level VALUES
  (1, 'user=alice,client-id=app1'), (2, 'user=alice,client-id=<default>'), (3, 'user=alice'),
  (4, 'user=<default>,client-id=app1'), (5, 'user=<default>,client-id=<default>'),
  (6, 'user=<default>'), (7, 'client-id=app1'), (8, 'client-id=<default>');
CREATE TEMP TABLE client (user_name text, client_id text);
INSERT INTO client VALUES ('alice', 'app1'), ('alice', 'app2'), ('bob', 'app1'), ('bob', 'app2');
-- the winners for the clients, with a set of levels configured
CREATE FUNCTION pg_temp.configure(levels int[]) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM nagare.quota WHERE key = 'producer_byte_rate';
  PERFORM nagare.set_quota(l.entity, 'producer_byte_rate', l.n * 1000) FROM level l WHERE l.n = ANY (levels);
  RETURN (SELECT count(*) FROM nagare.quota WHERE key = 'producer_byte_rate');
END $$;
-- (a function's changes reach the shared copy when its transaction commits,
-- so the winners are read in the next statement)
-- all eight: defaults outrank the kinds below them
SELECT pg_temp.configure('{1,2,3,4,5,6,7,8}');
SELECT pg_temp.wait_quotas();
SELECT c.user_name, c.client_id, e.value, e.entity, e.by_user, e.by_client
  FROM client c, nagare.effective_quota(c.user_name, c.client_id) e
 WHERE e.key = 'producer_byte_rate' ORDER BY 1, 2;
-- without the (x, default client-id) levels: the user's own, then the default user
SELECT pg_temp.configure('{1,3,4,6,7,8}');
SELECT pg_temp.wait_quotas();
SELECT c.user_name, c.client_id, e.value, e.entity, e.by_user, e.by_client
  FROM client c, nagare.effective_quota(c.user_name, c.client_id) e
 WHERE e.key = 'producer_byte_rate' ORDER BY 1, 2;
-- no default user: client-id levels for bob
SELECT pg_temp.configure('{1,3,7,8}');
SELECT pg_temp.wait_quotas();
SELECT c.user_name, c.client_id, e.value, e.entity, e.by_user, e.by_client
  FROM client c, nagare.effective_quota(c.user_name, c.client_id) e
 WHERE e.key = 'producer_byte_rate' ORDER BY 1, 2;
-- client-id levels only: shared by every user of the client id
SELECT pg_temp.configure('{7,8}');
SELECT pg_temp.wait_quotas();
SELECT c.user_name, c.client_id, e.value, e.entity, e.by_user, e.by_client
  FROM client c, nagare.effective_quota(c.user_name, c.client_id) e
 WHERE e.key = 'producer_byte_rate' ORDER BY 1, 2;
-- (user, client-id) and the default user only
SELECT pg_temp.configure('{1,6}');
SELECT pg_temp.wait_quotas();
SELECT c.user_name, c.client_id, e.value, e.entity, e.by_user, e.by_client
  FROM client c, nagare.effective_quota(c.user_name, c.client_id) e
 WHERE e.key = 'producer_byte_rate' ORDER BY 1, 2;
-- each key resolves on its own: alice's consumer quota is per user
SELECT nagare.set_quota('user=alice', 'consumer_byte_rate', 2097152);
SELECT nagare.set_quota('client-id=app1', 'request_percentage', 25);
SELECT pg_temp.wait_quotas();
SELECT key, value, entity, by_user, by_client, tenant, tenant_limit FROM nagare.effective_quota('alice', 'app1');
-- any other client: the default user
SELECT key, value, entity FROM nagare.effective_quota('carol', 'app9');
-- a removed quota falls back to the next level
SELECT nagare.remove_quota('user=alice,client-id=app1', 'producer_byte_rate');
SELECT nagare.remove_quota('user=alice,client-id=app1', 'producer_byte_rate');   -- gone already
SELECT pg_temp.wait_quotas();
SELECT key, value, entity FROM nagare.effective_quota('alice', 'app1') WHERE key = 'producer_byte_rate';
SELECT entity, user_name, client_id, ip, tenant, key, value FROM nagare.quotas ORDER BY entity, key;
DELETE FROM nagare.quota;

--
-- Tenants: a budget all principals share; admins delegated below the caps
--
-- delegation needs what has no ACL closed: nagare.allow_everyone_if_no_acl_found
-- is off once a listener authenticates; here it is set off by hand
ALTER SYSTEM SET nagare.allow_everyone_if_no_acl_found = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT allow_everyone_if_no_acl_found FROM nagare.acl_status;
SELECT max(id) AS tenant_part FROM nagare.audit_log \gset
CREATE ROLE qa_admin;
CREATE ROLE qa_member;
CREATE ROLE qb_user;
CREATE ROLE q_loner;
GRANT USAGE ON SCHEMA nagare TO qa_admin, qa_member, qb_user, q_loner;
SELECT nagare.create_tenant('qpay');
SELECT nagare.create_tenant('qother');
SELECT nagare.add_tenant_principal('qpay', 'qa_admin', admin => true);
SELECT nagare.add_tenant_principal('qpay', 'qa_member');
SELECT nagare.add_tenant_principal('qother', 'qb_user', admin => true);
-- the platform caps what qpay's admins may set
SELECT nagare.set_tenant_quota_cap('qpay', 'producer_byte_rate', 1048576);
SELECT nagare.set_tenant_quota_cap('qpay', 'request_percentage', 50);
SELECT pg_temp.try($$SELECT nagare.set_tenant_quota_cap('qpay', 'connection_creation_rate', 5)$$);
SELECT pg_temp.try($$SELECT nagare.set_tenant_quota_cap('qpay', 'producer_byte_rate', 0)$$);
SELECT pg_temp.try($$SELECT nagare.set_tenant_quota_cap('nosuch', 'producer_byte_rate', 10)$$);
SELECT pg_temp.wait_quotas();
-- without a value of its own, the tenant's principals share the cap
SELECT key, value, tenant, tenant_limit, tenant_limit_source FROM nagare.effective_quota('qa_member', 'any');

SET ROLE qa_admin;
-- below the cap: its principals and its tenant
SELECT nagare.set_quota('user=qa_member', 'producer_byte_rate', 524288);
SELECT nagare.set_quota('user=qa_member,client-id=batch', 'producer_byte_rate', 65536);
SELECT nagare.set_quota('user=qa_admin', 'request_percentage', 50);
SELECT nagare.set_quota('tenant=qpay', 'producer_byte_rate', 786432);
-- above the cap, a key without a cap, or another's entity: 42501
SELECT pg_temp.try($$SELECT nagare.set_quota('user=qa_member', 'producer_byte_rate', 2097152)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('tenant=qpay', 'request_percentage', 51)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=qa_member', 'consumer_byte_rate', 1024)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=qb_user', 'producer_byte_rate', 1024)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('user=<default>', 'producer_byte_rate', 1024)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('client-id=batch', 'producer_byte_rate', 1024)$$);
SELECT pg_temp.try($$SELECT nagare.set_quota('tenant=qother', 'producer_byte_rate', 1024)$$);
SELECT pg_temp.try($$SELECT nagare.set_tenant_quota_cap('qpay', 'producer_byte_rate', 1e9)$$);
-- the whole message with its hint
SELECT nagare.set_quota('user=qa_member', 'producer_byte_rate', 2097152);
SELECT nagare.set_quota('user=qa_member', 'consumer_byte_rate', 1024);
-- the table's row-level security says the same to a direct write
SELECT pg_temp.try($$INSERT INTO nagare.quota (entity, key, value) VALUES ('user=qa_member,client-id=x', 'producer_byte_rate', 2097152)$$);
SELECT pg_temp.try($$UPDATE nagare.quota SET value = 2097152 WHERE entity = 'user=qa_member'$$);
SELECT entity, key, value, set_by FROM nagare.quotas ORDER BY entity, key;
SELECT tenant, key, cap, value, tenant_limit FROM nagare.tenant_quotas ORDER BY 1, 2;
RESET ROLE;
SELECT pg_temp.wait_quotas();
SELECT key, value, entity, tenant, tenant_limit, tenant_limit_source
  FROM nagare.effective_quota('qa_member', 'batch');
SELECT key, value, entity, tenant, tenant_limit, tenant_limit_source
  FROM nagare.effective_quota('qa_member', 'web');

-- a member is not an admin; it sees its tenant's quotas and its own limits
SET ROLE qa_member;
SELECT pg_temp.try($$SELECT nagare.set_quota('user=qa_member', 'producer_byte_rate', 1000)$$);
SELECT count(*) FROM nagare.quotas;
SELECT key, value FROM nagare.effective_quota('qa_member', 'web') WHERE key = 'producer_byte_rate';
SELECT key, value FROM nagare.effective_quota('qa_admin') WHERE key = 'request_percentage';
RESET ROLE;
-- another tenant's admin and a role of no tenant see none of it
SET ROLE qb_user;
SELECT count(*) FROM nagare.quotas;
SELECT count(*) FROM nagare.tenant_quotas;
SELECT pg_temp.try($$SELECT * FROM nagare.effective_quota('qa_member')$$);
SELECT pg_temp.try($$SELECT nagare.remove_quota('user=qa_member', 'producer_byte_rate')$$);
RESET ROLE;
SET ROLE q_loner;
SELECT pg_temp.try($$SELECT nagare.set_quota('user=q_loner', 'producer_byte_rate', 1000)$$);
SELECT count(*) FROM nagare.quotas;
RESET ROLE;

-- the admin removes what it set; a lowered cap bounds the tenant's value
SET ROLE qa_admin;
SELECT nagare.remove_quota('user=qa_member,client-id=batch', 'producer_byte_rate');
RESET ROLE;
SELECT nagare.set_tenant_quota_cap('qpay', 'producer_byte_rate', 500000);
SELECT pg_temp.wait_quotas();
SELECT key, value, entity, tenant_limit, tenant_limit_source
  FROM nagare.effective_quota('qa_member', 'batch') WHERE key = 'producer_byte_rate';
SELECT nagare.set_tenant_quota_cap('qpay', 'request_percentage', NULL);   -- uncapped again
SELECT tenant, key, cap, value, tenant_limit FROM nagare.tenant_quotas ORDER BY 1, 2;
-- a role that leaves its tenant leaves its tenant's budget
SELECT nagare.remove_tenant_principal('qpay', 'qa_member');
SELECT pg_temp.wait_quotas();
SELECT key, tenant, tenant_limit FROM nagare.effective_quota('qa_member') WHERE key = 'producer_byte_rate';

-- every change is in the audit trail: who, what, before and after
SELECT count(*) AS quota_changes_above FROM nagare.audit_log
 WHERE object_type = 'QUOTA' AND id < :tenant_part;
SELECT operation, object_type, object_name,
       CASE WHEN role = session_user THEN 'the platform' ELSE role END AS role,
       coalesce("after"->>'key', "before"->>'key') AS key,
       "before"->>'value' AS before, "after"->>'value' AS after
  FROM nagare.audit_log
 WHERE (object_type = 'QUOTA' OR operation LIKE '%quota_cap') AND id > :tenant_part
 ORDER BY id;
-- the admin reads the changes of its tenant's quotas (qa_member has left it)
SET ROLE qa_admin;
SELECT operation, object_name, role FROM nagare.audit WHERE object_type = 'QUOTA' ORDER BY id;
RESET ROLE;

-- dropping the tenant drops its quotas and caps
SELECT nagare.drop_tenant('qpay');
SELECT nagare.drop_tenant('qother');
SELECT entity, key FROM nagare.quota ORDER BY 1, 2;
SELECT count(*) FROM nagare.tenant_quota_cap;
DELETE FROM nagare.quota;
SELECT pg_temp.wait_quotas();
SELECT loaded, entries, overflow FROM nagare.quota_status;
SELECT count(*) FROM nagare.delete_acls();
REVOKE USAGE ON SCHEMA nagare FROM qa_admin, qa_member, qb_user, q_loner;
DROP ROLE qa_admin;
DROP ROLE qa_member;
DROP ROLE qb_user;
DROP ROLE q_loner;
ALTER SYSTEM RESET nagare.allow_everyone_if_no_acl_found;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT allow_everyone_if_no_acl_found FROM nagare.acl_status;
