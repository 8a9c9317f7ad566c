package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/go-logr/logr/funcr"

	"virtmesh.io/virtmesh/internal/dhcp"
	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// computeNetwork starts the DHCP server on the bridge net-setup created
// before QEMU boots the guest. The VM network comes from compute's own flags,
// which the renderer wrote from the same value as net-setup's, so DHCP hands
// out exactly the addresses the NAT expects.
func computeNetwork(o podcontract.ComputeOptions) launcher.NetworkFunc {
	return func(ctx context.Context, v *launcher.VMI, nic launcher.MachineNIC) (func(), error) {
		br, err := net.InterfaceByName(o.Bridge)
		if err != nil {
			return nil, fmt.Errorf("bridge %s (did net-setup run?): %w", o.Bridge, err)
		}
		var dns dhcp.ResolvConf
		if f, err := os.Open("/etc/resolv.conf"); err == nil {
			dns, _ = dhcp.ParseResolvConf(f)
			f.Close()
		}
		// DHCPv6 only when the VM has IPv6 (--vm-ipv6, on a pod that has
		// it): exactly when net-setup gave the bridge an IPv6 gateway and
		// the NAT for it.
		opts, err := dhcp.OptionsFor(o.VMNetwork, o.IPv6 && podHasIPv6(o.PodInterface), dns, v.Hostname(), br.MTU)
		if err != nil {
			return nil, err
		}
		log := funcr.New(func(prefix, args string) {
			fmt.Fprintf(os.Stderr, "virt-launcher compute: dhcp: %s\n", args)
		}, funcr.Options{})
		sctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		errc := make(chan error, 1)
		go func() { errc <- dhcp.Serve(sctx, opts, log, ready) }()
		select {
		case <-ready:
		case err := <-errc:
			cancel()
			return nil, err
		case <-time.After(10 * time.Second):
			cancel()
			return nil, fmt.Errorf("DHCP server on %s did not start within 10s", o.Bridge)
		}
		return func() {
			cancel()
			if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "virt-launcher compute: dhcp: stopped: %v\n", err)
			}
		}, nil
	}
}

// podHasIPv6 reports whether the pod interface has a global IPv6 address;
// only then (and with --vm-ipv6) does the guest get DHCPv6.
func podHasIPv6(ifname string) bool {
	ifc, err := net.InterfaceByName(ifname)
	return err == nil && hasGlobalIPv6(ifc)
}

// hasGlobalIPv6 reports whether ifc has a global unicast IPv6 address.
func hasGlobalIPv6(ifc *net.Interface) bool {
	addrs, err := ifc.Addrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsGlobalUnicast() {
			return true
		}
	}
	return false
}
