package main

import (
	"fmt"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"virtmesh.io/virtmesh/internal/imagebuild"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/proxystandin"
)

// Inputs are the files the images are made of, built or found before the
// images are assembled.
type Inputs struct {
	// Bins are the static Go binaries built from this repository, by name
	// (manager, virt-launcher, pause, productpage-standin, proxy-standin).
	Bins map[string]string
	// CoreDNS is bin/coredns (hack/build-bins.sh coredns).
	CoreDNS string
	// GuestDisk is bin/guest/disk.img (hack/build-guest.sh).
	GuestDisk string
	// HostRoot is where the launcher's Debian files are copied from ("/").
	HostRoot string
	// PilotDiscovery is bin/pilot-discovery (hack/build-bins.sh
	// pilot-discovery): Istio's istiod, built from the pinned istio.io/istio.
	PilotDiscovery string
}

// Def is one image VirtMesh's local cluster uses.
type Def struct {
	Name string
	Ref  string
	// What says in a few words what the image is, for the progress lines
	// and the image's description label.
	What string
	// GoBins are the repository binaries it needs ([Inputs.Bins] keys);
	// Guest and CoreDNS say whether it needs those inputs.
	GoBins  []string
	Guest   bool
	CoreDNS bool
	// Istiod says whether it needs bin/pilot-discovery.
	Istiod bool
	Make   func(in Inputs) (*imagebuild.Image, error)
}

// Registry is the image references' common prefix: "localhost/" keeps
// containerd and the kubelet from ever resolving them to a real registry;
// pods use them with imagePullPolicy Never or IfNotPresent.
const Registry = "localhost/virtmesh/"

// Tag is every image's tag.
const Tag = "dev"

// Defs are the images, in build order.
var Defs = []Def{
	{
		Name: "operator", Ref: Registry + "operator:" + Tag, GoBins: []string{"manager"},
		What: "the VirtMesh operator (bin/manager), as a user installs it",
		Make: func(in Inputs) (*imagebuild.Image, error) {
			return static(in.Bins["manager"], "/manager", uidNonroot, v1.Config{}), nil
		},
	},
	{
		Name: "virt-launcher", Ref: Registry + "virt-launcher:" + Tag, GoBins: []string{"virt-launcher"},
		What: "virt-launcher with QEMU and iptables (nft) from Debian, their libraries and firmware",
		Make: launcher,
	},
	{
		Name: "guest-disk", Ref: Registry + "guest-disk:" + Tag, Guest: true,
		What: "containerDisk with the test guest (Debian kernel + busybox initramfs) at /disk/disk.img",
		Make: guestDisk,
	},
	{
		Name: "productpage-standin", Ref: Registry + "productpage-standin:" + Tag, GoBins: []string{"productpage-standin"},
		What: "STAND-IN for Bookinfo's productpage: calls details:9080/details/0, says who answered",
		Make: func(in Inputs) (*imagebuild.Image, error) {
			return static(in.Bins["productpage-standin"], "/productpage-standin", uidNonroot, v1.Config{
				Env:          []string{"PORT=9080", "DETAILS_URL=http://details:9080/details/0"},
				ExposedPorts: map[string]struct{}{"9080/tcp": {}},
			}), nil
		},
	},
	{
		Name: "proxy-standin", Ref: Registry + "proxy-standin:" + Tag, GoBins: []string{"proxy-standin"},
		What: "STAND-IN for Istio's proxy (NOT Envoy): transparent forwarding on 15001/15006, uid 1337",
		Make: func(in Inputs) (*imagebuild.Image, error) {
			return static(in.Bins["proxy-standin"], "/proxy-standin", proxystandin.UID, v1.Config{}), nil
		},
	},
	{
		Name: "pause", Ref: Registry + "pause:" + Tag, GoBins: []string{"pause"},
		What: "the pod sandbox image (kubelet --pod-infra-container-image, containerd sandbox_image)",
		Make: func(in Inputs) (*imagebuild.Image, error) {
			return static(in.Bins["pause"], "/pause", uidPause, v1.Config{}), nil
		},
	},
	{
		Name: "pilot", Ref: Registry + "pilot:" + Tag, Istiod: true,
		What: "Istio's istiod: the pinned pilot-discovery (bin/pilot-discovery), laid out as Istio's pilot image, uid 1337",
		Make: func(in Inputs) (*imagebuild.Image, error) { return pilot(in.PilotDiscovery), nil },
	},
	{
		Name: "coredns", Ref: Registry + "coredns:" + Tag, CoreDNS: true,
		What: "CoreDNS (bin/coredns) for cluster DNS",
		Make: func(in Inputs) (*imagebuild.Image, error) {
			return static(in.CoreDNS, "/coredns", uidNonroot, v1.Config{
				ExposedPorts: map[string]struct{}{"53/tcp": {}, "53/udp": {}},
			}), nil
		},
	},
}

// The images' users.
const (
	uidNonroot = 65532 // distroless' nonroot
	uidPause   = 65535 // Kubernetes' pause image
	uidNobody  = 65534
)

// Path is every image's PATH.
const Path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// baseLayer holds /etc/passwd and /etc/group naming every uid the images
// run as, /etc/nsswitch.conf, and world-writable /tmp.
func baseLayer() *imagebuild.Layer {
	l := imagebuild.NewLayer("base: users, groups, /tmp")
	users := []struct {
		name string
		uid  int
		home string
	}{
		{"root", 0, "/root"},
		{"qemu", podcontract.QEMUUID, "/"},
		{"istio-proxy", proxystandin.UID, "/"},
		{"nonroot", uidNonroot, "/home/nonroot"},
		{"nobody", uidNobody, "/nonexistent"},
		{"pause", uidPause, "/"},
	}
	var passwd, group strings.Builder
	for _, u := range users {
		shell := "/sbin/nologin"
		fmt.Fprintf(&passwd, "%s:x:%d:%d:%s:%s:%s\n", u.name, u.uid, u.uid, u.name, u.home, shell)
		fmt.Fprintf(&group, "%s:x:%d:\n", u.name, u.uid)
	}
	l.File("/etc/passwd", []byte(passwd.String()), 0o644, 0, 0)
	l.File("/etc/group", []byte(group.String()), 0o644, 0, 0)
	l.File("/etc/nsswitch.conf", []byte("passwd: files\ngroup: files\nhosts: files dns\n"), 0o644, 0, 0)
	l.Dir("/root", 0o700, 0, 0)
	l.Dir("/home/nonroot", 0o700, uidNonroot, uidNonroot)
	l.Dir("/tmp", 0o1777, 0, 0)
	l.Dir("/var/tmp", 0o1777, 0, 0)
	l.Dir("/run", 0o755, 0, 0)
	return l
}

func labels(title, what string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       title,
		"org.opencontainers.image.description": what,
		"org.opencontainers.image.vendor":      "VirtMesh (local cluster, hack/images)",
	}
}

// static is an image of one static binary at p, run as uid:uid.
func static(bin, p string, uid int, cfg v1.Config) *imagebuild.Image {
	app := imagebuild.NewLayer(filepath.Base(p))
	app.CopyFile(p, bin, 0o755, 0, 0)
	cfg.User = fmt.Sprintf("%d:%d", uid, uid)
	cfg.Entrypoint = []string{p}
	cfg.Env = append([]string{Path}, cfg.Env...)
	cfg.WorkingDir = "/"
	return &imagebuild.Image{Layers: []*imagebuild.Layer{baseLayer(), app}, Config: cfg}
}

// LauncherPrograms are the Debian programs the launcher runs (by PATH
// name: podcontract's qemu-system-x86_64 and qemu-img, net-setup's
// iptables-restore and ip6tables-restore), copied with their libraries.
var LauncherPrograms = []string{"/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-img", "/usr/sbin/xtables-nft-multi"}

// LauncherModules are loaded with dlopen, so no DT_NEEDED names them:
// QEMU's TCG accelerator (Debian builds it as a module; without it a host
// without usable KVM cannot run a guest) and iptables' extensions (match
// and target modules: owner, multiport, REDIRECT, DNAT, ...).
var LauncherModules = []string{"/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so", "/usr/lib/x86_64-linux-gnu/xtables/*.so"}

// LauncherFirmware is what QEMU loads for a q35 guest: SeaBIOS (bios-256k.bin
// and the VGA BIOSes), iPXE's NIC option ROMs (a NIC with a bootOrder keeps
// its ROM), and QEMU's own option ROMs (direct kernel boot, kvmvapic).
// Debian's QEMU searches /usr/share/qemu, /usr/share/seabios and
// /usr/lib/ipxe/qemu.
var LauncherFirmware = []string{
	"/usr/share/seabios/*",
	"/usr/lib/ipxe/qemu/*",
	"/usr/share/qemu/kvmvapic.bin", "/usr/share/qemu/linuxboot.bin", "/usr/share/qemu/linuxboot_dma.bin",
	"/usr/share/qemu/multiboot.bin", "/usr/share/qemu/multiboot_dma.bin", "/usr/share/qemu/pvh.bin",
}

// iptablesCommands are Debian's names for the nft backend, which the
// alternatives system would select (Debian's default, and what kube-proxy
// on the node uses): iptables-restore -> iptables-nft-restore -> xtables-nft-multi.
var iptablesCommands = []string{"iptables", "iptables-restore", "iptables-save", "ip6tables", "ip6tables-restore", "ip6tables-save"}

// LauncherPackages are the Debian packages the launcher image's files come
// from (hack/install-packages.sh node).
var LauncherPackages = []string{"qemu-system-x86", "qemu-system-common", "qemu-system-data", "qemu-utils", "seabios", "ipxe-qemu", "iptables"}

// launcher is the image the Dockerfile's launcher stage describes, built
// from this host's Debian files instead of apt-get in a container: only
// the programs the launcher runs, their shared-library closure, the
// dlopen'ed modules and the firmware, so nothing unused ships.
func launcher(in Inputs) (*imagebuild.Image, error) {
	deb := imagebuild.NewLayer("QEMU and iptables from Debian (" + strings.Join(LauncherPackages, " ") + ")")
	h := imagebuild.NewHost(in.HostRoot, deb)
	var elfs []string
	elfs = append(elfs, LauncherPrograms...)
	mods, err := globAll(in.HostRoot, LauncherModules)
	if err != nil {
		return nil, err
	}
	elfs = append(elfs, mods...)
	for _, p := range elfs {
		if err := h.AddELF(p); err != nil {
			return nil, fmt.Errorf("%w (install the Debian packages: hack/install-packages.sh node)", err)
		}
	}
	for _, c := range iptablesCommands {
		nft := strings.Replace(c, "tables", "tables-nft", 1) // iptables-restore -> iptables-nft-restore
		if _, err := h.Add("/usr/sbin/" + nft); err != nil {
			return nil, err
		}
		deb.Symlink("/usr/sbin/"+c, nft)
	}
	fw, err := globAll(in.HostRoot, LauncherFirmware)
	if err != nil {
		return nil, err
	}
	for _, p := range fw {
		if _, err := h.Add(p); err != nil {
			return nil, err
		}
	}
	app := imagebuild.NewLayer("virt-launcher")
	app.CopyFile("/usr/bin/virt-launcher", in.Bins["virt-launcher"], 0o755, 0, 0)
	uid := podcontract.QEMUUID
	return &imagebuild.Image{
		Layers: []*imagebuild.Layer{baseLayer(), deb, app},
		Config: v1.Config{
			User:       fmt.Sprintf("%d:%d", uid, uid),
			Entrypoint: []string{"/usr/bin/virt-launcher"},
			Env:        []string{Path},
			WorkingDir: "/",
		},
	}, nil
}

// globAll expands host path patterns under root; a pattern that matches
// nothing is an error (a missing package).
func globAll(root string, patterns []string) ([]string, error) {
	if root == "" {
		root = "/"
	}
	var out []string
	for _, pat := range patterns {
		m, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("no %s on this host (install the Debian packages: hack/install-packages.sh node)", pat)
		}
		for _, hp := range m {
			rel, err := filepath.Rel(root, hp)
			if err != nil {
				return nil, err
			}
			out = append(out, "/"+rel)
		}
	}
	return out, nil
}

// guestDisk follows KubeVirt's containerDisk convention: the disk file
// alone under /disk/, owned by 107 (qemu) and readable by it, no
// entrypoint (the launcher pod runs VirtMesh's helper in it).
func guestDisk(in Inputs) (*imagebuild.Image, error) {
	uid := podcontract.QEMUUID
	l := imagebuild.NewLayer("disk.img (hack/build-guest.sh)")
	l.Dir("/disk", 0o555, uid, uid)
	l.CopyFile("/disk/disk.img", in.GuestDisk, 0o440, uid, uid)
	return &imagebuild.Image{Layers: []*imagebuild.Layer{l}}, nil
}
