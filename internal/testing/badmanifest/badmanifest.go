// Package badmanifest reads the manifests under test/validation/bad and
// test/validation/kubevirt/rejected, which the admission suite (against
// envtest) and the end-to-end suite (with kubectl) apply. Each file starts
// with one or more lines "# want: <text>", each naming something the
// rejection must say, followed by one object (rejected on create) or two (the
// first is created, the second is rejected as an update).
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
	// Wants are the texts the rejection must contain, all of them.
	Wants []string
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
	var wants []string
	for _, line := range strings.Split(string(b), "\n") {
		want, ok := strings.CutPrefix(line, "# want: ")
		if !ok {
			break
		}
		if strings.TrimSpace(want) != "" {
			wants = append(wants, strings.TrimSpace(want))
		}
	}
	if len(wants) == 0 {
		first, _, _ := strings.Cut(string(b), "\n")
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
	return Case{Name: name, Wants: wants, Docs: docs}, nil
}

// Missing returns the wants that msg does not contain.
func (c Case) Missing(msg string) []string {
	var out []string
	for _, w := range c.Wants {
		if !strings.Contains(msg, w) {
			out = append(out, w)
		}
	}
	return out
}
