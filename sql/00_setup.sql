-- The server runs with nagare preloaded and nagare.database = contrib_regression
CREATE EXTENSION nagare;
SELECT extname, extversion FROM pg_extension WHERE extname = 'nagare';
-- the broker is up
SELECT state, pid IS NOT NULL AS has_pid, queue_size > 0 AS has_queue FROM nagare.broker;
