#!/usr/bin/env bash
# Install what nagare needs to build, run and test, from Debian's packages.
# Idempotent: installs only what is missing.  Must run as root.
set -euo pipefail

packages=(
  # build
  gcc make postgresql-15 postgresql-server-dev-15
  liburing-dev zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev
  # tests: TAP (PostgreSQL::Test::Cluster needs IPC::Run), fuzzing, clients
  libipc-run-perl clang-14 libclang-rt-14-dev clang-format-14 git
  python3 python3-kafka python3-snappy python3-lz4 python3-zstandard
  python3-confluent-kafka kcat
  python3-dnspython
  # test/t/185_metrics: promtool and a Prometheus server scraping /metrics
  prometheus
  # the Java client (test/interop/java, built with Maven)
  openjdk-17-jdk-headless maven
  # benchmarks: the peers nagare is measured against
  postgresql-15-pgq3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js and npm for the kafkajs and @platformatic/kafka interop clients
# (test/interop/package.json): the machine's own when it has them (a newer
# Node.js than Debian's 18), else Debian's.
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: npm is missing; run as root to install nodejs and npm" >&2
    exit 1
  fi
  echo "deps.sh: installing nodejs npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
