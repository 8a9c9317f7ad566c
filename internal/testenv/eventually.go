package testenv

import (
	"testing"
	"time"
)

// Eventually polls f every interval until it returns nil, and fails the test
// with what and f's last error when timeout passes. Controllers converge
// asynchronously, so tests poll for the state they expect instead of sleeping.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: %v", timeout, what, err)
		}
		time.Sleep(interval)
	}
}
