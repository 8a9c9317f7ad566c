package dhcp

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// ResolvConf is the part of the pod's /etc/resolv.conf the guest needs.
type ResolvConf struct {
	Nameservers []netip.Addr
	Search      []string
}

// ParseResolvConf reads nameserver and search (or domain) lines, as the
// kubelet writes them. Later search/domain lines replace earlier ones, as
// in glibc.
func ParseResolvConf(r io.Reader) (ResolvConf, error) {
	var rc ResolvConf
	s := bufio.NewScanner(r)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) < 2 {
				continue
			}
			// Zone-scoped link-local servers are useless to the guest.
			a, err := netip.ParseAddr(fields[1])
			if err != nil || a.Zone() != "" {
				continue
			}
			rc.Nameservers = append(rc.Nameservers, a.Unmap())
		case "search", "domain":
			rc.Search = append([]string(nil), fields[1:]...)
		}
	}
	if err := s.Err(); err != nil {
		return rc, fmt.Errorf("reading resolv.conf: %w", err)
	}
	return rc, nil
}

func (rc ResolvConf) servers(v6 bool) []netip.Addr {
	var out []netip.Addr
	for _, a := range rc.Nameservers {
		if a.Is6() == v6 {
			out = append(out, a)
		}
	}
	return out
}
