-- The server runs with nagare preloaded and nagare.database = contrib_regression
CREATE EXTENSION nagare;
SELECT extname, extversion FROM pg_extension WHERE extname = 'nagare';
-- the broker is up
SELECT state, pid IS NOT NULL AS has_pid, queue_size > 0 AS has_queue FROM nagare.broker;

-- The SQL surface.  Every function of schema nagare has a comment (\df+).
SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_proc p
 WHERE p.pronamespace = 'nagare'::regnamespace
   AND obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1::text;
-- Internal helpers (named _*) are not executable by PUBLIC, but for those
-- that roles' own calls reach, which run as the calling role: a function
-- called by a public SECURITY INVOKER function, a row-level security
-- policy, a CHECK constraint or a view (each listed here with why).
SELECT p.oid::regprocedure AS helper_executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'nagare'::regnamespace
   AND p.proname LIKE '\_%'
   AND has_function_privilege('public', p.oid, 'EXECUTE')
   AND p.proname NOT IN (
         '_check_group_idle',        -- by reset_group_offsets(), delete_group()
         '_reset_group_offsets',     -- by reset_group_offsets()
         '_group_exists',            -- by reset_group_offsets(), delete_group()
         '_group_notice',            -- by them too (checks the group's ACL itself)
         '_tenant_acls',             -- by add_tenant_principal()
         '_table_topic_policy',      -- by create_table_topic(), alter_table_topic()
         '_quota_entity',            -- nagare.quota's CHECK, nagare.quotas, set_quota()
         '_quota_entity_tenant',     -- row-level security of nagare.quota, nagare.quotas
         '_quota_role_tenant',       -- row-level security of the quota tables
         '_audit_visible',           -- row-level security of nagare.audit_log
         '_quota_tenant_admin_may',  -- row-level security of nagare.quota
         '_quota_tenant_exists',     -- by set_quota(), set_tenant_quota_cap(), register_service(), alter_service()
         '_quota_tenant_authorize',  -- by set_quota(), remove_quota()
         '_client_usage',            -- the view nagare.client_usage
         '_connections',             -- the view nagare.connections
         '_service_label',           -- the service catalog's functions and triggers
         '_service_url_schemes',     -- by _service_url()
         '_service_url',             -- the trigger of nagare.service_endpoint, _service_links()
         '_service_links',           -- the trigger of nagare.service
         '_service_admin_may',       -- by _service_may()
         '_service_may',             -- row-level security of the service catalog
         '_service_authorize',       -- by register_service(), alter_service() and the others
         '_service_get',             -- by alter_service(), retire_service() and the others
        '_service_live',            -- by set_service_endpoint(), register_instance() and the others
        '_glob_like',               -- by service_of(): a pattern of * as a LIKE pattern
        '_service_identity_authorize', -- by set_service_identity()
         '_instance_member_may',     -- by _instance_may()
         '_instance_may',            -- row-level security of nagare.service_instance
         '_instance_authorize',      -- by register_instance(), _instance_check()
         '_instance_check',          -- by deregister_instance() and the heartbeats
         '_go_duration',             -- by _consul_registration()
         '_consul_registration',     -- by the nagare worker as an HTTP client's role (src/worker/registrations.c)
         '_instances_live',          -- the view nagare.instances
         '_dependency_kind',         -- by declare_dependency()
         '_dependency_visible',      -- the wall of nagare.observed_dependencies
         '_dot_quote',               -- by dependency_graph_dot()
         '_dependency_label')        -- by dependency_graph_dot()
 ORDER BY 1::text;
-- No parameter a caller names is a reserved word (pg_get_keywords() R or T);
-- output columns (OUT, TABLE) are names of results, not parameters.
SELECT p.oid::regprocedure AS function, a.name AS reserved_parameter
  FROM pg_proc p,
       unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[coalesce(cardinality(p.proargnames), 0)])))
         AS a(name, mode)
  JOIN pg_get_keywords() k ON k.word = a.name AND k.catcode IN ('R', 'T')
 WHERE p.pronamespace = 'nagare'::regnamespace AND a.mode IN ('i', 'b', 'v')
 ORDER BY 1::text, 2;
