// Package repo finds the VirtMesh checkout a suite, benchmark or hack
// program runs in, so they can reach bin/, hack/ and config/ whatever
// directory `go test` or `go run` started them in.
package repo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// modulePath is the line that marks VirtMesh's own go.mod (test/istio and
// the pinned tools under hack/tools have go.mod files of their own).
const modulePath = "module virtmesh.io/virtmesh\n"

// Root returns the first directory at or above dir whose go.mod is
// VirtMesh's.
func Root(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no virtmesh.io/virtmesh go.mod at or above " + dir + ": run it inside the VirtMesh repository")
		}
		dir = parent
	}
}

// RootFromWorkingDir is Root of the working directory.
func RootFromWorkingDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return Root(wd)
}
