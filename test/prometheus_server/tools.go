//go:build tools

// Package prometheus_server pins the Prometheus server that test/t/192_consul_http
// runs: scripts/deps.sh builds github.com/prometheus/prometheus/cmd/prometheus at
// the version in go.mod (with the module versions in go.sum), with only Consul
// service discovery compiled in.
package prometheus_server

import _ "github.com/prometheus/prometheus/cmd/prometheus"
