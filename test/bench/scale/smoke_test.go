package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSmoke runs the scale driver end to end at N=20 — the baseline pods,
// the unpaced VMIs and the VMIs at 10/s, on its own kwok cluster with the
// operator built from this tree — so `make test` keeps the driver working
// and guards the per-VMI budget issue #12 set: at most three API writes and
// no GET per VMI, exactly one launcher pod per VMI, no reconcile error and
// none after all are Ready, the baseline pod shaped like the operator's.
// No time is asserted: twenty objects say nothing about throughput or
// latency (`make scale N=1000` does, docs/performance.md).
func TestSmoke(t *testing.T) {
	out := t.TempDir()
	res, err := run(options{
		n: 20, pace: 10, creators: 8, phases: "pods,vmis,paced-vmis", out: out,
		quiet: 3 * time.Second, memLimit: "256Mi", profileSecs: 10,
	})
	if err != nil {
		t.Fatal(err) // a VMI with two launcher pods fails its phase, too
	}
	if got := float64(res.WritesPerVMI); got > 3 {
		t.Errorf("writes per VMI %.2f, want at most 3 (pod create + status patches)", got)
	}
	if got := float64(res.GetsPerVMI); got != 0 {
		t.Errorf("GETs per VMI %.2f, want 0", got)
	}
	for _, p := range res.Phases {
		if p.Duplicates != 0 {
			t.Errorf("phase %s: %d VMIs with more than one launcher pod", p.Key, p.Duplicates)
		}
		if p.Operator.ReconcilesAfterReady != 0 {
			t.Errorf("phase %s: %d reconciles after all were Ready", p.Key, p.Operator.ReconcilesAfterReady)
		}
		if p.Operator.VMIReconcileErrors != 0 {
			t.Errorf("phase %s: %d reconcile errors", p.Key, p.Operator.VMIReconcileErrors)
		}
		if p.PodShape != "" && p.PodShape != "match" {
			t.Errorf("phase %s: the baseline pod is not the operator's: %s", p.Key, p.PodShape)
		}
	}
	if v := res.phase("vmis"); v == nil || v.PodShape != "match" {
		t.Errorf("the vmis phase did not compare the baseline pod with a launcher pod")
	}

	// The result file has the keys the issue asks for.
	files, err := filepath.Glob(filepath.Join(out, "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("result files %v (%v), want one JSON", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"n", "writes_per_vmi", "reads_per_vmi", "ready_time_ratio", "p99_create_to_pod_s", "p99_create_to_ready_s", "peak_rss_mib"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("%s has no %q", files[0], k)
		}
	}
}
