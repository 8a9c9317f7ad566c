// Package golden compares test output with files under a package's testdata/
// and rewrites them when the test binary runs with -update:
//
//	go test ./internal/dataplane -update
//
// Goldens guard against regressions only; what a golden shows is proven
// correct by the suites that feed it to the real consumer.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ instead of comparing with them")

// Updating reports whether -update was given.
func Updating() bool { return *update }

// Assert compares got with the file at path (relative to the package, e.g.
// testdata/x.golden), or writes got there under -update.
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); rerun with -update if the change is intended:\n%s", path, diff)
	}
}

// AssertDir compares the files of dir with files (name -> content), or
// replaces dir's content with them under -update.
func AssertDir(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	if !*update {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("%v (run the test with -update to create it)", err)
		}
		for _, e := range ents {
			if _, ok := files[e.Name()]; !ok {
				t.Errorf("%s has %s, which is no longer produced; rerun with -update", dir, e.Name())
			}
		}
	}
	for name, data := range files {
		Assert(t, filepath.Join(dir, name), data)
	}
}
