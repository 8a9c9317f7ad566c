package launcher_test

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
	"virtmesh.io/virtmesh/internal/testing/crdschema"
	"virtmesh.io/virtmesh/internal/testing/launcherplan"
)

// qemuOpts splits one QEMU option value into its comma-separated parts the
// way QEMU's option parser does: ",," is a literal comma.
func qemuOpts(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			if i+1 < len(v) && v[i+1] == ',' {
				cur.WriteByte(',')
				i++
				continue
			}
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(v[i])
	}
	return append(out, cur.String())
}

// qemuKV maps an option value's key=value parts; a part without "=" (the
// driver, e.g. "q35" or "virtio-blk-pci") is returned as the implied value.
func qemuKV(t *testing.T, opt, v string) (implied string, kv map[string]string) {
	t.Helper()
	kv = map[string]string{}
	for i, part := range qemuOpts(v) {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			if i != 0 {
				t.Fatalf("%s %q: part %q is not key=value", opt, v, part)
			}
			implied = part
			continue
		}
		if _, dup := kv[k]; dup {
			t.Fatalf("%s %q: key %s given twice", opt, v, k)
		}
		kv[k] = val
	}
	return implied, kv
}

// qemuID is QEMU's id_wellformed (device, netdev and node ids).
func qemuID(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// qemuMaxNodeName: a block node name must fit BlockDriverState.node_name
// (32 bytes with its NUL), or QEMU says "Node name too long".
const qemuMaxNodeName = 31

var qemuArgOptions = []string{
	"-name", "-uuid", "-machine", "-cpu", "-smp", "-m", "-nodefaults", "-no-user-config", "-display", "-msg", "-qmp",
	"-chardev", "-serial", "-smbios", "-rtc", "-no-reboot", "-add-fd", "-blockdev", "-device", "-netdev", "-object", "-action",
}

// qemuFlags take no value.
var qemuFlags = []string{"-nodefaults", "-no-user-config", "-no-reboot"}

// checkQEMUArgs reads argv as QEMU would and checks it against the machine
// and the descriptors the launcher passes: every option known and every
// value non-empty, no key injected into an option value, ids and node names
// QEMU accepts and unique, each -device's drive and netdev declared, each
// -add-fd and -netdev descriptor one the launcher passes, each once.
func checkQEMUArgs(t *testing.T, args []string, m launcher.Machine, in launcher.PlanInput) {
	t.Helper()
	wantFDs := map[int]bool{}
	for _, d := range in.Disks {
		if d.FD != nil {
			wantFDs[d.FD.FD] = true
		}
	}
	if len(m.NICs) > 0 {
		if wantFDs[in.TapFD] {
			t.Fatalf("tap fd %d is also a disk's", in.TapFD)
		}
		wantFDs[in.TapFD] = true
	}
	usedFDs := map[int]bool{}
	useFD := func(s string) {
		fd, err := strconv.Atoi(s)
		if err != nil || !wantFDs[fd] || usedFDs[fd] || fd < 3 {
			t.Fatalf("fd %q is not a descriptor the launcher passes, or is used twice (passes %v)", s, wantFDs)
		}
		usedFDs[fd] = true
	}
	ids, nodes, netdevs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	newID := func(kind, id string, seen map[string]bool) {
		if !qemuID(id) || seen[id] {
			t.Fatalf("%s id %q is not well formed or not unique", kind, id)
		}
		seen[id] = true
	}
	var devices [][2]string
	for i := 0; i < len(args); i++ {
		opt := args[i]
		if !slices.Contains(qemuArgOptions, opt) {
			t.Fatalf("argv[%d] = %q: not a QEMU option this launcher uses", i, opt)
		}
		if slices.Contains(qemuFlags, opt) {
			continue
		}
		if i+1 == len(args) || args[i+1] == "" || strings.ContainsRune(args[i+1], 0) {
			t.Fatalf("%s has no value, an empty one or a NUL", opt)
		}
		i++
		v := args[i]
		implied, kv := qemuKV(t, opt, v)
		switch opt {
		case "-m":
			n, err := strconv.ParseInt(strings.TrimSuffix(v, "M"), 10, 64)
			if !strings.HasSuffix(v, "M") || err != nil || n < 1 || n != m.MemoryMiB {
				t.Fatalf("-m %q for %d MiB", v, m.MemoryMiB)
			}
		case "-smp":
			n, err := strconv.Atoi(implied)
			if err != nil || n < 1 || n > 256 || uint32(n) != m.Sockets*m.Cores*m.Threads {
				t.Fatalf("-smp %q", v)
			}
		case "-add-fd":
			useFD(kv["fd"])
		case "-blockdev":
			node := kv["node-name"]
			if len(node) > qemuMaxNodeName {
				t.Fatalf("-blockdev node-name %q is longer than QEMU's %d", node, qemuMaxNodeName)
			}
			newID("node", node, nodes)
			if !slices.ContainsFunc(m.Disks, func(d launcher.MachineDisk) bool { return d.Path == kv["file.filename"] }) {
				t.Fatalf("-blockdev %q opens a file no disk names", v)
			}
		case "-netdev":
			newID("netdev", kv["id"], netdevs)
			useFD(kv["fd"])
		case "-device":
			newID("device", kv["id"], ids)
			devices = append(devices, [2]string{kv["drive"], kv["netdev"]})
			if mac, ok := kv["mac"]; ok {
				if _, err := net.ParseMAC(mac); err != nil {
					t.Fatalf("-device %q: mac: %v", v, err)
				}
			}
		}
	}
	for _, d := range devices {
		if d[0] != "" && !nodes[d[0]] || d[1] != "" && !netdevs[d[1]] {
			t.Fatalf("a -device uses drive %q / netdev %q that no -blockdev / -netdev declares", d[0], d[1])
		}
	}
	if len(usedFDs) != len(wantFDs) {
		t.Fatalf("QEMU is handed descriptors %v but told of %v", wantFDs, usedFDs)
	}
	drives, nics := 0, 0
	for _, d := range devices {
		if d[0] != "" {
			drives++
		}
		if d[1] != "" {
			nics++
		}
	}
	if len(nodes) != len(m.Disks) || drives != len(m.Disks) || nics != len(m.NICs) {
		t.Fatalf("%d disks, %d NICs: %d block nodes, %d drive devices, %d NIC devices", len(m.Disks), len(m.NICs), len(nodes), drives, nics)
	}
}

// fuzzNow is the launcher's start time in FuzzQEMUArgs (a guest clock may
// be an offset from it).
var fuzzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// FuzzQEMUArgs follows a VMI the CRD schema admits (decoded from fuzzed JSON
// by internal/testing/crdschema) the whole way to QEMU's argv: the operator
// renders the launcher pod, the launcher decodes the VMI annotation,
// prepares its disks as it does at run time, builds the machine and the
// argv. Every step must succeed for an admitted VMI, and the argv must be
// one QEMU accepts as meant (checkQEMUArgs).
func FuzzQEMUArgs(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, kvm bool) {
		vmi, ok := crdschema.AdmitVMI(data)
		if !ok {
			return
		}
		// Every claim as the controller resolves a bound one.
		opts := launcherpod.Options{LauncherImage: "virt-launcher", Claims: map[string]launcherpod.Claim{}}
		for _, vol := range vmi.Spec.Volumes {
			if vol.PersistentVolumeClaim != nil {
				opts.Claims[vol.PersistentVolumeClaim.ClaimName] = launcherpod.Claim{Capacity: resource.MustParse("10Gi")}
			}
		}
		pod, err := launcherpod.RenderLauncherPod(vmi, nil, opts)
		if err != nil {
			return // FuzzRenderLauncherPod holds the renderer to its errors
		}
		co, ok := launcherpod.ComputeOptions(pod)
		if !ok {
			t.Fatal("compute's flags do not parse")
		}
		v, err := launcher.ParseVMI([]byte(pod.Annotations[podcontract.VMIAnnotation]))
		if err != nil {
			t.Fatalf("the launcher cannot decode its VMI: %v", err)
		}
		accel := podcontract.AccelTCG
		if kvm {
			accel = podcontract.AccelKVM
		}
		in := launcherplan.Input(v, accel, podcontract.DefaultDisksDir, fuzzNow, co.PersistentDisks)
		m, err := launcher.BuildMachine(v, in)
		if err != nil {
			t.Fatalf("BuildMachine of an admitted VMI: %v", err)
		}
		args := launcher.QEMUArgs(m)
		if again := launcher.QEMUArgs(m); !slices.Equal(args, again) {
			t.Fatal("QEMUArgs is not deterministic")
		}
		checkQEMUArgs(t, args, m, in)
	})
}
