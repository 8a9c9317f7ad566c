package podnet

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

var nsCounter atomic.Int32

// NewNS creates a uniquely named network namespace
// ("<prefix><pid>-<n>-<role>") with lo up, removed at cleanup.
func NewNS(t *testing.T, prefix, role string) string {
	t.Helper()
	name := fmt.Sprintf("%s%d-%d-%s", prefix, os.Getpid(), nsCounter.Add(1), role)
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("removing netns %s: %v: %s", name, err, out)
		}
	})
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// Run runs a command and fails the test with its output on error; it
// returns the combined output.
func Run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NSExec runs a command inside a namespace (ip netns exec), as [Run] does.
func NSExec(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// InNS runs fn on an OS thread switched into the namespace. Sockets created
// by fn stay in that namespace after fn returns, so listeners can be served
// and connections used from any goroutine; processes forked by fn are born
// in it.
func InNS(ns string, fn func() error) error {
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
		// Leave the thread locked: it dies with this goroutine instead of
		// running other goroutines in the wrong namespace.
		return fmt.Errorf("returning from netns %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// MustInNS is [InNS] for test goroutines: an error fails the test.
func MustInNS(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := InNS(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// WriteSysctl sets a sysctl ("net.ipv4.ip_forward") inside a namespace
// (test setup only: the product code never writes /proc/sys for IPv4).
func WriteSysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	MustInNS(t, ns, func() error {
		// /proc/thread-self/net... is per thread; /proc/sys/net follows the
		// namespace of the thread that opens it.
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0)
	})
}
