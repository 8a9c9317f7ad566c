package podnet

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binaries are the programs the namespaces run: virt-launcher, built once
// per test binary, and a copy of the test binary itself that serves as the
// proxy stand-in (see [ServeProxyIfHelper]). They live in a world-readable
// directory because they run as unprivileged uids (107, 1000, 1337).
//
// A suite declares one as a package variable and calls [Binaries.Remove]
// from TestMain after m.Run.
type Binaries struct {
	// DirPrefix names the temporary directory (os.MkdirTemp's pattern).
	DirPrefix string
	// Static builds virt-launcher with CGO_ENABLED=0, as in the image and
	// as copied into volume containers.
	Static bool

	once            sync.Once
	dir             string
	launcher, proxy string
	err             error
}

// Get builds the binaries on first use and returns their paths.
func (b *Binaries) Get(t *testing.T) (launcher, proxy string) {
	t.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", b.DirPrefix)
		if b.err != nil {
			return
		}
		if b.err = os.Chmod(b.dir, 0o755); b.err != nil {
			return
		}
		b.launcher = filepath.Join(b.dir, "virt-launcher")
		cmd := exec.Command("go", "build", "-o", b.launcher, "virtmesh.io/virtmesh/cmd/virt-launcher")
		if b.Static {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building virt-launcher: %v\n%s", err, out)
			return
		}
		self, err := os.Executable()
		if err != nil {
			b.err = err
			return
		}
		b.proxy = filepath.Join(b.dir, "proxy-standin")
		b.err = CopyFile(self, b.proxy, 0o755)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.launcher, b.proxy
}

// Remove deletes the binaries' directory, if it was made.
func (b *Binaries) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// CopyFile copies a file's contents to a new or truncated file with mode.
func CopyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
