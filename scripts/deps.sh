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
  # test/t/200_dependencies: the DOT export rendered (dot -Tsvg)
  graphviz
  # test/t/185_metrics: promtool and a Prometheus server scraping /metrics
  # (test/t/192_consul_http builds its own, below: Debian's has no Consul discovery)
  prometheus
  # test/t/192_consul_http: the venv of py-consul (below)
  python3-venv
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

# The console (console/, make install) and its browser test
# (test/t/210_console.pl): Debian's Chromium, driven by playwright-core, and
# the npm packages at the versions of console/package-lock.json and
# test/console/package-lock.json (npm ci).
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
      echo "deps.sh: could not install chromium; test/t/210_console.pl will skip" >&2
  else
    echo "deps.sh: chromium is missing; test/t/210_console.pl will skip" >&2
  fi
fi
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
for d in console test/console; do
  if [ ! -f "$repo_root/$d/node_modules/.package-lock.json" ] ||
     ! cmp -s "$repo_root/$d/package-lock.json" "$repo_root/$d/node_modules/.nagare-lock"; then
    if (cd "$repo_root/$d" && npm ci --no-audit --no-fund >/dev/null 2>&1); then
      cp "$repo_root/$d/package-lock.json" "$repo_root/$d/node_modules/.nagare-lock"
    else
      echo "deps.sh: npm ci in $d failed" >&2
    fi
  fi
done

# test/t/192_consul_http: py-consul, a real Consul client library, from PyPI at
# pinned versions, in a venv the postgres user that runs the tests can read
# (NAGARE_CONSUL_VENV, default /opt/nagare-test/consul-venv).
consul_venv=${NAGARE_CONSUL_VENV:-/opt/nagare-test/consul-venv}
consul_pins=(py-consul==1.6.0 requests==2.34.2 urllib3==2.8.0 idna==3.21
  certifi==2026.10.19.post1 charset-normalizer==3.5.3)
if [ ! -f "$consul_venv/.nagare-pins" ] || [ "$(cat "$consul_venv/.nagare-pins")" != "${consul_pins[*]}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: the py-consul venv $consul_venv is missing; run as root to make it" >&2
  else
    echo "deps.sh: making the py-consul venv $consul_venv"
    rm -rf "$consul_venv"
    if /usr/bin/python3 -m venv "$consul_venv" &&
       "$consul_venv/bin/pip" install -q --disable-pip-version-check "${consul_pins[@]}" >/dev/null; then
      echo "${consul_pins[*]}" >"$consul_venv/.nagare-pins"
      chmod -R a+rX "$consul_venv"
    else
      echo "deps.sh: could not make the py-consul venv; test/t/192_consul_http will skip its py-consul checks" >&2
    fi
  fi
fi

# test/t/192_consul_http: a real Prometheus server discovering its targets
# with consul_sd_configs (Debian's prometheus is built without Consul
# discovery).  test/prometheus_server pins github.com/prometheus/prometheus
# (go.mod, go.sum); its cmd/prometheus is built with the machine's Go (1.26
# or later) from the Go module proxy, with only Consul's discovery compiled
# in (remove_all_sd,enable_consul_sd) and without the web UI's assets (the
# API is what the test reads), into NAGARE_PROMETHEUS_DIR (default
# /opt/nagare-test/prometheus), once per pin: 4 to 6 minutes of CPU (3 min
# 20 s on a 2-CPU machine with the modules at hand, 9 min on a busy one
# fetching its 1 GB of modules).  test/consul_sd, the stand-in it
# replaced, is gone, and its old build with it.
# A failed build says so here, and the test then fails under CI=true (and
# skips its Prometheus checks elsewhere).
prom_dir=${NAGARE_PROMETHEUS_DIR:-/opt/nagare-test/prometheus}
prom_src="$(cd "$(dirname "$0")/.." && pwd)/test/prometheus_server"
rm -rf /opt/nagare-test/consul_sd 2>/dev/null || true
go_bin=$(command -v go || echo /usr/local/go/bin/go)
if [ -x "$go_bin" ] && [ "$(id -u)" -eq 0 ]; then
  stamp=$(cat "$prom_src/go.mod" "$prom_src/go.sum" "$prom_src/build.sh" | sha256sum | cut -c1-16)
  if [ "$(cat "$prom_dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "deps.sh: building Prometheus (test/prometheus_server) into $prom_dir"
    rm -rf "$prom_dir"
    mkdir -p "$prom_dir"
    if GO="$go_bin" "$prom_src/build.sh" "$prom_dir/prometheus" >"$prom_dir/build.log" 2>&1; then
      echo "$stamp" >"$prom_dir/.stamp"
    else
      echo "deps.sh: *** COULD NOT BUILD PROMETHEUS (test/prometheus_server): test/t/192_consul_http" \
           "fails under CI=true; the build's output: ***" >&2
      tail -30 "$prom_dir/build.log" >&2
    fi
    chmod -R a+rX "$prom_dir"
  fi
elif [ ! -x "$prom_dir/prometheus" ]; then
  echo "deps.sh: *** no Go (or not root): no Prometheus server for test/t/192_consul_http," \
       "which fails under CI=true ***" >&2
fi

# test/t/126_confluent_kafka: confluent-kafka from PyPI at a pinned version
# (a current librdkafka, bundled in its wheel; Debian's python3-confluent-kafka
# 1.7.0 with librdkafka 2.0.2 stays for the other tests), in a venv the
# postgres user can read (NAGARE_CONFLUENT_VENV, default
# /opt/nagare-test/confluent-venv).  Without it the test skips.
confluent_venv=${NAGARE_CONFLUENT_VENV:-/opt/nagare-test/confluent-venv}
confluent_pins=(confluent-kafka==2.16.1)
if [ ! -f "$confluent_venv/.nagare-pins" ] || [ "$(cat "$confluent_venv/.nagare-pins")" != "${confluent_pins[*]}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: the confluent-kafka venv $confluent_venv is missing; run as root to make it" >&2
  else
    echo "deps.sh: making the confluent-kafka venv $confluent_venv"
    rm -rf "$confluent_venv"
    if /usr/bin/python3 -m venv "$confluent_venv" &&
       "$confluent_venv/bin/pip" install -q --disable-pip-version-check --only-binary :all: "${confluent_pins[@]}" >/dev/null; then
      echo "${confluent_pins[*]}" >"$confluent_venv/.nagare-pins"
      chmod -R a+rX "$confluent_venv"
    else
      echo "deps.sh: could not make the confluent-kafka venv; test/t/126_confluent_kafka will skip" >&2
    fi
  fi
fi

# test/t/125_franz: a franz-go client (test/franz: kgo and kadm at the
# versions of its go.sum), built with the machine's Go from the Go module
# proxy into NAGARE_FRANZ_DIR (default /opt/nagare-test/franz).  Without Go
# the test skips.
franz_dir=${NAGARE_FRANZ_DIR:-/opt/nagare-test/franz}
franz_src="$(cd "$(dirname "$0")/.." && pwd)/test/franz"
if [ -x "$go_bin" ] && [ "$(id -u)" -eq 0 ]; then
  stamp=$(cat "$franz_src/go.mod" "$franz_src/go.sum" "$franz_src/main.go" | sha256sum | cut -c1-16)
  if [ "$(cat "$franz_dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "deps.sh: building test/franz (franz-go)"
    mkdir -p "$franz_dir"
    if (cd "$franz_src" && "$go_bin" build -o "$franz_dir/franz" .) >/dev/null; then
      echo "$stamp" >"$franz_dir/.stamp"
      chmod -R a+rX "$franz_dir"
    else
      echo "deps.sh: could not build test/franz; test/t/125_franz will skip" >&2
    fi
  fi
elif [ ! -x "$franz_dir/franz" ]; then
  echo "deps.sh: no Go (or not root): test/t/125_franz will skip" >&2
fi
