-- SLOs: declarations and their errors, the wall between tenants, the
-- audit trail, and the SLIs, budgets, burn rates and alerts computed from
-- hand-written minute rows (test/t/205_slo.pl measures real traffic).
\i sql/include/wait_acls.sql
\i sql/include/try.sql

CREATE ROLE slo_a_admin;
CREATE ROLE slo_a_member;
CREATE ROLE slo_b_admin;
CREATE ROLE slo_outsider;
GRANT USAGE ON SCHEMA nagare TO slo_a_admin, slo_a_member, slo_b_admin, slo_outsider;
ALTER SYSTEM SET nagare.allow_everyone_if_no_acl_found = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT nagare.create_tenant('sloa');
SELECT nagare.create_tenant('slob');
SELECT nagare.add_tenant_principal('sloa', 'slo_a_admin', admin => true);
SELECT nagare.add_tenant_principal('sloa', 'slo_a_member');
SELECT nagare.add_tenant_principal('slob', 'slo_b_admin', admin => true);
SELECT pg_temp.wait_acls();
SELECT nagare.register_service('pay', tenant => 'sloa');
SELECT nagare.register_service('ship', tenant => 'slob');
SHOW nagare.sli_retention;

-- Declarations and their errors
SELECT nagare.set_service_slo('pay', 'avail', 'produce_success', 0.99, time_window => '1 day');
SELECT nagare.set_service_slo('pay', 'fast', 'produce_latency', 0.9, 5, '1 day');
SELECT nagare.set_service_slo('pay', 'up', 'instance_health', 0.95, time_window => '1 day');
SELECT nagare.set_service_slo('pay', 'fresh', 'consumer_lag', 0.5, 30, '1 day');
SELECT pg_temp.try($$SELECT nagare.set_service_slo('nope', 'avail', 'produce_success', 0.99)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'Avail', 'produce_success', 0.99)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'uptime', 0.99)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_success', 1)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_success', 0)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_success', NULL)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_success', 0.99, 5)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_latency', 0.99)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_latency', 0.99, 3)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'consumer_lag', 0.99, 0)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_success', 0.99, time_window => '1 minute')$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'produce_success', 0.99, time_window => '2 years')$$);
SELECT pg_temp.try($$SELECT nagare.drop_service_slo('pay', 'x')$$);
-- the rules hold however a row is written
SELECT pg_temp.try($$INSERT INTO nagare.service_slo (service, name, sli, objective) VALUES ('pay', 'x', 'produce_latency', 0.9)$$);
-- setting again what is there changes nothing (no audit row)
SELECT nagare.set_service_slo('pay', 'avail', 'produce_success', 0.99, time_window => '1 day');
SELECT service, name, sli, objective, threshold, time_window FROM nagare.service_slo ORDER BY 1, 2;

-- The wall: the tenant's admins and the platform declare, no one else
SET ROLE slo_a_admin;
SELECT nagare.set_service_slo('pay', 'avail2', 'produce_success', 0.999);
SELECT nagare.drop_service_slo('pay', 'avail2');
SELECT pg_temp.try($$SELECT nagare.set_service_slo('ship', 'avail', 'produce_success', 0.99)$$);
SET ROLE slo_a_member;
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'avail3', 'produce_success', 0.99)$$);
SELECT pg_temp.try($$SELECT nagare.drop_service_slo('pay', 'avail')$$);
SELECT pg_temp.try($$DELETE FROM nagare.service_slo$$), count(*) FROM nagare.service_slo;
SET ROLE slo_b_admin;
SELECT pg_temp.try($$SELECT nagare.drop_service_slo('pay', 'avail')$$);
SELECT pg_temp.try($$UPDATE nagare.service_slo SET objective = 0.42$$);
RESET ROLE;
SELECT count(*) FROM nagare.service_slo WHERE objective = 0.42;

-- The audit trail: SERVICE_SLO rows, read by the platform and the tenant
SELECT operation, role, object_name FROM nagare.audit_log WHERE object_type = 'SERVICE_SLO' ORDER BY id;
SET ROLE slo_a_member;
SELECT count(*) AS tenant_a_reads FROM nagare.audit WHERE object_type = 'SERVICE_SLO';
SET ROLE slo_b_admin;
SELECT count(*) AS tenant_b_reads FROM nagare.audit WHERE object_type = 'SERVICE_SLO';
RESET ROLE;

-- Minute rows by hand: 100 bad of 1,000 two minutes ago, none bad of 1,000
-- an hour and a half ago, 500 bad of 1,000 ten hours ago
INSERT INTO nagare.service_sli_minute (service, minute, produce_good, produce_total, latency_buckets,
                                       latency_sum_us, instances_passing, instances_total, lag_seconds)
VALUES ('pay', date_trunc('minute', now()) - interval '2 minutes', 900, 1000,
        '{0,0,0,100,200,300,200,100,100,0,0,0,0,0,0,0,0,0}', 5000000, 1, 2, 10),
       ('pay', date_trunc('minute', now()) - interval '90 minutes', 1000, 1000,
        '{0,0,0,0,0,0,1000,0,0,0,0,0,0,0,0,0,0,0}', 4000000, 2, 2, 40),
       ('pay', date_trunc('minute', now()) - interval '10 hours', 500, 1000,
        '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1000}', 90000000000, 2, 2, NULL),
       ('pay', date_trunc('minute', now()) - interval '3 days', 0, 1000,
        array_fill(0::bigint, ARRAY[18]), 0, 0, 2, 1000),
       ('ship', date_trunc('minute', now()), 1, 1, array_fill(0::bigint, ARRAY[18]), 0, 0, 0, NULL);
SELECT pg_temp.try($$INSERT INTO nagare.service_sli_minute (service, minute, produce_good, produce_total) VALUES ('pay', now(), 2, 1)$$);
-- avail: 2,400 good of 3,000 (99%: a budget of 30 events, 600 spent);
-- burn rates: 10 over 5m, 30m and 1h (100 of 1,000), 5 over 2h and 6h
-- (100 of 2,000), 20 over 1d (600 of 3,000); the 3-day-old row is outside
-- the 1-day window and the 3d burn rate (3 days is not "within")
-- fast (5 ms, 90%): 1,800 of 3,000 answered within 5 ms (800 two minutes
-- ago, 1,000 an hour and a half ago, none ten hours ago)
-- up: 5 passing of 6 instance samples; fresh (30 s, 50%): 1 of 2 minutes
SELECT name, sli, good_events, total_events, round(sli_value::numeric, 4) AS sli, met,
       round(error_budget_events::numeric, 2) AS budget,
       round(error_budget_remaining_events::numeric, 2) AS left_events,
       round(error_budget_remaining::numeric, 4) AS left
  FROM nagare.slo_status WHERE service = 'pay' ORDER BY name;
SELECT name, round(burn_rate_5m::numeric, 4) AS b5m, round(burn_rate_30m::numeric, 4) AS b30m,
       round(burn_rate_1h::numeric, 4) AS b1h, round(burn_rate_2h::numeric, 4) AS b2h,
       round(burn_rate_6h::numeric, 4) AS b6h, round(burn_rate_1d::numeric, 4) AS b1d,
       round(burn_rate_3d::numeric, 4) AS b3d
  FROM nagare.slo_status WHERE service = 'pay' ORDER BY name;
-- the workbook's alerts: avail tickets (20 over 1d and 5 over 2h; 20 over
-- 3d and 5 over 6h), no page (10 over 1h is under 14.4; 5 over 6h under 6)
SELECT service, name, severity, long_window, short_window, burn_rate_threshold,
       round(long_burn_rate::numeric, 2) AS long_burn, round(short_burn_rate::numeric, 2) AS short_burn
  FROM nagare.slo_alerts ORDER BY 1, 2, 3, 4;
-- a page: another 1,000 bad two minutes ago (1,100 of 2,000 bad: 55 over 5m and 1h)
UPDATE nagare.service_sli_minute SET produce_total = produce_total + 1000
 WHERE service = 'pay' AND minute = date_trunc('minute', now()) - interval '2 minutes';
SELECT name, severity, long_window, round(long_burn_rate::numeric, 2) AS long_burn,
       round(short_burn_rate::numeric, 2) AS short_burn
  FROM nagare.slo_alerts WHERE name = 'avail' ORDER BY severity, long_window;

-- publish_latency (20 ms, 99%): transactions' commit to consumable, 990 of
-- 1,000 within 20 ms two minutes ago (the 9th bound), 10 slower
SELECT nagare.set_service_slo('pay', 'commit', 'publish_latency', 0.99, 20, '1 day');
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'publish_latency', 0.99, 3)$$);
SELECT pg_temp.try($$SELECT nagare.set_service_slo('pay', 'x', 'publish_latency', 0.99)$$);
UPDATE nagare.service_sli_minute
   SET publish_latency_buckets = '{0,0,0,0,0,0,0,0,990,10,0,0,0,0,0,0,0,0}', publish_latency_sum_us = 2000000
 WHERE service = 'pay' AND minute = date_trunc('minute', now()) - interval '2 minutes';
SELECT name, sli, good_events, total_events, round(sli_value::numeric, 4) AS sli, met,
       round(burn_rate_5m::numeric, 4) AS b5m
  FROM nagare.slo_status WHERE name = 'commit';
SELECT nagare.drop_service_slo('pay', 'commit');

-- Percentiles, as Prometheus's histogram_quantile(): over 5 minutes the
-- produce latencies of two minutes ago (p50: the 500th of 1,000 is the
-- 200th of 300 in (1, 2] ms: 1.667; p90: the top of (5, 10]; p99: 0.9 into
-- (10, 20]) and the publish latencies (p50: 500 of 990 into (10, 20])
SELECT service, time_window, sli, events, round(p50_ms::numeric, 3) AS p50, round(p90_ms::numeric, 3) AS p90,
       round(p99_ms::numeric, 3) AS p99
  FROM nagare.service_latency ORDER BY 1, 2, 3;
SELECT nagare.latency_quantile(0, '{0,0,5,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}') AS q0,
       nagare.latency_quantile(1, '{0,0,5,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}') AS q1,
       nagare.latency_quantile(0.5, '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,3}') AS inf,
       nagare.latency_quantile(0.5, array_fill(0::bigint, ARRAY[18])) AS empty;
SELECT pg_temp.try($$SELECT nagare.latency_quantile(1.5, array_fill(0::bigint, ARRAY[18]))$$);
SELECT pg_temp.try($$SELECT nagare.latency_quantile(0.5, '{1,2,3}')$$);

-- The SLIs' wall: the platform and the service's tenant
SET ROLE slo_a_member;
SELECT service, name FROM nagare.slo_status ORDER BY 1, 2;
SELECT DISTINCT service FROM nagare.service_sli_minute;
SELECT DISTINCT service FROM nagare.service_latency;
SET ROLE slo_b_admin;
SELECT service, name FROM nagare.slo_status ORDER BY 1, 2;
SELECT DISTINCT service FROM nagare.service_sli_minute;
SELECT DISTINCT service FROM nagare.service_latency;
SELECT count(*) FROM nagare.service_slo;  -- the declarations are public, like the catalog
SET ROLE slo_outsider;
SELECT count(*) FROM nagare.slo_status;
SELECT count(*) FROM nagare.service_sli_minute;
SELECT pg_temp.try($$SELECT nagare.flush_sli()$$);
SELECT pg_temp.try($$DELETE FROM nagare.service_sli_minute$$);
RESET ROLE;

-- Retention: rows older than nagare.sli_retention go at the next flush
ALTER SYSTEM SET nagare.sli_retention = '2d';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW nagare.sli_retention;
SELECT nagare.flush_sli() >= 0 AS flushed;
SELECT count(*) AS older_than_2d FROM nagare.service_sli_minute WHERE minute < now() - interval '2 days';
SELECT count(*) AS kept FROM nagare.service_sli_minute WHERE service = 'pay';
ALTER SYSTEM RESET nagare.sli_retention;

-- A retired service takes no new SLO; dropping its row drops its SLOs
SELECT nagare.retire_service('ship');
SELECT pg_temp.try($$SELECT nagare.set_service_slo('ship', 'avail', 'produce_success', 0.99)$$);

-- clean up
DELETE FROM nagare.service;
SELECT count(*) FROM nagare.service_slo;
-- (the nagare worker may have written rows of other tests' services)
WITH d AS (DELETE FROM nagare.service_sli_minute RETURNING service)
SELECT count(*) FILTER (WHERE service IN ('pay', 'ship')) AS deleted FROM d;
SELECT nagare.drop_tenant('sloa'), nagare.drop_tenant('slob');
ALTER SYSTEM RESET nagare.allow_everyone_if_no_acl_found;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
REVOKE USAGE ON SCHEMA nagare FROM slo_a_admin, slo_a_member, slo_b_admin, slo_outsider;
DROP ROLE slo_a_admin;
DROP ROLE slo_a_member;
DROP ROLE slo_b_admin;
DROP ROLE slo_outsider;
