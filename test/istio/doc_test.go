// Package istio proves VirtMesh against the real Istio control plane of the
// pinned istio.io/istio (hack/tools/istio): Istio's own pilot-discovery
// (istiod) and pilot-agent, built into bin/ by hack/build-bins.sh.
//
// TestMain starts a local cluster (hack/local-cluster.sh: real etcd,
// kube-apiserver, controller-manager and scheduler; kwok nodes) with the
// operator running as its ServiceAccount, so every Role and ClusterRole it
// renders passes the API server's escalation check. Then:
//
//   - istiod runs as a host process for the rendered istiod pod
//     (internal/hostistiod): the rendered args, env and mesh config, a
//     TokenRequest for istio-system/istiod and nothing more; its listeners on
//     free loopback ports; its /ready written into the pod's status as the
//     kubelet's probe would.
//   - Each proxy is Istio's pilot-agent, run as uid 1337 for a launcher pod
//     the operator rendered (or the ingress gateway's pod) with that
//     container's rendered env and volumes (internal/hostpod) in a
//     root-owned directory standing in for its read-only root file system:
//     only its volumes are writable, as in the pod. The differences, all in
//     agentOverrides: istiod's address (localhost:<port>), the agent's status
//     port (a free one), and DISABLE_ENVOY/OUTPUT_CERTS for sidecars (no
//     Envoy here) or a stand-in Envoy process for the gateway.
//   - xDS is read the way Envoy reads it: over the agent's XDS socket
//     (./etc/istio/proxy/XDS), with the node pilot-agent generated from the
//     rendered env (its grpc-bootstrap.json), decoded with go-control-plane's
//     types. istiod's debug endpoints are read on its loopback monitoring port.
//
// What is not real here: the nodes (kwok gives pods IPs; no container runs)
// and Envoy's data path (no Envoy binary; test/dataplane and test/vm carry
// traffic with the proxy stand-in). See docs/istio.md.
package istio
