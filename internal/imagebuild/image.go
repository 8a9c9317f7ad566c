package imagebuild

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// keyVersion changes when the way images are laid out changes, so that
// every cached tarball is rebuilt.
const keyVersion = "imagebuild/1"

// Image is a container image to build: its layers, bottom first, and its
// runtime config (user, entrypoint, environment, labels).
type Image struct {
	// Ref is the image reference the tarball is tagged with
	// ("localhost/virtmesh/operator:dev").
	Ref    string
	Layers []*Layer
	Config v1.Config
}

// Key is a content hash of everything the image is made of: its
// reference, its config and the bytes of every layer. Two builds with the
// same key write the same image.
func (img *Image) Key() (string, error) {
	h := sha256.New()
	cfg, err := json.Marshal(img.Config)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%s\n%s\n%s\n", keyVersion, img.Ref, cfg)
	for _, l := range img.Layers {
		id, err := l.DiffID()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %q\n", id, l.Comment)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Build assembles the image: an empty linux/amd64 image with the config,
// and each layer appended (gzip-compressed once, kept in memory).
func (img *Image) Build() (v1.Image, error) {
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Config:       img.Config,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	adds := make([]mutate.Addendum, 0, len(img.Layers))
	for _, l := range img.Layers {
		layer, err := tarball.LayerFromOpener(l.open, tarball.WithCompressedCaching)
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Comment, err)
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: l.Comment, Comment: "virtmesh hack/images"}})
	}
	return mutate.Append(base, adds...)
}

// open streams the layer's tar (for tarball.LayerFromOpener).
func (l *Layer) open() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(l.WriteTar(pw)) }()
	return pr, nil
}

// WriteTarball writes im tagged ref as a docker-archive tarball at file
// (what `ctr images import` and `docker load` read), replacing it
// atomically. It returns the tarball's size.
func WriteTarball(file, ref string, im v1.Image) (int64, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing there
	if err := tarball.Write(tag, im, tmp); err != nil {
		tmp.Close()
		return 0, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, err
	}
	return fi.Size(), os.Rename(tmp.Name(), file)
}

// ReadTarball reads the image tagged ref back from a docker-archive tarball.
func ReadTarball(file, ref string) (v1.Image, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return nil, err
	}
	return tarball.ImageFromPath(file, &tag)
}

// Extract writes the image's flattened filesystem under dir (which must
// exist): files, directories and symlinks with their modes and, when run
// as root, their owners.
func Extract(im v1.Image, dir string) error {
	rc := mutate.Extract(im)
	defer rc.Close()
	tr := tar.NewReader(rc)
	root := os.Geteuid() == 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := filepath.Clean(h.Name)
		if rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
			return fmt.Errorf("unsafe path %q in image", h.Name)
		}
		p := filepath.Join(dir, rel)
		mode := os.FileMode(h.Mode).Perm() | setbits(h.Mode)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
			if root {
				if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
					return err
				}
			}
			continue
		default:
			return fmt.Errorf("%s: unsupported entry type %q", h.Name, h.Typeflag)
		}
		if root {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				return err
			}
		}
		if err := os.Chmod(p, mode); err != nil { // after chown, which clears setuid
			return err
		}
	}
}

func setbits(m int64) os.FileMode {
	var b os.FileMode
	if m&0o4000 != 0 {
		b |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		b |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= os.ModeSticky
	}
	return b
}
