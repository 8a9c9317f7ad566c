package main

import (
	"archive/tar"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"virtmesh.io/virtmesh/internal/dataplane"
	"virtmesh.io/virtmesh/internal/imagebuild"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/require"
)

var (
	launcherOnce sync.Once
	launcherDir  string
	launcherErr  error
)

// extractedLauncher builds the launcher image as `make images` does (a
// static virt-launcher and this host's Debian files), writes the tarball,
// reads it back and extracts it: the tests look at what ships.
func extractedLauncher(t *testing.T) string {
	t.Helper()
	require.Tools(t, "qemu-system-x86_64", "qemu-img", "xtables-nft-multi")
	launcherOnce.Do(func() {
		launcherDir, launcherErr = os.MkdirTemp("", "virtmesh-launcher-image-")
		if launcherErr != nil {
			return
		}
		bin := filepath.Join(launcherDir, "virt-launcher")
		build := exec.Command("go", "build", "-trimpath", "-o", bin, "virtmesh.io/virtmesh/cmd/virt-launcher")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			launcherErr = &buildError{err, string(out)}
			return
		}
		img, err := launcher(Inputs{Bins: map[string]string{"virt-launcher": bin}, HostRoot: "/"})
		if err != nil {
			launcherErr = err
			return
		}
		img.Ref = Registry + "virt-launcher:test"
		built, err := img.Build()
		if err != nil {
			launcherErr = err
			return
		}
		tarPath := filepath.Join(launcherDir, "launcher.tar")
		if _, launcherErr = imagebuild.WriteTarball(tarPath, img.Ref, built); launcherErr != nil {
			return
		}
		back, err := imagebuild.ReadTarball(tarPath, img.Ref)
		if err != nil {
			launcherErr = err
			return
		}
		root := filepath.Join(launcherDir, "rootfs")
		if launcherErr = os.Mkdir(root, 0o755); launcherErr != nil {
			return
		}
		launcherErr = imagebuild.Extract(back, root)
		// Mount points a container runtime would create.
		for _, d := range []string{"dev", "proc"} {
			if launcherErr == nil {
				launcherErr = os.Mkdir(filepath.Join(root, d), 0o755)
			}
		}
	})
	if launcherErr != nil {
		t.Fatal(launcherErr)
	}
	return filepath.Join(launcherDir, "rootfs")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "building virt-launcher: " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if launcherDir != "" {
		os.RemoveAll(launcherDir)
	}
	os.Exit(code)
}

// inRootfs runs a command inside the extracted image as a container would:
// chrooted into it as user ("107:107"), in fresh mount, network and pid
// namespaces with /dev and /proc mounted (all gone when it exits).
func inRootfs(t *testing.T, rootfs, user, stdin string, args ...string) (string, error) {
	t.Helper()
	require.Root(t, "the launcher image is run from its extracted root filesystem with chroot")
	require.Tools(t, "unshare", "chroot", "mount")
	script := `root=$0 user=$1; shift; mount --rbind /dev "$root/dev" && mount -t proc proc "$root/proc" && exec chroot --userspec="$user" "$root" "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--net", "--pid", "--fork", "--kill-child", "sh", "-c", script, rootfs, user}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestLauncherImageLibraries: every ELF file in the image finds its
// interpreter and libraries inside the image.
func TestLauncherImageLibraries(t *testing.T) {
	rootfs := extractedLauncher(t)
	missing, err := imagebuild.CheckLibraries(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("the launcher image lacks shared libraries:\n%s", strings.Join(missing, "\n"))
	}
	for _, p := range []string{
		"usr/bin/virt-launcher", "usr/bin/qemu-system-x86_64", "usr/bin/qemu-img",
		"usr/sbin/iptables-restore", "usr/sbin/ip6tables-restore",
		"usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so",
		"usr/lib/x86_64-linux-gnu/xtables/libxt_owner.so", "usr/lib/x86_64-linux-gnu/xtables/libxt_REDIRECT.so",
		"usr/share/seabios/bios-256k.bin", "usr/lib/ipxe/qemu/efi-virtio.rom",
	} {
		if _, err := imagebuild.ResolveIn(rootfs, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), "qemu:x:107:107:") {
		t.Errorf("/etc/passwd has no qemu user 107: %v\n%s", err, passwd)
	}
}

// TestLauncherImageRunsQEMU runs the image's programs from inside it:
// QEMU and qemu-img print their versions, and QEMU as uid 107 initializes
// a q35 machine under TCG with the launcher's kinds of devices (BIOS, the
// TCG module, an e1000 whose iPXE ROM is loaded) before quitting from its
// monitor; virt-launcher runs.
func TestLauncherImageRunsQEMU(t *testing.T) {
	rootfs := extractedLauncher(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"qemu-system-x86_64", "-version"}, "QEMU emulator version"},
		{[]string{"qemu-img", "--version"}, "qemu-img version"},
	} {
		out, err := inRootfs(t, rootfs, "107:107", "", c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
	}
	out, err := inRootfs(t, rootfs, "107:107", "info status\nquit\n",
		"qemu-system-x86_64", "-machine", "q35,accel=tcg", "-cpu", "max", "-m", "64M",
		"-nodefaults", "-no-user-config", "-display", "none", "-S", "-monitor", "stdio",
		"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
		"-device", "virtio-balloon-pci", "-device", "i6300esb",
		"-netdev", "user,id=n0", "-device", "e1000,netdev=n0",
		"-netdev", "user,id=n1", "-device", "virtio-net-pci,netdev=n1,romfile=")
	if err != nil || !strings.Contains(out, "VM status: paused (prelaunch)") {
		t.Errorf("QEMU machine init in the image: %v\n%s", err, out)
	}
	out, err = inRootfs(t, rootfs, "107:107", "", "virt-launcher")
	if !strings.Contains(out, "subcommands:") {
		t.Errorf("virt-launcher in the image: %v\n%s", err, out)
	}
}

// TestLauncherImageIptables loads the rules net-setup renders for a meshed
// VM (IPv4 and IPv6) with the image's iptables-restore and
// ip6tables-restore, in a fresh network namespace: every match and target
// extension the rules use is in the image.
func TestLauncherImageIptables(t *testing.T) {
	rootfs := extractedLauncher(t)
	cfg := podcontract.DefaultNetSetupOptions()
	cfg.Mesh = podcontract.DefaultMesh()
	cfg.IPv6 = true
	for _, f := range []dataplane.Family{dataplane.IPv4, dataplane.IPv6} {
		rules, err := dataplane.RenderRules(cfg, f, netip.MustParseAddr("10.244.0.7"), netip.MustParseAddr("fd00:10:244::7"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := "iptables-restore"
		if f == dataplane.IPv6 {
			cmd = "ip6tables-restore"
		}
		if out, err := inRootfs(t, rootfs, "0:0", rules, cmd, "--wait"); err != nil {
			t.Errorf("%s in the image: %v\n%s\nrules:\n%s", cmd, err, out, rules)
		}
	}
}

// TestImagesConfig checks what every image declares: reference, user,
// entrypoint, layers; and that the static images' binaries and the guest
// disk sit where their configs say, with their owners and modes.
func TestImagesConfig(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "bin")
	if err := os.WriteFile(fake, []byte("\x7fELF fake"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := Inputs{Bins: map[string]string{}, CoreDNS: fake, GuestDisk: fake, PilotDiscovery: fake, HostRoot: "/"}
	for name := range goPackages {
		in.Bins[name] = fake
	}
	want := map[string]struct {
		user, entrypoint, file string
		mode                   int64
		uid                    int
	}{
		"operator":            {"65532:65532", "/manager", "/manager", 0o755, 0},
		"productpage-standin": {"65532:65532", "/productpage-standin", "/productpage-standin", 0o755, 0},
		"proxy-standin":       {"1337:1337", "/proxy-standin", "/proxy-standin", 0o755, 0},
		"pause":               {"65535:65535", "/pause", "/pause", 0o755, 0},
		"coredns":             {"65532:65532", "/coredns", "/coredns", 0o755, 0},
		"pilot":               {"1337:1337", "/usr/local/bin/pilot-discovery", "/usr/local/bin/pilot-discovery", 0o755, 0},
		"guest-disk":          {"", "", "/disk/disk.img", 0o440, 107},
	}
	refs := map[string]bool{}
	for _, d := range Defs {
		if refs[d.Ref] || !strings.HasPrefix(d.Ref, "localhost/virtmesh/") || !strings.HasSuffix(d.Ref, ":dev") {
			t.Errorf("%s: ref %q (want a unique localhost/virtmesh/<name>:dev)", d.Name, d.Ref)
		}
		refs[d.Ref] = true
		if d.Name == "virt-launcher" {
			continue // TestLauncherImage*
		}
		w, ok := want[d.Name]
		if !ok {
			t.Errorf("image %s is not checked here", d.Name)
			continue
		}
		img, err := d.Make(in)
		if err != nil {
			t.Fatal(err)
		}
		if img.Config.User != w.user {
			t.Errorf("%s: user %q, want %q", d.Name, img.Config.User, w.user)
		}
		if ep := strings.Join(img.Config.Entrypoint, " "); ep != w.entrypoint {
			t.Errorf("%s: entrypoint %q, want %q", d.Name, ep, w.entrypoint)
		}
		var e *imagebuild.Entry
		for _, l := range img.Layers {
			if x := l.Get(w.file); x != nil {
				e = x
			}
		}
		if e == nil || e.Type != tar.TypeReg || e.Mode != w.mode || e.UID != w.uid || e.GID != w.uid || e.Src != fake {
			t.Errorf("%s: %s = %+v, want mode %o owner %d", d.Name, w.file, e, w.mode, w.uid)
		}
	}
	for _, d := range Defs {
		if strings.Contains(d.Name, "standin") && !strings.Contains(d.What, "STAND-IN") {
			t.Errorf("%s must say it is a STAND-IN: %q", d.Name, d.What)
		}
		if d.Name == "proxy-standin" && !strings.Contains(d.What, "NOT Envoy") {
			t.Errorf("the proxy image must say it is not Envoy: %q", d.What)
		}
	}
}
