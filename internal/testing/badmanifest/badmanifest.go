// Package badmanifest reads the manifests under test/validation/bad, which
// both the admission suite (against envtest) and the end-to-end suite (with
// kubectl) apply. Each file starts with a line "# want: <text>" naming what the
// rejection must say, followed by one object (rejected on create) or two
// (the first is created, the second is rejected as an update).
package badmanifest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Case is one bad manifest.
type Case struct {
	// Name is the file name without .yaml.
	Name string
	// Want is the text the rejection must contain.
	Want string
	// Docs are the YAML documents: one (create) or two (update).
	Docs []string
}

// Load reads every *.yaml in dir, sorted by name.
func Load(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	cases := make([]Case, 0, len(files))
	for _, f := range files {
		c, err := Read(f)
		if err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// Read reads one bad manifest and checks its format.
func Read(path string) (Case, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Case{}, err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".yaml")
	first, _, _ := strings.Cut(string(b), "\n")
	want, ok := strings.CutPrefix(first, "# want: ")
	if !ok || strings.TrimSpace(want) == "" {
		return Case{}, fmt.Errorf("%s: first line %q is not '# want: <expected error text>'", name, first)
	}
	var docs []string
	for _, d := range strings.Split(string(b), "\n---\n") {
		if strings.Contains(d, "kind:") {
			docs = append(docs, d)
		}
	}
	if len(docs) != 1 && len(docs) != 2 {
		return Case{}, fmt.Errorf("%s: %d objects; want 1 (create) or 2 (update)", name, len(docs))
	}
	return Case{Name: name, Want: strings.TrimSpace(want), Docs: docs}, nil
}
