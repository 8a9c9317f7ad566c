package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// QEMUArgs returns QEMU's argv (without the binary) for m. It is a pure
// function so the exact command line is pinned by golden tests, and it never
// goes through a shell: every value is one argv element, with QEMU's own
// option escaping (",," for a comma) applied to values that are paths.
//
// Choices, and why:
//   - -nodefaults/-no-user-config: only the devices listed here exist, so a
//     QEMU upgrade or a host config file cannot add hardware to the guest.
//   - q35 with ACPI (the default): the guest gets the power button that
//     system_powerdown presses on SIGTERM.
//   - -cpu host under KVM (best performance, the pod is pinned to its node
//     anyway); -cpu max under TCG (all features TCG can emulate).
//   - -add-fd: container disks arrive as read-only descriptors from their
//     helpers (see package containerdisk); the overlays name them as
//     "/dev/fdset/N" backing files, so QEMU never resolves a path into
//     another container's filesystem.
//   - -blockdev/-device pairs: the node names are stable, so QMP can name them.
//   - virtio-net with romfile= (no iPXE option ROM): nothing network-boots
//     and the firmware has one ROM less to load.
//   - -netdev tap,fd=N: the launcher attached to the tap through the tun
//     node net-setup made (see OpenTap) and QEMU inherits the descriptor,
//     so QEMU never opens /dev/net/tun, which containers do not have.
//   - vhost=off: /dev/vhost-net is not available to an unprivileged pod.
//   - no -no-reboot unless rebootPolicy is Terminate: a guest reboot
//     restarts the guest inside the same launcher, as with KubeVirt; a guest
//     poweroff ends QEMU and the pod.
//   - the virtio balloon unless autoattachMemBalloon is false (KubeVirt's
//     default), virtio-rng from /dev/urandom for rng: {}.
func QEMUArgs(m Machine) []string {
	a := []string{
		"-name", "guest=" + esc(m.Name) + ",debug-threads=on",
	}
	if m.UUID != "" {
		a = append(a, "-uuid", m.UUID)
	}
	machine := append([]string{m.Type, "accel=" + m.Accel}, m.MachineOptions...)
	cpu := append([]string{m.CPUModel}, m.CPUFlags...)
	a = append(a,
		"-machine", strings.Join(machine, ","),
		"-cpu", strings.Join(cpu, ","),
		"-smp", fmt.Sprintf("%d,sockets=%d,cores=%d,threads=%d", m.VCPUs(), m.Sockets, m.Cores, m.Threads),
		"-m", strconv.FormatInt(m.MemoryMiB, 10)+"M",
		"-nodefaults",
		"-no-user-config",
		"-display", "none",
		"-msg", "timestamp=on",
		"-qmp", "unix:"+esc(m.QMPSocket)+",server=on,wait=off",
		"-chardev", "file,id=serial0,path="+esc(m.SerialLog),
		"-serial", "chardev:serial0",
	)
	for _, s := range m.SMBIOS {
		a = append(a, "-smbios", s)
	}
	if m.RTC != "" {
		a = append(a, "-rtc", m.RTC)
	}
	if m.NoReboot {
		a = append(a, "-no-reboot")
	}
	for _, f := range m.FDs {
		a = append(a, "-add-fd", fmt.Sprintf("fd=%d,set=%d,opaque=%s", f.FD, f.Set, esc(f.Opaque)))
	}
	a = append(a, diskArgs(m.Disks)...)
	for i, n := range m.NICs {
		netdev := "hostnet" + strconv.Itoa(i)
		dev := []string{n.Model, "id=ua-" + n.Name, "netdev=" + netdev, "mac=" + n.MAC}
		if n.BootIndex > 0 {
			// Network boot needs the NIC's option ROM (iPXE): keep QEMU's.
			dev = append(dev, "bootindex="+strconv.Itoa(n.BootIndex))
		} else {
			dev = append(dev, "romfile=")
		}
		a = append(a,
			"-netdev", "tap,id="+netdev+",fd="+strconv.Itoa(n.TapFD)+",vhost=off",
			"-device", strings.Join(dev, ","),
		)
	}
	if m.Rng {
		a = append(a, "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,id=rng0-dev,rng=rng0")
	}
	if m.Balloon {
		a = append(a, "-device", "virtio-balloon-pci,id=balloon0")
	}
	if w := m.Watchdog; w != nil {
		a = append(a, "-device", "i6300esb,id="+esc(w.ID), "-action", "watchdog="+w.Action)
	}
	return a
}

// diskArgs attaches each disk on its bus: virtio-blk, a port of q35's
// built-in AHCI controller (ide.N), or a virtio-scsi controller added once.
func diskArgs(disks []MachineDisk) []string {
	var a []string
	sata, scsi := 0, false
	for _, d := range disks {
		node := blockNodeName(d.Name)
		blk := []string{
			"driver=" + d.Format,
			"node-name=" + node,
			"read-only=" + onOff(d.ReadOnly),
		}
		if d.Cache == "none" {
			blk = append(blk, "cache.direct=on")
		}
		blk = append(blk, "file.driver=file", "file.filename="+esc(d.Path))
		a = append(a, "-blockdev", strings.Join(blk, ","))
		var dev []string
		switch d.Bus {
		case BusSATA:
			dev = []string{"ide-hd", "bus=ide." + strconv.Itoa(sata)}
			sata++
		case BusSCSI:
			if !scsi {
				a = append(a, "-device", "virtio-scsi-pci,id=scsi0")
				scsi = true
			}
			dev = []string{"scsi-hd", "bus=scsi0.0"}
		default:
			dev = []string{"virtio-blk-pci"}
			if d.Queues > 0 {
				dev = append(dev, "num-queues="+strconv.Itoa(int(d.Queues)))
			}
		}
		dev = append(dev, "id=ua-"+d.Name, "drive="+node)
		if d.Cache == "writethrough" {
			dev = append(dev, "write-cache=off")
		}
		if d.ErrorPolicy != "" {
			w, r := d.ErrorPolicy, d.ErrorPolicy
			if w == "enospace" {
				w, r = "enospc", "report"
			}
			dev = append(dev, "werror="+w, "rerror="+r)
		}
		if d.BootIndex > 0 {
			dev = append(dev, "bootindex="+strconv.Itoa(d.BootIndex))
		}
		if d.Serial != "" {
			dev = append(dev, "serial="+esc(d.Serial))
		}
		a = append(a, "-device", strings.Join(dev, ","))
	}
	return a
}

// maxNodeName is the longest block node name QEMU takes (its node_name
// buffer holds 32 bytes with the NUL); longer ones fail with "Node name too
// long".
const maxNodeName = 31

// blockNodeName is the -blockdev node name of the disk called name: "vd-"
// and the name, or, for names too long for QEMU (a disk name may have 40
// characters), its start and a hash of the whole, so it stays unique.
func blockNodeName(name string) string {
	node := "vd-" + name
	if len(node) <= maxNodeName {
		return node
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:4])
	return node[:maxNodeName-len(h)-1] + "-" + h
}

// esc applies QEMU's option-value escaping: a literal comma is doubled.
func esc(s string) string { return strings.ReplaceAll(s, ",", ",,") }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
