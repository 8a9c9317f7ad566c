package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
)

func init() {
	register(podcontract.SubcommandCompute, runCompute)
	register(podcontract.SubcommandComputeReady, runComputeReady)
}

// runCompute is the compute container: it runs the VMI's virtual machine
// until the guest powers off (exit 0) or QEMU fails (exit 1, reason in the
// termination log). SIGTERM becomes an ACPI power-down.
func runCompute(args []string) error {
	o, err := podcontract.ParseComputeArgs(args)
	if err != nil {
		writeTermination(podcontract.DefaultTerminationLog, err.Error())
		return err
	}
	// The ISO writer stages files under TMPDIR; the root filesystem may be
	// read-only, the disks dir is compute's own emptyDir.
	if os.Getenv("TMPDIR") == "" {
		if err := os.MkdirAll(o.DisksDir, 0o755); err == nil {
			os.Setenv("TMPDIR", o.DisksDir)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	r := &launcher.Runner{Opts: o, Stdout: os.Stdout, Stderr: os.Stderr}
	if o.DHCP {
		r.Network = computeNetwork(o)
	}
	return r.Run(ctx)
}

// runComputeReady is the compute container's readinessProbe: ready while
// the launcher's ready file exists (the guest is running).
func runComputeReady(args []string) error {
	fs := flag.NewFlagSet(podcontract.SubcommandComputeReady, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ready := fs.String("ready-file", podcontract.DefaultReadyFile, "ready file written by compute")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*ready)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("guest not running yet")
	}
	if err != nil {
		return err
	}
	fmt.Printf("guest running, %s", b)
	return nil
}

// writeTermination records msg where the kubelet reads the container's
// termination message; failures only go to stderr.
func writeTermination(path, msg string) {
	if err := os.WriteFile(path, []byte(msg+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "write termination log %s: %v\n", path, err)
	}
}
