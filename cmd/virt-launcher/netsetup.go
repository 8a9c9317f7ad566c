package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
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
	// The only container with NET_ADMIN and NET_RAW exits before anyone
	// can look at it: it says what it held (the real-node suite checks it).
	fmt.Fprintf(os.Stderr, "virt-launcher net-setup: uid %d, %s\n", os.Getuid(), capabilityLine())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := netsetup.Run(ctx, cfg)
	report.Print(os.Stdout)
	return err
}

// capabilityLine is this process's capability sets as /proc/self/status
// shows them ("CapInh=... CapPrm=... CapEff=... CapBnd=... CapAmb=...").
func capabilityLine() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "capabilities unknown: " + err.Error()
	}
	var sets []string
	for _, l := range strings.Split(string(b), "\n") {
		if name, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(name, "Cap") {
			sets = append(sets, name+"="+strings.TrimSpace(v))
		}
	}
	return strings.Join(sets, " ")
}
