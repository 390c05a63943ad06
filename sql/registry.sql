-- The service registry's catalog: services, the tenant that owns each,
-- their endpoints and links; validation of names and URLs, the wall between
-- tenants, retirement, and the audit trail.
\i sql/include/wait_acls.sql
-- a statement's error as "SQLSTATE message", with its hint
\i sql/include/try.sql

CREATE ROLE ra_admin;
CREATE ROLE ra_member;
CREATE ROLE rb_admin;
CREATE ROLE rb_member;
CREATE ROLE r_platform;
CREATE ROLE r_outsider;
GRANT USAGE ON SCHEMA nagare TO ra_admin, ra_member, rb_admin, rb_member, r_platform, r_outsider;
-- ownership needs what has no ACL closed (as sql/tenants.sql): otherwise
-- every role may ALTER the CLUSTER, and so is the platform
ALTER SYSTEM SET nagare.allow_everyone_if_no_acl_found = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT nagare.create_tenant('rega');
SELECT nagare.create_tenant('regb');
SELECT nagare.add_tenant_principal('rega', 'ra_admin', admin => true);
SELECT nagare.add_tenant_principal('rega', 'ra_member');
SELECT nagare.add_tenant_principal('regb', 'rb_admin', admin => true);
SELECT nagare.add_tenant_principal('regb', 'rb_member');
-- a platform role that is no superuser: ALTER on the CLUSTER
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:r_platform', 'ALTER');
SELECT pg_temp.wait_acls();

-- Names: one DNS label, lower case
SELECT nagare.register_service('checkout');
SELECT nagare.register_service('a'), nagare.register_service('0-9'),
       nagare.register_service(repeat('x', 63));
SELECT pg_temp.try($$SELECT nagare.register_service('Checkout')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('-checkout')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('checkout-')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('check_out')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('check.out')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('')$$);
SELECT pg_temp.try($$SELECT nagare.register_service(repeat('x', 64))$$);
SELECT pg_temp.try($$SELECT nagare.register_service(NULL)$$);
SELECT pg_temp.try($$SELECT nagare.register_service('checkout')$$);           -- exists
SELECT pg_temp.try($$SELECT nagare.register_service('x1', tenant => 'nope')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', lifecycle => 'dead')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', tier => 0)$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', tier => 5)$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', links => '[]')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', links => '{"docs": 3}')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', links => '{"docs": "ftp://docs.example.com/"}')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', links => '{"docs": "docs.example.com"}')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('x1', links => '{"": "https://docs.example.com"}')$$);
SELECT count(*) FROM nagare.service WHERE name = 'x1';
-- the rule holds however a row is written
SELECT pg_temp.try($$INSERT INTO nagare.service (name) VALUES ('Bad Name')$$);
SELECT pg_temp.try($$UPDATE nagare.service SET name = 'checkout2' WHERE name = 'checkout'$$);

-- Endpoints: absolute URLs; protocol and port derived
SELECT nagare.set_service_endpoint('checkout', 'http', 'https://checkout.internal.example.com:8443/api/v1?x=1#top');
SELECT nagare.set_service_endpoint('checkout', 'web', 'https://shop.example.com', 'public');
SELECT nagare.set_service_endpoint('checkout', 'grpc', 'grpc://10.0.0.7:9000', protocol => 'grpc+proto');
SELECT nagare.set_service_endpoint('checkout', 'v6', 'HTTP://[2001:db8::1]:8080/metrics');
SELECT nagare.set_service_endpoint('checkout', 'v6-default', 'http://[::1]/');
SELECT nagare.set_service_endpoint('checkout', 'events', 'kafka://broker-1.kafka.internal.');
SELECT nagare.set_service_endpoint('checkout', 'db', 'postgres://db.internal/checkout%20db');
SELECT nagare.set_service_endpoint('checkout', 'cache', 'tcp://cache:6380');
SELECT endpoint, url, visibility, protocol, port FROM nagare.service_endpoints
 WHERE service = 'checkout' ORDER BY endpoint;
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'checkout.example.com')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http:/checkout.example.com')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com:0/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com:65536/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com:80a/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com:/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout .example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com/a b')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', E'http://checkout.example.com/a\tb')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com/café')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'https://user:secret@checkout.example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'ftp://checkout.example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'tcp://checkout.example.com')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://[2001:db8::g]/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://[fe80::1%25eth0]/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://[2001:db8::1/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://[2001:db8::1]x/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://2001:db8::1/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com:80:81/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://256.0.0.1/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://10.0.1/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://check_out.example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://-checkout.example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout..example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http:///path')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com/%zz')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com/<script>')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com/' || repeat('a', 2048))$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', '')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', NULL)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com/', 'private')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'x', 'http://checkout.example.com/', protocol => 'Has Space')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'X', 'http://checkout.example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('nosuch', 'x', 'http://checkout.example.com/')$$);
SELECT pg_temp.try($$INSERT INTO nagare.service_endpoint (service, name, url) VALUES ('checkout', 'x', 'http://a b')$$);
SELECT count(*) FROM nagare.service_endpoint WHERE name = 'x';
-- set again: the endpoint is replaced (protocol derived anew); unchanged is no change
SELECT nagare.set_service_endpoint('checkout', 'grpc', 'grpcs://checkout.internal');
SELECT nagare.set_service_endpoint('checkout', 'grpc', 'grpcs://checkout.internal');
SELECT endpoint, url, protocol, port FROM nagare.service_endpoints WHERE endpoint = 'grpc';
SELECT operation, "after"->>'url' AS url FROM nagare.audit_log WHERE object_name = 'checkout/grpc' ORDER BY id;
SELECT nagare.drop_service_endpoint('checkout', 'v6-default');
SELECT pg_temp.try($$SELECT nagare.drop_service_endpoint('checkout', 'v6-default')$$);
SELECT pg_temp.try($$SELECT nagare.drop_service_endpoint('nosuch', 'http')$$);

-- alter_service: only what is given changes; '' and 0 clear; links is a patch
SELECT nagare.register_service('search', description => 'finds products', lifecycle => 'production',
                               tier => 2, links => '{"repository": "https://git.example.com/search", "runbook": "https://wiki.example.com/search/runbook"}');
SELECT nagare.alter_service('search', lifecycle => 'deprecated');
SELECT service, tenant, description, lifecycle, tier, links FROM nagare.services WHERE service = 'search';
SELECT nagare.alter_service('search', description => '', tier => 0,
                            links => '{"runbook": null, "dashboard": "https://grafana.example.com/d/search"}');
SELECT service, tenant, description, lifecycle, tier, links FROM nagare.services WHERE service = 'search';
SELECT pg_temp.try($$SELECT nagare.alter_service('search', lifecycle => 'gone')$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('search', tier => 7)$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('search', links => '"x"')$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('search', links => '{"wiki": "wiki.example.com"}')$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('search', tenant => 'nope')$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('nosuch', tier => 1)$$);

-- retire: the row stays, the views drop it, no new endpoint; unretire
SELECT nagare.retire_service('checkout');
SELECT count(*) FROM nagare.services WHERE service = 'checkout';
SELECT count(*) FROM nagare.service_endpoints WHERE service = 'checkout';
SELECT name, retired_at IS NOT NULL AS retired FROM nagare.service WHERE name = 'checkout';
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'new', 'http://checkout.example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('checkout', 'http', 'http://checkout.example.com/')$$);
SELECT pg_temp.try($$SELECT nagare.retire_service('checkout')$$) ~ '^55000 service "checkout" is already retired' AS retired_twice;
SELECT pg_temp.try($$SELECT nagare.register_service('checkout')$$) ~ '^42710 .*\nHINT: It was retired at .*unretire_service' AS register_retired;
SELECT nagare.unretire_service('checkout');
SELECT pg_temp.try($$SELECT nagare.unretire_service('checkout')$$);
SELECT pg_temp.try($$SELECT nagare.retire_service('nosuch')$$);
SELECT service, jsonb_object_keys(endpoints) AS endpoint FROM nagare.services WHERE service = 'checkout' ORDER BY 2;

-- The wall.  A tenant's admin registers and changes its tenant's services ...
SET ROLE ra_admin;
SELECT nagare.register_service('orders', tenant => 'rega', description => 'takes orders',
                               links => '{"runbook": "https://wiki.example.com/orders"}');
SELECT nagare.alter_service('orders', lifecycle => 'production', tier => 1);
SELECT nagare.set_service_endpoint('orders', 'http', 'http://orders.rega.internal:8080');
SELECT nagare.set_service_endpoint('orders', 'api', 'https://api.example.com/orders', 'public');
SELECT nagare.drop_service_endpoint('orders', 'api');
SELECT nagare.register_service('orders-worker', tenant => 'rega');
RESET ROLE;
SET ROLE rb_admin;
SELECT nagare.register_service('billing', tenant => 'regb');
SELECT nagare.set_service_endpoint('billing', 'http', 'http://billing.regb.internal:8080');
RESET ROLE;
-- ... and nothing of another tenant's, nor the platform's
SET ROLE ra_admin;
SELECT pg_temp.try($$SELECT nagare.register_service('sneaky', tenant => 'regb')$$);
SELECT pg_temp.try($$SELECT nagare.register_service('sneaky')$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('billing', description => 'mine now')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('billing', 'http', 'http://evil.example.com')$$);
SELECT pg_temp.try($$SELECT nagare.drop_service_endpoint('billing', 'http')$$);
SELECT pg_temp.try($$SELECT nagare.retire_service('billing')$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('search', tier => 1)$$);
SELECT pg_temp.try($$SELECT nagare.alter_service('orders', tenant => 'regb')$$);     -- moving is the platform's
SELECT pg_temp.try($$SELECT nagare.alter_service('orders', tenant => '')$$);
-- past the functions, row-level security holds the same wall
SELECT pg_temp.try($$INSERT INTO nagare.service (name, tenant) VALUES ('sneaky', 'regb')$$);
UPDATE nagare.service SET description = 'mine now' WHERE name = 'billing';
DELETE FROM nagare.service_endpoint WHERE service = 'billing';
SELECT pg_temp.try($$UPDATE nagare.service SET tenant = 'regb' WHERE name = 'orders'$$);
SELECT pg_temp.try($$DELETE FROM nagare.service WHERE name = 'orders'$$);
SELECT pg_temp.try($$INSERT INTO nagare.service_endpoint (service, name, url) VALUES ('billing', 'x', 'http://evil.example.com')$$);
RESET ROLE;
SELECT service, tenant, description FROM nagare.services WHERE service = 'billing';
SELECT endpoint, url FROM nagare.service_endpoints WHERE service = 'billing';
-- a tenant's member, and a role outside every tenant, read the catalog and change nothing
SET ROLE ra_member;
SELECT service, tenant, lifecycle, tier FROM nagare.services WHERE tenant IN ('rega', 'regb') ORDER BY 1;
SELECT pg_temp.try($$SELECT nagare.alter_service('orders', tier => 2)$$);
SELECT pg_temp.try($$SELECT nagare.register_service('member-svc', tenant => 'rega')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_endpoint('orders', 'x', 'http://orders.example.com')$$);
SELECT pg_temp.try($$SELECT nagare.retire_service('orders')$$);
RESET ROLE;
SET ROLE r_outsider;
SELECT service, tenant FROM nagare.services WHERE tenant IN ('rega', 'regb') ORDER BY 1;
SELECT count(*) FROM nagare.service_endpoints WHERE tenant IN ('rega', 'regb');
SELECT pg_temp.try($$SELECT nagare.alter_service('orders', tier => 2)$$);
RESET ROLE;
-- the platform (ALTER on the CLUSTER, not a superuser) moves a service
SET ROLE r_platform;
SELECT nagare.alter_service('orders-worker', tenant => 'regb');
SELECT nagare.register_service('gateway', description => 'the platform''s own');
SELECT nagare.alter_service('billing', tier => 3);
RESET ROLE;
SELECT service, tenant, tier FROM nagare.services WHERE service IN ('orders-worker', 'gateway', 'billing') ORDER BY 1;
SET ROLE ra_admin;
SELECT pg_temp.try($$SELECT nagare.alter_service('orders-worker', tier => 4)$$);   -- B's now
SELECT pg_temp.try($$SELECT nagare.alter_service('gateway', tier => 1)$$);
SELECT nagare.retire_service('orders');
SELECT nagare.unretire_service('orders');
RESET ROLE;
SET ROLE rb_admin;
SELECT nagare.alter_service('orders-worker', tier => 4);
RESET ROLE;

-- Identities: which clients are a service's own.  A tenant's admin
-- declares its tenant's roles as its services' clients ...
SET ROLE ra_admin;
SELECT nagare.set_service_identity('orders', 'User:ra_member', 'orders-*');
SELECT nagare.set_service_identity('orders', 'User:ra_admin');
SELECT nagare.set_service_identity('orders', 'User:ra_member', 'orders-batch', source => 'sql');
SELECT nagare.set_service_identity('orders', 'User:ra_admin');   -- again: nothing changes
-- ... and nothing else: another tenant's role, a pattern, another tenant's service
SELECT pg_temp.try($$SELECT nagare.set_service_identity('orders', 'User:rb_member')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_identity('orders', 'User:ra_*')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_identity('orders', 'User:r_outsider')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_identity('billing', 'User:ra_member')$$);
SELECT pg_temp.try($$INSERT INTO nagare.service_identity (service, source, principal) VALUES ('orders', 'kafka', 'User:rb_member')$$);
SELECT pg_temp.try($$INSERT INTO nagare.service_identity (service, source, principal) VALUES ('billing', 'kafka', 'User:ra_admin')$$);
DELETE FROM nagare.service_identity WHERE service = 'billing';
RESET ROLE;
SET ROLE rb_admin;
SELECT nagare.set_service_identity('billing', 'User:rb_member');
SELECT pg_temp.try($$SELECT nagare.drop_service_identity('orders', 'User:ra_admin')$$);
RESET ROLE;
SET ROLE ra_member;
SELECT pg_temp.try($$SELECT nagare.set_service_identity('orders', 'User:ra_member', 'mine')$$);
RESET ROLE;
-- the platform declares patterns; an identity is one service's
SET ROLE r_platform;
SELECT nagare.set_service_identity('gateway', 'User:*', 'legacy-*');
SELECT nagare.set_service_identity('gateway', 'User:ANONYMOUS');
SELECT pg_temp.try($$SELECT nagare.set_service_identity('gateway', 'User:ra_member', 'orders-*')$$);
RESET ROLE;
-- what is not an identity
SELECT pg_temp.try($$SELECT nagare.set_service_identity('gateway', 'ra_member')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_identity('gateway', 'Group:x', source => 'sql')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_identity('gateway', 'User:x', '')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_identity('gateway', 'User:x', source => 'http')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_identity('nosuch', 'User:x')$$);
SELECT service, tenant, source, principal, client_id FROM nagare.service_identities ORDER BY 1, 3, 4, 5;
-- A client's service: an exact principal before a pattern, then the longer
-- client_id; a LIKE character in a declaration is itself; none: null
SELECT source, principal, client_id, nagare.service_of(source, principal, client_id) AS service
  FROM (VALUES ('kafka', 'User:ra_member', 'orders-api'), ('kafka', 'User:ra_member', 'orders-'),
               ('kafka', 'User:ra_member', 'other'), ('kafka', 'User:ra_admin', 'legacy-1'),
               ('kafka', 'User:someone', 'legacy-1'), ('kafka', 'User:someone', 'legacy_1'),
               ('kafka', 'User:ANONYMOUS', NULL), ('kafka', 'User:rb_member', 'x'),
               ('sql', 'User:ra_member', 'orders-batch'), ('sql', 'User:ra_member', 'orders-api'),
               ('sql', 'User:rb_member', '')) v(source, principal, client_id);
SELECT nagare.set_service_identity('gateway', 'User:x%', 'a_b');
SELECT nagare.service_of('kafka', 'User:x%', 'a_b') AS exact, nagare.service_of('kafka', 'User:xy', 'a_b') AS percent,
       nagare.service_of('kafka', 'User:x%', 'axb') AS underscore;
SELECT nagare.drop_service_identity('gateway', 'User:x%', 'a_b');
SELECT pg_temp.try($$SELECT nagare.drop_service_identity('gateway', 'User:x%', 'a_b')$$);
-- a retired service's identities match no client
SELECT nagare.retire_service('billing');
SELECT nagare.service_of('kafka', 'User:rb_member', 'x') AS retired;
SELECT pg_temp.try($$SELECT nagare.set_service_identity('billing', 'User:rb_admin')$$);
SELECT nagare.unretire_service('billing');
SELECT nagare.service_of('kafka', 'User:rb_member', 'x') AS unretired;

-- The audit trail: each change with its role, read by the platform and by
-- the principals of the tenant whose service it was
SELECT role, operation, object_type, object_name,
       "before"->>'tenant' AS tenant_before, "after"->>'tenant' AS tenant_after
  FROM nagare.audit_log
 WHERE object_type IN ('SERVICE', 'SERVICE_ENDPOINT', 'SERVICE_IDENTITY')
   AND split_part(object_name, '/', 1) IN ('orders', 'orders-worker', 'billing', 'gateway')
 ORDER BY id;
SELECT "after"->>'protocol' AS protocol, "after"->>'port' AS port
  FROM nagare.audit_log WHERE object_name = 'orders/http';
SET ROLE ra_member;
SELECT role, operation, object_name FROM nagare.audit
 WHERE object_type IN ('SERVICE', 'SERVICE_ENDPOINT', 'SERVICE_IDENTITY') ORDER BY id;
RESET ROLE;
SET ROLE rb_member;
SELECT role, operation, object_name FROM nagare.audit
 WHERE object_type IN ('SERVICE', 'SERVICE_ENDPOINT', 'SERVICE_IDENTITY') ORDER BY id;
RESET ROLE;
SET ROLE r_outsider;
SELECT count(*) FROM nagare.audit WHERE object_type IN ('SERVICE', 'SERVICE_ENDPOINT');
RESET ROLE;
SET ROLE r_platform;
SELECT count(*) > 20 AS platform_reads_all FROM nagare.audit WHERE object_type IN ('SERVICE', 'SERVICE_ENDPOINT');
RESET ROLE;

-- A tenant that owns live services cannot be dropped; retired ones pass to
-- the platform
SELECT pg_temp.try($$SELECT nagare.drop_tenant('rega')$$);
SELECT nagare.retire_service('orders');
SELECT nagare.drop_tenant('rega');
SELECT name, tenant, retired_at IS NOT NULL AS retired FROM nagare.service WHERE name = 'orders';
SELECT operation, role, "before"->>'tenant' AS tenant_before, "after"->>'tenant' AS tenant_after
  FROM nagare.audit_log WHERE object_type = 'SERVICE' AND object_name = 'orders' ORDER BY id DESC LIMIT 1;
SELECT pg_temp.try($$SELECT nagare.drop_tenant('regb')$$);
SELECT nagare.alter_service('billing', tenant => ''), nagare.alter_service('orders-worker', tenant => '');
SELECT nagare.drop_tenant('regb');

-- clean up (services are never deleted but by a superuser, past the functions)
DELETE FROM nagare.service;
SELECT count(*) FROM nagare.service_endpoint;
SELECT count(*) FROM nagare.service_identity;
SELECT count(*) FROM nagare.delete_acls('CLUSTER', 'kafka-cluster', 'LITERAL', 'User:r_platform');
ALTER SYSTEM RESET nagare.allow_everyone_if_no_acl_found;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
REVOKE USAGE ON SCHEMA nagare FROM ra_admin, ra_member, rb_admin, rb_member, r_platform, r_outsider;
DROP ROLE ra_admin;
DROP ROLE ra_member;
DROP ROLE rb_admin;
DROP ROLE rb_member;
DROP ROLE r_platform;
DROP ROLE r_outsider;
