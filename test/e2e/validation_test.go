package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestBadManifestsRejected applies every manifest of test/validation/bad with
// kubectl (strict field validation by default) and expects the message its
// first line announces. A file with two objects is an update: the first is
// applied and must be accepted, the second must be rejected.
func TestBadManifestsRejected(t *testing.T) {
	needCluster(t)
	t.Parallel()

	files, err := filepath.Glob(filepath.Join(repoRoot, "test/validation/bad/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in test/validation/bad: %v", err)
	}
	sort.Strings(files)
	ns := newNamespace(t, "e2e-bad")

	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		want, ok := strings.CutPrefix(first, "# want: ")
		if !ok || strings.TrimSpace(want) == "" {
			t.Errorf("%s: first line %q is not '# want: <message>'", filepath.Base(f), first)
			continue
		}
		want = strings.TrimSpace(want)
		var docs []string
		for _, d := range strings.Split(string(b), "\n---\n") {
			if strings.Contains(d, "kind:") {
				docs = append(docs, d)
			}
		}
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			switch len(docs) {
			case 1:
			case 2:
				out, errOut, err := kubectlRun(docs[0], "apply", "-n", ns, "-f", "-")
				if err != nil {
					t.Fatalf("the first object (the one updated) was rejected: %v\n%s%s", err, out, errOut)
				}
			default:
				t.Fatalf("%d objects; want 1 (create) or 2 (update)", len(docs))
			}
			out, errOut, err := kubectlRun(docs[len(docs)-1], "apply", "-n", ns, "-f", "-")
			if err == nil {
				t.Fatalf("kubectl apply accepted it:\n%s", out)
			}
			if !strings.Contains(errOut, want) {
				t.Errorf("kubectl apply rejected it, but without %q:\n%s", want, errOut)
			}
		})
	}
}
