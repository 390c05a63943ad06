-- Registrations in Consul's JSON (PUT /v1/agent/service/register, which the
-- http process hands to the nagare worker): how nagare._consul_registration()
-- reads them into nagare.register_instance()'s arguments, and each error.
-- (Over HTTP with a Consul client library: test/t/192_consul_http.pl.)
\set SHOW_CONTEXT never
\i sql/include/try.sql

-- Go durations, as Consul writes TTLs
SELECT d, nagare._go_duration(d, 'TTL')
  FROM unnest(ARRAY['10s', '1m30s', '1.5h', '500ms', '2h45m10s', '100us', '0', '', NULL]) d;
SELECT pg_temp.try(format('SELECT nagare._go_duration(%L, ''TTL'')', d))
  FROM unnest(ARRAY['10', '10 s', '-5s', 's', '1d', '1m30']) d;

-- the fields, in any case (Go's JSON decoding), and their defaults
SELECT * FROM nagare._consul_registration(
  '{"Name": "orders", "ID": "orders-1", "Address": "10.0.0.5", "Port": 8080,
    "Tags": ["v2", "primary"], "Meta": {"version": "2.1"},
    "Check": {"TTL": "15s", "DeregisterCriticalServiceAfter": "90m"}}', '127.0.0.1');
SELECT * FROM nagare._consul_registration(
  '{"name": "orders", "port": 80, "checks": [{"ttl": "1m", "status": "passing", "CheckID": "service:orders"}]}',
  '192.0.2.7');
-- no check: no TTL (always passing); no address: the HTTP client's
SELECT * FROM nagare._consul_registration('{"Name": "orders", "Port": 80, "Tags": null, "Meta": null}', '192.0.2.7');

-- what nagare does not take, each with its reason
SELECT pg_temp.try(format('SELECT nagare._consul_registration(%L, ''127.0.0.1'')', r))
  FROM unnest(ARRAY[
    '[]',
    '{"ID": "x", "Port": 80}',
    '{"Name": "", "Port": 80}',
    '{"Name": "orders", "Port": "80"}',
    '{"Name": "orders", "Port": 80, "Tags": "v2"}',
    '{"Name": "orders", "Port": 80, "Tags": ["v2", 3]}',
    '{"Name": "orders", "Port": 80, "Check": {"TTL": "10s"}, "Checks": [{"TTL": "20s"}]}',
    '{"Name": "orders", "Port": 80, "Check": {"HTTP": "http://10.0.0.5/health", "Interval": "10s"}}',
    '{"Name": "orders", "Port": 80, "Check": {"Args": ["/bin/check"], "Interval": "10s"}}',
    '{"Name": "orders", "Port": 80, "Check": {"TTL": "10s", "CheckID": "mine"}}',
    '{"Name": "orders", "Port": 80, "Check": {"Interval": "10s"}}',
    '{"Name": "orders", "Port": 80, "Check": {"TTL": "ten seconds"}}',
    '{"Name": "orders", "Port": 80, "Checks": ["ttl"]}'
  ]::jsonb[]) r;
