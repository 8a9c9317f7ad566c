package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"virtmesh.io/virtmesh/internal/containerdisk"
	"virtmesh.io/virtmesh/internal/podcontract"
)

func init() {
	register(podcontract.SubcommandDiskHelper, runDiskHelper)
	register(podcontract.SubcommandDiskHelperInstall, runDiskHelperInstall)
}

// runDiskHelper is a containerDisk volume container: it runs inside the
// user's disk image, hands the image's read-only fd to compute and idles
// until compute is done with it (or SIGTERM), then exits 0. A missing or unreadable disk ends it with the reason
// in its termination log (and next to its socket, for compute).
func runDiskHelper(args []string) error {
	o, err := podcontract.ParseDiskHelperArgs(args)
	if err != nil {
		writeTermination(podcontract.DefaultTerminationLog, err.Error())
		return err
	}
	_ = os.Remove(containerdisk.ErrorFile(o.Socket))
	h, err := containerdisk.Open(o.DiskPath, o.Socket)
	if err != nil {
		writeTermination(o.TerminationLog, err.Error())
		if werr := os.WriteFile(containerdisk.ErrorFile(o.Socket), []byte(err.Error()+"\n"), 0o644); werr != nil {
			fmt.Fprintf(os.Stderr, "disk-helper: %v\n", werr)
		}
		return err
	}
	fmt.Printf("disk-helper: serving %s on %s\n", h.Info(), o.Socket)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	why, err := h.Serve(ctx)
	if err != nil {
		writeTermination(o.TerminationLog, err.Error())
		return err
	}
	fmt.Printf("disk-helper: %s, exiting\n", why)
	writeTermination(o.TerminationLog, "disk-helper: "+why)
	return nil
}

// runDiskHelperInstall is the helper-install init container: it copies this
// (static) binary into the shared helper volume, so volume containers can
// run it inside images that have no VirtMesh code (nor a shell, nor cp).
func runDiskHelperInstall(args []string) error {
	fs := flag.NewFlagSet(podcontract.SubcommandDiskHelperInstall, flag.ContinueOnError)
	dest := fs.String("dest", podcontract.HelperBinaryPath, "where to copy the helper binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return copyExecutable(self, *dest)
}

// copyExecutable copies src to dest via a temp file and rename, so a volume
// container never executes a half-written binary.
func copyExecutable(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".helper-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := tmp.Chmod(0o555); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	fmt.Printf("disk-helper-install: installed %s\n", dest)
	return nil
}
