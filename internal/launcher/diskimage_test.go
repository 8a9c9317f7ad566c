package launcher

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// plenty is a claim with room for anything.
func plenty(string) (int64, error) { return 1 << 50, nil }

// logs collects the launcher's log lines.
type logs struct{ lines []string }

func (l *logs) logf(format string, a ...any) { l.lines = append(l.lines, fmt.Sprintf(format, a...)) }

func claim(t *testing.T, size int64, readOnly bool) podcontract.PersistentDisk {
	t.Helper()
	return podcontract.PersistentDisk{Volume: "data", Path: filepath.Join(t.TempDir(), podcontract.PVCDiskImageName), Size: size, ReadOnly: readOnly}
}

// allocated is the space a file really takes on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestPersistentDiskCreatedSparse(t *testing.T) {
	d := claim(t, 1<<30, false)
	var l logs
	p, err := preparePersistentDisk(d, plenty, l.logf)
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != d.Path || p.Format != "raw" || p.ReadOnly {
		t.Errorf("prepared %+v", p)
	}
	st, err := os.Stat(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 1<<30 || allocated(t, d.Path) > 1<<20 || st.Mode().Perm() != 0o660 {
		t.Errorf("disk.img: size %d, allocated %d, mode %v: want 1GiB, sparse, 0660", st.Size(), allocated(t, d.Path), st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(d.Path), ".*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// An existing disk.img is the guest's data: used as it is, whatever its size.
func TestPersistentDiskExistingIsKept(t *testing.T) {
	for name, size := range map[string]int64{"smaller": 4096, "larger": 8 << 20} {
		t.Run(name, func(t *testing.T) {
			d := claim(t, 1<<20, false)
			data := bytes.Repeat([]byte("guest data "), 100)
			if err := os.WriteFile(d.Path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(d.Path, size); err != nil {
				t.Fatal(err)
			}
			var l logs
			if _, err := preparePersistentDisk(d, plenty, l.logf); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(d.Path)
			if int64(len(got)) != size || !bytes.HasPrefix(got, data[:min(len(data), int(size))]) {
				t.Errorf("disk.img changed: %d bytes", len(got))
			}
			if name == "smaller" && !strings.Contains(strings.Join(l.lines, "\n"), "used as it is") {
				t.Errorf("no log line says the small disk is used as it is: %q", l.lines)
			}
		})
	}
}

// A half-created disk.img from a launcher killed earlier is never taken for
// the guest's disk: the temporary file is replaced.
func TestPersistentDiskLeftoverIgnored(t *testing.T) {
	d := claim(t, 1<<20, false)
	tmp := filepath.Join(filepath.Dir(d.Path), "."+podcontract.PVCDiskImageName+".creating")
	if err := os.WriteFile(tmp, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := preparePersistentDisk(d, plenty, (&logs{}).logf); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(d.Path); err != nil || st.Size() != 1<<20 {
		t.Errorf("disk.img %v, %v", st, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestPersistentDiskFreeSpace(t *testing.T) {
	const size = 100 << 20
	t.Run("within the tolerance: shrunk to the free space", func(t *testing.T) {
		d := claim(t, size, false)
		free := func(string) (int64, error) { return 95<<20 + 1234, nil }
		var l logs
		if _, err := preparePersistentDisk(d, free, l.logf); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(d.Path); st.Size() != 95<<20 {
			t.Errorf("size %d, want %d", st.Size(), 95<<20)
		}
		if !strings.Contains(strings.Join(l.lines, "\n"), "within the 10% tolerance") {
			t.Errorf("logs %q", l.lines)
		}
	})
	t.Run("beyond it: refused, saying what to do", func(t *testing.T) {
		d := claim(t, size, false)
		free := func(string) (int64, error) { return 50 << 20, nil }
		_, err := preparePersistentDisk(d, free, (&logs{}).logf)
		if err == nil || !strings.Contains(err.Error(), "has 52428800 bytes free, but disk.img needs 104857600") || !strings.Contains(err.Error(), "grow the claim or free space on it") {
			t.Errorf("err = %v", err)
		}
		if _, serr := os.Stat(d.Path); !os.IsNotExist(serr) {
			t.Errorf("disk.img created anyway: %v", serr)
		}
	})
}

func TestPersistentDiskErrors(t *testing.T) {
	t.Run("read-only claim without disk.img", func(t *testing.T) {
		_, err := preparePersistentDisk(claim(t, 1<<20, true), plenty, (&logs{}).logf)
		if err == nil || !strings.Contains(err.Error(), "does not exist and the claim is read-only") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("read-only claim with disk.img", func(t *testing.T) {
		d := claim(t, 1<<20, true)
		if err := os.WriteFile(d.Path, make([]byte, 4096), 0o400); err != nil {
			t.Fatal(err)
		}
		p, err := preparePersistentDisk(d, plenty, (&logs{}).logf)
		if err != nil || !p.ReadOnly || !p.ReadOnlyStorage {
			t.Errorf("prepared %+v, %v: want a read-only disk", p, err)
		}
	})
	t.Run("disk.img is a directory", func(t *testing.T) {
		d := claim(t, 1<<20, false)
		if err := os.Mkdir(d.Path, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := preparePersistentDisk(d, plenty, (&logs{}).logf)
		if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("claim not mounted", func(t *testing.T) {
		d := claim(t, 1<<20, false)
		d.Path = filepath.Join(d.Path, "missing", podcontract.PVCDiskImageName)
		_, err := preparePersistentDisk(d, statfsFree, (&logs{}).logf)
		if err == nil || !strings.Contains(err.Error(), "free space on the claim") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestEmptyDiskFreshEachRun(t *testing.T) {
	dir := t.TempDir()
	p, err := prepareEmptyDisk(dir, "scratch", resource.MustParse("10Mi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Path, []byte("last run's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = prepareEmptyDisk(dir, "scratch", resource.MustParse("1000"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p.Path)
	if len(got) != 1024 || bytes.Count(got, []byte{0}) != 1024 {
		t.Errorf("emptyDisk: %d bytes, want 1024 zero bytes (1000 rounded up to sectors)", len(got))
	}
	if p.Format != "raw" || p.ReadOnly || filepath.Dir(p.Path) != dir {
		t.Errorf("prepared %+v", p)
	}
	if _, err := prepareEmptyDisk(dir, "zero", resource.MustParse("0")); err == nil || !strings.Contains(err.Error(), "must be more than 0") {
		t.Errorf("zero capacity: err = %v", err)
	}
}
