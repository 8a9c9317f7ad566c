package dataplane

import (
	"bufio"
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

const helperEnv = "VIRTMESH_DATAPLANE_HELPER"

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

// bins holds the binaries the namespaces run: our virt-launcher, built
// once, and a copy of this test binary for the proxy stand-in. They live in
// a world-readable directory because they run as uid 107 and 1337.
var bins struct {
	once            sync.Once
	dir             string
	launcher, proxy string
	err             error
}

func binaries(t *testing.T) (launcher, proxy string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "virtmesh-dataplane-")
		if bins.err != nil {
			return
		}
		if bins.err = os.Chmod(bins.dir, 0o755); bins.err != nil {
			return
		}
		bins.launcher = filepath.Join(bins.dir, "virt-launcher")
		out, err := exec.Command("go", "build", "-o", bins.launcher, "virtmesh.io/virtmesh/cmd/virt-launcher").CombinedOutput()
		if err != nil {
			bins.err = fmt.Errorf("building virt-launcher: %v\n%s", err, out)
			return
		}
		self, err := os.Executable()
		if err != nil {
			bins.err = err
			return
		}
		bins.proxy = filepath.Join(bins.dir, "proxy-standin")
		bins.err = copyFile(self, bins.proxy)
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.launcher, bins.proxy
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// proc is a long-running process started inside a namespace.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
	mu     sync.Mutex
}

// startInNS forks cmd from a thread inside ns, so the child is born there,
// with the given credentials and ambient capabilities (none for nil).
func startInNS(t *testing.T, ns string, uid uint32, ambient []uintptr, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(args[0], args[1:]...), lines: make(chan string, 100), stderr: &strings.Builder{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uid, Gid: uid, NoSetGroups: false},
		AmbientCaps: ambient,
		Pdeathsig:   syscall.SIGKILL,
	}
	p.cmd.Stderr = &lockedWriter{p: p}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	mustInNS(t, ns, func() error { return p.cmd.Start() })
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(args[0]), p.stderrText())
		}
	})
	return p
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitLine waits for a stdout line with the given prefix: the process's own
// readiness signal.
func (p *proc) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("process exited before printing %q; stderr:\n%s", prefix, p.stderrText())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q line within %s; stderr:\n%s", prefix, timeout, p.stderrText())
		}
	}
}

// waitStderr polls the process's log for a message: its readiness signal.
func (p *proc) waitStderr(t *testing.T, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stderrText(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %s; log:\n%s", substr, timeout, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
