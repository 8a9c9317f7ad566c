// Package imagebuild writes container images without a registry or a
// container engine: a [Layer] is a list of files (inline content, host
// files, or host paths copied with their symlinks and shared-library
// closure), an [Image] is layers plus an OCI config, and [WriteTarball]
// writes a docker-archive tarball that `ctr images import` loads. Layers
// are byte-for-byte reproducible (sorted entries, fixed times, explicit
// owners), so an image's [Image.Key] says whether a tarball on disk is
// still current. It is built on go-containerregistry.
//
// It serves hack/images (the local cluster's images) and must stay out of
// the operator's and the launcher's import graphs (hack/verify-deps.sh).
package imagebuild

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// epoch is every entry's modification time: layers depend on content only.
var epoch = time.Unix(0, 0).UTC()

// Entry is one file, directory or symlink of a layer.
type Entry struct {
	// Path is absolute and clean ("/usr/bin/qemu-img").
	Path string
	// Type is tar.TypeReg, tar.TypeDir or tar.TypeSymlink.
	Type byte
	// Mode holds the permission bits, with setuid/setgid/sticky as in tar.
	Mode     int64
	UID, GID int
	// Link is a symlink's target, as written.
	Link string
	// Src is the host file a regular file's content is read from when the
	// layer is written; Data is the content when Src is empty.
	Src  string
	Data []byte
}

// Layer is a set of entries keyed by path. Parent directories that are not
// added explicitly are written as root-owned 0755 directories.
type Layer struct {
	// Comment is the layer's history entry ("virt-launcher", "QEMU from Debian").
	Comment string
	entries map[string]*Entry
}

// NewLayer returns an empty layer.
func NewLayer(comment string) *Layer {
	return &Layer{Comment: comment, entries: map[string]*Entry{}}
}

func clean(p string) string { return path.Clean("/" + p) }

func (l *Layer) put(e *Entry) {
	e.Path = clean(e.Path)
	l.entries[e.Path] = e
}

// Dir adds a directory.
func (l *Layer) Dir(p string, mode int64, uid, gid int) {
	l.put(&Entry{Path: p, Type: tar.TypeDir, Mode: mode, UID: uid, GID: gid})
}

// File adds a regular file with the given content.
func (l *Layer) File(p string, data []byte, mode int64, uid, gid int) {
	l.put(&Entry{Path: p, Type: tar.TypeReg, Mode: mode, UID: uid, GID: gid, Data: data})
}

// CopyFile adds the host file src at p; its content is read when the layer
// is written.
func (l *Layer) CopyFile(p, src string, mode int64, uid, gid int) {
	l.put(&Entry{Path: p, Type: tar.TypeReg, Mode: mode, UID: uid, GID: gid, Src: src})
}

// Symlink adds a root-owned symlink p -> target.
func (l *Layer) Symlink(p, target string) {
	l.put(&Entry{Path: p, Type: tar.TypeSymlink, Mode: 0o777, Link: target})
}

// Get returns the entry at p, or nil.
func (l *Layer) Get(p string) *Entry { return l.entries[clean(p)] }

// Entries returns every entry, implicit parent directories included, in
// the order they are written (sorted by path, so parents come first).
func (l *Layer) Entries() []*Entry {
	all := make(map[string]*Entry, len(l.entries))
	for p, e := range l.entries {
		all[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := l.entries[d]; !ok {
				all[d] = &Entry{Path: d, Type: tar.TypeDir, Mode: 0o755}
			}
		}
	}
	out := make([]*Entry, 0, len(all))
	for _, e := range all {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// WriteTar writes the layer as an uncompressed tar stream (paths relative,
// "usr/bin/qemu-img"), reproducibly: the same entries and contents give the
// same bytes.
func (l *Layer) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, e := range l.Entries() {
		for d := path.Dir(e.Path); d != "/"; d = path.Dir(d) {
			if p, ok := l.entries[d]; ok && p.Type != tar.TypeDir {
				return fmt.Errorf("%s: parent %s is not a directory", e.Path, d)
			}
		}
		if err := writeEntry(tw, e); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, e *Entry) error {
	h := &tar.Header{
		Name:     strings.TrimPrefix(e.Path, "/"),
		Typeflag: e.Type,
		Mode:     e.Mode,
		Uid:      e.UID,
		Gid:      e.GID,
		ModTime:  epoch,
	}
	switch e.Type {
	case tar.TypeDir:
		h.Name += "/"
		return tw.WriteHeader(h)
	case tar.TypeSymlink:
		h.Linkname = e.Link
		return tw.WriteHeader(h)
	case tar.TypeReg:
	default:
		return fmt.Errorf("unsupported entry type %q", e.Type)
	}
	if e.Src == "" {
		h.Size = int64(len(e.Data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(e.Data)
		return err
	}
	f, err := os.Open(e.Src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", e.Src)
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if n, err := io.Copy(tw, f); err != nil {
		return err
	} else if n != h.Size {
		return fmt.Errorf("%s changed while being written", e.Src)
	}
	return nil
}

// DiffID is the sha256 of the layer's tar stream ("sha256:…"), which is
// the layer's diff ID in the image config.
func (l *Layer) DiffID() (string, error) {
	h := sha256.New()
	if err := l.WriteTar(h); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Size is the total size of the layer's regular files (uncompressed).
func (l *Layer) Size() (int64, error) {
	var n int64
	for _, e := range l.entries {
		if e.Type != tar.TypeReg {
			continue
		}
		if e.Src == "" {
			n += int64(len(e.Data))
			continue
		}
		fi, err := os.Stat(e.Src)
		if err != nil {
			return 0, err
		}
		n += fi.Size()
	}
	return n, nil
}

// perm converts a host file mode to tar mode bits.
func perm(m fs.FileMode) int64 {
	p := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
