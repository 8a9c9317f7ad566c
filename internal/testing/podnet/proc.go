package podnet

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a long-running process started inside a namespace by
// [StartInNS], with its stdout and stderr collected separately. It is
// killed at the test's cleanup if still running, and its output is logged
// if the test failed.
type Proc struct {
	// Name labels the process in failures and logs.
	Name string
	// Cmd is the running command (Cmd.Process to signal it).
	Cmd *exec.Cmd

	mu             sync.Mutex
	stdout, stderr strings.Builder
	done           chan struct{}
	waitErr        error
}

// StartInNS forks args from a thread inside ns (empty: the test's own), so
// the child is born there, as uid/gid uid with the given ambient
// capabilities (none for nil) and env added to the test's environment. The
// child gets SIGKILL if the test process dies.
func StartInNS(t *testing.T, ns, name string, uid uint32, ambient []uintptr, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{})}
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uid, Gid: uid},
		AmbientCaps: ambient,
		Pdeathsig:   syscall.SIGKILL,
	}
	p.Cmd.Stdout = writerFunc(func(b []byte) { p.mu.Lock(); p.stdout.Write(b); p.mu.Unlock() })
	p.Cmd.Stderr = writerFunc(func(b []byte) { p.mu.Lock(); p.stderr.Write(b); p.mu.Unlock() })
	start := func() error { return p.Cmd.Start() }
	if ns == "" {
		if err := start(); err != nil {
			t.Fatal(err)
		}
	} else {
		MustInNS(t, ns, start)
	}
	go func() { p.waitErr = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.Stdout(), name, p.Stderr())
		}
	})
	return p
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// Stdout is what the process has written to stdout so far.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// Stderr is what the process has written to stderr (its log) so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// poll calls found every interval until it reports true, the process has
// exited without it (one last look after the exit), or timeout passes;
// fail reports the last two cases.
func (p *Proc) poll(t *testing.T, timeout, interval time.Duration, found func() bool, fail func(exited bool)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !found() {
		if p.exited() {
			if found() {
				return
			}
			fail(true)
			return
		}
		if time.Now().After(deadline) {
			fail(false)
			return
		}
		time.Sleep(interval)
	}
}

// WaitLine waits for a complete stdout line starting with prefix (the
// process's own readiness signal) and returns it.
func (p *Proc) WaitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	var line string
	p.poll(t, timeout, 20*time.Millisecond, func() bool {
		out := p.Stdout()
		if i := strings.LastIndexByte(out, '\n'); i >= 0 {
			for _, l := range strings.Split(out[:i], "\n") {
				if strings.HasPrefix(l, prefix) {
					line = l
					return true
				}
			}
		}
		return false
	}, func(exited bool) {
		if exited {
			t.Fatalf("process exited before printing %q; stderr:\n%s", prefix, p.Stderr())
		}
		t.Fatalf("no %q line within %s; stderr:\n%s", prefix, timeout, p.Stderr())
	})
	return line
}

// WaitStderr polls the process's log (stderr) for a message: its readiness
// signal.
func (p *Proc) WaitStderr(t *testing.T, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Stderr(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %s; log:\n%s", substr, timeout, p.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitFor polls stdout and stderr for substr; the process exiting without
// printing it fails the test at once.
func (p *Proc) WaitFor(t *testing.T, substr string, timeout time.Duration) {
	t.Helper()
	seen := func() bool { return strings.Contains(p.Stdout()+p.Stderr(), substr) }
	p.poll(t, timeout, 50*time.Millisecond, seen, func(exited bool) {
		if exited {
			t.Fatalf("%s exited (%v) before printing %q", p.Name, p.waitErr, substr)
		}
		t.Fatalf("%s: no %q within %s", p.Name, substr, timeout)
	})
}

// Wait waits for the process to exit and returns its exit code.
func (p *Proc) Wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.Name, timeout)
	}
	if p.waitErr == nil {
		return 0
	}
	if ee, ok := p.waitErr.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.Name, p.waitErr)
	return -1
}
