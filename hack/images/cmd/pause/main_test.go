package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPauseRunsUntilTermOrInt builds the static pause binary the image
// ships and checks that it does nothing until SIGTERM or SIGINT and then
// exits 0 (the kubelet stops a sandbox with SIGTERM).
func TestPauseRunsUntilTermOrInt(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			var stderr strings.Builder
			cmd := exec.Command(bin)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				t.Fatalf("pause exited before any signal: %v\n%s", err, stderr.String())
			case <-time.After(500 * time.Millisecond):
			}
			// SIGCHLD (a child to reap) does not stop it.
			_ = cmd.Process.Signal(syscall.SIGCHLD)
			select {
			case err := <-done:
				t.Fatalf("pause exited on SIGCHLD: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("pause after %v: %v, want exit 0\n%s", sig, err, stderr.String())
				}
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("pause still running 5s after %v", sig)
			}
			if !strings.Contains(stderr.String(), "shutting down") {
				t.Errorf("stderr = %q", stderr.String())
			}
		})
	}
}
