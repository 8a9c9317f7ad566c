package containerdisk

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func qcow2Header(virtualSize uint64) []byte {
	h := make([]byte, 512)
	copy(h, qcow2Magic)
	binary.BigEndian.PutUint32(h[4:], 3)
	binary.BigEndian.PutUint64(h[24:], virtualSize)
	return h
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		name, data  string
		wantFormat  string
		wantSize    int64
		wantErrPart string
	}{
		{name: "raw", data: "hello raw disk", wantFormat: FormatRaw, wantSize: 14},
		{name: "qcow2", data: string(qcow2Header(1 << 30)), wantFormat: FormatQCOW2, wantSize: 1 << 30},
		{name: "empty", data: "", wantErrPart: "empty"},
		{name: "qcow2 zero size", data: string(qcow2Header(0)), wantErrPart: "implausible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s, err := DetectFormat(strings.NewReader(tc.data), int64(len(tc.data)))
			if tc.wantErrPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrPart) {
					t.Fatalf("err = %v, want %q", err, tc.wantErrPart)
				}
				return
			}
			if err != nil || f != tc.wantFormat || s != tc.wantSize {
				t.Errorf("= %q, %d, %v; want %q, %d", f, s, err, tc.wantFormat, tc.wantSize)
			}
		})
	}
}

func TestResolveDisk(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one")
	two := filepath.Join(dir, "two")
	for _, d := range []string{one, two} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(one, "a.img"), filepath.Join(two, "a.img"), filepath.Join(two, "b.img")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ in, want, errPart string }{
		{in: one, want: filepath.Join(one, "a.img")},
		{in: filepath.Join(one, "a.img"), want: filepath.Join(one, "a.img")},
		{in: two, errPart: "exactly one"},
		{in: filepath.Join(dir, "missing"), errPart: "no such file"},
	} {
		got, err := ResolveDisk(tc.in)
		if tc.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("ResolveDisk(%s) err = %v, want %q", tc.in, err, tc.errPart)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveDisk(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestHandOff runs a helper and fetches its fd twice, checks the fd reads
// the image and cannot write it, and that the helper ends once a consumer
// hangs up.
func TestHandOff(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk", "root.qcow2")
	if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
		t.Fatal(err)
	}
	content := qcow2Header(64 << 20)
	if err := os.WriteFile(img, content, 0o444); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "root.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Start the helper late: Wait must retry until it is up.
	type result struct {
		why string
		err error
	}
	done := make(chan result, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		h, err := Open(filepath.Dir(img), sock)
		if err != nil {
			done <- result{err: err}
			return
		}
		why, err := h.Serve(ctx)
		done <- result{why, err}
	}()
	var disks []*Disk
	for i := 0; i < 2; i++ {
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := Wait(wctx, sock)
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
		disks = append(disks, d)
		got := struct {
			Name, Format string
			Size         int64
		}{d.Name, d.Format, d.VirtualSize}
		want := struct {
			Name, Format string
			Size         int64
		}{"root.qcow2", FormatQCOW2, 64 << 20}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// The fd shares its offset with the helper's: read positionally, like QEMU.
		b, err := io.ReadAll(io.NewSectionReader(d.File, 0, int64(len(content))))
		if err != nil || string(b) != string(content) {
			t.Errorf("read through fd: %d bytes, %v", len(b), err)
		}
		if _, err := d.File.WriteAt([]byte("x"), 0); err == nil {
			t.Error("fd is writable; want read-only")
		}
	}
	select {
	case r := <-done:
		t.Fatalf("helper ended while its disk is in use: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	disks[0].Close()
	select {
	case r := <-done:
		if r.err != nil || r.why != "compute released the disk" {
			t.Errorf("Serve = %q, %v", r.why, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("helper still serving after its consumer hung up")
	}
	disks[1].Close()
}

func TestHelperEndsOnDoneFile(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, []byte("raw disk"), 0o444); err != nil {
		t.Fatal(err)
	}
	h, err := Open(img, filepath.Join(dir, "d.sock"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() { why, _ := h.Serve(context.Background()); done <- why }()
	if err := os.WriteFile(DoneFile(dir), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case why := <-done:
		if why != "compute is done" {
			t.Errorf("why = %q", why)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("helper ignored the done file")
	}
}

func TestWaitFailsFastOnHelperError(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "root.sock")
	if err := os.WriteFile(ErrorFile(sock), []byte("disk /disk: no such file or directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Wait(ctx, sock)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("Wait did not fail fast")
	}
}

func TestWaitTimesOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := Wait(ctx, filepath.Join(t.TempDir(), "none.sock")); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v", err)
	}
}

func TestOpenMissingDisk(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope"), filepath.Join(t.TempDir(), "s.sock"))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}
