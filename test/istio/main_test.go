package istio

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"virtmesh.io/virtmesh/internal/logtail"
	vmscheme "virtmesh.io/virtmesh/internal/scheme"
	"virtmesh.io/virtmesh/internal/testing/interrupt"
)

// envoyStandInEnv makes the test binary the gateway's stand-in Envoy: a
// process pilot-agent can start and stop (there is no Envoy on these
// machines).
const envoyStandInEnv = "VIRTMESH_ENVOY_STANDIN"

var (
	repoRoot, binDir, stateDir string
	kubeconfig                 string
	restConfig                 *rest.Config
	cs                         kubernetes.Interface
	k8s                        client.Client
	scriptEnv                  []string
	managerBin                 string
)

func TestMain(m *testing.M) {
	if os.Getenv(envoyStandInEnv) == "1" {
		standInEnvoy()
		return
	}
	os.Exit(run(m))
}

// standInEnvoy waits for pilot-agent to stop it.
func standInEnvoy() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func run(m *testing.M) int {
	flag.Parse()
	_, file, _, _ := goruntime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	binDir = filepath.Join(repoRoot, "bin")
	var err error
	if stateDir, err = os.MkdirTemp("", "virtmesh-istio-"); err != nil {
		fmt.Fprintln(os.Stderr, "istio:", err)
		return 1
	}
	managerBin = filepath.Join(stateDir, "manager")
	bins := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwokctl", "kustomize", "pilot-discovery", "pilot-agent"}
	// Builds run before m.Run, outside go test's -timeout. The pinned Istio
	// takes minutes to build from a cold cache, once (bin/ keeps it).
	if out, err := command(40*time.Minute, nil, filepath.Join(repoRoot, "hack/build-bins.sh"), bins...); err != nil {
		fmt.Fprintf(os.Stderr, "istio: the pinned binaries (%s) cannot be built: %v\n%s\n", strings.Join(bins, ", "), err, logtail.Last(out, 40))
		return 1
	}
	if out, err := command(10*time.Minute, nil, "go", "build", "-o", managerBin, "."); err != nil {
		fmt.Fprintf(os.Stderr, "istio: go build of the operator failed: %v\n%s\n", err, out)
		return 1
	}
	scriptEnv = []string{"VIRTMESH_LOCAL_DIR=" + filepath.Join(stateDir, "cluster"), "VIRTMESH_CLUSTER_NAME=virtmesh-istio",
		"VIRTMESH_SKIP_BUILD=1", "VIRTMESH_HOST_ISTIOD=0", "VIRTMESH_MANAGER_BIN=" + managerBin, "VIRTMESH_NODES=kwok"}
	kubeconfig = filepath.Join(stateDir, "cluster", "kubeconfig")
	stop := interrupt.Teardown("istio", func() { stopProcesses(); _, _ = teardown() })
	defer stop()
	code := 1
	start := time.Now()
	if out, err := script(10*time.Minute, "up", "--no-samples"); err != nil {
		fmt.Fprintf(os.Stderr, "istio: hack/local-cluster.sh up failed: %v\n%s\n", err, out)
	} else if err := connect(); err != nil {
		fmt.Fprintln(os.Stderr, "istio:", err)
	} else {
		fmt.Fprintf(os.Stderr, "istio: cluster up in %s (state %s)\n", time.Since(start).Round(time.Second), stateDir)
		code = m.Run()
	}
	printMeasurements()
	if code != 0 {
		if b, err := os.ReadFile(filepath.Join(stateDir, "cluster", "manager.log")); err == nil {
			fmt.Fprintf(os.Stderr, "istio: last lines of the operator log:\n%s\n", logtail.Last(string(b), 40))
		}
	}
	if os.Getenv("VIRTMESH_ISTIO_KEEP") == "1" {
		fmt.Fprintf(os.Stderr, "istio: kept the cluster: export KUBECONFIG=%s; remove it with: %s hack/local-cluster.sh down\n", kubeconfig, strings.Join(scriptEnv, " "))
		return code
	}
	if out, err := teardown(); err != nil {
		fmt.Fprintf(os.Stderr, "istio: hack/local-cluster.sh down failed: %v\n%s\n", err, out)
		code = 1
	}
	return code
}

func connect() error {
	var err error
	if restConfig, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		return err
	}
	if cs, err = kubernetes.NewForConfig(restConfig); err != nil {
		return err
	}
	k8s, err = client.New(restConfig, client.Options{Scheme: vmscheme.New()})
	return err
}

var teardownOnce sync.Once

func teardown() (string, error) {
	var out string
	var err error
	teardownOnce.Do(func() {
		out, err = script(3*time.Minute, "down")
		_ = os.RemoveAll(stateDir)
	})
	return out, err
}

// processes started by the tests (istiod, agents), stopped on interrupt.
var (
	procMu    sync.Mutex
	processes = map[*os.Process]bool{}
)

func track(p *os.Process) func() {
	procMu.Lock()
	processes[p] = true
	procMu.Unlock()
	return func() {
		procMu.Lock()
		delete(processes, p)
		procMu.Unlock()
	}
}

func stopProcesses() {
	procMu.Lock()
	defer procMu.Unlock()
	for p := range processes {
		_ = p.Kill()
	}
}

// command runs name args in the repository root.
func command(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

func script(timeout time.Duration, args ...string) (string, error) {
	return command(timeout, scriptEnv, filepath.Join(repoRoot, "hack/local-cluster.sh"), args...)
}

// kubectl runs bin/kubectl against the suite's cluster.
func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Dir = repoRoot
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// eventually polls f until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: %v", timeout, what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// measurements are what the suite timed and sized; printed at the end even
// without -v, so CI logs keep them.
var (
	measureMu    sync.Mutex
	measurements []string
)

func measure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	measureMu.Lock()
	measurements = append(measurements, line)
	measureMu.Unlock()
}

func printMeasurements() {
	measureMu.Lock()
	defer measureMu.Unlock()
	for _, m := range measurements {
		fmt.Fprintln(os.Stderr, "istio: measured:", m)
	}
}
