package testenv

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Logger is a logr.Logger for controllers under test that keeps its lines
// and prints them only when the test fails: the log of a passing test is
// noise in CI (which runs with -v), the log of a failing one is the story.
// Register it before anything that logs is started, so its cleanup runs
// after theirs (cleanups run last-in first-out).
func Logger(t testing.TB, verbosity int) logr.Logger {
	t.Helper()
	var (
		mu    sync.Mutex
		lines []string
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("controller log (%d lines):\n%s", len(lines), strings.Join(lines, "\n"))
		}
	})
	return funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{Verbosity: verbosity, LogTimestamp: true})
}
