package launcher

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/golden"
)

// preparedFor mimics what the launcher prepares for fixture VMIs.
func preparedFor(v *VMI, dir string) map[string]PreparedDisk {
	out := map[string]PreparedDisk{}
	set := 0
	for _, vol := range v.Spec.Volumes {
		switch {
		case vol.ContainerDisk != nil:
			set++
			fd := &MachineFD{FD: 2 + set, Set: set, Opaque: vol.Name}
			out[vol.Name] = PreparedDisk{FD: fd, Path: filepath.Join(dir, vol.Name+".qcow2"), Format: "qcow2"}
		case vol.CloudInitNoCloud != nil:
			out[vol.Name] = PreparedDisk{Path: filepath.Join(dir, vol.Name+".iso"), Format: "raw", ReadOnly: true}
		}
	}
	return out
}

// countFDs is how many descriptors the disks pass: the tap's comes next.
func countFDs(disks map[string]PreparedDisk) int {
	n := 0
	for _, d := range disks {
		if d.FD != nil {
			n++
		}
	}
	return n
}

func TestQEMUArgsGolden(t *testing.T) {
	for _, tc := range []struct {
		fixture, accel, dir string
	}{
		{"minimal", podcontract.AccelTCG, "/var/run/virtmesh/run/disks"},
		{"full", podcontract.AccelKVM, "/var/run/virtmesh/run/odd,dir"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			v, err := LoadVMI(filepath.Join("testdata", tc.fixture+".vmi.json"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := BuildMachine(v, PlanInput{
				Accel:     tc.accel,
				Disks:     preparedFor(v, tc.dir),
				SerialLog: podcontract.DefaultSerialLog,
				QMPSocket: podcontract.DefaultQMPSocket,
				Tap:       podcontract.DefaultTap,
				TapFD:     3 + countFDs(preparedFor(v, tc.dir)),
			})
			if err != nil {
				t.Fatal(err)
			}
			args := QEMUArgs(m)
			golden.Assert(t, filepath.Join("testdata", tc.fixture+".args"), []byte(strings.Join(args, "\n")+"\n"))
			// QEMU must get the tap by descriptor, never open it by name
			// (that would need a /dev/net/tun in the container).
			for _, a := range args {
				if strings.HasPrefix(a, "tap,") && (!strings.Contains(a, ",fd=") || strings.Contains(a, "ifname=")) {
					t.Errorf("netdev %q: want fd= and no ifname=", a)
				}
			}
		})
	}
}

func TestBuildMachineErrors(t *testing.T) {
	base := func() *VMI {
		v, err := LoadVMI("testdata/minimal.vmi.json")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	in := PlanInput{Accel: podcontract.AccelTCG, Tap: "tap0", TapFD: 4, Disks: map[string]PreparedDisk{"rootdisk": {Path: "/r", Format: "qcow2"}}}
	for name, mutate := range map[string]func(v *VMI, in *PlanInput){
		"sata bus": func(v *VMI, _ *PlanInput) {
			v.Spec.Domain.Devices.Disks[0].Disk = &struct {
				Bus string `json:"bus,omitempty"`
			}{Bus: "sata"}
		},
		"unprepared volume": func(_ *VMI, in *PlanInput) { in.Disks = nil },
		"not masquerade":    func(v *VMI, _ *PlanInput) { v.Spec.Domain.Devices.Interfaces[0].Masquerade = nil },
		"bad mac":           func(v *VMI, _ *PlanInput) { v.Spec.Domain.Devices.Interfaces[0].MacAddress = "zz" },
		"no tap fd":         func(_ *VMI, in *PlanInput) { in.TapFD = 0 },
		// 8Ei once rounded to MiB as -8796093022208M.
		"memory beyond int64 MiB": func(v *VMI, _ *PlanInput) {
			v.Spec.Domain.Resources.Requests = map[string]resource.Quantity{"memory": resource.MustParse("8Ei")}
		},
	} {
		t.Run(name, func(t *testing.T) {
			v, in := base(), in
			mutate(v, &in)
			if _, err := BuildMachine(v, in); err == nil {
				t.Error("want error")
			}
		})
	}
}

func TestStableMAC(t *testing.T) {
	a := podcontract.StableMAC("ns", "vm", "uid-1", "default")
	if a != podcontract.StableMAC("ns", "vm", "uid-1", "default") {
		t.Error("not stable")
	}
	if a == podcontract.StableMAC("ns", "vm", "uid-2", "default") {
		t.Error("same MAC for different VMIs")
	}
	if !strings.HasPrefix(a, "02:76:") {
		t.Errorf("%s: want a locally administered 02:76: address", a)
	}
}

// TestBlockNodeName: node names fit QEMU's 31 bytes and stay unique for
// disk names (up to 40 characters) that share a long prefix.
func TestBlockNodeName(t *testing.T) {
	if got := blockNodeName("rootdisk"); got != "vd-rootdisk" {
		t.Errorf("blockNodeName(rootdisk) = %q", got)
	}
	a, b := blockNodeName(strings.Repeat("a", 39)+"1"), blockNodeName(strings.Repeat("a", 39)+"2")
	if len(a) != maxNodeName || len(b) != maxNodeName || a == b {
		t.Errorf("long names: %q, %q", a, b)
	}
	if got := blockNodeName(strings.Repeat("b", 28)); got != "vd-"+strings.Repeat("b", 28) {
		t.Errorf("a name that fits is kept: %q", got)
	}
}
