// Package podnet holds the helpers shared by the root-only network test
// suites (test/dataplane and test/vm): they build a launcher pod's network
// out of network namespaces on this machine and run the real virt-launcher
// in it.
//
//   - namespaces and commands in them: [NewNS], [Run], [NSExec], [InNS],
//     [MustInNS], [WriteSysctl];
//   - the common topology: a client namespace that routes between the pod's
//     eth0 and an upstream namespace ([Wire] and the address constants);
//   - processes started inside a namespace as a given uid with given
//     ambient capabilities, and polls for their readiness: [StartInNS],
//     [Proc];
//   - commands run the way a container runtime would: [Container];
//   - virt-launcher built once, and a copy of the test binary that serves as
//     the proxy stand-in: [Binaries];
//   - the proxy stand-in (Envoy as the dataplane sees it, with
//     SO_ORIGINAL_DST forwarding, optionally pilot-agent's POST
//     /quitquitquit; package proxystandin) run by the test binary:
//     [ServeProxyIfHelper];
//   - simple servers that announce who they saw: [ServeTCP], [ServeUDP].
//
// Everything here needs root and iproute2; the suites skip before calling
// in when the machine cannot run them.
package podnet
