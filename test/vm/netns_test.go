package vm

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// Copied from test/dataplane/netns_test.go (trimmed).

var nsCounter atomic.Int32

// newNS creates a uniquely named network namespace, removed at cleanup.
func newNS(t *testing.T, role string) string {
	t.Helper()
	name := fmt.Sprintf("vmq%d-%d-%s", os.Getpid(), nsCounter.Add(1), role)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("removing netns %s: %v: %s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// run runs a command and fails the test with its output on error.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nsExec runs a command inside a namespace.
func nsExec(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// inNS runs fn on an OS thread switched into the namespace; sockets made by
// fn stay in it.
func inNS(ns string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("getting current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening netns %s: %w", ns, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering netns %s: %w", ns, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("returning from netns %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

func mustInNS(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := inNS(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// writeSysctl sets a sysctl inside a namespace (test setup only).
func writeSysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	mustInNS(t, ns, func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0)
	})
}
