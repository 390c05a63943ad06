#!/usr/bin/env bash
# A real fsync failure, and what nagare does with it.  Run as root (it
# mounts file systems); not part of CI.  docs/operations.md has its last
# result.
#
# pg_nagare lives on an ext4 file system on a loop device whose backing
# file is sparse (64 MB) on a tmpfs of 24 MB: once 24 MB reached the
# "disk", the loop device fails every write, so the kernel's write-back of
# segment pages fails and fdatasync() returns an error (ENOSPC, then EIO;
# ext4 then aborts its journal), exactly as a failing disk would.  A
# librdkafka producer (test/soak/producer.py, acks=all) writes 1 kB records
# until that happens.  Then:
#
#  1. the broker must PANIC on the failed fdatasync (data_sync_retry = off
#     semantics: the page cache no longer says what is on disk), and no
#     record may be acknowledged after the failure;
#  2. the "disk" is repaired (tmpfs grown, e2fsck, mounted again) and the
#     server started: recovery must find every acknowledged record at its
#     offset (what a failed fsync did not make durable was never
#     acknowledged).
#
# It builds and installs nagare with a copy of PostgreSQL 15 into a private
# directory (FSYNC_DIR, default /tmp/nagare-fsync), like scripts/soak.sh.
# Ends with "FSYNC: ..." and exits non-zero if anything acknowledged was
# lost or the failure was not a PANIC.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "fsync-error.sh: run as root (it mounts file systems)" >&2; exit 2; }

d=${FSYNC_DIR:-/tmp/nagare-fsync}
pgbin=$(pg_config --bindir)
pgshare=$(pg_config --sharedir)
for m in "$d/fs" "$d/tmpfs"; do mountpoint -q "$m" && umount "$m"; done
rm -rf "$d"
mkdir -p "$d/inst$(dirname "$(dirname "$pgbin")")" "$d/inst$(dirname "$pgshare")" "$d/tmpfs" "$d/fs"
cp -a "$(dirname "$pgbin")" "$d/inst$(dirname "$(dirname "$pgbin")")/"
cp -a "$pgshare" "$d/inst$(dirname "$pgshare")/"
make -s -j2
make -s install DESTDIR="$d/inst" >/dev/null
bin="$d/inst$pgbin"

mount -t tmpfs -o size=24m tmpfs "$d/tmpfs"
truncate -s 64M "$d/tmpfs/disk.img"
mkfs.ext4 -q -F -m 0 "$d/tmpfs/disk.img"
mount -o loop "$d/tmpfs/disk.img" "$d/fs"
mkdir "$d/fs/pg_nagare"
chown -R postgres: "$d"

port=$((20000 + RANDOM % 10000))
kport=$((port + 1))
as_pg() { su postgres -s /bin/bash -c "PATH='$bin':\$PATH; $*"; }
sqlq() { as_pg "psql -XAtq -h '$d' -p $port -d postgres -c \"$1\""; }
as_pg "initdb -D '$d/data' -U postgres >/dev/null"
cat >>"$d/data/postgresql.conf" <<EOF
shared_preload_libraries = 'nagare'
wal_level = logical
port = $port
unix_socket_directories = '$d'
listen_addresses = ''
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
restart_after_crash = on
EOF
if "$bin/postgres" --describe-config 2>/dev/null | grep -q '^output_plugin_libraries'; then
  echo "output_plugin_libraries = 'pgoutput, test_decoding, nagare'" >>"$d/data/postgresql.conf"
fi
ln -s "$d/fs/pg_nagare" "$d/data/pg_nagare"
as_pg "pg_ctl -w -D '$d/data' -l '$d/log' start >/dev/null"
sqlq "CREATE EXTENSION nagare"
sqlq "SELECT nagare.create_topic('fs', 1, '{\\\"segment.bytes\\\": 4194304}')"
sleep 2

# produce until the broker dies (its PANIC takes the server down and up)
as_pg "python3 -c '
import sys, time
from confluent_kafka import Producer
out = open(\"$d/acked\", \"w\", buffering=1)
p = Producer({\"bootstrap.servers\": \"127.0.0.1:$kport\", \"acks\": \"all\", \"linger.ms\": 5,
              \"message.timeout.ms\": 20000, \"enable.idempotence\": False})
def dr(e, m):
    if e is None:
        out.write(\"%d %s\\n\" % (m.offset(), m.value()[:16].decode()))
end = time.time() + 60
i = 0
while time.time() < end:
    try:
        p.produce(\"fs\", value=(\"v%012d:\" % i).encode().ljust(1000, b\"x\"), partition=0, on_delivery=dr)
        i += 1
    except BufferError:
        p.poll(0.05)
    p.poll(0)
    if open(\"$d/log\").read().find(\"PANIC\") >= 0:
        break
p.flush(25)
print(\"produced\", i)
'" || true
acked=$(wc -l <"$d/acked")
panic=$(grep -m1 'PANIC' "$d/log" || true)
echo "fsync-error.sh: $acked records acknowledged; first PANIC: ${panic:-none}"

# repair the disk: stop, grow the tmpfs, fsck, mount, start
as_pg "pg_ctl -D '$d/data' -m immediate stop >/dev/null" || true
sleep 1
umount "$d/fs"
mount -o remount,size=256m "$d/tmpfs"
e2fsck -fy "$d/tmpfs/disk.img" >"$d/fsck.out" 2>&1 || true
mount -o loop "$d/tmpfs/disk.img" "$d/fs"
as_pg "pg_ctl -w -D '$d/data' -l '$d/log2' start >/dev/null"
for _ in $(seq 1 60); do
  [ "$(sqlq "SELECT state FROM nagare.broker" 2>/dev/null)" = ready ] && break
  sleep 1
done
sqlq "SELECT \\\"offset\\\" || ' ' || substr(convert_from(value, 'UTF8'), 1, 16) FROM nagare.consume('fs', 0, 0, 10000000)" >"$d/found"
lost=$(sort "$d/acked" | comm -23 - <(sort "$d/found") | wc -l)
found=$(wc -l <"$d/found")
truncs=$(grep -c 'truncating' "$d/log2" || true)
as_pg "pg_ctl -D '$d/data' -m fast stop >/dev/null" || true
umount "$d/fs"
umount "$d/tmpfs"
echo "FSYNC: acknowledged $acked, found after recovery $found, lost $lost, truncations at recovery $truncs, PANIC: $([ -n "$panic" ] && echo yes || echo no)"
[ -n "$panic" ] && [ "$lost" -eq 0 ]
