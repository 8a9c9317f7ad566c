// Command images builds the local cluster's container images without a
// registry or a container engine (go run ./hack/images, make images):
// docker-archive tarballs in bin/images/<name>.tar, tagged
// localhost/virtmesh/<name>:dev, and bin/images/index.json listing them
// for `ctr -n k8s.io images import`. Each image is rebuilt only when its
// content hash changed (see internal/imagebuild); a warm run takes seconds.
//
// The images (Defs): the operator, virt-launcher (QEMU and iptables from
// this host's Debian packages), the test guest as a containerDisk, a
// productpage STAND-IN, the proxy STAND-IN (not Envoy: none can be had
// here), pause, istiod (Istio's pilot-discovery, built from the pinned
// module) and CoreDNS. Progress goes to stdout, one line per step;
// the builds' own output to bin/images/build.log.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"virtmesh.io/virtmesh/internal/imagebuild"
)

// goPackages are the repository's binaries the images ship, by name.
var goPackages = map[string]string{
	"manager":             ".",
	"virt-launcher":       "./cmd/virt-launcher",
	"pause":               "./hack/images/cmd/pause",
	"productpage-standin": "./hack/images/cmd/productpage-standin",
	"proxy-standin":       "./hack/images/cmd/proxy-standin",
}

func main() {
	root := flag.String("root", ".", "repository root")
	out := flag.String("out", "bin/images", "where the tarballs and index.json go (relative to -root)")
	only := flag.String("only", "", "comma-separated image names to build (default: all)")
	list := flag.Bool("list", false, "list the images and exit")
	flag.Parse()
	if *list {
		for _, d := range Defs {
			fmt.Printf("%-20s %-45s %s\n", d.Name, d.Ref, d.What)
		}
		return
	}
	if err := run(*root, *out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(root, out, only string) error {
	start := time.Now()
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	defs, err := selectDefs(only)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	// bin/ may be a link to another checkout's (worktrees share it): the
	// index names the tarballs by their real paths.
	if out, err = filepath.EvalSymlinks(out); err != nil {
		return err
	}
	logPath := filepath.Join(out, "build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	b := &builder{root: root, out: out, log: logf}

	in := Inputs{Bins: map[string]string{}, HostRoot: "/"}
	work, err := os.MkdirTemp("", "virtmesh-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var bins []string
	for _, d := range defs {
		for _, g := range d.GoBins {
			if !slices.Contains(bins, g) {
				bins = append(bins, g)
			}
		}
	}
	if len(bins) > 0 {
		err := b.step("go build "+strings.Join(bins, ", "), func() error {
			for _, name := range bins {
				in.Bins[name] = filepath.Join(work, name)
				if err := b.cmd([]string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", in.Bins[name], goPackages[name]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if slices.ContainsFunc(defs, func(d Def) bool { return d.Guest }) {
		in.GuestDisk = filepath.Join(root, "bin/guest/disk.img")
		// BUILD_GUEST_INSTALL=0: a missing package fails with its name
		// (hack/install-packages.sh installs them).
		if err := b.step("hack/build-guest.sh (the test guest; cached)", func() error {
			return b.cmd([]string{"BUILD_GUEST_INSTALL=0"}, "hack/build-guest.sh")
		}); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(defs, func(d Def) bool { return d.CoreDNS }) {
		in.CoreDNS = filepath.Join(root, "bin/coredns")
		if err := b.step("hack/build-bins.sh coredns (cached; a cold build takes minutes)", func() error {
			return b.cmd(nil, "hack/build-bins.sh", "coredns")
		}); err != nil {
			return err
		}
	}

	if slices.ContainsFunc(defs, func(d Def) bool { return d.Istiod }) {
		in.PilotDiscovery = filepath.Join(root, "bin/pilot-discovery")
		if err := b.step("hack/build-bins.sh pilot-discovery (cached; a cold build takes 20 minutes)", func() error {
			return b.cmd(nil, "hack/build-bins.sh", "pilot-discovery")
		}); err != nil {
			return err
		}
	}

	ix, err := imagebuild.ReadIndex(out)
	if err != nil {
		return err
	}
	for _, d := range defs {
		if err := b.image(d, in, ix); err != nil {
			return fmt.Errorf("%s: %w (log: %s)", d.Name, err, logPath)
		}
		if err := ix.Write(out); err != nil {
			return err
		}
	}
	fmt.Printf("images: %d images in %s (index.json; import: ctr -n k8s.io images import <tar>) in %s; log: %s\n",
		len(defs), rel(root, out), round(time.Since(start)), rel(root, logPath))
	return nil
}

func selectDefs(only string) ([]Def, error) {
	if only == "" {
		return Defs, nil
	}
	var defs []Def
	for _, name := range strings.Split(only, ",") {
		i := slices.IndexFunc(Defs, func(d Def) bool { return d.Name == name })
		if i < 0 {
			var names []string
			for _, d := range Defs {
				names = append(names, d.Name)
			}
			return nil, fmt.Errorf("no image %q (known: %s)", name, strings.Join(names, ", "))
		}
		defs = append(defs, Defs[i])
	}
	return defs, nil
}

type builder struct {
	root, out string
	log       io.Writer
}

// step runs fn with one progress line: what, then how long it took.
func (b *builder) step(what string, fn func() error) error {
	fmt.Printf("images: %s ... ", what)
	fmt.Fprintf(b.log, "== %s\n", what)
	t := time.Now()
	if err := fn(); err != nil {
		fmt.Println("FAILED")
		return err
	}
	fmt.Println(round(time.Since(t)))
	return nil
}

// cmd runs a command in the repository root with its output in the log.
func (b *builder) cmd(env []string, args ...string) error {
	fmt.Fprintf(b.log, "$ %s %s\n", strings.Join(env, " "), strings.Join(args, " "))
	c := exec.Command(args[0], args[1:]...)
	c.Dir = b.root
	c.Env = append(os.Environ(), env...)
	c.Stdout, c.Stderr = b.log, b.log
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w (see the log)", strings.Join(args, " "), err)
	}
	return nil
}

// image builds one image unless the index says its tarball has the same
// content hash.
func (b *builder) image(d Def, in Inputs, ix *imagebuild.Index) error {
	t := time.Now()
	img, err := d.Make(in)
	if err != nil {
		return err
	}
	img.Ref = d.Ref
	if img.Config.Labels == nil {
		img.Config.Labels = labels(d.Name, d.What)
	}
	key, err := img.Key()
	if err != nil {
		return err
	}
	tarPath := filepath.Join(b.out, d.Name+".tar")
	if old := ix.Get(d.Name); old != nil && old.Hash == key && old.Tar == tarPath {
		if fi, err := os.Stat(tarPath); err == nil && fi.Size() == old.Size {
			fmt.Printf("images: %-20s %-42s up to date  %6s  %s\n", d.Name, d.Ref, round(time.Since(t)), mib(old.Size))
			fmt.Fprintf(b.log, "== %s up to date (%s)\n", d.Name, key)
			return nil
		}
	}
	built, err := img.Build()
	if err != nil {
		return err
	}
	size, err := imagebuild.WriteTarball(tarPath, d.Ref, built)
	if err != nil {
		return err
	}
	id, err := built.ConfigName()
	if err != nil {
		return err
	}
	ix.Put(imagebuild.IndexEntry{Name: d.Name, Ref: d.Ref, Tar: tarPath, Hash: key, ID: id.String(), Size: size})
	fmt.Printf("images: %-20s %-42s built       %6s  %s\n", d.Name, d.Ref, round(time.Since(t)), mib(size))
	for i, l := range img.Layers {
		n, _ := l.Size()
		fmt.Fprintf(b.log, "== %s layer %d %q: %d entries, %s of files\n", d.Name, i, l.Comment, len(l.Entries()), mib(n))
	}
	fmt.Fprintf(b.log, "== %s built: %s, %s, id %s, key %s\n", d.Name, tarPath, mib(size), id, key)
	return nil
}

func round(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
