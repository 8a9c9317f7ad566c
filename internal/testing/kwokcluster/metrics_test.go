package kwokcluster

import (
	"math"
	"strings"
	"testing"
)

const scrape = `# HELP x
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="vmi",result="success"} 10
controller_runtime_reconcile_total{controller="vmi",result="error"} 2
controller_runtime_reconcile_total{controller="mcp",result="success"} 1
virtmesh_apiserver_requests_total{code="201",group="",resource="pods",subresource="",verb="create"} 100
workqueue_queue_duration_seconds_bucket{controller="vmi",name="vmi",le="0.001"} 50
workqueue_queue_duration_seconds_bucket{controller="vmi",name="vmi",le="0.01"} 98
workqueue_queue_duration_seconds_bucket{controller="vmi",name="vmi",le="0.1"} 100
workqueue_queue_duration_seconds_bucket{controller="vmi",name="vmi",le="+Inf"} 100
weird{a="x\"y,z"} 1.5e+00 1700000000
`

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("controller_runtime_reconcile_total", map[string]string{"controller": "vmi"}); got != 12 {
		t.Errorf("vmi reconciles = %v, want 12", got)
	}
	if got := m.Sum("virtmesh_apiserver_requests_total", map[string]string{"verb": "create", "resource": "pods"}); got != 100 {
		t.Errorf("pod creates = %v", got)
	}
	if s := m.Select("weird", nil); len(s) != 1 || s[0].Labels["a"] != `x"y,z` || s[0].Value != 1.5 {
		t.Errorf("weird = %+v", s)
	}
	h := m.Histogram("workqueue_queue_duration_seconds", map[string]string{"name": "vmi"})
	if q := QuantileUpperBound(h, 0.5); q != 0.001 {
		t.Errorf("p50 bound = %v", q)
	}
	if q := QuantileUpperBound(h, 0.99); q != 0.1 {
		t.Errorf("p99 bound = %v", q)
	}
	d := SubtractBuckets(h, []Bucket{{0.001, 50}, {0.01, 50}, {0.1, 50}, {math.Inf(1), 50}})
	if q := QuantileUpperBound(d, 0.99); q != 0.1 {
		t.Errorf("delta p99 bound = %v (%v)", q, d)
	}
}
