package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/require"
)

// failureSetup lays out a VMI, sockets and run dirs for a launcher run
// outside any namespace; it needs neither root nor a guest.
func failureSetup(t *testing.T) (dir string, o podcontract.ComputeOptions) {
	t.Helper()
	dir = t.TempDir()
	o = podcontract.DefaultComputeOptions()
	o.VMIFile = filepath.Join(dir, "vmi.json")
	o.DisksDir = filepath.Join(dir, "run", "disks")
	o.HelperSocketDir = filepath.Join(dir, "sockets")
	o.SerialLog = filepath.Join(dir, "run", "serial.log")
	o.QMPSocket = filepath.Join(dir, "run", "qmp.sock")
	o.ReadyFile = filepath.Join(dir, "run", "ready")
	o.TerminationLog = filepath.Join(dir, "compute-termination-log")
	o.DHCP = false
	o.Accel = podcontract.AccelTCG
	o.DiskWaitTimeout = 30 * time.Second
	for _, d := range []string{o.DisksDir, o.HelperSocketDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(o.VMIFile, vmiJSON(t, "failing", 5, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, o
}

// runBin runs virt-launcher to completion and returns its exit code and
// combined output.
func runBin(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	launcherBin, _ := bins.Get(t)
	cmd := exec.Command(launcherBin, args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("virt-launcher %s still running after %s:\n%s", args[0], timeout, out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestMissingDiskIsReported: the helper of a containerDisk whose image has
// no disk exits 1 with the reason in its termination log, and compute fails
// fast with the same reason instead of waiting out --disk-wait-timeout.
func TestMissingDiskIsReported(t *testing.T) {
	dir, o := failureSetup(t)
	h := podcontract.DiskHelperOptions{
		DiskPath:       filepath.Join(dir, "image", "disk"),
		Socket:         podcontract.DiskSocketPath(o.HelperSocketDir, "rootdisk"),
		TerminationLog: filepath.Join(dir, "helper-termination-log"),
	}
	code, out := runBin(t, 10*time.Second, append([]string{podcontract.SubcommandDiskHelper}, h.Args()...)...)
	if code != 1 {
		t.Fatalf("disk-helper exit code %d, want 1:\n%s", code, out)
	}
	msg, _ := os.ReadFile(h.TerminationLog)
	if !strings.Contains(string(msg), "image/disk: no such file or directory") {
		t.Errorf("disk-helper termination message %q", msg)
	}

	start := time.Now()
	code, out = runBin(t, 20*time.Second, append([]string{podcontract.SubcommandCompute}, o.Args()...)...)
	if code != 1 {
		t.Fatalf("compute exit code %d, want 1:\n%s", code, out)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("compute took %s to notice the failed helper", time.Since(start))
	}
	msg, _ = os.ReadFile(o.TerminationLog)
	t.Logf("compute termination message: %s", msg)
	want := `container disk "rootdisk": disk helper failed: disk ` + h.DiskPath + `: stat ` + h.DiskPath + `: no such file or directory`
	if strings.TrimSpace(string(msg)) != want {
		t.Errorf("compute termination message:\n got %q\nwant %q", msg, want)
	}
}

// startBlankDiskHelper serves a blank 1 MiB raw disk for rootdisk; the
// returned channel gets the helper's exit.
func startBlankDiskHelper(t *testing.T, dir string, o podcontract.ComputeOptions) chan error {
	t.Helper()
	img := filepath.Join(dir, "image", "disk.img")
	if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	launcherBin, _ := bins.Get(t)
	h := podcontract.DiskHelperOptions{DiskPath: img, Socket: podcontract.DiskSocketPath(o.HelperSocketDir, "rootdisk"), TerminationLog: filepath.Join(dir, "helper-termination-log")}
	helper := exec.Command(launcherBin, append([]string{podcontract.SubcommandDiskHelper}, h.Args()...)...)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	helperDone := make(chan error, 1)
	go func() { helperDone <- helper.Wait() }()
	t.Cleanup(func() {
		_ = helper.Process.Kill()
		t.Logf("disk helper ended: %v", <-helperDone)
	})
	return helperDone
}

// TestQEMUCrashIsReported: when QEMU itself fails, compute exits non-zero
// with QEMU's own last words in the termination message.
func TestQEMUCrashIsReported(t *testing.T) {
	require.Tools(t, "qemu-system-x86_64", "qemu-img")
	require.Root(t, "the launcher must attach to a tap before QEMU starts; without net-setup only root can create one")
	dir, o := failureSetup(t)
	// The launcher attaches (as root, TUNSETIFF creates a transient tap,
	// gone when the launcher exits) through the host's node; QEMU then
	// fails: the QMP socket's directory does not exist.
	o.TunDevice = ""
	o.Tap = fmt.Sprintf("vmqc%d", os.Getpid()%100000)
	o.QMPSocket = filepath.Join(dir, "missing", "qmp.sock")
	helperDone := startBlankDiskHelper(t, dir, o)

	code, out := runBin(t, 60*time.Second, append([]string{podcontract.SubcommandCompute}, o.Args()...)...)
	if code == 0 {
		t.Fatalf("compute exit code 0 after a QEMU failure:\n%s", out)
	}
	select {
	case err := <-helperDone:
		if err != nil {
			t.Errorf("disk helper: %v, want exit 0 once compute is gone", err)
		}
		helperDone <- nil
	case <-time.After(10 * time.Second):
		t.Error("disk helper still running after compute failed")
	}
	msg, _ := os.ReadFile(o.TerminationLog)
	t.Logf("compute termination message: %s", msg)
	if !strings.HasPrefix(string(msg), "QEMU crashed (exit status 1, accel=tcg): ") || !strings.Contains(string(msg), o.QMPSocket) {
		t.Errorf("termination message %q, want QEMU's exit status and its complaint about the QMP socket", msg)
	}
}

// TestBadTapIsReported: when the launcher cannot attach to the tap, compute
// fails before QEMU starts, naming the tap and the tun node.
func TestBadTapIsReported(t *testing.T) {
	if _, err := os.Stat(podcontract.HostTunDevice); err != nil {
		t.Fatalf("the kernel's tun node is missing (modprobe tun): %v", err)
	}
	dir, o := failureSetup(t)
	startBlankDiskHelper(t, dir, o)
	o.TunDevice = ""
	// "/" is never valid in an interface name: TUNSETIFF fails, as root or not.
	o.Tap = "bad/tap"
	code, out := runBin(t, 20*time.Second, append([]string{podcontract.SubcommandCompute}, o.Args()...)...)
	if code != 1 {
		t.Fatalf("compute exit code %d, want 1:\n%s", code, out)
	}
	msg, _ := os.ReadFile(o.TerminationLog)
	t.Logf("compute termination message: %s", msg)
	if !strings.HasPrefix(string(msg), "guest network: attaching to tap bad/tap through "+podcontract.HostTunDevice) {
		t.Errorf("termination message %q, want the tap attach failure", msg)
	}
	if strings.Contains(out, "starting qemu") {
		t.Errorf("QEMU was started:\n%s", out)
	}
}
