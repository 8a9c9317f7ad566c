package containerdisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
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

// DoneFile is the file compute creates in the shared socket directory
// when it exits, so helpers whose disk it never took still end.
func DoneFile(socketDir string) string { return filepath.Join(socketDir, "compute.done") }

// Serve hands the fd to every client, then waits. It returns, with the
// reason, when ctx ends (SIGTERM), when a client that took the fd hangs up
// (compute keeps its connection for its whole life, so the kernel closes it
// however compute ends, SIGKILL included), or when DoneFile appears next to
// the socket. The volume container then exits 0, so a pod whose VM has
// stopped can complete.
func (h *Helper) Serve(ctx context.Context) (string, error) {
	defer h.disk.Close()
	defer h.ln.Close()
	msg, err := json.Marshal(h.hdr)
	if err != nil {
		return "", err
	}
	rights := syscall.UnixRights(int(h.disk.Fd()))
	released := make(chan struct{}, 1)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := h.ln.AcceptUnix()
			if err != nil {
				acceptErr <- err
				return
			}
			if _, _, err := c.WriteMsgUnix(msg, rights, nil); err != nil {
				fmt.Fprintf(os.Stderr, "disk-helper: send fd: %v\n", err)
				c.Close()
				continue
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				select {
				case released <- struct{}{}:
				default:
				}
			}()
		}
	}()
	done := DoneFile(filepath.Dir(h.ln.Addr().String()))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "stopped", nil
		case <-released:
			return "compute released the disk", nil
		case err := <-acceptErr:
			if errors.Is(err, net.ErrClosed) {
				return "stopped", nil
			}
			return "", fmt.Errorf("accept: %w", err)
		case <-tick.C:
			if _, err := os.Stat(done); err == nil {
				return "compute is done", nil
			}
		}
	}
}

// Info describes the served image (for the helper's log line).
func (h *Helper) Info() string { return fmt.Sprintf("%s (%d bytes)", h.hdr.Name, h.hdr.Size) }
