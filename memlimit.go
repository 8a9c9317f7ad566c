package main

import (
	"fmt"
	"strconv"
)

// memoryLimitEnv names the variable the manager Deployment fills from the
// container's memory limit (downward API, resourceFieldRef limits.memory,
// in bytes).
const memoryLimitEnv = "CONTAINER_MEMORY_LIMIT"

// softMemoryLimit is the Go runtime's soft memory limit main sets: ratio ×
// the container's limit. Near it the garbage collector works harder instead
// of the kernel OOM-killing the operator (GOGC alone lets the heap grow to
// twice what is live); the rest of the limit is headroom for memory the
// runtime does not manage. An explicit GOMEMLIMIT wins, and without a
// container limit, or with ratio ≤ 0, it is 0: none.
func softMemoryLimit(getenv func(string) string, ratio float64) (int64, error) {
	if getenv("GOMEMLIMIT") != "" || ratio <= 0 {
		return 0, nil
	}
	v := getenv(memoryLimitEnv)
	if v == "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes", memoryLimitEnv, v)
	}
	return int64(float64(limit) * min(ratio, 1)), nil
}
