package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"virtmesh.io/virtmesh/internal/netsetup"
	"virtmesh.io/virtmesh/internal/podcontract"
)

func init() { register(podcontract.SubcommandNetSetup, runNetSetup) }

// runNetSetup is the init container: plumbing (bridge, tap and, with
// --tun-device, the tun node compute attaches through) plus both nat tables. Its
// flags are exactly podcontract.NetSetupOptions.Args(), so the pod spec is the record
// of what was applied.
func runNetSetup(args []string) error {
	cfg, err := podcontract.ParseNetSetupArgs(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := netsetup.Run(ctx, cfg)
	report.Print(os.Stdout)
	return err
}
