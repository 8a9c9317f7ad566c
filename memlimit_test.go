package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSoftMemoryLimit(t *testing.T) {
	type result struct {
		Limit int64
		Err   bool
	}
	cases := map[string]struct {
		env   map[string]string
		ratio float64
		want  result
	}{
		"no container limit":      {env: map[string]string{}, ratio: 0.9},
		"256Mi at 0.9":            {env: map[string]string{memoryLimitEnv: "268435456"}, ratio: 0.9, want: result{Limit: 241591910}},
		"ratio above 1 is capped": {env: map[string]string{memoryLimitEnv: "1000"}, ratio: 2, want: result{Limit: 1000}},
		"off":                     {env: map[string]string{memoryLimitEnv: "268435456"}, ratio: 0},
		"GOMEMLIMIT wins":         {env: map[string]string{memoryLimitEnv: "268435456", "GOMEMLIMIT": "100MiB"}, ratio: 0.9},
		"not bytes":               {env: map[string]string{memoryLimitEnv: "256Mi"}, ratio: 0.9, want: result{Err: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			limit, err := softMemoryLimit(func(k string) string { return tc.env[k] }, tc.ratio)
			if diff := cmp.Diff(tc.want, result{Limit: limit, Err: err != nil}); diff != "" {
				t.Errorf("softMemoryLimit (-want +got):\n%s", diff)
			}
		})
	}
}
