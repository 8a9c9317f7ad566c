package e2e

import (
	"path/filepath"
	"testing"

	"virtmesh.io/virtmesh/internal/testing/badmanifest"
)

// TestBadManifestsRejected applies every manifest of test/validation/bad with
// kubectl (strict field validation by default) and expects the message its
// first line announces. A file with two objects is an update: the first is
// applied and must be accepted, the second must be rejected.
func TestBadManifestsRejected(t *testing.T) {
	t.Parallel()

	cases, err := badmanifest.Load(filepath.Join(repoRoot, "test/validation/bad"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no manifests in test/validation/bad: %v", err)
	}
	ns := newNamespace(t, "e2e-bad")

	for _, c := range cases {
		c, docs := c, c.Docs
		t.Run(c.Name, func(t *testing.T) {
			if len(docs) == 2 {
				out, errOut, err := kubectlRun(docs[0], "apply", "-n", ns, "-f", "-")
				if err != nil {
					t.Fatalf("the first object (the one updated) was rejected: %v\n%s%s", err, out, errOut)
				}
			}
			out, errOut, err := kubectlRun(docs[len(docs)-1], "apply", "-n", ns, "-f", "-")
			if err == nil {
				t.Fatalf("kubectl apply accepted it:\n%s", out)
			}
			if missing := c.Missing(errOut); len(missing) > 0 {
				t.Errorf("kubectl apply rejected it, but without %q:\n%s", missing, errOut)
			}
		})
	}
}
