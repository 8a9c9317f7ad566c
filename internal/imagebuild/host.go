package imagebuild

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// LibDirs are the directories the dynamic loader searches, in its order,
// on Debian amd64 (multiarch first), and where [Host.AddELF] and
// [CheckLibraries] look for DT_NEEDED libraries after DT_RUNPATH.
var LibDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// maxLinks bounds symlink chains, as the kernel's ELOOP does.
const maxLinks = 40

// Host copies files of a host root filesystem into a layer at the same
// paths, the way they are laid out there: every symlink on the way is
// written as a symlink (Debian's merged /usr: /lib -> usr/lib) and its
// target copied too, files and directories keep their host permissions
// and are owned by root. AddELF adds a program or library with its
// shared-library closure.
type Host struct {
	// Root is the host root the paths are relative to ("/" when empty; a
	// directory in tests).
	Root  string
	Layer *Layer

	elfDone map[string]bool
}

// NewHost copies from root into layer.
func NewHost(root string, layer *Layer) *Host {
	if root == "" {
		root = "/"
	}
	return &Host{Root: root, Layer: layer, elfDone: map[string]bool{}}
}

func (h *Host) hostPath(p string) string { return filepath.Join(h.Root, p) }

// Add copies the host path p (absolute) and returns its resolved path,
// without symlinks. A directory is added as a directory, not with its
// contents (see [Host.AddTree]).
func (h *Host) Add(p string) (string, error) {
	return h.add(clean(p), 0)
}

func (h *Host) add(p string, depth int) (string, error) {
	if depth > maxLinks {
		return "", fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	cur := "/"
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		fi, err := os.Lstat(h.hostPath(next))
		if err != nil {
			return "", err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(h.hostPath(next))
			if err != nil {
				return "", err
			}
			h.Layer.Symlink(next, target)
			abs := target
			if !path.IsAbs(target) {
				abs = path.Join(cur, target)
			}
			resolved, err := h.add(clean(abs), depth+1)
			if err != nil {
				return "", fmt.Errorf("%s -> %s: %w", next, target, err)
			}
			cur = resolved
		case fi.IsDir():
			if e := h.Layer.Get(next); e == nil {
				h.Layer.Dir(next, perm(fi.Mode()), 0, 0)
			}
			cur = next
		case fi.Mode().IsRegular():
			if i != len(parts)-1 {
				return "", fmt.Errorf("%s: not a directory", next)
			}
			h.Layer.CopyFile(next, h.hostPath(next), perm(fi.Mode()), 0, 0)
			cur = next
		default:
			return "", fmt.Errorf("%s: unsupported file type %v", next, fi.Mode().Type())
		}
	}
	return cur, nil
}

// AddTree copies everything under the host directory dir, keeping the
// files for which keep returns true (nil keeps all).
func (h *Host) AddTree(dir string, keep func(p string) bool) error {
	resolved, err := h.Add(dir)
	if err != nil {
		return err
	}
	return filepath.WalkDir(h.hostPath(resolved), func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(h.Root, hp)
		if err != nil {
			return err
		}
		p := clean(rel)
		if d.IsDir() || (keep != nil && !keep(p)) {
			return nil
		}
		_, err = h.Add(p)
		return err
	})
}

// AddELF copies the program or library p and, when it is a dynamically
// linked ELF file, its interpreter and every DT_NEEDED library,
// recursively, found as the loader would (DT_RUNPATH/DT_RPATH, then
// [LibDirs]). A library that cannot be found is an error naming who needs
// it. Libraries loaded with dlopen (QEMU's accelerator modules, iptables'
// extensions) are not seen here: add them with AddELF too.
func (h *Host) AddELF(p string) error {
	resolved, err := h.Add(p)
	if err != nil {
		return err
	}
	if h.elfDone[resolved] {
		return nil
	}
	h.elfDone[resolved] = true
	deps, err := elfDeps(h.hostPath(resolved))
	if err != nil || deps == nil {
		return err
	}
	if deps.interp != "" {
		if _, err := h.Add(deps.interp); err != nil {
			return fmt.Errorf("interpreter of %s: %w", p, err)
		}
	}
	for _, lib := range deps.needed {
		found := ""
		for _, dir := range deps.searchDirs(resolved) {
			if isFileIn(h.Root, path.Join(dir, lib)) {
				found = path.Join(dir, lib)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("%s needs %s, which is in none of %v", p, lib, deps.searchDirs(resolved))
		}
		if err := h.AddELF(found); err != nil {
			return err
		}
	}
	return nil
}

type elfInfo struct {
	interp  string
	needed  []string
	runpath []string
}

// searchDirs is where the loader looks for the libraries of the ELF file
// at p (a resolved image path).
func (e *elfInfo) searchDirs(p string) []string {
	var dirs []string
	for _, rp := range e.runpath {
		dirs = append(dirs, strings.ReplaceAll(strings.ReplaceAll(rp, "${ORIGIN}", path.Dir(p)), "$ORIGIN", path.Dir(p)))
	}
	return append(dirs, LibDirs...)
}

// elfDeps reads an ELF file's interpreter, DT_NEEDED and run paths; it
// returns nil for files that are not ELF or not dynamically linked.
func elfDeps(file string) (*elfInfo, error) {
	f, err := elf.Open(file)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, nil // a script, data
		}
		return nil, err
	}
	defer f.Close()
	info := &elfInfo{}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return nil, fmt.Errorf("%s: reading PT_INTERP: %w", file, err)
			}
			info.interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if f.Section(".dynamic") == nil {
		return nil, nil // static
	}
	if info.needed, err = f.ImportedLibraries(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, err := f.DynString(tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, v := range vals {
			info.runpath = append(info.runpath, strings.Split(v, ":")...)
		}
	}
	return info, nil
}

// CheckLibraries checks a root filesystem (an extracted image) the way the
// dynamic loader would use it: every dynamically linked ELF file under
// root must find its interpreter and each DT_NEEDED library inside root,
// symlinks resolved within root. It returns one line per missing piece
// ("usr/bin/qemu-img: libaio.so.1 not found"), sorted.
func CheckLibraries(root string) ([]string, error) {
	var missing []string
	err := filepath.WalkDir(root, func(hp string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(root, hp)
		if err != nil {
			return err
		}
		deps, err := elfDeps(hp)
		if err != nil || deps == nil {
			return err
		}
		p := clean(rel)
		if deps.interp != "" {
			if !isFileIn(root, deps.interp) {
				missing = append(missing, fmt.Sprintf("%s: interpreter %s not found", p, deps.interp))
			}
		}
		for _, lib := range deps.needed {
			found := false
			for _, dir := range deps.searchDirs(p) {
				if isFileIn(root, path.Join(dir, lib)) {
					found = true
					break
				}
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%s: %s not found", p, lib))
			}
		}
		return nil
	})
	sort.Strings(missing)
	return missing, err
}

// ResolveIn resolves p inside the directory root as if root were "/"
// (absolute symlink targets stay inside root) and returns the host path
// of an existing file.
func ResolveIn(root, p string) (string, error) {
	cur := "/"
	todo := strings.Split(strings.TrimPrefix(clean(p), "/"), "/")
	links := 0
	for len(todo) > 0 {
		part := todo[0]
		todo = todo[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		links++
		if links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		todo = append(strings.Split(strings.Trim(target, "/"), "/"), todo...)
	}
	return filepath.Join(root, cur), nil
}

// isFileIn reports whether p names a regular file inside root.
func isFileIn(root, p string) bool {
	hp, err := ResolveIn(root, p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(hp)
	return err == nil && fi.Mode().IsRegular()
}
