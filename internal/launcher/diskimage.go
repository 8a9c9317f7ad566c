package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	"virtmesh.io/virtmesh/internal/containerdisk"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// lessSpaceTolerancePercent is how much less free space than a new
// disk.img's size a claim may have and still get one, shrunk to the free
// space (KubeVirt's default pvc-tolerate-less-space-up-to-percent): volume
// plugins often give a little less than the claim asked for.
const lessSpaceTolerancePercent = 10

const mib = 1 << 20

// freeSpace reports the bytes an unprivileged process may still allocate on
// the filesystem holding dir; tests replace it.
type freeSpace func(dir string) (int64, error)

func statfsFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// preparePersistentDisk makes a persistentVolumeClaim disk ready for QEMU:
// the claim's disk.img as it is when present (never truncated, grown or
// overwritten: it holds the guest's data), otherwise a new sparse raw image
// of the resolved size. Every failure says what to do about it; it ends up
// in the pod's termination message and the VMI's Failure condition.
func preparePersistentDisk(d podcontract.PersistentDisk, free freeSpace, logf func(string, ...any)) (PreparedDisk, error) {
	prepared := PreparedDisk{Path: d.Path, Format: containerdisk.FormatRaw, ReadOnly: d.ReadOnly, ReadOnlyStorage: d.ReadOnly}
	st, err := os.Stat(d.Path)
	switch {
	case err == nil:
		if !st.Mode().IsRegular() {
			return PreparedDisk{}, fmt.Errorf("%s on the claim is not a regular file (%s): VirtMesh keeps the disk as a raw image file there; move it away", d.Path, st.Mode().Type())
		}
		if err := checkAccess(d); err != nil {
			return PreparedDisk{}, err
		}
		switch {
		case st.Size() < d.Size:
			logf("persistent disk %q: %s is %d bytes, less than the %d a new one would get; it is used as it is (VirtMesh never resizes an existing disk image)", d.Volume, d.Path, st.Size(), d.Size)
		default:
			logf("persistent disk %q: using %s (%d bytes)", d.Volume, d.Path, st.Size())
		}
		return prepared, nil
	case !errors.Is(err, fs.ErrNotExist):
		return PreparedDisk{}, fmt.Errorf("%s: %w: the claim must be mounted at %s and readable by uid %d", d.Path, err, filepath.Dir(d.Path), podcontract.QEMUUID)
	case d.ReadOnly:
		return PreparedDisk{}, fmt.Errorf("%s does not exist and the claim is read-only: put a disk image there, or drop persistentVolumeClaim.readOnly so VirtMesh creates a blank one", d.Path)
	}
	size, err := newImageSize(d, free, logf)
	if err != nil {
		return PreparedDisk{}, err
	}
	if err := createSparse(d.Path, size); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
			return PreparedDisk{}, fmt.Errorf("%w: the claim's root directory must be writable by uid %d or group %d (the pod's fsGroup; some volume plugins, e.g. NFS or hostPath, ignore it): chown it to %d:%d", err, podcontract.QEMUUID, podcontract.QEMUUID, podcontract.QEMUUID, podcontract.QEMUUID)
		}
		return PreparedDisk{}, err
	}
	logf("persistent disk %q: created %s, sparse raw, %d bytes", d.Volume, d.Path, size)
	return prepared, nil
}

// checkAccess opens an existing disk.img the way QEMU will.
func checkAccess(d podcontract.PersistentDisk) error {
	flag := os.O_RDWR
	if d.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(d.Path, flag, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%s: %w: compute runs as uid %d with fsGroup %d, and the claim's volume plugin did not give that group access (some, e.g. NFS or hostPath, ignore fsGroup): chown the claim's files to %d:%d", d.Path, err, podcontract.QEMUUID, podcontract.QEMUUID, podcontract.QEMUUID, podcontract.QEMUUID)
		}
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	return f.Close()
}

// newImageSize is d.Size, or the claim's free space when that is less but
// within lessSpaceTolerancePercent (rounded down to whole MiB).
func newImageSize(d podcontract.PersistentDisk, free freeSpace, logf func(string, ...any)) (int64, error) {
	dir := filepath.Dir(d.Path)
	avail, err := free(dir)
	if err != nil {
		return 0, fmt.Errorf("free space on the claim at %s: %w", dir, err)
	}
	if avail >= d.Size {
		return d.Size, nil
	}
	if avail < d.Size/100*(100-lessSpaceTolerancePercent) || avail < mib {
		return 0, fmt.Errorf("the claim at %s has %d bytes free, but %s needs %d (%d%% less is tolerated): grow the claim or free space on it", dir, avail, filepath.Base(d.Path), d.Size, lessSpaceTolerancePercent)
	}
	size := avail / mib * mib
	logf("persistent disk %q: the claim has %d bytes free, less than %d: creating %s at %d bytes (within the %d%% tolerance)", d.Volume, avail, d.Size, filepath.Base(d.Path), size, lessSpaceTolerancePercent)
	return size, nil
}

// createSparse creates path as a sparse file of size bytes, atomically: it
// is written under a temporary name and linked into place only when
// complete, never over an existing file. A launcher killed half-way leaves
// no short disk.img that a later run would take for the guest's disk.
func createSparse(path string, size int64) error {
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".creating")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o660)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp)
	// Group read-write whatever the umask: the claim's group is the pod's
	// fsGroup, which every run of the VM (and a backup pod) shares.
	if err := f.Chmod(0o660); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("size %s to %d bytes: %w", path, size, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared while it was being created: is another VM using the claim?", path)
		}
		// Filesystems without hard links: rename, after checking again
		// that nothing is there.
		if _, serr := os.Lstat(path); !errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("%s appeared while it was being created: is another VM using the claim?", path)
		}
		if rerr := os.Rename(tmp, path); rerr != nil {
			return fmt.Errorf("move %s into place: %w", path, rerr)
		}
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable; filesystems that cannot sync
// a directory lose nothing but that guarantee.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// prepareEmptyDisk creates volume's blank disk for this run in dir, sparse,
// replacing any left from before: an emptyDisk's data never outlives a run.
func prepareEmptyDisk(dir, volume string, capacity resource.Quantity) (PreparedDisk, error) {
	const sector = 512
	size := capacity.Value()
	if size <= 0 {
		return PreparedDisk{}, fmt.Errorf("emptyDisk %q: capacity %s must be more than 0", volume, capacity.String())
	}
	size = (size + sector - 1) / sector * sector
	path := filepath.Join(dir, volume+".raw")
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return PreparedDisk{}, fmt.Errorf("emptyDisk %q: %w", volume, err)
	}
	if err := createSparse(path, size); err != nil {
		return PreparedDisk{}, fmt.Errorf("emptyDisk %q: %w", volume, err)
	}
	return PreparedDisk{Path: path, Format: containerdisk.FormatRaw}, nil
}
