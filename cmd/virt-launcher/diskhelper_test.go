package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyExecutable(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	dest := filepath.Join(dir, "helper", "virt-launcher")
	if err := os.WriteFile(src, []byte("\x7fELF binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	// Twice: a restarted init container overwrites its earlier copy.
	for i := 0; i < 2; i++ {
		if err := copyExecutable(src, dest); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(b, []byte("\x7fELF binary")) {
		t.Fatalf("copy = %q, %v", b, err)
	}
	fi, _ := os.Stat(dest)
	if fi.Mode().Perm() != 0o555 {
		t.Errorf("mode %v, want r-xr-xr-x", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(dest))
	if len(ents) != 1 {
		t.Errorf("leftover temp files: %v", ents)
	}
}

func TestComputeReadyProbe(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	if err := runComputeReady([]string{"--ready-file=" + ready}); err == nil {
		t.Error("probe succeeds without the ready file")
	}
	if err := os.WriteFile(ready, []byte("accel=tcg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runComputeReady([]string{"--ready-file=" + ready}); err != nil {
		t.Errorf("probe fails with the ready file: %v", err)
	}
}
