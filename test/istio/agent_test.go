package istio

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"virtmesh.io/virtmesh/internal/hostistiod"
	"virtmesh.io/virtmesh/internal/hostpod"
	"virtmesh.io/virtmesh/internal/logtail"
)

// agentSpec says which pod's proxy to run.
type agentSpec struct {
	pod       *corev1.Pod
	container string // istio-proxy
	istiod    *hostistiod.Istiod
	// envoy starts the stand-in Envoy (the gateway: its certificate goes
	// through the SDS socket in the workload-socket volume); otherwise
	// DISABLE_ENVOY with OUTPUT_CERTS (proxyless, as Istio's grpc-agent
	// template).
	envoy bool
	// dropMounts removes volume mounts from the rendered container (to show
	// what breaks without them).
	dropMounts []string
	// suffix tells apart several agents for one pod.
	suffix string
	// owner stops the agent when it ends (default: the calling test), so
	// that later steps can use it.
	owner *testing.T
}

// agent is a running pilot-agent.
type agent struct {
	dir, name string
	env       map[string]string
	cmd       *exec.Cmd
	log       *syncBuffer
	done      chan struct{}
}

// rootDir is a root-owned directory standing in for a read-only root file
// system: readable by all, writable only in its emptyDir volumes.
func rootDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(stateDir, "hosts", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != filepath.Dir(stateDir); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// agentOverrides are the only differences from the rendered environment:
// where istiod listens on this host, a free status port (several agents
// share the host's network), and no Envoy (or the stand-in's path).
func agentOverrides(t *testing.T, env map[string]string, istiod *hostistiod.Istiod, envoy bool, dir string) {
	t.Helper()
	addr := fmt.Sprintf("localhost:%d", istiod.Ports.SecureGRPC)
	var pc map[string]any
	if err := json.Unmarshal([]byte(env["PROXY_CONFIG"]), &pc); err != nil {
		t.Fatalf("rendered PROXY_CONFIG %q: %v", env["PROXY_CONFIG"], err)
	}
	pc["discoveryAddress"] = addr
	pc["statusPort"] = freePort(t)
	env["CA_ADDR"] = addr
	if envoy {
		pc["binaryPath"] = filepath.Join(dir, "usr/local/bin/envoy")
		env[envoyStandInEnv] = "1"
	} else {
		env["DISABLE_ENVOY"] = "true"
		env["OUTPUT_CERTS"] = "./var/lib/istio/data"
	}
	b, _ := json.Marshal(pc)
	env["PROXY_CONFIG"] = string(b)
}

func startAgent(t *testing.T, s agentSpec) *agent {
	t.Helper()
	c, err := hostpod.Find(s.pod, s.container)
	if err != nil {
		t.Fatal(err)
	}
	c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return slices.Contains(s.dropMounts, m.Name) })
	name := s.pod.Name
	if s.suffix != "" {
		name += "-" + s.suffix
	}
	dir := rootDir(t, name)
	ctx := context.Background()
	if err := hostpod.Materialize(ctx, cs, s.pod, c, dir); err != nil {
		t.Fatal(err)
	}
	envList, err := hostpod.Env(s.pod, c)
	if err != nil {
		t.Fatal(err)
	}
	args := hostpod.Args(c, envList)
	env := hostpod.EnvMap(envList)
	agentOverrides(t, env, s.istiod, s.envoy, dir)
	// The image's binaries, where uid 1337 may run them.
	agentBin := filepath.Join(dir, "usr/local/bin/pilot-agent")
	copyFile(t, filepath.Join(binDir, "pilot-agent"), agentBin)
	if s.envoy {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, self, filepath.Join(dir, "usr/local/bin/envoy"))
		// pilot-agent renders Envoy's bootstrap from the template Istio's
		// proxyv2 image carries.
		istio, _ := pinnedModule(t, "istio.io/istio")
		copyFile(t, filepath.Join(istio, "tools/packaging/common/envoy_bootstrap.json"), filepath.Join(dir, "var/lib/istio/envoy/envoy_bootstrap_tmpl.json"))
	}
	cmd := exec.Command(agentBin, args...)
	cmd.Dir = dir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	slices.Sort(cmd.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: runAs(t, c)}
	a := &agent{dir: dir, name: name, env: env, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	logFile, err := os.Create(filepath.Join(stateDir, name+".agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.MultiWriter(a.log, logFile)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pilot-agent: %v", err)
	}
	untrack := track(cmd.Process)
	go func() {
		_ = cmd.Wait()
		untrack()
		_ = logFile.Close()
		close(a.done)
	}()
	owner := s.owner
	if owner == nil {
		owner = t
	}
	owner.Cleanup(a.stop)
	return a
}

func (a *agent) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// runAs is the container's securityContext user, as the kubelet runs it.
func runAs(t *testing.T, c corev1.Container) *syscall.Credential {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.RunAsUser == nil {
		t.Fatalf("container %s has no runAsUser: it would run as the image's user", c.Name)
	}
	gid := uint32(*sc.RunAsUser)
	if sc.RunAsGroup != nil {
		gid = uint32(*sc.RunAsGroup)
	}
	return &syscall.Credential{Uid: uint32(*sc.RunAsUser), Gid: gid, NoSetGroups: true}
}

// workloadCert waits for the certificate the agent writes (OUTPUT_CERTS)
// and returns the leaf and the time it appeared.
func (a *agent) workloadCert(t *testing.T, timeout time.Duration) (*x509.Certificate, []byte) {
	t.Helper()
	path := filepath.Join(a.dir, "var/lib/istio/data/cert-chain.pem")
	var chain []byte
	eventually(t, timeout, "pilot-agent of "+a.name+" writes its workload certificate", func() error {
		select {
		case <-a.done:
			t.Fatalf("pilot-agent of %s exited:\n%s", a.name, logtail.Last(a.log.String(), 30))
		default:
		}
		var err error
		chain, err = os.ReadFile(path)
		if err != nil || len(chain) == 0 {
			return fmt.Errorf("no %s yet", path)
		}
		return nil
	})
	return leaf(t, chain), chain
}

func leaf(t *testing.T, chain []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(chain)
	if block == nil {
		t.Fatalf("no PEM certificate in %q", chain)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// node is the xDS node pilot-agent generated from the rendered env (the
// Envoy bootstrap's node; for proxyless gRPC it writes it to
// grpc-bootstrap.json).
func (a *agent) nodeJSON(t *testing.T) map[string]any {
	t.Helper()
	path := filepath.Join(a.dir, "etc/istio/proxy/grpc-bootstrap.json")
	var boot struct {
		Node map[string]any `json:"node"`
	}
	eventually(t, 30*time.Second, "pilot-agent writes "+path, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &boot)
	})
	return boot.Node
}

func (a *agent) xdsSocket(t *testing.T) string {
	return filepath.Join(shortDir(t, filepath.Join(a.dir, "etc/istio/proxy")), "XDS")
}

// shortDir is a short symlink to dir: a unix socket's path may not be longer
// than 107 bytes, and the agent's (relative to its working directory) are
// under a long test directory.
func shortDir(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.CreateTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	link := f.Name()
	_ = f.Close()
	_ = os.Remove(link)
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(link) })
	return link
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
