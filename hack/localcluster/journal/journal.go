// Package journal records how to undo what the local cluster did to the host,
// so that `down` can put the host back even after `up` or a component
// crashed half-way.
//
// Every component records an undo Step *before* the side effect it undoes
// (start a process, create a bridge, change a sysctl), so a crash between the
// two leaves a step whose target may not exist: every step is idempotent and
// treats "already gone" as done. The journal is a file of JSON lines, one
// per step, appended and fsynced; a torn last line (a crash mid-write) is
// ignored. Replay runs the steps newest first, marks each one done in the
// same file (a second, interrupted or repeated replay skips what is done),
// and removes the file once every step succeeded.
package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Kind names an undo action. The host package implements each.
type Kind string

// The undo actions.
const (
	// StopProcess stops PID (only if it is still the process that was started:
	// same start time), SIGTERM then SIGKILL after Grace.
	StopProcess Kind = "stop-process"
	// StopProcessesByArg stops every process whose executable's base name is
	// Name and whose command line contains Arg (containerd shims re-parented
	// to PID 1, found by their -address argument).
	StopProcessesByArg Kind = "stop-processes-by-arg"
	// KillCgroupProcesses SIGKILLs every process in the cgroup subtree Name
	// (e.g. "kubepods") of every cgroup hierarchy, until none is left.
	KillCgroupProcesses Kind = "kill-cgroup-processes"
	// RemoveCgroups removes the cgroup subtree Name from every hierarchy,
	// deepest first.
	RemoveCgroups Kind = "remove-cgroups"
	// Unmount unmounts every mount point at or below Path, deepest first.
	Unmount Kind = "unmount"
	// RemovePath removes Path recursively (after unmounting below it).
	RemovePath Kind = "remove-path"
	// RemoveNewEntries removes (after unmounting) the entries of directory
	// Path that match Pattern (a filepath.Match pattern, empty for any) and
	// are not in Keep (what was there before); when the directory did not
	// exist before (Existed false) and is then empty, it goes too.
	RemoveNewEntries Kind = "remove-new-entries"
	// DeleteIPTablesChains deletes, in every table of iptables and
	// ip6tables, the rules that jump to chains starting with Prefix, then
	// those chains.
	DeleteIPTablesChains Kind = "delete-iptables-chains"
	// DeleteLink deletes network interface Name.
	DeleteLink Kind = "delete-link"
	// RestoreSysctl writes Value back to sysctl Name (a path below /proc/sys).
	RestoreSysctl Kind = "restore-sysctl"
	// RunCommand runs Command (e.g. `kwokctl delete cluster`), which must be
	// idempotent itself.
	RunCommand Kind = "run-command"
)

// Step is one recorded undo action. Which fields matter depends on Kind.
type Step struct {
	// Seq numbers steps in the order they were recorded (from 1).
	Seq int `json:"seq"`
	// Component that recorded the step, for messages.
	Component string `json:"component"`
	Kind      Kind   `json:"kind"`

	PID       int           `json:"pid,omitempty"`
	StartTime uint64        `json:"startTime,omitempty"`
	Grace     time.Duration `json:"grace,omitempty"`

	Name    string   `json:"name,omitempty"`
	Arg     string   `json:"arg,omitempty"`
	Path    string   `json:"path,omitempty"`
	Pattern string   `json:"pattern,omitempty"`
	Keep    []string `json:"keep,omitempty"`
	Existed bool     `json:"existed,omitempty"`
	Prefix  string   `json:"prefix,omitempty"`
	Value   string   `json:"value,omitempty"`
	Command []string `json:"command,omitempty"`
}

func (s Step) String() string {
	var what string
	switch s.Kind {
	case StopProcess:
		what = fmt.Sprintf("stop %s (pid %d)", s.Name, s.PID)
	case StopProcessesByArg:
		what = fmt.Sprintf("stop every %s with %q", s.Name, s.Arg)
	case KillCgroupProcesses:
		what = fmt.Sprintf("kill the processes of cgroup %s", s.Name)
	case RemoveCgroups:
		what = fmt.Sprintf("remove cgroup %s", s.Name)
	case Unmount:
		what = fmt.Sprintf("unmount everything under %s", s.Path)
	case RemovePath:
		what = fmt.Sprintf("remove %s", s.Path)
	case RemoveNewEntries:
		what = fmt.Sprintf("remove new entries %s of %s", or(s.Pattern, "*"), s.Path)
	case DeleteIPTablesChains:
		what = fmt.Sprintf("delete iptables chains %s*", s.Prefix)
	case DeleteLink:
		what = fmt.Sprintf("delete link %s", s.Name)
	case RestoreSysctl:
		what = fmt.Sprintf("restore %s=%s", s.Name, s.Value)
	case RunCommand:
		what = "run " + strings.Join(s.Command, " ")
	default:
		what = string(s.Kind)
	}
	return fmt.Sprintf("#%d %s: %s", s.Seq, s.Component, what)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// line is one line of the file: a step, or a done marker for a step.
type line struct {
	Step *Step `json:"step,omitempty"`
	Done int   `json:"done,omitempty"`
}

// Journal appends steps to its file. It is safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	seq  int
}

// Open opens (or creates) the journal at path for appending; an existing
// journal is continued (its steps are kept and numbered on).
func Open(path string) (*Journal, error) {
	if err := dropTornLine(path); err != nil {
		return nil, err
	}
	steps, _, err := Read(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	j := &Journal{path: path, f: f}
	for _, s := range steps {
		j.seq = max(j.seq, s.Seq)
	}
	return j, nil
}

// dropTornLine cuts a last line that a crash left incomplete (no newline):
// its step was never recorded, so its side effect never started.
func dropTornLine(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || len(b) == 0 || b[len(b)-1] == '\n' {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Truncate(path, int64(strings.LastIndexByte(string(b), '\n')+1))
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Record appends s (numbered) and syncs the file before returning, so the
// step survives a crash of the caller right after.
func (j *Journal) Record(component string, s Step) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	s.Seq = j.seq
	s.Component = component
	return j.write(line{Step: &s})
}

func (j *Journal) write(l line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return j.f.Sync()
}

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }

// Read returns the journal's steps in recorded order and the set of steps
// already undone. A torn (unparsable) last line is ignored; an unparsable
// line before the last is an error.
func Read(path string) ([]Step, map[int]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return parse(f)
}

func parse(r io.Reader) ([]Step, map[int]bool, error) {
	var steps []Step
	done := map[int]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	var pendingErr error
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if pendingErr != nil {
			return nil, nil, pendingErr
		}
		var l line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			// Only acceptable as the last line (a write cut by a crash).
			pendingErr = fmt.Errorf("journal line %d: %w", n, err)
			continue
		}
		switch {
		case l.Step != nil:
			steps = append(steps, *l.Step)
		case l.Done > 0:
			done[l.Done] = true
		}
	}
	return steps, done, sc.Err()
}

// Undoer performs one step. Steps must be idempotent: a target that is
// already gone is success.
type Undoer interface {
	Undo(s Step) error
}

// UndoFunc adapts a function to Undoer.
type UndoFunc func(Step) error

// Undo calls f.
func (f UndoFunc) Undo(s Step) error { return f(s) }

// Replay undoes the journal at path: every step not yet done, newest first.
// A failed step is reported and the replay goes on (a later step may still
// free what an earlier one needs); each successful step is marked done in
// the file. When every step is done the file is removed. A missing journal
// is nothing to undo. logf, if not nil, is told about each step.
func Replay(path string, u Undoer, logf func(format string, args ...any)) error {
	steps, done, err := Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	j := &Journal{path: path, f: f}
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		if done[s.Seq] {
			continue
		}
		if logf != nil {
			logf("undo %s", s)
		}
		if err := u.Undo(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		if err := j.write(line{Done: s.Seq}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := f.Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return os.Remove(path)
}
