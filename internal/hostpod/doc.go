// Package hostpod runs one container of a real pod as a process on this
// host: it does the kubelet's part for that container (resolve its env,
// write its volumes under a directory standing in for its root file system,
// report its readiness in the pod's status), for clusters whose nodes cannot
// run it, such as the kwok clusters of hack/local-cluster.sh. The pod is a
// real API object, so what the process reads from the API server with its
// ServiceAccount's token is real; only the container runtime is the host.
//
// Paths in a container are absolute (/var/run/secrets/tokens); here they are
// under Root, so a program that uses paths relative to its working directory
// (Istio's: ./var/run/secrets/tokens/istio-token) runs unchanged with Root as
// its working directory.
package hostpod
