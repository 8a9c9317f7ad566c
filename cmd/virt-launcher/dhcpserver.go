package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-logr/logr/funcr"

	"virtmesh.io/virtmesh/internal/dhcp"
	"virtmesh.io/virtmesh/internal/podcontract"
)

func init() { register("dhcp-server", runDHCPServer) }

// runDHCPServer serves the guest until SIGTERM/SIGINT. It takes the same
// flags as net-setup (so both agree on the VM's address) plus:
//
//	--resolv-conf=PATH  DNS servers and search domains (default /etc/resolv.conf)
//	--hostname=NAME     the guest's hostname (default: the pod's)
//	--mtu=N             default: the bridge's MTU, which net-setup copied from eth0
func runDHCPServer(args []string) error {
	resolvPath, hostname, mtu := "/etc/resolv.conf", "", 0
	var rest []string
	for _, a := range args {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--resolv-conf":
			resolvPath = value
		case "--hostname":
			hostname = value
		case "--mtu":
			n, err := strconv.Atoi(value)
			if err != nil {
				return fmt.Errorf("flag %q: %w", a, err)
			}
			mtu = n
		default:
			rest = append(rest, a)
		}
	}
	cfg, err := podcontract.ParseNetSetupArgs(rest)
	if err != nil {
		return err
	}
	f, err := os.Open(resolvPath)
	if err != nil {
		return fmt.Errorf("reading DNS settings: %w", err)
	}
	rc, err := dhcp.ParseResolvConf(f)
	f.Close()
	if err != nil {
		return err
	}
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return fmt.Errorf("reading hostname: %w", err)
		}
	}
	br, err := net.InterfaceByName(cfg.Bridge)
	if err != nil {
		return fmt.Errorf("finding bridge %s (did net-setup run?): %w", cfg.Bridge, err)
	}
	if mtu == 0 {
		mtu = br.MTU
	}
	// net-setup gives the bridge an IPv6 gateway exactly when the VM has
	// IPv6 (--vm-ipv6) and the pod has it.
	opts, err := dhcp.OptionsFor(cfg.VMNetwork, cfg.IPv6 && hasGlobalIPv6(br), rc, hostname, mtu)
	if err != nil {
		return err
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dhcp.Serve(ctx, opts, log, nil)
}
