// Package podcontract is the single source of the virt-launcher pod's
// contract: what the operator renders and what the launcher's subcommands
// read back. Container and volume names, mount paths, device names, uids,
// the mesh proxy's ports, and every subcommand's flags together with the
// parser that reads them live here and nowhere else.
//
// The renderer (internal/render/launcherpod) writes flags with the Args
// methods; each subcommand of cmd/virt-launcher parses them with the
// matching Parse function, which is the exact inverse. Values that two
// containers must agree on (the VM network that net-setup plumbs and that
// compute's DHCP server hands out) are rendered from one value into both
// containers' flags, so they cannot drift.
//
// The package depends on the standard library only, so both the operator
// and the launcher can import it without linking each other's runtime.
package podcontract
