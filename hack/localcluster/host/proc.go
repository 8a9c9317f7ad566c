// Package host changes and inspects the machine the local cluster runs on:
// it performs the journal's undo steps (processes, cgroups, mounts, files,
// iptables chains, links, sysctls) and takes the snapshots that prove a
// teardown left the host as it was. Linux only; most of it needs root.
package host

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a running process as /proc shows it.
type Process struct {
	PID       int
	StartTime uint64
	Args      []string
}

// Name is the base name of the process's argv[0].
func (p Process) Name() string {
	if len(p.Args) == 0 {
		return ""
	}
	return filepath.Base(p.Args[0])
}

func (p Process) String() string {
	return fmt.Sprintf("pid %d: %s", p.PID, strings.Join(p.Args, " "))
}

// StartTime is field 22 of /proc/<pid>/stat (clock ticks since boot): with
// the pid it identifies a process across pid reuse.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStartTime(string(b))
}

func parseStartTime(stat string) (uint64, error) {
	// The command name (field 2) may hold spaces and parentheses: count
	// from the last ")".
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Processes lists every process (those that vanish while listing are left out).
func Processes() ([]Process, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		st, err := StartTime(pid)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		out = append(out, Process{PID: pid, StartTime: st, Args: args})
	}
	return out, nil
}

// Alive reports whether pid is still the process that started at startTime
// (0: any process with that pid) and not a zombie.
func Alive(pid int, startTime uint64) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
		if f := strings.Fields(string(b[i+1:])); len(f) > 0 && f[0] == "Z" {
			return false
		}
	}
	if startTime == 0 {
		return true
	}
	st, err := parseStartTime(string(b))
	return err == nil && st == startTime
}

// Stop sends SIGTERM to pid (if it is still the process that started at
// startTime), waits up to grace for it to go, then SIGKILLs it and waits for
// it to be gone. A process that is already gone is success.
func Stop(pid int, startTime uint64, grace time.Duration) error {
	if pid <= 1 {
		return fmt.Errorf("refusing to stop pid %d", pid)
	}
	if !Alive(pid, startTime) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(pid, startTime, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, startTime, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d survives SIGKILL", pid)
}

func waitGone(pid int, startTime uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		// Reap it if it is our child (a process `up` started in the same run).
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if !Alive(pid, startTime) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopByArg stops every process named name (argv[0]'s base name) whose
// arguments include arg, in parallel.
func StopByArg(name, arg string, grace time.Duration) error {
	procs, err := Processes()
	if err != nil {
		return err
	}
	var errs []error
	done := make(chan error)
	n := 0
	for _, p := range procs {
		if p.Name() != name || !containsArg(p.Args, arg) {
			continue
		}
		n++
		go func(p Process) { done <- Stop(p.PID, p.StartTime, grace) }(p)
	}
	for range n {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func containsArg(args []string, arg string) bool {
	for _, a := range args {
		if NamesPath(a, arg) {
			return true
		}
	}
	return false
}

// NamesPath reports whether s (an argument, or a whole command line) names
// path or something under it: path at the start or after a separator or
// "=", followed by the end, a slash, or a separator. A bare substring is not
// enough: /tmp/x.sh does not name the
// work directory /tmp/x, and its process must be neither stopped nor
// reported as left behind.
func NamesPath(s, path string) bool {
	if path == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(s[i:], path)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(path)
		before := start == 0 || strings.ContainsRune(" =,:;\"'", rune(s[start-1]))
		after := end == len(s) || strings.ContainsRune("/ ,:;\"'", rune(s[end]))
		if before && after {
			return true
		}
		i += j + 1
	}
}

// Cmdline is the command line of pid with NULs as spaces ("" if gone).
func Cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}
