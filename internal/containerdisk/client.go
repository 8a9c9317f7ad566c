package containerdisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Disk is an image received from a helper.
type Disk struct {
	// File is the helper's read-only descriptor; the caller owns it.
	File *os.File
	// Name is the image's file name in its volume container.
	Name string
	// Format and VirtualSize are detected from the image's header.
	Format      string
	VirtualSize int64
	// conn is kept open while the disk is in use: its end tells the
	// helper it may exit.
	conn *net.UnixConn
}

// Close closes the descriptor and releases the helper.
func (d *Disk) Close() error {
	err := d.File.Close()
	if d.conn != nil {
		d.conn.Close()
	}
	return err
}

// Fetch connects to socket once and receives the image fd. The connection
// stays open until Disk.Close: the helper ends when it closes.
func Fetch(socket string) (*Disk, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	oob := make([]byte, syscall.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", socket, err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive from %s: no file descriptor in the answer", socket)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, fmt.Errorf("receive from %s: want one file descriptor, got %d (%v)", socket, len(fds), err)
	}
	f := os.NewFile(uintptr(fds[0]), "containerdisk:"+socket)
	var h header
	if err := json.Unmarshal(buf[:n], &h); err != nil {
		f.Close()
		return nil, fmt.Errorf("receive from %s: bad header: %w", socket, err)
	}
	format, vsize, err := DetectFormat(f, h.Size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image %s from %s: %w", h.Name, socket, err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, err
	}
	ok = true
	return &Disk{File: f, Name: h.Name, Format: format, VirtualSize: vsize, conn: c}, nil
}

// Wait fetches the image from socket, retrying while the helper is not up
// yet (volume containers start in parallel with compute). It fails at once
// when the helper recorded an error, and with the last error on ctx's end.
func Wait(ctx context.Context, socket string) (*Disk, error) {
	var last error
	for {
		if b, err := os.ReadFile(ErrorFile(socket)); err == nil {
			return nil, fmt.Errorf("disk helper failed: %s", strings.TrimSpace(string(b)))
		}
		d, err := Fetch(socket)
		if err == nil {
			return d, nil
		}
		last = err
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for disk helper on %s: %w (last: %v)", socket, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
