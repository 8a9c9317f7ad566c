package host

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SnapshotOptions says what a Snapshot looks at.
type SnapshotOptions struct {
	// Markers: a process belongs to the cluster when its command line
	// contains one of them (e.g. the work directory), or when it runs in a
	// kubepods cgroup.
	Markers []string
	// MountDirs: mounts at or below these are listed.
	MountDirs []string
	// Paths whose existence is recorded.
	Paths []string
	// Dirs whose entries are listed.
	Dirs []string
	// NetnsDir is where named network namespaces live (/run/netns).
	NetnsDir string
}

// Snapshot is the part of the host's state a local cluster may change.
type Snapshot struct {
	Processes []string
	Mounts    []string
	Netns     []string
	Links     []string
	// IPTables maps "iptables -t nat" to its rules (`-S`).
	IPTables map[string][]string
	// Cgroups maps each hierarchy's root to its top-level cgroups.
	Cgroups map[string][]string
	Sysctls map[string]string
	Paths   map[string]bool
	Dirs    map[string][]string
}

// Take records the host's state now. What cannot be read is an error.
func Take(o SnapshotOptions) (Snapshot, error) {
	s := Snapshot{IPTables: map[string][]string{}, Cgroups: map[string][]string{}, Paths: map[string]bool{}, Dirs: map[string][]string{}}
	procs, err := Processes()
	if err != nil {
		return s, err
	}
	for _, p := range procs {
		if p.PID == os.Getpid() {
			continue
		}
		if belongs(p, o.Markers) {
			s.Processes = append(s.Processes, p.String())
		}
	}
	ms, err := Mounts()
	if err != nil {
		return s, err
	}
	for _, m := range ms {
		for _, d := range o.MountDirs {
			if under(m.Point, d) {
				s.Mounts = append(s.Mounts, m.Point+" ("+m.FSType+")")
				break
			}
		}
	}
	sort.Strings(s.Mounts)
	if o.NetnsDir != "" {
		s.Netns = Entries(o.NetnsDir)
	}
	if s.Links, err = Links(); err != nil {
		return s, err
	}
	for _, cmd := range IPTablesCommands {
		for _, t := range IPTablesTables {
			rules, err := IPTablesRules(cmd, t)
			if err != nil {
				return s, err
			}
			sort.Strings(rules)
			s.IPTables[cmd+" -t "+t] = rules
		}
	}
	roots, err := CgroupRoots()
	if err != nil {
		return s, err
	}
	for _, r := range roots {
		var dirs []string
		ents, _ := os.ReadDir(r)
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, e.Name())
			}
		}
		s.Cgroups[r] = dirs
	}
	s.Sysctls = Sysctls()
	for _, p := range o.Paths {
		s.Paths[p] = Exists(p)
	}
	for _, d := range o.Dirs {
		s.Dirs[d] = Entries(d)
	}
	return s, nil
}

func belongs(p Process, markers []string) bool {
	cmd := strings.Join(p.Args, " ")
	for _, m := range markers {
		if m != "" && strings.Contains(cmd, m) {
			return true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PID))
	return err == nil && strings.Contains(string(b), "/kubepods")
}

// sysctlRoots are the trees of /proc/sys a node's components touch.
var sysctlRoots = []string{"kernel", "vm", "net/ipv4", "net/ipv6", "net/bridge", "net/netfilter", "net/core"}

// volatileSysctls change by themselves; they are left out.
var volatileSysctls = []string{
	"kernel/random/", "kernel/ns_last_pid", "kernel/pty/nr", "kernel/tainted",
	"kernel/perf_event_max_sample_rate", "net/netfilter/nf_conntrack_count",
	"kernel/sched_domain/", "vm/drop_caches", "vm/compact_memory", "vm/stat_refresh",
}

// Sysctls reads the sysctls of sysctlRoots (per-interface ones only for
// "all" and "default": interfaces come and go with pods).
func Sysctls() map[string]string {
	out := map[string]string{}
	for _, root := range sysctlRoots {
		base := filepath.Join("/proc/sys", root)
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			name := strings.TrimPrefix(p, "/proc/sys/")
			if d.IsDir() {
				parent := filepath.Base(filepath.Dir(p))
				if (parent == "conf" || parent == "neigh") && d.Name() != "all" && d.Name() != "default" {
					return filepath.SkipDir
				}
				return nil
			}
			for _, v := range volatileSysctls {
				if strings.HasPrefix(name, v) {
					return nil
				}
			}
			if v, err := ReadSysctl(name); err == nil {
				out[name] = v
			}
			return nil
		})
	}
	return out
}

// Diff lists every difference from before to after, one line each.
func Diff(before, after Snapshot) []string {
	var out []string
	setDiff := func(what string, a, b []string) {
		added, removed := diffSets(a, b)
		for _, x := range added {
			out = append(out, fmt.Sprintf("%s: new %s", what, x))
		}
		for _, x := range removed {
			out = append(out, fmt.Sprintf("%s: gone %s", what, x))
		}
	}
	setDiff("process", before.Processes, after.Processes)
	setDiff("mount", before.Mounts, after.Mounts)
	setDiff("netns", before.Netns, after.Netns)
	setDiff("link", before.Links, after.Links)
	for _, k := range keys(before.IPTables, after.IPTables) {
		setDiff(k, before.IPTables[k], after.IPTables[k])
	}
	for _, k := range keys(before.Cgroups, after.Cgroups) {
		setDiff("cgroup "+k, before.Cgroups[k], after.Cgroups[k])
	}
	for _, k := range keys(before.Sysctls, after.Sysctls) {
		a, aok := before.Sysctls[k]
		b, bok := after.Sysctls[k]
		if aok && bok && a != b {
			out = append(out, fmt.Sprintf("sysctl %s: %q -> %q", k, a, b))
		}
	}
	for _, k := range keys(before.Paths, after.Paths) {
		if before.Paths[k] != after.Paths[k] {
			out = append(out, fmt.Sprintf("path %s: exists %v -> %v", k, before.Paths[k], after.Paths[k]))
		}
	}
	for _, k := range keys(before.Dirs, after.Dirs) {
		setDiff("entry of "+k, before.Dirs[k], after.Dirs[k])
	}
	return out
}

func keys[V any](maps ...map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func diffSets(a, b []string) (added, removed []string) {
	in := func(xs []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	am, bm := in(a), in(b)
	for _, x := range b {
		if !am[x] {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !bm[x] {
			removed = append(removed, x)
		}
	}
	return added, removed
}
