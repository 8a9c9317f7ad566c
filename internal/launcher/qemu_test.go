package launcher_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/golden"
	"virtmesh.io/virtmesh/internal/testing/launcherplan"
)

func TestQEMUArgsGolden(t *testing.T) {
	for _, tc := range []struct {
		fixture, accel, dir string
		persistent          []podcontract.PersistentDisk
	}{
		{"minimal", podcontract.AccelTCG, "/var/run/virtmesh/run/disks", nil},
		{"full", podcontract.AccelKVM, "/var/run/virtmesh/run/odd,dir", nil},
		{"kubevirt-features", podcontract.AccelKVM, "/var/run/virtmesh/run/disks", nil},
		// Claims are raw disk.img files on their mounts, a read-only claim
		// a read-only node; the emptyDisk a raw file in the disks dir.
		{"storage", podcontract.AccelTCG, "/var/run/virtmesh/run/disks", []podcontract.PersistentDisk{
			{Volume: "data", Path: podcontract.PVCDiskImagePath("data"), Size: 1 << 30},
			{Volume: "seed", Path: podcontract.PVCDiskImagePath("seed"), Size: 1 << 29, ReadOnly: true},
		}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			v, err := launcher.LoadVMI(filepath.Join("testdata", tc.fixture+".vmi.json"))
			if err != nil {
				t.Fatal(err)
			}
			args, err := launcherplan.Args(v, tc.accel, tc.dir, time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), tc.persistent...)
			if err != nil {
				t.Fatal(err)
			}
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
	base := func() *launcher.VMI {
		v, err := launcher.LoadVMI("testdata/minimal.vmi.json")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	in := launcher.PlanInput{Accel: podcontract.AccelTCG, Tap: "tap0", TapFD: 4, Disks: map[string]launcher.PreparedDisk{"rootdisk": {Path: "/r", Format: "qcow2"}}}
	for name, mutate := range map[string]func(v *launcher.VMI, in *launcher.PlanInput){
		"usb bus": func(v *launcher.VMI, _ *launcher.PlanInput) {
			v.Spec.Domain.Devices.Disks[0].Disk = &launcher.VMIDiskTarget{Bus: "usb"}
		},
		"unknown NIC model": func(v *launcher.VMI, _ *launcher.PlanInput) { v.Spec.Domain.Devices.Interfaces[0].Model = "igb" },
		"unknown time zone": func(v *launcher.VMI, _ *launcher.PlanInput) {
			v.Spec.Domain.Clock = &launcher.VMIClock{Timezone: "Mars/Olympus_Mons"}
		},
		"unprepared volume": func(_ *launcher.VMI, in *launcher.PlanInput) { in.Disks = nil },
		"not masquerade":    func(v *launcher.VMI, _ *launcher.PlanInput) { v.Spec.Domain.Devices.Interfaces[0].Masquerade = nil },
		"bad mac":           func(v *launcher.VMI, _ *launcher.PlanInput) { v.Spec.Domain.Devices.Interfaces[0].MacAddress = "zz" },
		"no tap fd":         func(_ *launcher.VMI, in *launcher.PlanInput) { in.TapFD = 0 },
		"read-only claim on sata": func(v *launcher.VMI, in *launcher.PlanInput) {
			v.Spec.Domain.Devices.Disks[0].Disk = &launcher.VMIDiskTarget{Bus: "sata"}
			in.Disks = map[string]launcher.PreparedDisk{"rootdisk": {Path: "/c/disk.img", Format: "raw", ReadOnly: true, ReadOnlyStorage: true}}
		},
		// 8Ei once rounded to MiB as -8796093022208M.
		"memory beyond int64 MiB": func(v *launcher.VMI, _ *launcher.PlanInput) {
			v.Spec.Domain.Resources.Requests = map[string]resource.Quantity{"memory": resource.MustParse("8Ei")}
		},
	} {
		t.Run(name, func(t *testing.T) {
			v, in := base(), in
			mutate(v, &in)
			if _, err := launcher.BuildMachine(v, in); err == nil {
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
