package imagebuild

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"virtmesh.io/virtmesh/internal/testing/require"
)

// file is what a test expects of one tar entry.
type file struct {
	Type     byte
	Mode     int64
	UID, GID int
	Link     string
	Data     string
}

// readLayer reads a layer of a written image back into path -> file.
func readLayer(t *testing.T, l v1.Layer) map[string]file {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = file{Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Link: h.Linkname, Data: string(b)}
	}
}

func testImage(t *testing.T, hostFile string) *Image {
	base := NewLayer("base")
	base.File("/etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\n"), 0o644, 0, 0)
	base.Dir("/tmp", 0o1777, 0, 0)
	app := NewLayer("app")
	app.CopyFile("/usr/bin/app", hostFile, 0o755, 0, 0)
	app.Symlink("/bin", "usr/bin")
	app.Dir("/disk", 0o555, 107, 107)
	app.File("/disk/disk.img", []byte("DISK"), 0o440, 107, 107)
	return &Image{
		Ref:    "localhost/virtmesh/test:dev",
		Layers: []*Layer{base, app},
		Config: v1.Config{User: "107:107", Entrypoint: []string{"/usr/bin/app"}, Env: []string{"PATH=/usr/bin"}},
	}
}

// TestImageRoundTrip writes an image and reads it back with
// go-containerregistry: config, layers, and every entry's type, mode,
// owner, link and content, implicit parent directories included.
func TestImageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "app-binary")
	if err := os.WriteFile(host, []byte("#!/bin/true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := testImage(t, host)
	built, err := img.Build()
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "test.tar")
	size, err := WriteTarball(tarPath, img.Ref, built)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tarPath); err != nil || fi.Size() != size {
		t.Fatalf("tarball: %v, size %d vs %d", err, fi.Size(), size)
	}
	back, err := ReadTarball(tarPath, img.Ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if diff := cmp.Diff(img.Config, cfg.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	layers, err := back.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 || len(cfg.RootFS.DiffIDs) != 2 || len(cfg.History) != 2 || cfg.History[1].CreatedBy != "app" {
		t.Fatalf("%d layers, diff IDs %v, history %+v", len(layers), cfg.RootFS.DiffIDs, cfg.History)
	}
	for i, l := range img.Layers {
		want, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.RootFS.DiffIDs[i].String(); got != want {
			t.Errorf("layer %d diff ID %s, want %s", i, got, want)
		}
	}
	wantBase := map[string]file{
		"etc/":       {Type: tar.TypeDir, Mode: 0o755},
		"etc/passwd": {Type: tar.TypeReg, Mode: 0o644, Data: "root:x:0:0:root:/root:/sbin/nologin\n"},
		"tmp/":       {Type: tar.TypeDir, Mode: 0o1777},
	}
	if diff := cmp.Diff(wantBase, readLayer(t, layers[0])); diff != "" {
		t.Errorf("base layer (-want +got):\n%s", diff)
	}
	wantApp := map[string]file{
		"bin":           {Type: tar.TypeSymlink, Mode: 0o777, Link: "usr/bin"},
		"disk/":         {Type: tar.TypeDir, Mode: 0o555, UID: 107, GID: 107},
		"disk/disk.img": {Type: tar.TypeReg, Mode: 0o440, UID: 107, GID: 107, Data: "DISK"},
		"usr/":          {Type: tar.TypeDir, Mode: 0o755},
		"usr/bin/":      {Type: tar.TypeDir, Mode: 0o755},
		"usr/bin/app":   {Type: tar.TypeReg, Mode: 0o755, Data: "#!/bin/true\n"},
	}
	if diff := cmp.Diff(wantApp, readLayer(t, layers[1])); diff != "" {
		t.Errorf("app layer (-want +got):\n%s", diff)
	}
}

// TestKeyAndDigestFollowContent: the same inputs give the same key and
// image digest; changing a file's content, a mode or the config changes
// the key.
func TestKeyAndDigestFollowContent(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "app-binary")
	if err := os.WriteFile(host, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := func(img *Image) string {
		k, err := img.Key()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	digest := func(img *Image) string {
		b, err := img.Build()
		if err != nil {
			t.Fatal(err)
		}
		d, err := b.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a, b := testImage(t, host), testImage(t, host)
	if key(a) != key(b) || digest(a) != digest(b) {
		t.Fatalf("same inputs, different images: %s/%s %s/%s", key(a), key(b), digest(a), digest(b))
	}
	k0 := key(a)
	if err := os.WriteFile(host, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	k1 := key(a)
	c := testImage(t, host)
	c.Layers[1].File("/disk/disk.img", []byte("DISK"), 0o444, 107, 107)
	d := testImage(t, host)
	d.Config.User = "0"
	if k1 == k0 || key(c) == k1 || key(d) == k1 {
		t.Errorf("key did not change: content %v, mode %v, config %v", k1 != k0, key(c) != k1, key(d) != k1)
	}
}

func TestParentMustBeADirectory(t *testing.T) {
	l := NewLayer("bad")
	l.Symlink("/lib", "usr/lib")
	l.File("/lib/x", nil, 0o644, 0, 0)
	if err := l.WriteTar(io.Discard); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
}

// fakeRoot lays out a merged-/usr tree like Debian's.
func fakeRoot(t *testing.T) string {
	root := t.TempDir()
	for _, d := range []string{"usr/lib/x86_64-linux-gnu", "usr/bin", "etc/alternatives", "usr/share/fw"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, data string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	write("usr/lib/x86_64-linux-gnu/libfoo.so.1.2", "lib", 0o644)
	link("usr/lib/x86_64-linux-gnu/libfoo.so.1", "libfoo.so.1.2")
	link("lib", "usr/lib")
	write("usr/bin/tool-real", "tool", 0o755)
	link("etc/alternatives/tool", "/usr/bin/tool-real") // absolute: stays in root
	link("usr/bin/tool", "/etc/alternatives/tool")
	write("usr/share/fw/a.bin", "a", 0o644)
	write("usr/share/fw/b.rom", "b", 0o644)
	return root
}

// TestHostCopiesSymlinksOnTheWay: a host path is copied with every
// symlink it goes through, relative and absolute, and the files they
// point to.
func TestHostCopiesSymlinksOnTheWay(t *testing.T) {
	root := fakeRoot(t)
	l := NewLayer("host")
	h := NewHost(root, l)
	for p, want := range map[string]string{
		"/lib/x86_64-linux-gnu/libfoo.so.1": "/usr/lib/x86_64-linux-gnu/libfoo.so.1.2",
		"/usr/bin/tool":                     "/usr/bin/tool-real",
	} {
		got, err := h.Add(p)
		if err != nil || got != want {
			t.Errorf("Add(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
	if err := h.AddTree("/usr/share/fw", func(p string) bool { return strings.HasSuffix(p, ".rom") }); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range l.Entries() {
		got[e.Path] = string(e.Type) + " " + e.Link
	}
	want := map[string]string{
		"/lib":                                  "2 usr/lib",
		"/usr":                                  "5 ",
		"/usr/lib":                              "5 ",
		"/usr/lib/x86_64-linux-gnu":             "5 ",
		"/usr/lib/x86_64-linux-gnu/libfoo.so.1": "2 libfoo.so.1.2",
		"/usr/lib/x86_64-linux-gnu/libfoo.so.1.2": "0 ",
		"/usr/bin":               "5 ",
		"/usr/bin/tool":          "2 /etc/alternatives/tool",
		"/usr/bin/tool-real":     "0 ",
		"/etc":                   "5 ",
		"/etc/alternatives":      "5 ",
		"/etc/alternatives/tool": "2 /usr/bin/tool-real",
		"/usr/share":             "5 ",
		"/usr/share/fw":          "5 ",
		"/usr/share/fw/b.rom":    "0 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if e := l.Get("/usr/bin/tool-real"); e.Mode != 0o755 || e.UID != 0 || e.Src != filepath.Join(root, "usr/bin/tool-real") {
		t.Errorf("tool-real = %+v", e)
	}
}

func TestResolveInStaysInRoot(t *testing.T) {
	root := fakeRoot(t)
	got, err := ResolveIn(root, "/usr/bin/tool")
	if err != nil || got != filepath.Join(root, "usr/bin/tool-real") {
		t.Fatalf("ResolveIn = %q, %v", got, err)
	}
	if err := os.Symlink("/nonexistent-on-purpose", filepath.Join(root, "usr/bin/dangling")); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveIn(root, "/usr/bin/dangling"); err == nil {
		t.Fatal("dangling link resolved")
	}
	if err := os.Symlink("loop", filepath.Join(root, "usr/bin/loop")); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveIn(root, "/usr/bin/loop"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Fatalf("loop: %v", err)
	}
}

// TestELFClosureOfHostQEMUImg copies the host's qemu-img with its library
// closure into an image, extracts it, and checks the extracted tree with
// CheckLibraries; removing one library from the tree must be reported.
func TestELFClosureOfHostQEMUImg(t *testing.T) {
	require.Tools(t, "qemu-img")
	l := NewLayer("qemu-img")
	h := NewHost("/", l)
	if err := h.AddELF("/usr/bin/qemu-img"); err != nil {
		t.Fatal(err)
	}
	built, err := (&Image{Ref: "localhost/virtmesh/closure:test", Layers: []*Layer{l}}).Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Extract(built, dir); err != nil {
		t.Fatal(err)
	}
	missing, err := CheckLibraries(dir)
	if err != nil || len(missing) != 0 {
		t.Fatalf("closure incomplete: %v %v", err, missing)
	}
	for _, want := range []string{"usr/bin/qemu-img", "lib64", "usr/lib/x86_64-linux-gnu/libc.so.6"} {
		if _, err := os.Lstat(filepath.Join(dir, want)); err != nil {
			t.Errorf("%s missing from the closure: %v", want, err)
		}
	}
	glib, err := ResolveIn(dir, "/usr/lib/x86_64-linux-gnu/libglib-2.0.so.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(glib); err != nil {
		t.Fatal(err)
	}
	missing, err = CheckLibraries(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(missing, "\n"), "usr/bin/qemu-img: libglib-2.0.so.0 not found") {
		t.Fatalf("missing libglib not reported: %v", missing)
	}
}

func TestIndexPutReadWrite(t *testing.T) {
	dir := t.TempDir()
	ix, err := ReadIndex(dir)
	if err != nil || len(ix.Images) != 0 {
		t.Fatalf("empty dir: %+v, %v", ix, err)
	}
	ix.Put(IndexEntry{Name: "pause", Ref: "localhost/virtmesh/pause:dev", Hash: "sha256:1"})
	ix.Put(IndexEntry{Name: "operator", Ref: "localhost/virtmesh/operator:dev", Hash: "sha256:2"})
	ix.Put(IndexEntry{Name: "pause", Ref: "localhost/virtmesh/pause:dev", Hash: "sha256:3"})
	if err := ix.Write(dir); err != nil {
		t.Fatal(err)
	}
	back, err := ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ix, back); diff != "" || len(back.Images) != 2 || back.Images[0].Name != "operator" || back.Get("pause").Hash != "sha256:3" {
		t.Fatalf("index %+v (-put +read):\n%s", back, diff)
	}
}
