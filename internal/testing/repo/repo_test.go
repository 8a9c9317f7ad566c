package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoot(t *testing.T) {
	tmp := t.TempDir()
	mk := func(dir, gomod string) string {
		t.Helper()
		p := filepath.Join(tmp, dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if gomod != "" {
			if err := os.WriteFile(filepath.Join(p, "go.mod"), []byte(gomod), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	root := mk("vm", "module virtmesh.io/virtmesh\n\ngo 1.25\n")
	mk("vm/test/istio", "module virtmesh.io/virtmesh/test/istio\n")
	deep := mk("vm/test/istio/sub", "")
	outside := mk("other", "module example.com/other\n")

	for _, dir := range []string{root, deep} {
		got, err := Root(dir)
		if err != nil || got != root {
			t.Errorf("Root(%s) = %q, %v; want %q", dir, got, err, root)
		}
	}
	if got, err := Root(outside); err == nil || !strings.Contains(err.Error(), "inside the VirtMesh repository") {
		t.Errorf("Root(%s) = %q, %v; want an error", outside, got, err)
	}
}

func TestRootFromWorkingDir(t *testing.T) {
	got, err := RootFromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(got, "internal", "testing", "repo", "repo.go")); err != nil {
		t.Errorf("RootFromWorkingDir() = %q, which does not hold this package: %v", got, err)
	}
}
