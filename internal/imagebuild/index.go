package imagebuild

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
)

// IndexFile is the index's name in the images directory (bin/images).
const IndexFile = "index.json"

// Index lists the images a build wrote, for whoever imports them
// (`ctr -n k8s.io images import <Tar>` for each).
type Index struct {
	Images []IndexEntry `json:"images"`
}

// IndexEntry is one image tarball.
type IndexEntry struct {
	// Name is the image's short name ("virt-launcher").
	Name string `json:"name"`
	// Ref is its reference ("localhost/virtmesh/virt-launcher:dev").
	Ref string `json:"ref"`
	// Tar is the absolute path of the docker-archive tarball.
	Tar string `json:"tar"`
	// Hash is the content key ([Image.Key]) the tarball was built from.
	Hash string `json:"hash"`
	// ID is the image's config digest, which the CRI reports as the
	// image ID (kubectl's status.containerStatuses[].imageID).
	ID string `json:"id"`
	// Size is the tarball's size in bytes.
	Size int64 `json:"size"`
}

// ReadIndex reads dir's index; a missing index is an empty one.
func ReadIndex(dir string) (*Index, error) {
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if errors.Is(err, os.ErrNotExist) {
		return &Index{}, nil
	}
	if err != nil {
		return nil, err
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, err
	}
	return &ix, nil
}

// Get returns the entry named name, or nil.
func (ix *Index) Get(name string) *IndexEntry {
	for i := range ix.Images {
		if ix.Images[i].Name == name {
			return &ix.Images[i]
		}
	}
	return nil
}

// Put adds or replaces an entry, keeping the list sorted by name.
func (ix *Index) Put(e IndexEntry) {
	if old := ix.Get(e.Name); old != nil {
		*old = e
		return
	}
	ix.Images = append(ix.Images, e)
	sort.Slice(ix.Images, func(i, j int) bool { return ix.Images[i].Name < ix.Images[j].Name })
}

// Write writes the index into dir, atomically.
func (ix *Index) Write(dir string) error {
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+IndexFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, IndexFile))
}
