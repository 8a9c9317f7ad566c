package containerdisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// header is sent with the fd on every connection.
type header struct {
	// Name is the image's file name inside the volume container (for logs).
	Name string `json:"name"`
	// Size is the image file's size in bytes.
	Size int64 `json:"size"`
}

// ErrorFile is where the helper for socket records why it failed.
func ErrorFile(socket string) string { return socket + ".error" }

// ResolveDisk returns the image file at path: path itself when it is a
// regular file, or the only regular file in it when it is a directory
// (KubeVirt's /disk convention).
func ResolveDisk(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("disk %s: %w", path, err)
	}
	if fi.Mode().IsRegular() {
		return path, nil
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("disk %s: not a regular file or directory", path)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return "", fmt.Errorf("disk %s: %w", path, err)
	}
	var files []string
	for _, e := range ents {
		info, err := os.Stat(filepath.Join(path, e.Name()))
		if err == nil && info.Mode().IsRegular() {
			files = append(files, e.Name())
		}
	}
	if len(files) != 1 {
		return "", fmt.Errorf("disk %s: want exactly one image file in the directory, found %d %q (set containerDisk.path)", path, len(files), files)
	}
	return filepath.Join(path, files[0]), nil
}

// Helper serves one opened image on a unix socket.
type Helper struct {
	disk *os.File
	hdr  header
	ln   *net.UnixListener
}

// Open resolves and opens the image read-only and checks that it can be
// read, then listens on socket (replacing a stale one). The socket is
// world-connectable: the emptyDir it lives in is private to the pod, and
// compute may run as a different uid than the user's volume image.
func Open(diskPath, socket string) (*Helper, error) {
	p, err := ResolveDisk(diskPath)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk %s: %w", p, err)
	}
	if _, _, err := DetectFormat(f, fi.Size()); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk %s: %w", p, err)
	}
	_ = os.Remove(socket)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("listen on %s: %w", socket, err)
	}
	if err := os.Chmod(socket, 0o666); err != nil {
		ln.Close()
		f.Close()
		return nil, fmt.Errorf("chmod %s: %w", socket, err)
	}
	return &Helper{disk: f, hdr: header{Name: filepath.Base(p), Size: fi.Size()}, ln: ln}, nil
}

// Serve hands the fd to every client until ctx ends. The helper must keep
// running for the pod's life (it is the volume container's process), but
// compute needs the fd only once at start.
func (h *Helper) Serve(ctx context.Context) error {
	defer h.disk.Close()
	go func() {
		<-ctx.Done()
		h.ln.Close()
	}()
	msg, err := json.Marshal(h.hdr)
	if err != nil {
		return err
	}
	rights := syscall.UnixRights(int(h.disk.Fd()))
	for {
		c, err := h.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		if _, _, err := c.WriteMsgUnix(msg, rights, nil); err != nil {
			fmt.Fprintf(os.Stderr, "disk-helper: send fd: %v\n", err)
		}
		c.Close()
	}
}

// Info describes the served image (for the helper's log line).
func (h *Helper) Info() string { return fmt.Sprintf("%s (%d bytes)", h.hdr.Name, h.hdr.Size) }
