package vm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
	"virtmesh.io/virtmesh/internal/testing/require"
)

// Addresses: documentation and private ranges, only inside the namespaces
// the test creates.
const (
	podIP      = podnet.PodIP
	clientIP   = podnet.ClientIP
	upstreamIP = podnet.UpstreamIP

	guestHostname = "testvm"
	// qemuUID is the compute container's uid (podcontract.QEMUUID); diskUID
	// stands for whatever uid the user's containerDisk image runs as.
	qemuUID = podcontract.QEMUUID
	diskUID = 1000
)

// userData is the cloud-init user-data: a shell script, as the tiny guest
// runs it. It serves 9080 with busybox httpd; /cgi-bin/upstream calls the
// upstream (through the pod's outbound capture), /cgi-bin/poweroff powers
// the guest off from inside.
const userData = `#!/bin/sh
mkdir -p /www/cgi-bin
echo "hello from $(hostname)" > /www/index.html
cat > /www/cgi-bin/upstream <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
nc ` + upstreamIP + ` 8080 </dev/null
CGI
cat > /www/cgi-bin/poweroff <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\npowering off\n'
# poweroff only signals init and returns; init's shutdown stops httpd.
poweroff
CGI
cat > /www/cgi-bin/ignore-power-button <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
killall acpid && echo "acpid stopped"
CGI
chmod +x /www/cgi-bin/upstream /www/cgi-bin/poweroff /www/cgi-bin/ignore-power-button
httpd -p 9080 -h /www
echo "guest-hw: serial=$(cat /sys/class/dmi/id/product_serial) chassis=$(cat /sys/class/dmi/id/chassis_vendor) rng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
echo "user-data: httpd serving 9080"
`

// guestDir is where hack/build-guest.sh puts the guest.
func guestDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "bin", "guest")
}

// requireVMEnv fails the test when this machine cannot run the suite.
func requireVMEnv(t *testing.T) {
	t.Helper()
	require.Root(t, "the VM suite creates network namespaces")
	require.Tools(t, "ip", "iptables-restore", "ip6tables-restore", "qemu-system-x86_64", "qemu-img")
	ensureGuest(t)
}

// ensureGuest runs hack/build-guest.sh (cached: a no-op when bin/guest is
// up to date). It never installs packages; without them it fails with the
// command that would.
func ensureGuest(t *testing.T) {
	t.Helper()
	script := filepath.Join(guestDir(), "..", "..", "hack", "build-guest.sh")
	cmd := exec.Command(script)
	cmd.Env = append(os.Environ(), "BUILD_GUEST_INSTALL=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the test guest: %v: %s; run %s", err, strings.TrimSpace(string(out)), require.InstallHint)
	}
	if _, err := os.Stat(filepath.Join(guestDir(), "disk.img")); err != nil {
		t.Fatalf("hack/build-guest.sh succeeded but: %v", err)
	}
}

type world struct {
	client, upstream, pod string
	launcher, proxyBin    string
	proxy                 *podnet.Proc
	// tunDevice is the tun node net-setup made (the pod's tun emptyDir).
	tunDevice string
}

// newWorld builds client, upstream and pod namespaces, runs the real
// net-setup with the mesh rules in the pod and starts the proxy stand-in
// and the upstream server.
func newWorld(t *testing.T) *world {
	t.Helper()
	launcherBin, proxyBin := bins.Get(t)
	w := &world{client: newNS(t, "client"), upstream: newNS(t, "up"), pod: newNS(t, "pod"), launcher: launcherBin, proxyBin: proxyBin}
	podnet.Wire(t, podnet.Topology{Client: w.client, Upstream: w.upstream, Pod: w.pod})

	// The pod's tun emptyDir (0777 like the kubelet's).
	tunDir, err := os.MkdirTemp("", "virtmesh-vm-tun-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tunDir) })
	mkdir(t, tunDir, 0, 0o777)
	w.tunDevice = filepath.Join(tunDir, podcontract.TunNodeName)

	cfg := podcontract.DefaultNetSetupOptions()
	cfg.Mesh = podcontract.DefaultMesh()
	cfg.TapOwnerUID = qemuUID
	cfg.TunDevice = w.tunDevice
	// As the init container: root with only NET_ADMIN, NET_RAW, MKNOD and
	// CHOWN, a read-only /proc/sys (as test/dataplane's netSetup)
	// and, as in a container, no /dev/net/tun: the tap is created through
	// the node net-setup makes.
	c := podnet.Container{Setup: []string{podnet.ReadOnlyProcSys, podnet.HideHostTun}, Caps: "-all,+net_admin,+net_raw,+mknod,+chown"}
	t.Logf("net-setup:\n%s", podnet.NSExec(t, w.pod, c.Command(append([]string{w.launcher, podcontract.SubcommandNetSetup}, cfg.Args()...)...)...))

	podnet.ServeTCP(t, w.upstream, 8080, "UPSTREAM")
	w.startProxy(t)
	return w
}

func (w *world) startProxy(t *testing.T) {
	t.Helper()
	w.proxy = podnet.StartInNS(t, w.pod, "proxy", podnet.ProxyUID, nil, []string{helperEnv + "=proxy"}, w.proxyBin)
	w.proxy.WaitFor(t, "READY", 10*time.Second)
}

// vm is one run of the launcher: a disk helper and the compute process.
type vm struct {
	dir     string
	compute *podnet.Proc
	helper  *podnet.Proc
	termLog string
	// readyFile is what the compute container's readiness probe checks.
	readyFile string
	started   time.Time
	// booted is how long the guest took from start to serving 9080.
	booted   time.Duration
	accelMsg string
}

// vmiJSON is the VMI the pod would be rendered from; tweak, when set, edits
// its spec.
func vmiJSON(t *testing.T, name string, grace int64, tweak func(spec map[string]any)) []byte {
	t.Helper()
	v := map[string]any{
		"apiVersion": "virt.virtmesh.io/v1alpha1",
		"kind":       "VirtualMachineInstance",
		"metadata":   map[string]any{"name": name, "namespace": "default", "uid": "3f0c7a8e-5d1b-4c59-9a0e-1b2c3d4e5f60"},
		"spec": map[string]any{
			"hostname":                      guestHostname,
			"terminationGracePeriodSeconds": grace,
			"domain": map[string]any{
				"cpu":    map[string]any{"cores": 1},
				"memory": map[string]any{"guest": "256Mi"},
				"devices": map[string]any{
					"disks": []any{
						map[string]any{"name": "rootdisk", "disk": map[string]any{"bus": "virtio"}},
						map[string]any{"name": "cloudinitdisk", "disk": map[string]any{"bus": "virtio"}},
					},
					"interfaces": []any{map[string]any{"name": "default", "masquerade": map[string]any{}}},
				},
			},
			"networks": []any{map[string]any{"name": "default", "pod": map[string]any{}}},
			"volumes": []any{
				map[string]any{"name": "rootdisk", "containerDisk": map[string]any{"image": "localhost/virtmesh-test-guest:latest"}},
				map[string]any{"name": "cloudinitdisk", "cloudInitNoCloud": map[string]any{"userData": userData}},
			},
		},
	}
	if tweak != nil {
		tweak(v["spec"].(map[string]any))
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mkdir creates a directory with an owner and mode, like an emptyDir or an
// image layer would provide it.
func mkdir(t *testing.T, path string, uid int, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// startVM launches the VM (launchVM), checks the pod's readiness probe
// passes once QEMU runs (the VMI has no readinessProbe), and waits for the
// guest's HTTP service.
func (w *world) startVM(t *testing.T, name string, grace int64, format string, tweak func(spec map[string]any), compute ...func(*podcontract.ComputeOptions)) *vm {
	t.Helper()
	v := w.launchVM(t, name, grace, format, tweak, compute...)
	// The readiness probe, exactly as the pod execs it.
	if !v.ready(w) {
		t.Fatal("readiness probe failed while the guest runs")
	}
	// Boot: firmware, SYSLINUX, kernel, our init, DHCP, user-data.
	v.compute.WaitFor(t, "user-data: httpd serving 9080", 4*time.Minute)
	v.booted = time.Since(v.started)
	t.Logf("guest booted and serves 9080 %s after start", v.booted.Round(time.Second))
	return v
}

// exited reports whether compute has exited.
func (v *vm) exited() bool {
	select {
	case <-v.compute.Done():
		return true
	default:
		return false
	}
}

// ready runs the compute container's readiness probe as the pod execs it.
func (v *vm) ready(w *world) bool {
	return exec.Command(w.launcher, podcontract.ReadinessProbeArgs(v.readyFile)...).Run() == nil
}

// launchVM lays out the pod's volumes in a temp dir, starts the disk helper
// (as the user's uid; only it can read the image) and compute (uid 107,
// only CAP_NET_BIND_SERVICE, in the pod netns), and waits for QEMU to run
// the guest.
//
// format is the container disk's format: "raw" serves hack/build-guest.sh's
// image as the directory /disk (KubeVirt's convention); "qcow2" converts it
// and names the file itself, as containerDisk.path would. compute, when
// given, edits compute's flags (as the renderer would for the VMI).
func (w *world) launchVM(t *testing.T, name string, grace int64, format string, tweak func(spec map[string]any), compute ...func(*podcontract.ComputeOptions)) *vm {
	t.Helper()
	base, err := os.MkdirTemp("", "virtmesh-vm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	mkdir(t, base, 0, 0o755)
	v := &vm{dir: base}

	// The user's containerDisk image: /disk/disk.img readable by diskUID only.
	diskDir := filepath.Join(base, "image", "disk")
	mkdir(t, filepath.Dir(diskDir), 0, 0o755)
	mkdir(t, diskDir, diskUID, 0o700)
	img := filepath.Join(diskDir, "disk.img")
	diskPath := diskDir
	switch format {
	case "raw":
		if err := podnet.CopyFile(filepath.Join(guestDir(), "disk.img"), img, 0o400); err != nil {
			t.Fatal(err)
		}
	case "qcow2":
		img = filepath.Join(diskDir, "disk.qcow2")
		diskPath = img
		podnet.Run(t, "qemu-img", "convert", "-O", "qcow2", filepath.Join(guestDir(), "disk.img"), img)
		if err := os.Chmod(img, 0o400); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("format %q", format)
	}
	if err := os.Chown(img, diskUID, diskUID); err != nil {
		t.Fatal(err)
	}
	sockets := filepath.Join(base, "sockets") // shared emptyDir (0777 like the kubelet's)
	mkdir(t, sockets, 0, 0o777)
	runDir := filepath.Join(base, "run") // compute's private emptyDir
	mkdir(t, runDir, qemuUID, 0o755)
	vmiFile := filepath.Join(base, "vmi.json")
	if err := os.WriteFile(vmiFile, vmiJSON(t, name, grace, tweak), 0o644); err != nil {
		t.Fatal(err)
	}

	helperOpts := podcontract.DiskHelperOptions{DiskPath: diskPath, Socket: podcontract.DiskSocketPath(sockets, "rootdisk"), TerminationLog: filepath.Join(base, "helper-termination-log")}
	v.helper = podnet.StartInNS(t, "", "disk-helper", diskUID, nil, nil, append([]string{w.launcher, podcontract.SubcommandDiskHelper}, helperOpts.Args()...)...)

	o := podcontract.DefaultComputeOptions()
	o.VMIFile = vmiFile
	o.DisksDir = filepath.Join(runDir, "disks")
	o.HelperSocketDir = sockets
	o.SerialLog = filepath.Join(runDir, "serial.log")
	o.QMPSocket = filepath.Join(runDir, "qmp.sock")
	o.ReadyFile = filepath.Join(runDir, "ready")
	o.TerminationLog = filepath.Join(runDir, "termination-log")
	o.StopProxyOnExit = true
	o.TunDevice = w.tunDevice
	for _, edit := range compute {
		edit(&o)
	}
	v.termLog = o.TerminationLog
	v.readyFile = o.ReadyFile
	v.started = time.Now()
	// compute: uid 107 with only CAP_NET_BIND_SERVICE, and no /dev/net/tun
	// (hidden in its own mount namespace, as a container has none): QEMU
	// must get the tap by descriptor from the launcher.
	uid := qemuUID
	c := podnet.Container{Setup: []string{podnet.HideHostTun}, UID: &uid, Caps: "-all,+net_bind_service"}
	v.compute = podnet.StartInNS(t, w.pod, "compute", 0, nil, nil,
		c.Command(append([]string{w.launcher, podcontract.SubcommandCompute}, o.Args()...)...)...)

	v.compute.WaitFor(t, "accelerator ", 30*time.Second)
	for _, l := range strings.Split(v.compute.Stderr(), "\n") {
		if _, after, ok := strings.Cut(l, "accelerator "); ok {
			v.accelMsg = "accelerator " + after
		}
	}
	t.Logf("ACCELERATOR: %s", v.accelMsg)
	v.compute.WaitFor(t, "guest running", 60*time.Second)
	checkTapByFD(t, v.compute, w.tunDevice)
	return v
}

// httpGet sends a raw HTTP/1.0 request from the client namespace to
// podIP:9080 and returns every line the connection carried (the proxy
// stand-in's announcement first).
func (w *world) httpGet(t *testing.T, path string) []string {
	t.Helper()
	var c net.Conn
	podnet.MustInNS(t, w.client, func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}}
		c, err = d.Dial("tcp", net.JoinHostPort(podIP, "9080"))
		return err
	})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, podIP)
	var lines []string
	s := bufio.NewScanner(c)
	for s.Scan() {
		lines = append(lines, strings.TrimRight(s.Text(), "\r"))
	}
	return lines
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// TestGuestBehindMesh boots the real guest twice: once to prove traffic and
// the SIGTERM path, once to prove the guest's own poweroff.
func TestGuestBehindMesh(t *testing.T) {
	requireVMEnv(t)
	suiteStart := time.Now()
	w := newWorld(t)

	v := w.startVM(t, "vm-sigterm", 90, "raw", nil)
	t.Run("1 client to podIP:9080 passes the proxy inbound and the guest answers", func(t *testing.T) {
		got := w.httpGet(t, "/")
		if len(got) == 0 || got[0] != "PROXY inbound orig="+podIP+":9080" {
			t.Fatalf("first line: got %q, want the proxy's inbound announcement", got)
		}
		if !contains(got, "200 OK") || !contains(got, "hello from "+guestHostname) {
			t.Fatalf("got %q, want the guest's page with the cloud-init hostname", got)
		}
	})
	t.Run("2 guest to upstream passes the proxy outbound and leaves as the pod", func(t *testing.T) {
		got := w.httpGet(t, "/cgi-bin/upstream")
		if !contains(got, "PROXY outbound orig="+upstreamIP+":8080") {
			t.Fatalf("got %q, want the guest's call announced by the proxy's outbound listener", got)
		}
		if !contains(got, "UPSTREAM port=8080 saw="+podIP+":") {
			t.Fatalf("got %q, want the upstream to see the pod IP", got)
		}
	})
	t.Run("3a SIGTERM powers the guest down gracefully within the grace period", func(t *testing.T) {
		start := time.Now()
		if err := v.compute.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code := v.compute.Wait(t, 90*time.Second)
		t.Logf("launcher exited %d %s after SIGTERM", code, time.Since(start).Round(100*time.Millisecond))
		if code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		if !strings.Contains(v.compute.Stdout(), "ACPI power button") {
			t.Error("the guest never saw the ACPI power button")
		}
		msg, _ := os.ReadFile(v.termLog)
		if !strings.Contains(string(msg), "guest shut down gracefully after SIGTERM") {
			t.Errorf("termination message %q", msg)
		}
		if v.ready(w) {
			t.Error("readiness probe still succeeds after exit")
		}
		w.proxy.WaitFor(t, "QUIT", 10*time.Second)
		if code := v.helper.Wait(t, 10*time.Second); code != 0 {
			t.Errorf("disk helper exit code %d, want 0 once compute is gone", code)
		}
	})
	if t.Failed() {
		return
	}

	w.startProxy(t)
	// A real pod never hosts a second guest; here one with another MAC
	// (StableMAC of another VMI) takes 10.0.2.2, so forget the first one's
	// neighbour entry instead of waiting for it to go stale.
	podnet.Run(t, "ip", "-n", w.pod, "neigh", "flush", "dev", podcontract.DefaultBridge)
	v2 := w.startVM(t, "vm-poweroff", 90, "qcow2", kubevirtHardware)
	t.Run("3b guest poweroff ends the launcher with 0 (qcow2 container disk)", func(t *testing.T) {
		if !strings.Contains(v2.compute.Stderr(), `container disk "rootdisk": qcow2 image disk.qcow2`) {
			t.Errorf("the qcow2 container disk was not detected as qcow2:\n%s", v2.compute.Stderr())
		}
		// KubeVirt's hardware fields reached the guest: SeaBIOS booted it
		// from a sata disk, and it sees the SMBIOS serial and chassis and
		// the virtio RNG.
		if want := "guest-hw: serial=VIRTMESH-TEST-1 chassis=VirtMesh rng=virtio_rng.0"; !strings.Contains(v2.compute.Stdout(), want) {
			t.Errorf("serial console lacks %q:\n%s", want, v2.compute.Stdout())
		}
		start := time.Now()
		got := w.httpGet(t, "/cgi-bin/poweroff")
		if !contains(got, "powering off") {
			t.Fatalf("got %q", got)
		}
		t.Logf("poweroff requested in %s", time.Since(start).Round(100*time.Millisecond))
		code := v2.compute.Wait(t, 90*time.Second)
		t.Logf("launcher exited %d %s after the request", code, time.Since(start).Round(100*time.Millisecond))
		if code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		msg, _ := os.ReadFile(v2.termLog)
		if !strings.Contains(string(msg), "guest powered off") {
			t.Errorf("termination message %q", msg)
		}
		w.proxy.WaitFor(t, "QUIT", 10*time.Second)
		if code := v2.helper.Wait(t, 10*time.Second); code != 0 {
			t.Errorf("disk helper exit code %d, want 0 once compute is gone", code)
		}
		v2.helper.WaitFor(t, "disk-helper: compute released the disk, exiting", time.Second)
	})
	if t.Failed() {
		return
	}

	w.startProxy(t)
	podnet.Run(t, "ip", "-n", w.pod, "neigh", "flush", "dev", podcontract.DefaultBridge)
	v3 := w.startVM(t, "vm-stuck", 3, "raw", nil)
	t.Run("3c a guest that ignores the power button is stopped hard when the grace period ends", func(t *testing.T) {
		if got := w.httpGet(t, "/cgi-bin/ignore-power-button"); !contains(got, "acpid stopped") {
			t.Fatalf("got %q", got)
		}
		start := time.Now()
		if err := v3.compute.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code := v3.compute.Wait(t, 30*time.Second)
		took := time.Since(start)
		t.Logf("launcher exited %d %s after SIGTERM", code, took.Round(100*time.Millisecond))
		if code == 0 {
			t.Error("exit code 0 after a hard stop, want non-zero")
		}
		if took < 3*time.Second {
			t.Errorf("stopped after %s, before the 3s grace period", took)
		}
		msg, _ := os.ReadFile(v3.termLog)
		if !strings.Contains(string(msg), "did not power off within the grace period 3s after SIGTERM: QEMU killed") {
			t.Errorf("termination message %q", msg)
		}
	})
	t.Logf("SUITE: %s with %s", time.Since(suiteStart).Round(time.Second), v.accelMsg)
}

// checkTapByFD asserts that QEMU got the tap as an inherited descriptor of
// the tun node net-setup made, and never opened a tun node by name: its
// -netdev has fd= and no ifname=, and the descriptor it holds is tunDevice.
func checkTapByFD(t *testing.T, compute *podnet.Proc, tunDevice string) {
	t.Helper()
	var argv string
	for _, l := range strings.Split(compute.Stderr(), "\n") {
		if i := strings.Index(l, "starting "); i >= 0 && strings.Contains(l, "-netdev") {
			argv = l[i:]
		}
	}
	f := strings.Fields(argv)
	netdev := ""
	for i := range f {
		if f[i] == "-netdev" && i+1 < len(f) {
			netdev = f[i+1]
		}
	}
	if !strings.HasPrefix(netdev, "tap,") || !strings.Contains(netdev, ",fd=") || strings.Contains(netdev, "ifname=") {
		t.Fatalf("QEMU -netdev %q (from %q): want tap,...,fd=N and no ifname=", netdev, argv)
	}
	fd := ""
	for _, kv := range strings.Split(netdev, ",") {
		if v, ok := strings.CutPrefix(kv, "fd="); ok {
			fd = v
		}
	}
	// QEMU is the launcher's only child (forked by any of its threads).
	pid := compute.Cmd.Process.Pid
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var children []string
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		children = append(children, strings.Fields(string(b))...)
	}
	if len(children) != 1 {
		t.Fatalf("QEMU process: children of %d = %q", pid, children)
	}
	qemu := children[0]
	target, err := os.Readlink(fmt.Sprintf("/proc/%s/fd/%s", qemu, fd))
	if err != nil || target != tunDevice {
		t.Errorf("QEMU's fd %s is %q (%v), want the tun node %s", fd, target, err, tunDevice)
	}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%s/fd", qemu))
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%s/fd/%s", qemu, e.Name())); l == "/dev/net/tun" {
			t.Errorf("QEMU holds /dev/net/tun as fd %s", e.Name())
		}
	}
	t.Logf("QEMU attached by descriptor: -netdev %s, fd %s -> %s", netdev, fd, target)
}

// kubevirtHardware gives a VM KubeVirt's hardware fields that reach the
// guest: a sata root disk, the virtio RNG, a watchdog, SMBIOS serial and
// chassis, an explicit machine type and CPU model, and no balloon.
func kubevirtHardware(spec map[string]any) {
	domain := spec["domain"].(map[string]any)
	devices := domain["devices"].(map[string]any)
	devices["disks"].([]any)[0].(map[string]any)["disk"] = map[string]any{"bus": "sata"}
	devices["rng"] = map[string]any{}
	devices["autoattachMemBalloon"] = false
	devices["watchdog"] = map[string]any{"name": "wd0", "i6300esb": map[string]any{"action": "reset"}}
	domain["firmware"] = map[string]any{"serial": "VIRTMESH-TEST-1"}
	domain["chassis"] = map[string]any{"manufacturer": "VirtMesh"}
	domain["machine"] = map[string]any{"type": "q35"}
	domain["cpu"].(map[string]any)["model"] = "host-model"
	domain["features"] = map[string]any{"acpi": map[string]any{}, "smm": map[string]any{"enabled": true}}
}
