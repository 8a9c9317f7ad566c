package netsetup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"virtmesh.io/virtmesh/internal/testing/require"
)

func TestEnsureTunNode(t *testing.T) {
	require.Root(t, "mknod and chown")
	path := filepath.Join(t.TempDir(), "tun", "tun")
	const owner = 107
	check := func(step string, wantCreated, created bool) {
		t.Helper()
		if created != wantCreated {
			t.Errorf("%s: created = %v, want %v", step, created, wantCreated)
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 10 || unix.Minor(st.Rdev) != 200 {
			t.Errorf("%s: mode %o rdev %d:%d, want a c 10:200 node", step, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if st.Uid != owner || st.Gid != owner || st.Mode&0o7777 != 0o600 {
			t.Errorf("%s: owner %d:%d mode %o, want 107:107 0600", step, st.Uid, st.Gid, st.Mode&0o7777)
		}
	}
	for _, step := range []struct {
		name        string
		before      func() error
		wantCreated bool
	}{
		{"first run creates", func() error { return nil }, true},
		{"re-run keeps", func() error { return nil }, false},
		{"wrong owner is replaced", func() error { return os.Chown(path, 0, 0) }, true},
		{"wrong mode is replaced", func() error { return os.Chmod(path, 0o666) }, true},
		{"a regular file is replaced", func() error {
			return errors.Join(os.Remove(path), os.WriteFile(path, nil, 0o600), os.Chown(path, owner, owner))
		}, true},
		{"another device is replaced", func() error {
			return errors.Join(os.Remove(path), unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))), os.Chown(path, owner, owner))
		}, true},
	} {
		if err := step.before(); err != nil {
			t.Fatalf("%s: preparing: %v", step.name, err)
		}
		created, err := ensureTunNode(path, owner)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		check(step.name, step.wantCreated, created)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("leftover files next to the node: %v", ents)
	}
	// The node works: it is the tun driver.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening the node: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.IoctlGetUint32(fd, unix.TUNGETFEATURES); err != nil {
		t.Errorf("TUNGETFEATURES on the node: %v", err)
	}
}
