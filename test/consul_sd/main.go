// consul_sd: Prometheus's own Consul service discovery (the package behind
// consul_sd_configs, github.com/prometheus/prometheus/discovery/consul)
// pointed at a Consul-compatible server; prints each update's targets as
// one JSON line: [{"labels": {...}}, ...], every target's labels (the
// group's and its own, as Prometheus gives them to relabelling).
//
// test/t/192_consul_http runs it: Debian's prometheus package is built
// without Consul discovery ("Disable Consul SD until its Debian package is
// back in shape", its changelog), so the server cannot be used for it.
//
// Usage: consul_sd HOST:PORT
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/consul"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: consul_sd HOST:PORT")
		os.Exit(2)
	}
	conf := consul.DefaultSDConfig
	conf.Server = os.Args[1]
	conf.RefreshInterval = model.Duration(time.Second)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	metrics := conf.NewDiscovererMetrics(reg, discovery.NewRefreshMetrics(reg))
	d, err := consul.NewDiscovery(&conf, logger, metrics)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ch := make(chan []*targetgroup.Group)
	go d.Run(context.Background(), ch)
	// the latest group of each service (source)
	groups := map[string]*targetgroup.Group{}
	for tgs := range ch {
		for _, tg := range tgs {
			groups[tg.Source] = tg
		}
		var out []map[string]map[string]string
		for _, tg := range groups {
			for _, t := range tg.Targets {
				labels := map[string]string{}
				for k, v := range tg.Labels {
					labels[string(k)] = string(v)
				}
				for k, v := range t {
					labels[string(k)] = string(v)
				}
				out = append(out, map[string]map[string]string{"labels": labels})
			}
		}
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
	}
}
