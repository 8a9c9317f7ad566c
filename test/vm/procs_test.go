package vm

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "VIRTMESH_VM_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "proxy" {
		if err := runProxy(); err != nil {
			fmt.Fprintln(os.Stderr, "proxy:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// bins are the binaries the namespaces run, in a world-readable directory
// because they run as uids 107, 1000 and 1337: virt-launcher (static, as in
// the image and as copied into volume containers) and a copy of this test
// binary for the proxy stand-in.
var bins struct {
	once            sync.Once
	dir             string
	launcher, proxy string
	err             error
}

func binaries(t *testing.T) (launcher, proxy string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "virtmesh-vm-bin-")
		if bins.err != nil {
			return
		}
		if bins.err = os.Chmod(bins.dir, 0o755); bins.err != nil {
			return
		}
		bins.launcher = filepath.Join(bins.dir, "virt-launcher")
		cmd := exec.Command("go", "build", "-o", bins.launcher, "virtmesh.io/virtmesh/cmd/virt-launcher")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("building virt-launcher: %v\n%s", err, out)
			return
		}
		self, err := os.Executable()
		if err != nil {
			bins.err = err
			return
		}
		bins.proxy = filepath.Join(bins.dir, "proxy-standin")
		bins.err = copyFile(self, bins.proxy, 0o755)
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.launcher, bins.proxy
}

func copyFile(from, to string, mode os.FileMode) error {
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

// proc is a long-running process started inside a namespace, with its
// stdout and stderr collected separately.
type proc struct {
	name           string
	cmd            *exec.Cmd
	mu             sync.Mutex
	stdout, stderr strings.Builder
	done           chan struct{}
	waitErr        error
}

// startInNS forks args from a thread inside ns (empty: the test's own), so
// the child is born there, with uid/gid and ambient capabilities.
func startInNS(t *testing.T, ns, name string, uid uint32, ambient []uintptr, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uid, Gid: uid},
		AmbientCaps: ambient,
		Pdeathsig:   syscall.SIGKILL,
	}
	p.cmd.Stdout = writerFunc(func(b []byte) { p.mu.Lock(); p.stdout.Write(b); p.mu.Unlock() })
	p.cmd.Stderr = writerFunc(func(b []byte) { p.mu.Lock(); p.stderr.Write(b); p.mu.Unlock() })
	start := func() error { return p.cmd.Start() }
	if ns == "" {
		if err := start(); err != nil {
			t.Fatal(err)
		}
	} else {
		mustInNS(t, ns, start)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.out(), name, p.errText())
		}
	})
	return p
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

func (p *proc) out() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitFor polls stdout+stderr for substr.
func (p *proc) waitFor(t *testing.T, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out()+p.errText(), substr) {
		select {
		case <-p.done:
			if strings.Contains(p.out()+p.errText(), substr) {
				return
			}
			t.Fatalf("%s exited (%v) before printing %q", p.name, p.waitErr, substr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %s", p.name, substr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.name, timeout)
	}
	if p.waitErr == nil {
		return 0
	}
	if ee, ok := p.waitErr.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.name, p.waitErr)
	return -1
}
