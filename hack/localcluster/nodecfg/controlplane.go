package nodecfg

import (
	"fmt"
	"strconv"
)

// ServiceAccountIssuer is the issuer of service account tokens.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// The PKI's file names.
const (
	CACert                = "ca.crt"
	CAKey                 = "ca.key"
	APIServerCert         = "apiserver.crt"
	APIServerKey          = "apiserver.key"
	APIServerKubeletCert  = "apiserver-kubelet-client.crt"
	APIServerKubeletKey   = "apiserver-kubelet-client.key"
	KubeletServingCert    = "kubelet.crt"
	KubeletServingKey     = "kubelet.key"
	ServiceAccountKeyFile = "sa.key"
	ServiceAccountPubFile = "sa.pub"
)

// APIServerURL is how every client on the host and in pods reaches the API
// server: the node's address (pods reach it through the kubernetes Service,
// whose endpoint is the advertised address).
func (n Node) APIServerURL() string {
	return "https://" + n.Network.NodeIP + ":" + strconv.Itoa(n.Ports.APIServer)
}

// EtcdArgs are etcd's flags: one member on loopback, no fsync (a local,
// throw-away cluster on a shared disk).
func EtcdArgs(n Node) []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", n.Ports.EtcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", n.Ports.EtcdPeer)
	return []string{
		"--name=local",
		"--data-dir=" + n.Layout.EtcdData(),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=local=" + peer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

// APIServerArgs are kube-apiserver's flags.
func APIServerArgs(n Node) []string {
	p := n.Layout.PKI
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", n.Ports.EtcdClient),
		"--bind-address=0.0.0.0",
		"--secure-port=" + strconv.Itoa(n.Ports.APIServer),
		"--advertise-address=" + n.Network.NodeIP,
		"--service-cluster-ip-range=" + n.Network.ServiceCIDR,
		"--client-ca-file=" + p(CACert),
		"--tls-cert-file=" + p(APIServerCert),
		"--tls-private-key-file=" + p(APIServerKey),
		"--kubelet-client-certificate=" + p(APIServerKubeletCert),
		"--kubelet-client-key=" + p(APIServerKubeletKey),
		// The hostname resolves to 127.0.0.1 here (/etc/hosts); the API
		// server refuses to proxy to loopback, so it must use the InternalIP.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--service-account-key-file=" + p(ServiceAccountPubFile),
		"--service-account-signing-key-file=" + p(ServiceAccountKeyFile),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--profiling=false",
	}
}

// ControllerManagerArgs are kube-controller-manager's flags. Pod CIDRs are
// not allocated: the CNI bridge's host-local IPAM owns the node's range.
func ControllerManagerArgs(n Node) []string {
	kc := n.Layout.ComponentKubeconfig("kube-controller-manager")
	p := n.Layout.PKI
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(n.Ports.ControllerManager),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p(ServiceAccountKeyFile),
		"--root-ca-file=" + p(CACert),
		"--cluster-signing-cert-file=" + p(CACert),
		"--cluster-signing-key-file=" + p(CAKey),
		"--allocate-node-cidrs=false",
		"--service-cluster-ip-range=" + n.Network.ServiceCIDR,
		"--cluster-name=virtmesh-local",
		"--profiling=false",
	}
}

// SchedulerArgs are kube-scheduler's flags.
func SchedulerArgs(n Node) []string {
	kc := n.Layout.ComponentKubeconfig("kube-scheduler")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(n.Ports.Scheduler),
		"--leader-elect=false",
		"--profiling=false",
	}
}

// KubeletArgs are the kubelet's flags (the rest is in its config file).
func KubeletArgs(n Node) []string {
	return []string{
		"--config=" + n.Layout.KubeletConfig(),
		"--kubeconfig=" + n.Layout.ComponentKubeconfig("kubelet"),
		"--root-dir=" + n.Layout.KubeletRoot(),
		"--cert-dir=" + n.Layout.KubeletPKI(),
		"--node-ip=" + n.Network.NodeIP,
		"--hostname-override=" + n.Name,
		"--v=1",
	}
}

// KubeProxyArgs are kube-proxy's flags.
func KubeProxyArgs(n Node) []string {
	return []string{"--config=" + n.Layout.KubeProxyConfig(), "--v=1"}
}

// ContainerdArgs are containerd's flags.
func ContainerdArgs(n Node) []string {
	return []string{"--config=" + n.Layout.ContainerdConfig(), "--log-level=warn"}
}
