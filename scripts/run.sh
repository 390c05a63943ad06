#!/usr/bin/env bash
# Set up and run nagare on this machine: install the packages, build and
# install the extension, create (once) a PostgreSQL 15 cluster with nagare
# preloaded, start it as the unprivileged "postgres" user, create the
# extension, and print how to connect.  Run as root.  Safe to run again: an
# existing cluster is kept and (re)started.
#
# Environment: NAGARE_PGDATA (default /var/lib/nagare/data),
#              NAGARE_PGPORT (default 5433; Debian's own cluster uses 5432).
set -euo pipefail
cd "$(dirname "$0")/.."

pgdata=${NAGARE_PGDATA:-/var/lib/nagare/data}
port=${NAGARE_PGPORT:-5433}
bindir=/usr/lib/postgresql/15/bin
sockdir=/var/run/postgresql

if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: run as root (it installs packages and the extension)" >&2
  exit 1
fi

scripts/deps.sh
make -s -j"$(nproc)"
make -s install >/dev/null

mkdir -p "$(dirname "$pgdata")" "$sockdir"
chown postgres: "$(dirname "$pgdata")" "$sockdir"
as_pg() { su postgres -s /bin/bash -c "$*"; }

if [ ! -f "$pgdata/PG_VERSION" ]; then
  as_pg "'$bindir/initdb' -D '$pgdata' -U postgres --auth-local=peer --auth-host=scram-sha-256 >/dev/null"
  cat >> "$pgdata/postgresql.conf" <<CONF

# --- nagare (scripts/run.sh) ---
shared_preload_libraries = 'nagare'
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$sockdir'
wal_level = logical
max_replication_slots = 10
CONF
fi
# PostgreSQL 15.19 and later load only the output plugins this names
# (publish() and table topics need nagare's); also for clusters made before
if "$bindir/postgres" --describe-config 2>/dev/null | grep '^output_plugin_libraries' >/dev/null &&
   ! grep -q "^output_plugin_libraries = .*nagare" "$pgdata/postgresql.conf"; then
  echo "output_plugin_libraries = 'pgoutput, test_decoding, nagare'" >> "$pgdata/postgresql.conf"
fi

if as_pg "'$bindir/pg_ctl' -D '$pgdata' status" >/dev/null 2>&1; then
  as_pg "'$bindir/pg_ctl' -D '$pgdata' -l '$pgdata/../postgresql.log' -w restart" >/dev/null
else
  as_pg "'$bindir/pg_ctl' -D '$pgdata' -l '$pgdata/../postgresql.log' -w start" >/dev/null
fi

as_pg "'$bindir/psql' -X -q -p $port -h '$sockdir' -d postgres -c 'CREATE EXTENSION IF NOT EXISTS nagare'"
# the broker is ready once it has recovered the partitions on disk
for _ in $(seq 1 100); do
  state=$(as_pg "'$bindir/psql' -X -Atq -p $port -h '$sockdir' -d postgres -c 'SELECT state FROM nagare.broker'")
  [ "$state" = ready ] && break
  sleep 0.1
done

cat <<MSG
nagare is running (PostgreSQL 15, port $port, data in $pgdata, broker $state).

Connect with psql:
  runuser -u postgres -- psql -p $port
and try:
  SELECT nagare.create_topic('orders', 3);
  SELECT * FROM nagare.send('orders', 'customer-42', '{"item": "tea"}'::jsonb);
  SELECT m.partition, m.offset, convert_from(m.value, 'UTF8')
    FROM generate_series(0, 2) p, nagare.consume('orders', p) m;
  SELECT * FROM nagare.partitions;

Server log: $(dirname "$pgdata")/postgresql.log
Stop:       runuser -u postgres -- $bindir/pg_ctl -D $pgdata stop
MSG
