package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func record(t *testing.T, j *Journal, component string, steps ...Step) {
	t.Helper()
	for _, s := range steps {
		if err := j.Record(component, s); err != nil {
			t.Fatal(err)
		}
	}
}

// names lists the Name (or Path) of each undone step, in undo order.
type recorder struct {
	got  []string
	fail map[string]bool
}

func (r *recorder) Undo(s Step) error {
	key := s.Name + s.Path
	r.got = append(r.got, key)
	if r.fail[key] {
		return errors.New("boom")
	}
	return nil
}

func TestReplayIsNewestFirstAndRemovesTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teardown.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// As `up` records them: sysctls first, then each component before its
	// side effects.
	record(t, j, "host", Step{Kind: RestoreSysctl, Name: "kernel/panic", Value: "0"})
	record(t, j, "containerd",
		Step{Kind: RemovePath, Path: "/run/containerd"},
		Step{Kind: StopProcessesByArg, Name: "containerd-shim-runc-v2"},
		Step{Kind: StopProcess, Name: "containerd", PID: 10})
	record(t, j, "kubelet",
		Step{Kind: RemoveCgroups, Name: "kubepods"},
		Step{Kind: KillCgroupProcesses, Name: "kubepods-procs"},
		Step{Kind: StopProcess, Name: "kubelet", PID: 11})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	r := &recorder{}
	if err := Replay(path, r, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"kubelet", "kubepods-procs", "kubepods", "containerd", "containerd-shim-runc-v2", "/run/containerd", "kernel/panic"}
	if diff := cmp.Diff(want, r.got); diff != "" {
		t.Errorf("undo order (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal is still there after a full replay: %v", err)
	}
	// Nothing left to undo: a second down is a no-op.
	r2 := &recorder{}
	if err := Replay(path, r2, nil); err != nil || len(r2.got) != 0 {
		t.Errorf("second replay: %v, undid %v", err, r2.got)
	}
}

func TestReplayGoesOnAfterAFailureAndRetriesOnlyWhatFailed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teardown.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	record(t, j, "c", Step{Kind: RemovePath, Path: "a"}, Step{Kind: RemovePath, Path: "b"}, Step{Kind: RemovePath, Path: "c"})
	j.Close()

	r := &recorder{fail: map[string]bool{"b": true}}
	err = Replay(path, r, nil)
	if err == nil || !strings.Contains(err.Error(), "#2 c: remove b: boom") {
		t.Fatalf("want the failed step in the error, got %v", err)
	}
	if diff := cmp.Diff([]string{"c", "b", "a"}, r.got); diff != "" {
		t.Errorf("first replay (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the journal must stay while a step failed: %v", err)
	}
	r2 := &recorder{}
	if err := Replay(path, r2, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b"}, r2.got); diff != "" {
		t.Errorf("second replay undoes only the failed step (-want +got):\n%s", diff)
	}
}

func TestATornLastLineIsIgnoredAndRecordingContinues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teardown.journal")
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	record(t, j, "etcd", Step{Kind: StopProcess, Name: "etcd", PID: 5, StartTime: 77})
	j.Close()
	// A crash in the middle of the next write.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"step":{"seq":2,"compo`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	steps, _, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{{Seq: 1, Component: "etcd", Kind: StopProcess, Name: "etcd", PID: 5, StartTime: 77}}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// `up` again after the crash drops the torn line and numbers on.
	j, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	record(t, j, "apiserver", Step{Kind: StopProcess, Name: "kube-apiserver", PID: 6})
	j.Close()
	steps, _, err = Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[1].Seq != 2 || steps[1].Name != "kube-apiserver" {
		t.Fatalf("after the torn line: %+v", steps)
	}
}

func TestADamagedLineInTheMiddleIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teardown.journal")
	if err := os.WriteFile(path, []byte("{\"step\":{\"seq\":1,\"kind\":\"remove-path\",\"path\":\"a\"}}\nxx\n{\"done\":1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a damaged line before the last must be an error, got %v", err)
	}
}

func TestOpenContinuesNumbering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teardown.journal")
	j, _ := Open(path)
	record(t, j, "a", Step{Kind: RemovePath, Path: "x"})
	j.Close()
	j, _ = Open(path)
	record(t, j, "b", Step{Kind: RemovePath, Path: "y"})
	j.Close()
	steps, _, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[1].Seq != 2 || steps[1].Component != "b" {
		t.Fatalf("got %+v", steps)
	}
}
