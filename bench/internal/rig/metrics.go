package rig

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics reads the gateway's /metrics with the Prometheus text parser.
func (r *Rig) Metrics(ctx context.Context, hc *http.Client) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL("/metrics"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading /metrics: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// Gauge is the value of the gauge (or counter) name whose upstream label
// holds addr ("" matches any series: the first one), and whether there was one.
func Gauge(fams map[string]*dto.MetricFamily, name, addr string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if addr != "" && !hasLabel(m, "upstream", addr) {
			continue
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, contains string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && strings.Contains(l.GetValue(), contains) {
			return true
		}
	}
	return false
}

// Sum is the sum of the series of the counter or gauge name whose upstream
// label holds addr, and whether there was any.
func Sum(fams map[string]*dto.MetricFamily, name, addr string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		if !hasLabel(m, "upstream", addr) {
			continue
		}
		found = true
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum, found
}
