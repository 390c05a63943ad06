#!/usr/bin/env bash
# build.sh OUT: build the Prometheus server this module pins (go.mod, go.sum)
# into OUT, for test/t/192_consul_http (scripts/deps.sh runs it).
#
# - github.com/prometheus/prometheus/cmd/prometheus from the Go module proxy,
#   at the version in go.mod and the dependency versions in go.sum
#   (-mod=readonly: nothing is upgraded on the way);
# - with the build tags that leave out every service discovery but Consul's
#   (the plugins/ package of Prometheus: remove_all_sd, then enable_consul_sd);
# - without the web UI's assets (builtinassets is not set): the HTTP API,
#   which the test reads, does not need them;
# - `prometheus --version` names the release (its VERSION file).
set -euo pipefail
out=$1
go=${GO:-go}
cd "$(dirname "$0")"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local
dir=$("$go" list -m -f '{{.Dir}}' github.com/prometheus/prometheus 2>/dev/null || true)
if [ -z "$dir" ]; then
  "$go" mod download github.com/prometheus/prometheus
  dir=$("$go" list -m -f '{{.Dir}}' github.com/prometheus/prometheus)
fi
version=$(cat "$dir/VERSION")
"$go" build -p 2 -tags remove_all_sd,enable_consul_sd \
  -ldflags "-X github.com/prometheus/common/version.Version=$version" \
  -o "$out" github.com/prometheus/prometheus/cmd/prometheus
