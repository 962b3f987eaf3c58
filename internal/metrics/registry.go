package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Register adds the Go runtime and process collectors and c to reg, a
// registry the app owns: never the global default one, so that two gateways
// in one test binary do not collide.
func Register(reg prometheus.Registerer, c *Collector) error {
	for _, col := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		c,
	} {
		if err := reg.Register(col); err != nil {
			return fmt.Errorf("registering metrics collector: %w", err)
		}
	}
	return nil
}
