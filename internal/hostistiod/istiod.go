// Package hostistiod runs the real istiod (Istio's pilot-discovery) of a
// MeshControlPlane's istiod pod as a process on this host, for clusters whose
// nodes cannot run it (kwok): with the pod's rendered args and env, the
// ServiceAccount's credentials only (a TokenRequest for istio-system/istiod
// bound to the pod, nothing more) and its volumes (internal/hostpod). The
// API objects, RBAC, mesh config and everything istiod reads and writes are
// real; only its listeners move to free loopback ports, since the host is
// not the pod's network namespace. Its readiness (GET /ready, the rendered
// readiness probe) is written into the pod's status, as the kubelet's probe
// would, so the Deployment and the MeshControlPlane's Ready condition follow
// the real istiod.
package hostistiod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"virtmesh.io/virtmesh/internal/hostpod"
)

// Container is the name of istiod's container in the rendered Deployment.
const Container = "discovery"

// Ports are istiod's listeners on 127.0.0.1.
type Ports struct {
	HTTP       int // 8080: /ready and the debug endpoints
	GRPC       int // 15010: plaintext xDS
	SecureGRPC int // 15012: xDS and the CA over TLS
	Monitoring int // 15014: metrics and the debug endpoints
	Webhook    int // 15017: injection and validation webhooks
}

// containerPorts maps the pod's ports to the host's.
func (p Ports) containerPorts() map[int32]int {
	return map[int32]int{8080: p.HTTP, 15010: p.GRPC, 15012: p.SecureGRPC, 15014: p.Monitoring, 15017: p.Webhook}
}

// Addr is 127.0.0.1:port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Options say which pod to run and how.
type Options struct {
	// Client acts as the kubelet: TokenRequests, volumes and pod status.
	Client kubernetes.Interface
	// Config locates the API server (address and CA) for istiod's kubeconfig.
	Config *rest.Config
	// Binary is pilot-discovery (bin/pilot-discovery).
	Binary string
	// Dir is istiod's working directory, standing in for its root file system.
	Dir string
	// Pod is the istiod pod, as read from the API server.
	Pod *corev1.Pod
	// Log receives istiod's output.
	Log io.Writer
}

// Istiod is a running istiod.
type Istiod struct {
	Ports     Ports
	Args, Env []string
	Pod       *corev1.Pod
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error
	probe     hostpod.Probe
}

// Start starts istiod for o.Pod and returns once the process runs.
func Start(ctx context.Context, o Options) (*Istiod, error) {
	c, err := hostpod.Find(o.Pod, Container)
	if err != nil {
		return nil, err
	}
	env, err := hostpod.Env(o.Pod, c)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := hostpod.Materialize(ctx, o.Client, o.Pod, c, o.Dir); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(o.Dir, "kubeconfig")
	if err := hostpod.WriteServiceAccountKubeconfig(ctx, o.Client, o.Config, o.Pod, kubeconfig, 48*time.Hour); err != nil {
		return nil, err
	}
	free, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	ports := Ports{HTTP: free[0], GRPC: free[1], SecureGRPC: free[2], Monitoring: free[3], Webhook: free[4]}
	// The rendered args, then the host's differences: the ServiceAccount's
	// kubeconfig (in the pod, in-cluster config from the same token) and
	// loopback listeners (pflag: the last value wins).
	args := append(hostpod.Args(c, env),
		"--kubeconfig", kubeconfig,
		"--httpAddr="+Addr(ports.HTTP), "--grpcAddr="+Addr(ports.GRPC), "--secureGRPCAddr="+Addr(ports.SecureGRPC),
		"--monitoringAddr="+Addr(ports.Monitoring), "--httpsAddr="+Addr(ports.Webhook))
	probe, err := readinessProbe(c, ports)
	if err != nil {
		return nil, err
	}
	binary, err := filepath.Abs(o.Binary)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = o.Dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	i := &Istiod{Ports: ports, Args: args, Env: env, Pod: o.Pod, cmd: cmd, done: make(chan struct{}), probe: probe}
	go func() {
		i.waitErr = cmd.Wait()
		close(i.done)
	}()
	return i, nil
}

// readinessProbe is the container's rendered readiness probe, on the host
// port its container port moved to.
func readinessProbe(c corev1.Container, ports Ports) (hostpod.Probe, error) {
	p := c.ReadinessProbe
	if p == nil || p.HTTPGet == nil {
		return hostpod.Probe{}, fmt.Errorf("container %s has no httpGet readiness probe", c.Name)
	}
	hostPort, ok := ports.containerPorts()[p.HTTPGet.Port.IntVal]
	if !ok {
		return hostpod.Probe{}, fmt.Errorf("readiness probe port %s is none of istiod's ports", p.HTTPGet.Port.String())
	}
	period, timeout := time.Duration(p.PeriodSeconds)*time.Second, time.Duration(p.TimeoutSeconds)*time.Second
	if period == 0 {
		period = 10 * time.Second
	}
	if timeout == 0 {
		timeout = time.Second
	}
	return hostpod.Probe{URL: "http://" + Addr(hostPort) + p.HTTPGet.Path, Period: period, Timeout: timeout}, nil
}

// Probe is istiod's readiness probe (GET /ready) on the host.
func (i *Istiod) Probe() hostpod.Probe { return i.probe }

// MirrorReadiness writes istiod's readiness into its pod's status until ctx
// ends or istiod exits (see hostpod.MirrorReadiness).
func (i *Istiod) MirrorReadiness(ctx context.Context, cs kubernetes.Interface, onChange func(ready bool, at time.Time)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-i.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return hostpod.MirrorReadiness(ctx, cs, i.Pod, Container, i.probe, onChange)
}

// PID is istiod's process id.
func (i *Istiod) PID() int { return i.cmd.Process.Pid }

// Done is closed when istiod exits.
func (i *Istiod) Done() <-chan struct{} { return i.done }

// Stop sends SIGTERM and waits up to grace (istiod drains for its
// --shutdownDuration, 10s by default), then kills it.
func (i *Istiod) Stop(grace time.Duration) error {
	_ = i.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-i.done:
	case <-time.After(grace):
		_ = i.cmd.Process.Kill()
		<-i.done
	}
	var exit *exec.ExitError
	if errors.As(i.waitErr, &exit) {
		return nil // killed by our signal
	}
	return i.waitErr
}

// freePorts reserves n free loopback ports (released before istiod binds
// them: a small race with other processes, acceptable on a test host).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
