package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
	"virtmesh.io/virtmesh/internal/testing/require"
)

// counterUserData runs after userData's own script: the guest finds its
// disks by serial (no udev in the tiny guest), counts its runs in the first
// bytes of the claim's raw disk, and reports whether the emptyDisk is blank
// before marking it. The same job as config/samples/counter-vm-pvc.yaml, a
// stand-in for ratings' MySQL, without a filesystem: the guest has no
// ext4 module.
const counterUserData = `
for b in /sys/block/vd*; do
  case "$(cat $b/serial 2>/dev/null)" in
    counter) counter=${b##*/} ;;
    scratch) scratch=${b##*/} ;;
  esac
done
n=$(dd if=/dev/$counter bs=16 count=1 2>/dev/null | tr -dc 0-9)
n=$(( ${n:-0} + 1 ))
printf '%-16s' "$n" | dd of=/dev/$counter bs=16 count=1 conv=notrunc 2>/dev/null
sync
echo "counter: $n (sectors=$(cat /sys/block/$counter/size))"
if [ -z "$(dd if=/dev/$scratch bs=4096 count=1 2>/dev/null | od -An -v -tx1 | tr -d ' 0\n')" ]; then blank=yes; else blank=no; fi
echo "written by run $n" | dd of=/dev/$scratch conv=notrunc 2>/dev/null
sync
echo "scratch: blank=$blank sectors=$(cat /sys/block/$scratch/size)"
`

const (
	claimSize   = 64 << 20 // the --persistent-disk size the operator resolved
	scratchSize = 32 << 20 // the emptyDisk's capacity
)

// withCounterDisks adds the claim's disk (serial "counter") and an emptyDisk
// (serial "scratch") to the VMI, and the counter to the user-data.
func withCounterDisks(spec map[string]any) {
	devices := spec["domain"].(map[string]any)["devices"].(map[string]any)
	devices["disks"] = append(devices["disks"].([]any),
		map[string]any{"name": "counter", "serial": "counter", "disk": map[string]any{"bus": "virtio"}},
		map[string]any{"name": "scratch", "serial": "scratch", "disk": map[string]any{"bus": "virtio"}})
	volumes := spec["volumes"].([]any)
	seed := volumes[1].(map[string]any)["cloudInitNoCloud"].(map[string]any)
	seed["userData"] = seed["userData"].(string) + counterUserData
	spec["volumes"] = append(volumes,
		map[string]any{"name": "counter", "persistentVolumeClaim": map[string]any{"claimName": "counter-data"}},
		map[string]any{"name": "scratch", "emptyDisk": map[string]any{"capacity": "32Mi"}})
}

// claimDir stands in for the claim's mount as the kubelet prepares it for
// a pod with fsGroup 107: owned by root, group 107, setgid, group-writable.
// Compute (uid 107) can write it through the group only.
func claimDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "virtmesh-vm-claim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, 0, qemuUID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPersistentDisk boots the guest twice on one claim: the first run
// finds a blank disk and counts 1, the second, after a graceful stop,
// counts 2 from what the first wrote. The disk.img compute created is
// sparse and of the resolved size; the emptyDisk is blank in both runs.
func TestPersistentDisk(t *testing.T) {
	requireVMEnv(t)
	w := newWorld(t)
	claim := claimDir(t)
	img := filepath.Join(claim, podcontract.PVCDiskImageName)
	flags := func(o *podcontract.ComputeOptions) {
		o.PersistentDisks = []podcontract.PersistentDisk{{Volume: "counter", Path: img, Size: claimSize}}
	}

	for run := 1; run <= 2; run++ {
		if run > 1 {
			w.startProxy(t)
			podnet.Run(t, "ip", "-n", w.pod, "neigh", "flush", "dev", podcontract.DefaultBridge)
		}
		v := w.startVM(t, "vm-counter", 60, "raw", withCounterDisks, flags)
		v.compute.WaitFor(t, "scratch: ", time.Minute)
		out := v.compute.Stdout()
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "counter: ") || strings.HasPrefix(l, "scratch: ") {
				t.Logf("run %d guest: %s", run, l)
			}
		}
		if want := fmt.Sprintf("counter: %d (sectors=%d)", run, claimSize/512); !strings.Contains(out, want) {
			t.Fatalf("run %d: serial console lacks %q:\n%s", run, want, out)
		}
		if want := fmt.Sprintf("scratch: blank=yes sectors=%d", scratchSize/512); !strings.Contains(out, want) {
			t.Errorf("run %d: serial console lacks %q: the emptyDisk must be blank, %d bytes, in every run", run, want, scratchSize)
		}
		stderr := v.compute.Stderr()
		if run == 1 && !strings.Contains(stderr, `persistent disk "counter": created `+img+", sparse raw, 67108864 bytes") {
			t.Errorf("run 1: compute did not report creating %s:\n%s", img, stderr)
		}
		if run == 2 && !strings.Contains(stderr, `persistent disk "counter": using `+img) {
			t.Errorf("run 2: compute did not reuse %s:\n%s", img, stderr)
		}

		if err := v.compute.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := v.compute.Wait(t, 90*time.Second); code != 0 {
			t.Fatalf("run %d: exit code %d after SIGTERM, want 0", run, code)
		}
		if msg, _ := os.ReadFile(v.termLog); !strings.Contains(string(msg), "guest shut down gracefully after SIGTERM") {
			t.Errorf("run %d: termination message %q", run, msg)
		}
		w.proxy.WaitFor(t, "QUIT", 10*time.Second)
		checkDiskImage(t, img)
	}
}

// checkDiskImage: the size the operator resolved, sparse (the guest wrote
// 16 bytes), owned by compute's uid and the claim's group, group-writable.
func checkDiskImage(t *testing.T, img string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != claimSize || st.Blocks*512 > 1<<20 {
		t.Errorf("%s: %d bytes, %d allocated: want %d, sparse", img, st.Size, st.Blocks*512, claimSize)
	}
	if st.Uid != qemuUID || st.Gid != qemuUID || st.Mode&0o777 != 0o660 {
		t.Errorf("%s: owner %d:%d mode %o, want %d:%d 0660", img, st.Uid, st.Gid, st.Mode&0o777, qemuUID, qemuUID)
	}
	t.Logf("%s: %d bytes, %d allocated, owner %d:%d, mode %o", img, st.Size, st.Blocks*512, st.Uid, st.Gid, st.Mode&0o777)
}

// TestUnwritableClaimIsReported: on a claim whose volume plugin ignored
// fsGroup (root's, 0755), compute (uid 107) cannot create disk.img and
// fails before QEMU starts, saying in the termination message what to do.
func TestUnwritableClaimIsReported(t *testing.T) {
	require.Root(t, "compute must run as uid 107 for the claim's permissions to matter")
	dir, o := failureSetup(t)
	claim := filepath.Join(dir, "claim")
	mkdir(t, claim, 0, 0o755)
	// Everything but the claim is compute's, as its emptyDirs would be.
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, o.DisksDir, filepath.Dir(o.DisksDir), o.HelperSocketDir} {
		if err := os.Chown(p, qemuUID, qemuUID); err != nil {
			t.Fatal(err)
		}
	}
	// The claim's volume first, so compute meets it before any disk helper.
	vmi := vmiJSON(t, "failing", 5, func(spec map[string]any) {
		spec["volumes"] = append([]any{map[string]any{"name": "counter", "persistentVolumeClaim": map[string]any{"claimName": "counter-data"}}}, spec["volumes"].([]any)...)
	})
	if err := os.WriteFile(o.VMIFile, vmi, 0o644); err != nil {
		t.Fatal(err)
	}
	o.PersistentDisks = []podcontract.PersistentDisk{{Volume: "counter", Path: filepath.Join(claim, podcontract.PVCDiskImageName), Size: claimSize}}

	launcherBin, _ := bins.Get(t)
	uid := qemuUID
	argv := podnet.Container{UID: &uid, Caps: "-all"}.Command(append([]string{launcherBin, podcontract.SubcommandCompute}, o.Args()...)...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("compute: %v, want exit code 1:\n%s", err, out)
	}
	msg, _ := os.ReadFile(o.TerminationLog)
	t.Logf("compute termination message: %s", msg)
	for _, want := range []string{
		`persistent disk "counter" (PersistentVolumeClaim counter-data): create ` + claim + "/disk.img: open " + claim + "/.disk.img.creating: permission denied",
		"the claim's root directory must be writable by uid 107 or group 107",
		"chown it to 107:107",
	} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("termination message lacks %q", want)
		}
	}
	if strings.Contains(string(out), "starting qemu") {
		t.Errorf("QEMU was started:\n%s", out)
	}
}
