package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry owned by the caller (never the global
// default one, so two gateways in one test binary do not collide) holding
// the Go runtime and process collectors and c.
func NewRegistry(c *Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		c,
	} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("registering metrics collector: %w", err)
		}
	}
	return reg, nil
}
