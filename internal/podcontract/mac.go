package podcontract

import (
	"crypto/sha256"
	"net"
)

// StableMAC derives a locally administered unicast MAC from the VMI's
// identity and the interface name, so the guest keeps its NIC identity for
// the VMI's whole life (and DHCP keeps recognising it) without a MAC pool.
// The operator reports it in the VMI's status and compute gives it to QEMU;
// both call this function. The 02:00:00 prefix of BridgeMAC is avoided.
func StableMAC(namespace, name, uid, iface string) string {
	h := sha256.Sum256([]byte(namespace + "/" + name + "/" + uid + "/" + iface))
	mac := net.HardwareAddr{0x02, 0x76, h[0], h[1], h[2], h[3]} // 0x76: 'v'
	return mac.String()
}
