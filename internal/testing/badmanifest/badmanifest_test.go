package badmanifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	got, err := Read(write(t, dir, "01-update.yaml", "# want: spec is immutable \nkind: A\n---\nkind: B\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Case{Name: "01-update", Wants: []string{"spec is immutable"}, Docs: []string{"# want: spec is immutable \nkind: A", "kind: B\n"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	two, err := Read(write(t, dir, "02-two.yaml", "# want: first\n# want: second\nkind: A\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"first", "second"}, two.Wants); diff != "" {
		t.Errorf("wants (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"second"}, two.Missing("the first thing")); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
}

func TestReadRejectsBadFormat(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"no-header":  "kind: A\n",
		"empty-want": "# want:  \nkind: A\n",
		"no-object":  "# want: x\n",
		"three-objs": "# want: x\nkind: A\n---\nkind: B\n---\nkind: C\n",
	} {
		if _, err := Read(write(t, dir, name+".yaml", body)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: want an error naming the file, got %v", name, err)
		}
	}
}

func TestLoadRepositoryManifests(t *testing.T) {
	cases, err := Load(filepath.Join("..", "..", "..", "test", "validation", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Errorf("found %d bad manifests, want at least 30", len(cases))
	}
}
