package dataplane

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

// requireEnv skips (never passes) when the test cannot build namespaces.
func requireEnv(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the dataplane tests need root to create network namespaces")
	}
	for _, tool := range []string{"ip", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed (Debian: apt-get install -y iproute2 iptables)", tool)
		}
	}
	// Used to run net-setup as a container would (see world.netSetup).
	for _, tool := range []string{"unshare", "setpriv", "mount", "sh", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed (Debian: util-linux, mount; and the Go toolchain)", tool)
		}
	}
}

// newNS creates a uniquely named network namespace, removed at cleanup.
func newNS(t *testing.T, role string) string {
	t.Helper()
	name := fmt.Sprintf("vmt%d-%d-%s", os.Getpid(), nsCounter.Add(1), role)
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

// inNS runs fn on an OS thread switched into the namespace. Sockets created
// by fn stay in that namespace after fn returns, so listeners can be served
// and connections used from any goroutine.
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
		// Leave the thread locked: it dies with this goroutine instead of
		// running other goroutines in the wrong namespace.
		return fmt.Errorf("returning from netns %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// mustInNS is inNS for test goroutines.
func mustInNS(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := inNS(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// writeSysctl sets a sysctl inside a namespace (test setup only: the
// product code never writes /proc/sys for IPv4).
func writeSysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	mustInNS(t, ns, func() error {
		// /proc/thread-self/net... is per thread; /proc/sys/net follows the
		// namespace of the thread that opens it.
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0)
	})
}
