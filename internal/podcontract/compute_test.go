package podcontract

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestComputeArgsRoundTrip(t *testing.T) {
	custom := DefaultComputeOptions()
	custom.VMIFile = "/x/vmi.json"
	custom.GracePeriod = 45 * time.Second
	custom.StopProxyOnExit = true
	custom.Accel = AccelTCG
	custom.DHCP = false
	custom.SerialLog = "/run/with,comma=and space"
	custom.TunDevice = "/tmp/x/tun"
	custom.VMIPv6CIDR = netip.MustParsePrefix("fd20:1::/120")
	custom.VMCIDR = netip.MustParsePrefix("10.11.0.0/16")
	custom.Bridge = "br-vm"
	custom.IPv6 = true
	custom.PersistentDisks = []PersistentDisk{
		{Volume: "data", Path: PVCDiskImagePath("data"), Size: 1014686208},
		{Volume: "iso", Path: "/mnt/x/disk.img", Size: 512, ReadOnly: true},
	}
	hostTun := DefaultComputeOptions()
	hostTun.TunDevice = ""
	for name, o := range map[string]ComputeOptions{"defaults": DefaultComputeOptions(), "custom": custom, "host tun": hostTun} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseComputeArgs(o.Args())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(o, got, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseComputeArgsDefaultsAndErrors(t *testing.T) {
	got, err := ParseComputeArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultComputeOptions(), got, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	for _, args := range [][]string{
		{"--accel=xen"},
		{"--no-such-flag"},
		{"positional"},
		{"--grace-period=-1s"},
		{"--vmi-file="},
		{"--persistent-disk=volume=d,size=1,readOnly=false"},
		{"--persistent-disk=volume=d,size=0,readOnly=false,path=/p/disk.img"},
		{"--persistent-disk=volume=d,size=1,readOnly=false,path=disk.img"},
		{"--persistent-disk=volume=d,size=1,readOnly=maybe,path=/p/disk.img"},
		{"--persistent-disk=volume=d,size=1,readOnly=false,path=/p,colour=red"},
		{"--persistent-disk=volume=d,size=1,readOnly=false,path=/a", "--persistent-disk=volume=d,size=1,readOnly=false,path=/b"},
	} {
		if _, err := ParseComputeArgs(args); err == nil {
			t.Errorf("ParseComputeArgs(%q): want error", args)
		}
	}
}

func TestComputeArgsAreFlagsOnly(t *testing.T) {
	for _, a := range DefaultComputeOptions().Args() {
		if !strings.HasPrefix(a, "--") || !strings.Contains(a, "=") {
			t.Errorf("arg %q is not --name=value", a)
		}
	}
}

func TestDiskHelperArgsRoundTrip(t *testing.T) {
	o := DiskHelperOptions{DiskPath: "/disk/img.qcow2", Socket: "/s/root.sock", TerminationLog: "/tmp/t"}
	got, err := ParseDiskHelperArgs(o.Args())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := ParseDiskHelperArgs([]string{"--disk=/disk"}); err == nil {
		t.Error("missing --socket: want error")
	}
}

func TestDiskHelperCommand(t *testing.T) {
	want := []string{
		"/var/run/virtmesh/helper/virt-launcher", "disk-helper",
		"--disk=/disk", "--socket=/var/run/virtmesh/disk-sockets/rootdisk.sock", "--termination-log=/dev/termination-log",
	}
	if diff := cmp.Diff(want, DiskHelperCommand("rootdisk", "")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err := ParseDiskHelperArgs(DiskHelperCommand("d", "/disk/x.img")[2:])
	if err != nil || got.DiskPath != "/disk/x.img" {
		t.Errorf("ParseDiskHelperArgs = %+v, %v", got, err)
	}
}

func TestPersistentDiskFlag(t *testing.T) {
	d := PersistentDisk{Volume: "data", Path: PVCDiskImagePath("data"), Size: 1014686208}
	want := "--persistent-disk=volume=data,size=1014686208,readOnly=false,path=/var/run/virtmesh/pvcs/data/disk.img"
	o := DefaultComputeOptions()
	o.PersistentDisks = []PersistentDisk{d}
	args := o.Args()
	if got := args[len(args)-1]; got != want {
		t.Errorf("last arg %q, want %q", got, want)
	}
	if got := PVCVolumeName("data"); got != "virtmesh-pvc-data" {
		t.Errorf("PVCVolumeName = %q", got)
	}
}
