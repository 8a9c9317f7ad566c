package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
)

// KubeVersion is the version kwokctl is told the binaries have.
const KubeVersion = "v1.37.2"

// kwok mode keeps hack/local-cluster.sh's files in the work directory,
// which hack/scale-run.sh and the kwok e2e read.
func kwokWorkdir(dir string) string { return filepath.Join(dir, "kwok") }

// A second operator replica (Config.ManagerID, for the leader-election
// faults) keeps its files next to the first one's: manager-<id>.pid.
func managerPIDFile(dir, id string) string { return filepath.Join(dir, "manager"+idSuffix(id)+".pid") }
func managerLogFile(dir, id string) string { return filepath.Join(dir, "manager"+idSuffix(id)+".log") }
func managerKubeconfig(dir string) string  { return filepath.Join(dir, "manager.kubeconfig") }
func managerPortFile(dir, id string) string {
	return filepath.Join(dir, "manager"+idSuffix(id)+".health-port")
}

func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return "-" + id
}

// kwokctlCommand is kwokctl with the environment that makes it use bin/ and
// never download (binary runtime, every binary a local path).
func kwokctlCommand(cfg Config, args ...string) []string {
	wd := kwokWorkdir(cfg.Dir)
	return append([]string{"env",
		"PATH=" + cfg.Bin + ":" + os.Getenv("PATH"),
		"KWOK_WORKDIR=" + wd,
		"KWOK_KUBE_VERSION=" + KubeVersion,
		"KWOK_RUNTIME=binary",
		"KWOK_KUBECTL_BINARY=" + filepath.Join(cfg.Bin, "kubectl"),
		"KWOK_KUBE_APISERVER_BINARY=" + filepath.Join(cfg.Bin, "kube-apiserver"),
		"KWOK_KUBE_CONTROLLER_MANAGER_BINARY=" + filepath.Join(cfg.Bin, "kube-controller-manager"),
		"KWOK_KUBE_SCHEDULER_BINARY=" + filepath.Join(cfg.Bin, "kube-scheduler"),
		"KWOK_CONTROLLER_BINARY=" + filepath.Join(cfg.Bin, "kwok"),
		"KWOK_ETCD_BINARY=" + filepath.Join(cfg.Bin, "etcd"),
		filepath.Join(cfg.Bin, "kwokctl"), "--v=" + or(cfg.KwokLogLevel, "WARN"),
	}, args...)
}

func kwokRunning(ctx context.Context, e *Env) bool {
	if !host.Exists(e.Layout.Kubeconfig()) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := e.Kubectl(ctx, nil, "get", "--raw", "/readyz")
	return err == nil
}

func upKwok(ctx context.Context, e *Env, cfg Config, choice Choice, samples bool) error {
	if !cfg.SkipBuild {
		if err := e.step("build: pinned binaries (hack/build-bins.sh), the operator (bin/manager) and bin/host-istiod", func() error {
			bins := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwokctl", "kustomize"}
			if cfg.HostIstiod {
				bins = append(bins, "pilot-discovery")
			}
			if _, err := e.Run(ctx, nil, "hack/build-bins.sh", bins...); err != nil {
				return err
			}
			if _, err := e.Run(ctx, nil, "go", "build", "-o", filepath.Join(cfg.Bin, "manager"), "."); err != nil {
				return err
			}
			_, err := e.Run(ctx, nil, "go", "build", "-o", filepath.Join(cfg.Bin, "host-istiod"), "./hack/host-istiod")
			return err
		}); err != nil {
			return err
		}
	}
	j, err := journal.Open(e.Layout.Journal())
	if err != nil {
		return err
	}
	defer j.Close()
	e.Journal = j
	if err := writeState(e.Layout, State{Mode: Kwok, Reason: choice.Reason, KwokNodes: choice.KwokNodes, Started: time.Now()}); err != nil {
		return err
	}
	if err := e.step(fmt.Sprintf("kwok cluster %q (kwokctl, binary runtime, Kubernetes %s)", cfg.Name, KubeVersion), func() error {
		return createKwokCluster(ctx, e, cfg)
	}); err != nil {
		return err
	}
	if err := e.step(fmt.Sprintf("%d simulated node(s)", choice.KwokNodes), func() error { return createKwokNodes(ctx, e, choice.KwokNodes) }); err != nil {
		return err
	}
	if err := e.step("CRDs, namespace virtmesh-system, ServiceAccount and RBAC (hack/local-cluster)", func() error { return installKwok(ctx, e) }); err != nil {
		return err
	}
	if err := e.step("operator (bin/manager on this host, as its ServiceAccount)", func() error { return OperatorStart(ctx, cfg) }); err != nil {
		return err
	}
	if cfg.HostIstiod {
		if err := e.step("istiod (Istio's pilot-discovery on this host for istio-system/istiod)", func() error { return IstiodStart(ctx, cfg) }); err != nil {
			return err
		}
	}
	if samples {
		if err := kwokSamples(ctx, e, cfg); err != nil {
			return err
		}
		kwokSummary(ctx, e, cfg, choice)
	}
	return nil
}

func createKwokCluster(ctx context.Context, e *Env, cfg Config) error {
	if kwokRunning(ctx, e) {
		e.Logf("reusing the running cluster %q (%s)", cfg.Name, e.Layout.Kubeconfig())
		return nil
	}
	if err := e.Record("kwok", journal.Step{Kind: journal.RunCommand, Command: kwokctlCommand(cfg, "delete", "cluster", "--name", cfg.Name)}); err != nil {
		return err
	}
	clusterDir := filepath.Join(kwokWorkdir(cfg.Dir), "clusters", cfg.Name)
	run := func(args ...string) error {
		c := kwokctlCommand(cfg, args...)
		_, err := e.Run(ctx, nil, c[0], c[1:]...)
		return err
	}
	if host.Exists(clusterDir) {
		e.Logf("cluster %q exists but does not answer: starting it", cfg.Name)
		if err := run("start", "cluster", "--name", cfg.Name, "--wait", "2m"); err != nil {
			e.Logf("start failed: recreating")
			_ = run("delete", "cluster", "--name", cfg.Name)
		}
	}
	if !host.Exists(clusterDir) {
		// One create at a time on this host: kwokctl picks the first free
		// ports from 32766 down, and two concurrent creates (test/e2e and
		// test/faults under go test ./...) would pick the same ones. The
		// lock's descriptor is close-on-exec, so no component kwokctl
		// starts holds it.
		unlock, err := lockFile(filepath.Join(os.TempDir(), "virtmesh-kwokctl-create.lock"))
		if err != nil {
			return err
		}
		defer unlock()
		// --kubeconfig '': leave ~/.kube/config alone. --heartbeat-factor 5:
		// node leases and status updates 5x slower than a kubelet's, so the
		// fake nodes keep a 2-core machine quiet.
		if err := run("create", "cluster", "--name", cfg.Name, "--runtime", "binary", "--kubeconfig", "",
			"--kube-apiserver-binary", filepath.Join(cfg.Bin, "kube-apiserver"),
			"--kube-controller-manager-binary", filepath.Join(cfg.Bin, "kube-controller-manager"),
			"--kube-scheduler-binary", filepath.Join(cfg.Bin, "kube-scheduler"),
			"--kwok-controller-binary", filepath.Join(cfg.Bin, "kwok"),
			"--etcd-binary", filepath.Join(cfg.Bin, "etcd"),
			"--heartbeat-factor", "5", "--wait", "3m"); err != nil {
			return err
		}
	}
	_ = os.Remove(e.Layout.Kubeconfig())
	if err := os.Symlink(filepath.Join(clusterDir, "kubeconfig.yaml"), e.Layout.Kubeconfig()); err != nil {
		return err
	}
	for range 60 {
		if kwokRunning(ctx, e) {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the API server does not answer; logs: %s", filepath.Join(clusterDir, "logs"))
}

func createKwokNodes(ctx context.Context, e *Env, n int) error {
	var b strings.Builder
	for i := range n {
		// kwok manages nodes annotated kwok.x-k8s.io/node=fake; no taint, so
		// launcher pods schedule without tolerations.
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-%d
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-%d
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", devices.kubevirt.io/kvm: 1k}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", devices.kubevirt.io/kvm: 1k}
`, i, i)
	}
	if _, err := e.Kubectl(ctx, []byte(b.String()), "apply", "-f", "-"); err != nil {
		return err
	}
	_, err := e.Kubectl(ctx, nil, "wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=60s")
	return err
}

func installKwok(ctx context.Context, e *Env) error {
	y, err := e.Run(ctx, nil, filepath.Join(e.Bin, "kustomize"), "build", filepath.Join(e.Repo, "hack", "local-cluster"))
	if err != nil {
		return err
	}
	if _, err := e.Kubectl(ctx, []byte(y), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return err
	}
	_, err = e.Kubectl(ctx, nil, "wait", "--for=condition=Established", "crd/virtualmachineinstances.virt.virtmesh.io", "crd/meshcontrolplanes.mesh.virtmesh.io", "--timeout=60s")
	return err
}

// managerEnv is the env of config/manager/manager.yaml's manager container.
func managerEnv(repo string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(repo, "config", "manager", "manager.yaml"))
	if err != nil {
		return nil, err
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name != "manager" {
				continue
			}
			var env []string
			for _, v := range c.Env {
				env = append(env, v.Name+"="+v.Value)
			}
			return env, nil
		}
	}
	return nil, errors.New("no manager container in config/manager/manager.yaml")
}

// kwokEnv is an Env for the operator commands of a kwok cluster.
func kwokEnv(cfg Config) (*Env, func(), error) {
	layout := Layoutof(cfg)
	verbose, err := openLog(layout)
	if err != nil {
		return nil, nil, err
	}
	j, err := journal.Open(layout.Journal())
	if err != nil {
		verbose.Close()
		return nil, nil, err
	}
	e := &Env{Repo: cfg.Repo, Bin: cfg.Bin, Layout: layout, Out: cfg.Out, Verbose: verbose, Journal: j}
	return e, func() { j.Close(); verbose.Close() }, nil
}

// OperatorStart (re)starts the operator: on a kwok cluster bin/manager on
// this host, as its ServiceAccount (or admin); on the real node its
// Deployment is scaled to one replica.
func OperatorStart(ctx context.Context, cfg Config) error {
	if st, err := ReadState(cfg.Dir); err == nil && st.Mode == RealNode {
		return realOperatorScale(ctx, cfg, 1)
	}
	e, done, err := kwokEnv(cfg)
	if err != nil {
		return err
	}
	defer done()
	if !kwokRunning(ctx, e) {
		return fmt.Errorf("no cluster in %s: run up first", cfg.Dir)
	}
	bin := or(cfg.ManagerBin, filepath.Join(cfg.Bin, "manager"))
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is missing: build it with go build -o bin/manager", bin)
	}
	if err := operatorStopKwok(cfg, true); err != nil {
		return err
	}
	switch or(cfg.OperatorAs, "serviceaccount") {
	case "serviceaccount":
		if err := writeManagerKubeconfig(ctx, e, cfg); err != nil {
			return err
		}
	case "admin":
		raw, err := e.Kubectl(ctx, nil, "config", "view", "--raw", "--minify", "--flatten")
		if err != nil {
			return err
		}
		if err := WriteFile(managerKubeconfig(cfg.Dir), []byte(raw), 0o600); err != nil {
			return err
		}
	default:
		return errors.New("VIRTMESH_OPERATOR_AS must be serviceaccount or admin")
	}
	env, err := managerEnv(cfg.Repo)
	if err != nil {
		return err
	}
	ports, err := FreePorts(1)
	if err != nil {
		return err
	}
	port := ports[0]
	if err := WriteFile(managerPortFile(cfg.Dir, cfg.ManagerID), []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return err
	}
	args := []string{"--kubeconfig", managerKubeconfig(cfg.Dir), "--metrics-bind-address=0", fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", port)}
	if cfg.LeaderElect {
		// Outside a cluster the manager cannot find its own namespace; the
		// Lease goes where config/rbac's leader-election Role allows it.
		args = append(args, "--leader-elect", "--leader-election-namespace="+OperatorNamespace)
	}
	args = append(args, strings.Fields(cfg.ManagerArgs)...)
	e.Logf("starting the operator: %s %s (as %s; log: %s)", bin, strings.Join(args, " "), or(cfg.OperatorAs, "serviceaccount"), managerLogFile(cfg.Dir, cfg.ManagerID))
	if err := e.Record("operator", stopDaemonStep(e, bin, 10*time.Second)); err != nil {
		return err
	}
	if err := e.startDaemon("operator", bin, args, daemonOpts{log: managerLogFile(cfg.Dir, cfg.ManagerID), pid: managerPIDFile(cfg.Dir, cfg.ManagerID), env: env}); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	if err := e.Poll(rctx, "operator", "ready", 500*time.Millisecond, func(ctx context.Context) error { return httpOK(ctx, http.DefaultClient, url) }); err != nil {
		return err
	}
	b, _ := os.ReadFile(managerPIDFile(cfg.Dir, cfg.ManagerID))
	e.Logf("operator ready (pid %s)", strings.TrimSpace(string(b)))
	return nil
}

// OperatorStop stops the operator (kwok: the host process; real node: the
// Deployment scaled to zero).
func OperatorStop(ctx context.Context, cfg Config) error {
	if st, err := ReadState(cfg.Dir); err == nil && st.Mode == RealNode {
		return realOperatorScale(ctx, cfg, 0)
	}
	return operatorStopKwok(cfg, false)
}

func operatorStopKwok(cfg Config, quiet bool) error {
	b, err := os.ReadFile(managerPIDFile(cfg.Dir, cfg.ManagerID))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && host.Alive(pid, 0) {
		if !quiet {
			fmt.Fprintf(cfg.Out, "[local-cluster] stopping the operator (pid %d)\n", pid)
		}
		if err := host.Stop(pid, 0, 10*time.Second); err != nil {
			return err
		}
	}
	return os.Remove(managerPIDFile(cfg.Dir, cfg.ManagerID))
}

func realOperatorScale(ctx context.Context, cfg Config, replicas int) error {
	e := &Env{Repo: cfg.Repo, Bin: cfg.Bin, Layout: Layoutof(cfg), Out: cfg.Out}
	if _, err := e.Kubectl(ctx, nil, "scale", "-n", OperatorNamespace, "deployment/"+OperatorDeployment, fmt.Sprintf("--replicas=%d", replicas)); err != nil {
		return err
	}
	if replicas == 0 {
		_, err := e.Kubectl(ctx, nil, "wait", "--for=delete", "pod", "-n", OperatorNamespace, "-l", "control-plane=controller-manager", "--timeout=60s")
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return rolloutStatus(rctx, e, OperatorNamespace, "deployment/"+OperatorDeployment)
}

// writeManagerKubeconfig gives the host operator its ServiceAccount's
// identity, so it has exactly config/rbac's permissions.
func writeManagerKubeconfig(ctx context.Context, e *Env, cfg Config) error {
	server, err := e.Kubectl(ctx, nil, "config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	if err != nil {
		return err
	}
	ca, err := e.Kubectl(ctx, nil, "config", "view", "--raw", "--minify", "--flatten", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}")
	if err != nil {
		return err
	}
	token, err := e.Kubectl(ctx, nil, "-n", "virtmesh-system", "create", "token", "virtmesh-controller-manager", "--duration=48h")
	if err != nil {
		return err
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: %[1]s
    cluster:
      server: %[2]s
      certificate-authority-data: %[3]s
users:
  - name: virtmesh-controller-manager
    user:
      token: %[4]s
contexts:
  - name: virtmesh-controller-manager
    context:
      cluster: %[1]s
      user: virtmesh-controller-manager
current-context: virtmesh-controller-manager
`, cfg.Name, strings.TrimSpace(server), strings.TrimSpace(ca), strings.TrimSpace(token))
	return WriteFile(managerKubeconfig(cfg.Dir), []byte(kc), 0o600)
}

// Layoutof is the layout of cfg's work directory.
func Layoutof(cfg Config) nodecfg.Layout { return nodecfg.Layout{Dir: cfg.Dir} }

func kwokSamples(ctx context.Context, e *Env, cfg Config) error {
	to := waitTimeout(cfg)
	samples := filepath.Join(cfg.Repo, "config", "samples")
	return e.step("samples: mcp/basic (Ready with the real istiod), namespace bookinfo, the details VM (kwok: Ready means scheduled, not booted), bookinfo-istio.yaml", func() error {
		if _, err := e.Kubectl(ctx, nil, "apply", "-f", filepath.Join(samples, "mesh_v1alpha1_meshcontrolplane.yaml")); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, nil, "wait", "--for=condition=Ready", "mcp/basic", "-n", "istio-system", "--timeout="+to); err != nil {
			return err
		}
		// A launcher pod is enrolled only if its namespace already is a
		// member when the pod is made: the namespace first, then the VM.
		if _, err := e.Kubectl(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bookinfo\n"), "apply", "-f", "-"); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, nil, "wait", `--for=jsonpath={.metadata.labels.mesh\.virtmesh\.io/member-of}=istio-system.basic`, "namespace/bookinfo", "--timeout="+to); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, nil, "apply", "-f", filepath.Join(samples, "bookinfo-details-vm.yaml")); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, nil, "wait", "--for=condition=Ready", "virtualmachines.virt.virtmesh.io/details-v1", "-n", "bookinfo", "--timeout="+to); err != nil {
			return err
		}
		// Request routing, the gateway and authorization: read by the
		// real istiod.
		_, err := e.Kubectl(ctx, nil, "apply", "-f", filepath.Join(samples, "bookinfo-istio.yaml"))
		return err
	})
}

func kwokSummary(ctx context.Context, e *Env, cfg Config, choice Choice) {
	nodes, _ := e.Kubectl(ctx, nil, "get", "nodes", "-o", "wide")
	objs, _ := e.Kubectl(ctx, nil, "get", "mcp,mvm,mvmi,pods", "-A")
	pid, _ := os.ReadFile(managerPIDFile(cfg.Dir, cfg.ManagerID))
	fmt.Fprintf(e.Out, `
%s

%s

VirtMesh runs on a local cluster: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler are real; the %d node(s) are simulated by kwok. kwok plays
the kubelet: it marks pods Running/Ready and gives them IPs, but starts no
containers and boots no VMs, so "Running" means rendered, admitted and
scheduled, not booted. (As root, make run-local runs a real node instead.)

  export KUBECONFIG=%s
  kubectl get mcp,mvm,mvmi,pods -A
  kubectl describe mvm,mvmi details-v1 -n bookinfo

Operator: pid %s, log %s
istiod (real, on this host): log %s; its ports (/debug/* on monitoring): %s
Cluster logs: %s
Stop everything: make stop-local
`, strings.TrimSpace(nodes), strings.TrimSpace(objs), choice.KwokNodes, e.Layout.Kubeconfig(), or(strings.TrimSpace(string(pid)), "?"),
		managerLogFile(cfg.Dir, cfg.ManagerID), istiodLogFile(cfg.Dir), filepath.Join(istiodDir(cfg.Dir), "ports"), filepath.Join(kwokWorkdir(cfg.Dir), "clusters", cfg.Name, "logs"))
}

// lockFile takes an exclusive flock on path (created if absent) and
// returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}
