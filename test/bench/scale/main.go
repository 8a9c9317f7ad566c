// Command scale measures, in one run on a fresh local kwok cluster
// (hack/local-cluster.sh, driven through internal/testing/kwokcluster),
// what the operator path costs against creating the same pods directly:
//
//	pods        N Pods, each the launcher pod the operator renders for
//	            the VMI below (without its owner, finalizer and VMI label),
//	            created unpaced by this program (the baseline), then deleted
//	vmis        N VMIs outside the mesh, created unpaced the same way; the
//	            operator creates N launcher pods; then the N VMIs are deleted
//	mesh        N VMIs in a member namespace of MeshControlPlane istio-system/scale
//	paced-pods  N plain Pods created at --pace per second (KubeVirt's 10/s)
//	paced-vmis  N VMIs created at --pace per second
//
// Every time is taken by this program from its own clock: when it sends a
// create, when a watch event shows a pod ADDED, Ready turning True, or a pod
// DELETED; percentiles come from the raw per-object samples. The operator
// runs as the manager Deployment runs it (its ServiceAccount, leader
// election on) with a loopback metrics endpoint, from which the run reads
// API requests by verb and resource (virtmesh_apiserver_requests_total),
// reconciles and the work queue; CPU time and peak RSS come from /proc.
//
// Results go to <out>/<date>-<commit>-n<N>.{json,md}; --compare a.json b.json
// prints two runs side by side. See docs/performance.md.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/controllers/virt"
	"virtmesh.io/virtmesh/internal/apimetrics"
	vmscheme "virtmesh.io/virtmesh/internal/scheme"
	"virtmesh.io/virtmesh/internal/testing/kwokcluster"
	"virtmesh.io/virtmesh/internal/testing/repo"
)

type options struct {
	n           int
	nodes       int
	pace        float64
	creators    int
	phases      string
	out         string
	keep        bool
	managerBin  string
	managerArgs string
	quiet       time.Duration
	compare     bool
	noVMIRules  bool
	profile     string
	profileSecs int
	profileWait time.Duration
	heap        bool
	memLimit    string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 100, "objects per phase")
	flag.IntVar(&o.nodes, "nodes", 0, "fake nodes (0: max(2, N/80+1); a node holds 110 pods and 32 CPUs, a mesh launcher pod requests 360m, and each phase is deleted before the next)")
	flag.Float64Var(&o.pace, "pace", 10, "creates per second in the paced phases (KubeVirt's density tests create 10 VMIs/s)")
	flag.IntVar(&o.creators, "creators", 32, "concurrent create and delete calls in the unpaced phases (the same for pods and VMIs)")
	flag.StringVar(&o.phases, "phases", "pods,vmis,mesh,paced-pods,paced-vmis", "phases to run, in this order")
	flag.StringVar(&o.out, "out", "test/bench/results", "directory for the JSON and Markdown results (relative to the repository root); empty: none")
	flag.BoolVar(&o.keep, "keep", false, "leave the cluster running")
	flag.StringVar(&o.managerBin, "manager", "", "operator binary (default: built from the working tree into the run directory)")
	flag.StringVar(&o.managerArgs, "manager-args", "", "extra operator flags, e.g. --vmi-workers=1")
	flag.DurationVar(&o.quiet, "quiet", 5*time.Second, "how long the reconcile counter must stand still to count as settled")
	flag.StringVar(&o.profile, "profile", "", "phase during which to record a CPU profile (-profile-seconds) of kube-apiserver, and of the operator with -operator-heap (saved in the run directory)")
	flag.IntVar(&o.profileSecs, "profile-seconds", 10, "length of the -profile CPU profiles")
	flag.DurationVar(&o.profileWait, "profile-after", 0, "start the -profile CPU profiles this long after the phase's first create (to look at a late stretch of it)")
	flag.BoolVar(&o.heap, "operator-heap", false, "run the operator with --pprof-bind-address and save its heap profile (after a GC) once each phase has settled, as operator-heap-<phase>.pprof in the run directory")
	flag.StringVar(&o.memLimit, "operator-memory-limit", "256Mi", "the operator's container memory limit, passed as the manager Deployment passes it (CONTAINER_MEMORY_LIMIT, from limits.memory): the operator's Go soft memory limit is --memory-limit-ratio of it; empty: none")
	flag.BoolVar(&o.noVMIRules, "without-vmi-rules", false, "experiment: remove the VirtualMachineInstance CRD's CEL rules before the phases, to measure what admission costs (the result is marked as such)")
	flag.BoolVar(&o.compare, "compare", false, "print two result files side by side: scale --compare a.json b.json")
	flag.Parse()
	var err error
	if o.compare {
		err = compare(os.Stdout, flag.Args())
	} else {
		_, err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[scale %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// controllers as the operator's metrics name them.
const (
	vmiController = virt.ControllerName
	mcpController = "meshcontrolplane"
)

// run measures the phases o names on a fresh cluster and writes the result
// files; it returns the result too (TestSmoke reads it).
func run(o options) (*Result, error) {
	if o.n <= 0 {
		return nil, errors.New("-n must be positive")
	}
	if o.nodes == 0 {
		// A kwok node offers 110 pods and 32 CPUs; a mesh launcher pod
		// requests 360m (compute 250m, istio-proxy 100m, a container disk
		// helper 10m), so CPU runs out first: 80 per node leaves headroom.
		o.nodes = max(2, o.n/80+1)
	}
	root, err := repo.RootFromWorkingDir()
	if err != nil {
		return nil, err
	}
	// Interrupted, the run still tears its cluster down (the deferred Down).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runDir, err := os.MkdirTemp("", "virtmesh-scale.")
	if err != nil {
		return nil, err
	}
	logf("N=%d, %d fake nodes, pace %g/s, run directory %s", o.n, o.nodes, o.pace, runDir)
	if o.managerBin == "" {
		o.managerBin = filepath.Join(runDir, "manager")
		logf("building the operator into %s", o.managerBin)
		if err := kwokcluster.BuildManager(ctx, root, o.managerBin); err != nil {
			return nil, err
		}
	}
	metricsAddr, err := kwokcluster.FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--metrics-bind-address=" + metricsAddr}, strings.Fields(o.managerArgs)...)
	if o.memLimit != "" {
		q, err := apiresource.ParseQuantity(o.memLimit)
		if err != nil {
			return nil, fmt.Errorf("-operator-memory-limit: %w", err)
		}
		// The operator inherits the driver's environment (kwokcluster).
		if err := os.Setenv("CONTAINER_MEMORY_LIMIT", strconv.FormatInt(q.Value(), 10)); err != nil {
			return nil, err
		}
	}
	var pprofAddr string
	if o.heap {
		if pprofAddr, err = kwokcluster.FreePort(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-bind-address="+pprofAddr)
	}
	cl, err := kwokcluster.Up(ctx, kwokcluster.Options{
		Root: root, Dir: filepath.Join(runDir, "cluster"), Name: fmt.Sprintf("vm-scale-%d", os.Getpid()),
		Nodes: o.nodes, ManagerBin: o.managerBin, ManagerArgs: args, LeaderElect: true, Log: prefixWriter{},
	})
	if err != nil {
		return nil, err
	}
	op := cl.Operator("", metricsAddr)
	defer func() {
		if b, err := os.ReadFile(op.LogPath()); err == nil {
			_ = os.WriteFile(filepath.Join(runDir, "manager.log"), b, 0o644)
		}
		if o.keep {
			logf("cluster kept: export KUBECONFIG=%s", cl.Kubeconfig)
			return
		}
		if err := cl.Down(context.Background()); err != nil {
			logf("teardown: %v", err)
		}
		logf("run directory: %s", runDir)
	}()
	wc, err := client.NewWithWatch(cl.Config, client.Options{Scheme: vmscheme.New()})
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, c: wc, op: op, pid: op.PID(), components: cl.ComponentPIDs(), cl: cl, runDir: runDir, pprofAddr: pprofAddr}
	if b.pid == 0 {
		return nil, errors.New("the operator is not running")
	}
	if err := b.setupMesh(ctx); err != nil {
		return nil, err
	}
	res := &Result{N: o.n, Nodes: o.nodes, Pace: o.pace, Creators: o.creators, ManagerArgs: strings.Join(args[1:], " ")}
	if o.noVMIRules {
		if err := b.dropVMIRules(ctx); err != nil {
			return nil, fmt.Errorf("-without-vmi-rules: %w", err)
		}
		res.Ablation = ablationNoVMIRules
	}
	res.describe(root)
	for _, key := range strings.Split(o.phases, ",") {
		spec, ok := phaseSpecs[strings.TrimSpace(key)]
		if !ok {
			return nil, fmt.Errorf("unknown phase %q", key)
		}
		pr, err := b.phase(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", spec.key, err)
		}
		res.Phases = append(res.Phases, pr)
	}
	proc, err := kwokcluster.ReadProc(b.pid)
	if err != nil {
		return nil, err
	}
	res.PeakRSSMiB = Num(proc.PeakRSSMiB)
	res.CPUSeconds = Num(proc.CPUSeconds)
	res.summarize()
	md := res.markdown()
	fmt.Print(md)
	if o.out != "" {
		dir := o.out
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		base := filepath.Join(dir, fmt.Sprintf("%s-%s-n%d", time.Now().UTC().Format("20060102-150405"), res.Commit, o.n))
		if res.Ablation != "" {
			base += "-" + res.Ablation
		}
		j, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(base+".json", append(j, '\n'), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
			return nil, err
		}
		logf("results: %s.{json,md}", base)
	}
	return res, nil
}

type prefixWriter struct{}

func (prefixWriter) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

type bench struct {
	o          options
	c          client.WithWatch
	op         *kwokcluster.Operator
	pid        int
	components map[string]int
	cl         *kwokcluster.Cluster
	runDir     string
	pprofAddr  string // the operator's pprof endpoint; empty: none
}

// heapProfile saves the operator's heap profile (after a GC, so inuse is
// what the informers and queues hold) for go tool pprof.
func (b *bench) heapProfile(ctx context.Context, phase string) {
	if b.pprofAddr == "" {
		return
	}
	body, err := httpGet(ctx, http.DefaultClient, "http://"+b.pprofAddr+"/debug/pprof/heap?gc=1")
	if err != nil {
		logf("operator heap: %v", err)
		return
	}
	out := filepath.Join(b.runDir, "operator-heap-"+phase+".pprof")
	if err := os.WriteFile(out, body, 0o644); err == nil {
		logf("operator heap: %s", out)
	}
}

// profile saves a CPU profile (-profile-seconds) of kube-apiserver and, with
// -operator-heap (which turns the operator's pprof endpoint on), of the
// operator.
func (b *bench) profile(ctx context.Context, phase string) {
	hc, err := rest.HTTPClientFor(b.cl.Config)
	if err != nil {
		logf("profile: %v", err)
		return
	}
	get := func(c *http.Client, url, out string) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.o.profileWait):
		}
		body, err := httpGet(ctx, c, url)
		if err != nil {
			logf("profile %s: %v", url, err)
			return
		}
		if err := os.WriteFile(out, body, 0o644); err == nil {
			logf("profile: %s", out)
		}
	}
	go get(hc, b.cl.Config.Host+"/debug/pprof/profile?seconds="+strconv.Itoa(b.o.profileSecs), filepath.Join(b.runDir, "apiserver-"+phase+".pprof"))
	if b.pprofAddr != "" {
		go get(http.DefaultClient, "http://"+b.pprofAddr+"/debug/pprof/profile?seconds="+strconv.Itoa(b.o.profileSecs), filepath.Join(b.runDir, "operator-"+phase+".pprof"))
	}
}

// apiserverMetrics scrapes kube-apiserver's /metrics (nil when it cannot:
// the request table is a diagnostic, not a figure).
func (b *bench) apiserverMetrics(ctx context.Context) kwokcluster.Metrics {
	hc, err := rest.HTTPClientFor(b.cl.Config)
	if err != nil {
		return nil
	}
	body, err := httpGet(ctx, hc, b.cl.Config.Host+"/metrics")
	if err != nil {
		return nil
	}
	m, err := kwokcluster.ParseMetrics(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	return m
}

// httpGet returns the body of a GET of url (the profiles and metrics the
// driver reads from kube-apiserver and the operator).
func httpGet(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return io.ReadAll(resp.Body)
}

// writeAPIRequests saves, as apiserver-requests-<phase>.txt in the run
// directory, the requests kube-apiserver served from before the phase's
// first create until all were Ready, from every client, by verb, resource
// and code: what the whole cluster, not only the operator, asked of it.
func (b *bench) writeAPIRequests(ctx context.Context, phase string, before kwokcluster.Metrics) {
	after := b.apiserverMetrics(ctx)
	if before == nil || after == nil {
		return
	}
	key := func(s kwokcluster.Sample) string {
		r := s.Labels["resource"]
		if s.Labels["subresource"] != "" {
			r += "/" + s.Labels["subresource"]
		}
		if s.Labels["group"] != "" {
			r += "." + s.Labels["group"]
		}
		return fmt.Sprintf("%-8s %-60s %s", s.Labels["verb"], r, s.Labels["code"])
	}
	counts := map[string]float64{}
	for _, s := range after.Select("apiserver_request_total", nil) {
		counts[key(s)] += s.Value
	}
	for _, s := range before.Select("apiserver_request_total", nil) {
		counts[key(s)] -= s.Value
	}
	keys := make([]string, 0, len(counts))
	for k, v := range counts {
		if v >= 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var out strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&out, "%8.0f  %s\n", counts[k], k)
	}
	_ = os.WriteFile(filepath.Join(b.runDir, "apiserver-requests-"+phase+".txt"), []byte(out.String()), 0o644)
}

// cpu reads the CPU seconds of the operator, the cluster's components and
// this driver.
func (b *bench) cpu() map[string]float64 {
	out := map[string]float64{}
	pids := map[string]int{"operator": b.pid, "driver": os.Getpid()}
	for k, v := range b.components {
		pids[k] = v
	}
	for name, pid := range pids {
		if p, err := kwokcluster.ReadProc(pid); err == nil {
			out[name] = p.CPUSeconds
		}
	}
	return out
}

type phaseSpec struct {
	key, title, ns string
	vmis, mesh     bool
	paced          bool
}

var phaseSpecs = map[string]phaseSpec{
	"pods":       {key: "pods", title: "plain Pods, unpaced (baseline)", ns: "scale-pods"},
	"vmis":       {key: "vmis", title: "VMIs outside the mesh, unpaced", ns: "scale-vmis", vmis: true},
	"mesh":       {key: "mesh", title: "mesh-enrolled VMIs, unpaced", ns: "scale-mesh", vmis: true, mesh: true},
	"paced-pods": {key: "paced-pods", title: "plain Pods at the pace", ns: "scale-paced-pods", paced: true},
	"paced-vmis": {key: "paced-vmis", title: "VMIs outside the mesh at the pace", ns: "scale-paced-vmis", vmis: true, paced: true},
}

// setupMesh creates MeshControlPlane istio-system/scale with member
// namespace scale-mesh and waits for it to be Reconciled and for the operator to
// label scale-mesh: a launcher pod is enrolled only if its namespace already
// is a member when the pod is made.
func (b *bench) setupMesh(ctx context.Context) error {
	logf("creating MeshControlPlane istio-system/scale (member namespace scale-mesh)")
	for _, ns := range []string{"istio-system", "scale-mesh"} {
		if err := b.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	mcp := &meshv1alpha1.MeshControlPlane{ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: "istio-system"}}
	mcp.Spec.Members.Namespaces = []string{"scale-mesh"}
	if err := b.c.Create(ctx, mcp); err != nil {
		return err
	}
	return poll(ctx, 5*time.Minute, "mcp/scale Reconciled and scale-mesh labelled", func() error {
		if err := b.c.Get(ctx, client.ObjectKeyFromObject(mcp), mcp); err != nil {
			return err
		}
		// No istiod runs (kwokcluster): Reconciled with a published
		// injection snapshot is what launcher pods are rendered from.
		if !meta.IsStatusConditionTrue(mcp.Status.Conditions, meshv1alpha1.ConditionReconciled) || mcp.Status.InjectionSnapshot == "" {
			return fmt.Errorf("mcp/scale not Reconciled with an injection snapshot: %v", mcp.Status.Conditions)
		}
		ns := &corev1.Namespace{}
		if err := b.c.Get(ctx, client.ObjectKey{Name: "scale-mesh"}, ns); err != nil {
			return err
		}
		if ns.Labels[meshv1alpha1.LabelMemberOf] != "istio-system.scale" {
			return fmt.Errorf("scale-mesh labels %v", ns.Labels)
		}
		return nil
	})
}

func poll(ctx context.Context, timeout time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// PhaseResult is one phase's figures.
type PhaseResult struct {
	Key   string `json:"key"`
	Title string `json:"title"`
	N     int    `json:"n"`
	// PacePerS is the create rate (0: unpaced).
	PacePerS float64 `json:"pace_per_s"`
	// AllReadyS runs from the first create sent to the last Ready seen.
	AllReadyS float64 `json:"all_ready_s"`
	// CreatesS runs from the first create sent to the last create answered.
	CreatesS float64 `json:"creates_s"`
	// PerS is N / AllReadyS.
	PerS          float64 `json:"ready_per_s"`
	CreateToPod   *Stats  `json:"create_to_pod,omitempty"`
	CreateToReady Stats   `json:"create_to_ready"`
	// CPUByProcess is CPU seconds from the first create to all Ready, per
	// process (the operator, each cluster component, this driver).
	CPUByProcess map[string]float64 `json:"cpu_s_by_process"`
	// PodReadyToReady: the launcher pod's Ready to the VMI's Ready.
	PodReadyToReady *Stats `json:"pod_ready_to_vmi_ready,omitempty"`
	// DeleteAllGoneS runs from the first delete sent to the last pod gone.
	DeleteAllGoneS float64 `json:"delete_all_gone_s"`
	// PodUpdates and VMIUpdates are MODIFIED watch events per object from
	// the create until the operator settled: writes to the objects by anyone.
	PodUpdates float64 `json:"pod_updates_per_object"`
	VMIUpdates float64 `json:"vmi_updates_per_object,omitempty"`
	// Duplicates are VMIs that had more than one launcher pod.
	Duplicates   int     `json:"duplicates"`
	MeshEnrolled *int    `json:"mesh_enrolled,omitempty"`
	PodShape     string  `json:"pod_shape,omitempty"`
	Operator     OpPhase `json:"operator"`
}

// OpPhase is what the operator did between the first create and the
// moment its reconcile counter settled after all objects were Ready.
type OpPhase struct {
	VMIReconciles      int     `json:"vmi_reconciles"`
	VMIReconcileErrors int     `json:"vmi_reconcile_errors"`
	MCPReconciles      int     `json:"mcp_reconciles"`
	ReconcileSeconds   float64 `json:"vmi_reconcile_seconds"`
	CPUSeconds         float64 `json:"cpu_s"`
	// ReconcilesAfterReady counts reconciles that finished later than
	// settleGrace after all objects were Ready.
	ReconcilesAfterReady int `json:"reconciles_after_ready"`
	// QuietAfterS is when the reconcile counter last moved, relative to all Ready.
	QuietAfterS   float64 `json:"quiet_after_s"`
	MaxQueueDepth float64 `json:"max_queue_depth"`
	// PeakRSSMiB is the operator's VmHWM when the phase settled: the high
	// water mark so far, so the phase where it rises is where the peak was.
	PeakRSSMiB        float64 `json:"peak_rss_mib_so_far"`
	QueueWaitP50Bound Num     `json:"queue_wait_p50_le_s"`
	QueueWaitP99Bound Num     `json:"queue_wait_p99_le_s"`
	// Requests by verb/resource (excluding watches).
	Requests []RequestCount `json:"requests"`
	// Failed are the requests answered with anything but 2xx.
	Failed []RequestCount `json:"failed_requests,omitempty"`
	// Writes and Reads are the VMI path's: pods, VMIs and what decides a
	// launcher pod (namespaces, MeshControlPlanes, snapshot ConfigMaps,
	// nodes); Other are the rest (the MeshControlPlane controller's).
	Writes      int `json:"writes"`
	Reads       int `json:"reads"`
	Gets        int `json:"gets"`
	OtherWrites int `json:"other_writes"`
	OtherReads  int `json:"other_reads"`
	Events      int `json:"event_writes"`
	Leases      int `json:"lease_requests"`
}

// RequestCount is one verb/resource pair.
type RequestCount struct {
	Verb     string  `json:"verb"`
	Resource string  `json:"resource"`
	Code     string  `json:"code,omitempty"`
	Count    int     `json:"count"`
	PerVMI   float64 `json:"per_object"`
}

// vmiPath are the resources a VMI's reconciles read or write.
func vmiPath(resource string) bool {
	r, _, _ := strings.Cut(resource, "/")
	switch r {
	case "pods", "virtualmachineinstances.virt.virtmesh.io", "namespaces", "meshcontrolplanes.mesh.virtmesh.io", "nodes":
		return true
	}
	return false
}

// settleGrace: a reconcile finishing this soon after all objects were Ready
// is the one that wrote the last Ready (the watch event can beat the
// reconcile counter by a few milliseconds).
const settleGrace = 500 * time.Millisecond

func (b *bench) phase(ctx context.Context, spec phaseSpec) (PhaseResult, error) {
	n := b.o.n
	pr := PhaseResult{Key: spec.key, Title: spec.title, N: n}
	if spec.paced {
		pr.PacePerS = b.o.pace
	}
	logf("phase %s: %d %s", spec.key, n, spec.title)
	if !spec.mesh {
		if err := b.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: spec.ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return pr, err
		}
	}
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	rec := newRecord()
	podKey := func(p *corev1.Pod) string { return p.Name }
	if spec.vmis {
		podKey = func(p *corev1.Pod) string { return p.Labels[virtv1alpha1.LabelVMI] }
		if err := rec.watchVMIs(wctx, b.c, spec.ns); err != nil {
			return pr, err
		}
	}
	if err := rec.watchPods(wctx, b.c, spec.ns, podKey); err != nil {
		return pr, err
	}

	m0, err := b.op.Scrape(ctx)
	if err != nil {
		return pr, err
	}
	p0, err := kwokcluster.ReadProc(b.pid)
	if err != nil {
		return pr, err
	}
	sampler := b.sampleQueue(ctx)
	api0 := b.apiserverMetrics(ctx)
	cpu0 := b.cpu()
	if b.o.profile == spec.key {
		b.profile(ctx, spec.key)
	}

	mk := func(i int) client.Object { return newPod(spec.ns, i) }
	if spec.vmis {
		mk = func(i int) client.Object { return newVMI(spec.ns, i) }
	}
	timeout := 2*time.Minute + time.Duration(n)*300*time.Millisecond
	if spec.paced {
		timeout += time.Duration(float64(n)/b.o.pace) * time.Second
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.createAll(tctx, n, pr.PacePerS, mk, rec); err != nil {
		return pr, err
	}
	ready := rec.podReady
	if spec.vmis {
		ready = rec.vmiReady
	}
	if err := rec.waitFor(tctx, ready, n, "Ready"); err != nil {
		return pr, err
	}
	readyAt := rec.last(ready)
	pr.AllReadyS = rec.span(rec.sent, ready)
	pr.CreatesS = rec.span(rec.sent, rec.created)
	pr.PerS = float64(n) / pr.AllReadyS
	pr.CreateToReady = stats(rec.latencies(rec.sent, ready))
	if spec.vmis {
		s := stats(rec.latencies(rec.sent, rec.podAdded))
		pr.CreateToPod = &s
		p := stats(rec.latencies(rec.podReady, rec.vmiReady))
		pr.PodReadyToReady = &p
	}
	if err := rec.writeTimeline(filepath.Join(b.runDir, "timeline-"+spec.key+".csv")); err != nil {
		return pr, err
	}
	logf("phase %s: all %d Ready %.1fs after the first create (p99 create->Ready %.2fs); waiting for the operator to settle", spec.key, n, pr.AllReadyS, pr.CreateToReady.P99)

	cpu1 := b.cpu()
	b.writeAPIRequests(ctx, spec.key, api0)
	pr.CPUByProcess = map[string]float64{}
	for k, v := range cpu1 {
		pr.CPUByProcess[k] = math.Round((v-cpu0[k])*100) / 100
	}
	quietAfter, afterReady, err := b.settle(ctx, readyAt)
	if err != nil {
		return pr, err
	}
	b.heapProfile(ctx, spec.key)
	rec.mu.Lock()
	pr.PodUpdates = float64(rec.updates["pod"]) / float64(n)
	pr.VMIUpdates = float64(rec.updates["vmi"]) / float64(n)
	rec.mu.Unlock()
	maxDepth := sampler()
	m1, err := b.op.Scrape(ctx)
	if err != nil {
		return pr, err
	}
	p1, err := kwokcluster.ReadProc(b.pid)
	if err != nil {
		return pr, err
	}
	pr.Operator = opPhase(m0, m1, n)
	pr.Operator.CPUSeconds = p1.CPUSeconds - p0.CPUSeconds
	pr.Operator.QuietAfterS = quietAfter
	pr.Operator.ReconcilesAfterReady = afterReady
	pr.Operator.MaxQueueDepth = maxDepth
	pr.Operator.PeakRSSMiB = p1.PeakRSSMiB

	if spec.vmis {
		if err := b.checkVMIs(ctx, spec, &pr, rec); err != nil {
			return pr, err
		}
	}

	logf("phase %s: deleting the %d objects", spec.key, n)
	var list client.ObjectList = &corev1.PodList{}
	if spec.vmis {
		list = &virtv1alpha1.VirtualMachineInstanceList{}
	}
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(n)*200*time.Millisecond)
	defer dcancel()
	if err := b.deleteAll(dctx, list, spec.ns, rec); err != nil {
		return pr, err
	}
	if err := rec.waitFor(dctx, rec.podGone, n, "pods gone"); err != nil {
		return pr, err
	}
	pr.DeleteAllGoneS = rec.span(rec.delSent, rec.podGone)
	logf("phase %s: all pods gone %.1fs after the first delete", spec.key, pr.DeleteAllGoneS)
	// Let the deletes' reconciles finish before the next phase's baseline.
	if _, _, err := b.settle(ctx, time.Now()); err != nil {
		return pr, err
	}
	return pr, nil
}

// createAll creates mk(0..n-1), unpaced with b.o.creators concurrent calls,
// or one every 1/pace seconds (each in its own goroutine, so a slow answer
// does not delay the next create).
func (b *bench) createAll(ctx context.Context, n int, pace float64, mk func(int) client.Object, rec *record) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	create := func(i int) {
		defer wg.Done()
		obj := mk(i)
		rec.mark(rec.sent, obj.GetName(), time.Now())
		if err := b.c.Create(ctx, obj); err != nil {
			errs <- fmt.Errorf("create %s: %w", obj.GetName(), err)
			return
		}
		rec.mark(rec.created, obj.GetName(), time.Now())
	}
	if pace > 0 {
		start := time.Now()
		for i := range n {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / pace * float64(time.Second)))))
			wg.Add(1)
			go create(i)
		}
	} else {
		next := make(chan int)
		for range b.o.creators {
			go func() {
				for i := range next {
					create(i)
				}
			}()
		}
		for i := range n {
			wg.Add(1)
			next <- i
		}
		close(next)
	}
	wg.Wait()
	close(errs)
	return errors.Join(slices.Collect(chanSeq(errs))...)
}

func chanSeq[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

// deleteAll deletes every object of list's kind in ns, unpaced.
func (b *bench) deleteAll(ctx context.Context, list client.ObjectList, ns string, rec *record) error {
	if err := b.c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := make(chan client.Object)
	for range b.o.creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range next {
				rec.mark(rec.delSent, obj.GetName(), time.Now())
				if err := b.c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		next <- it.(client.Object)
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// checkVMIs: one launcher pod per VMI, enrollment as the phase says, and
// a live launcher pod against the baseline pod (podShape).
func (b *bench) checkVMIs(ctx context.Context, spec phaseSpec, pr *PhaseResult, rec *record) error {
	pr.Duplicates = len(rec.duplicates())
	if pr.Duplicates > 0 {
		return fmt.Errorf("%d VMIs had more than one launcher pod: %v", pr.Duplicates, rec.duplicates())
	}
	var vmis virtv1alpha1.VirtualMachineInstanceList
	if err := b.c.List(ctx, &vmis, client.InNamespace(spec.ns)); err != nil {
		return err
	}
	enrolled := 0
	for i := range vmis.Items {
		if meta.IsStatusConditionTrue(vmis.Items[i].Status.Conditions, virtv1alpha1.ConditionMeshEnrolled) {
			enrolled++
		}
	}
	pr.MeshEnrolled = &enrolled
	if want := map[bool]int{true: b.o.n, false: 0}[spec.mesh]; enrolled != want {
		return fmt.Errorf("%d VMIs MeshEnrolled, want %d", enrolled, want)
	}
	var pods corev1.PodList
	if err := b.c.List(ctx, &pods, client.InNamespace(spec.ns), client.Limit(1)); err != nil || len(pods.Items) == 0 {
		return fmt.Errorf("no launcher pod to compare: %w", err)
	}
	got, want := podShape(&pods.Items[0]), podShape(newPod(spec.ns, 0))
	pr.PodShape = "match"
	if got != want {
		pr.PodShape = fmt.Sprintf("DIFFER: launcher %s, plain %s", got, want)
		logf("WARNING: pod shape %s", pr.PodShape)
	}
	return nil
}

// settle waits until the VMI controller's reconcile counter has not moved
// for b.o.quiet. It returns when it last moved, relative to readyAt, and how
// many reconciles finished later than settleGrace after readyAt. The
// MeshControlPlane controller is not waited for: with no istiod running
// (kwokcluster), mcp/scale is never Ready and the controller requeues to
// look again every few seconds, by design; its reconciles are reported.
func (b *bench) settle(ctx context.Context, readyAt time.Time) (float64, int, error) {
	total := func() (float64, error) {
		m, err := b.op.Scrape(ctx)
		if err != nil {
			return 0, err
		}
		return m.Sum("controller_runtime_reconcile_total", map[string]string{"controller": vmiController}), nil
	}
	time.Sleep(time.Until(readyAt.Add(settleGrace)))
	base, err := total()
	if err != nil {
		return 0, 0, err
	}
	prev, lastChange := base, readyAt
	deadline := time.Now().Add(2 * time.Minute)
	for time.Since(lastChange) < b.o.quiet {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the operator did not settle: %v reconciles in the 2 minutes after all were Ready", prev-base)
		}
		time.Sleep(200 * time.Millisecond)
		cur, err := total()
		if err != nil {
			return 0, 0, err
		}
		if cur != prev {
			prev, lastChange = cur, time.Now()
		}
	}
	return lastChange.Sub(readyAt).Seconds(), int(prev - base), nil
}

// sampleQueue samples the VMI work queue's depth every 250 ms until the
// returned function is called, which returns the largest depth seen.
// queueSampleInterval is how often the work queue's depth is sampled.
const queueSampleInterval = time.Second

func (b *bench) sampleQueue(ctx context.Context) func() float64 {
	var mu sync.Mutex
	var maxDepth float64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// Each scrape costs the operator a full metrics exposition (about
		// 3 ms of its CPU; at 4 per second, 9 % of its CPU in the unpaced
		// VMI phase's profile); once a second is enough for a maximum over
		// a phase of 20 s or more.
		t := time.NewTicker(queueSampleInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			m, err := b.op.Scrape(ctx)
			if err != nil {
				continue
			}
			d := m.Sum("workqueue_depth", map[string]string{"name": vmiController})
			mu.Lock()
			maxDepth = max(maxDepth, d)
			mu.Unlock()
		}
	}()
	return func() float64 {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return maxDepth
	}
}

// opPhase is m1 - m0 for the operator's counters, per object for requests.
func opPhase(m0, m1 kwokcluster.Metrics, n int) OpPhase {
	var o OpPhase
	diff := func(name string, match map[string]string) float64 { return m1.Sum(name, match) - m0.Sum(name, match) }
	vmi := map[string]string{"controller": vmiController}
	o.VMIReconciles = int(diff("controller_runtime_reconcile_total", vmi))
	o.VMIReconcileErrors = int(diff("controller_runtime_reconcile_total", map[string]string{"controller": vmiController, "result": "error"}))
	o.MCPReconciles = int(diff("controller_runtime_reconcile_total", map[string]string{"controller": mcpController}))
	o.ReconcileSeconds = diff("controller_runtime_reconcile_time_seconds_sum", vmi)
	q := kwokcluster.SubtractBuckets(
		m1.Histogram("workqueue_queue_duration_seconds", map[string]string{"name": vmiController}),
		m0.Histogram("workqueue_queue_duration_seconds", map[string]string{"name": vmiController}))
	o.QueueWaitP50Bound = Num(kwokcluster.QuantileUpperBound(q, 0.50))
	o.QueueWaitP99Bound = Num(kwokcluster.QuantileUpperBound(q, 0.99))

	counts, failed := map[[2]string]float64{}, map[[3]string]float64{}
	for i, m := range []kwokcluster.Metrics{m1, m0} {
		sign := 1.0 - 2*float64(i)
		for _, s := range m.Select(apimetrics.MetricName, nil) {
			counts[[2]string{s.Labels["verb"], resourceName(s.Labels)}] += sign * s.Value
			if !strings.HasPrefix(s.Labels["code"], "2") {
				failed[[3]string{s.Labels["verb"], resourceName(s.Labels), s.Labels["code"]}] += sign * s.Value
			}
		}
	}
	for k, v := range failed {
		if v > 0 && k[0] != "watch" {
			o.Failed = append(o.Failed, RequestCount{Verb: k[0], Resource: k[1], Code: k[2], Count: int(math.Round(v)), PerVMI: v / float64(n)})
		}
	}
	for k, v := range counts {
		verb, res := k[0], k[1]
		if v == 0 || verb == "watch" {
			continue
		}
		c := int(math.Round(v))
		o.Requests = append(o.Requests, RequestCount{Verb: verb, Resource: res, Count: c, PerVMI: v / float64(n)})
		write := apimetrics.IsWrite(verb)
		switch {
		case strings.HasPrefix(res, "leases"):
			o.Leases += c
		case strings.HasPrefix(res, "events"):
			if write {
				o.Events += c
			}
		case !vmiPath(res) && (res != "configmaps" || verb != "get"):
			if write {
				o.OtherWrites += c
			} else {
				o.OtherReads += c
			}
		case write:
			o.Writes += c
		default:
			o.Reads += c
			if verb == "get" {
				o.Gets += c
			}
		}
	}
	for _, l := range [][]RequestCount{o.Requests, o.Failed} {
		slices.SortFunc(l, func(a, b RequestCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Verb, b.Verb), cmp.Compare(a.Code, b.Code))
		})
	}
	return o
}

func resourceName(l map[string]string) string {
	r := l["resource"]
	if l["group"] != "" {
		r += "." + l["group"]
	}
	if l["subresource"] != "" {
		r += "/" + l["subresource"]
	}
	return r
}

// Result is one run.
type Result struct {
	N                 int `json:"n"`
	WritesPerVMI      Num `json:"writes_per_vmi"`
	ReadsPerVMI       Num `json:"reads_per_vmi"`
	GetsPerVMI        Num `json:"gets_per_vmi"`
	EventWritesPerVMI Num `json:"event_writes_per_vmi"`
	ReadyTimeRatio    Num `json:"ready_time_ratio"`
	MeshReadyRatio    Num `json:"mesh_ready_time_ratio"`
	P99CreateToPodS   Num `json:"p99_create_to_pod_s"`
	P99CreateToReadyS Num `json:"p99_create_to_ready_s"`
	PeakRSSMiB        Num `json:"peak_rss_mib"`
	CPUSeconds        Num `json:"cpu_s"`
	DeleteTimeRatio   Num `json:"delete_time_ratio"`
	ReconcilesPerVMI  Num `json:"reconciles_per_vmi"`
	// Ablation names the experiment the run was (-without-vmi-rules); its
	// figures are not VirtMesh's.
	Ablation string `json:"ablation,omitempty"`

	Date        string        `json:"date"`
	Commit      string        `json:"commit"`
	Machine     string        `json:"machine"`
	Nodes       int           `json:"nodes"`
	Pace        float64       `json:"pace_per_s"`
	Creators    int           `json:"creators"`
	ManagerArgs string        `json:"manager_args"`
	Phases      []PhaseResult `json:"phases"`
}

func (r *Result) describe(root string) {
	r.Date = time.Now().UTC().Format(time.RFC3339)
	commit, _ := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	r.Commit = strings.TrimSpace(string(commit))
	if exec.Command("git", "-C", root, "diff", "--quiet", "HEAD").Run() != nil {
		r.Commit += "-dirty"
	}
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.1f GiB RAM", kb/1048576)
		}
	}
	r.Machine = fmt.Sprintf("%d CPUs (%s)%s, %s/%s; etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, the operator and this driver share them", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH)
}

func (r *Result) phase(key string) *PhaseResult {
	for i := range r.Phases {
		if r.Phases[i].Key == key {
			return &r.Phases[i]
		}
	}
	return nil
}

func (r *Result) summarize() {
	nan := Num(math.NaN())
	r.WritesPerVMI, r.ReadsPerVMI, r.GetsPerVMI, r.EventWritesPerVMI, r.ReconcilesPerVMI = nan, nan, nan, nan, nan
	r.ReadyTimeRatio, r.MeshReadyRatio, r.DeleteTimeRatio, r.P99CreateToPodS, r.P99CreateToReadyS = nan, nan, nan, nan, nan
	pods, vmis, mesh, paced := r.phase("pods"), r.phase("vmis"), r.phase("mesh"), r.phase("paced-vmis")
	if vmis != nil {
		n := Num(vmis.N)
		r.WritesPerVMI = Num(vmis.Operator.Writes) / n
		r.ReadsPerVMI = Num(vmis.Operator.Reads) / n
		r.GetsPerVMI = Num(vmis.Operator.Gets) / n
		r.EventWritesPerVMI = Num(vmis.Operator.Events) / n
		r.ReconcilesPerVMI = Num(vmis.Operator.VMIReconciles) / n
	}
	if pods != nil && vmis != nil {
		r.ReadyTimeRatio = Num(vmis.AllReadyS / pods.AllReadyS)
		r.DeleteTimeRatio = Num(vmis.DeleteAllGoneS / pods.DeleteAllGoneS)
	}
	if pods != nil && mesh != nil {
		r.MeshReadyRatio = Num(mesh.AllReadyS / pods.AllReadyS)
	}
	if paced != nil {
		r.P99CreateToPodS = paced.CreateToPod.P99
		r.P99CreateToReadyS = paced.CreateToReady.P99
	}
}

// Num is a figure; NaN and ±Inf (not measured, or beyond the last
// histogram bucket) encode as null.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(math.Round(f*1e4) / 1e4)
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = Num(f)
	return err
}

func f2[T ~float64](v T) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(v))
}

func f1[T ~float64](v T) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(v))
}

func check(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func (r *Result) markdown() string {
	var w strings.Builder
	fmt.Fprintf(&w, "# VirtMesh scale run: N=%d\n\n", r.N)
	if r.Ablation == ablationNoVMIRules {
		w.WriteString("**Experiment, not a product figure: the VirtualMachineInstance CRD's CEL rules were removed for this run (-without-vmi-rules), to measure what admission costs.**\n\n")
	}
	fmt.Fprintf(&w, "- date %s, commit %s\n- machine: %s\n", r.Date, r.Commit, r.Machine)
	fmt.Fprintf(&w, "- cluster: kwok, %d fake nodes; real etcd, kube-apiserver, kube-controller-manager (garbage collector) and kube-scheduler (client QPS 50, burst 100: its default)\n", r.Nodes)
	fmt.Fprintf(&w, "- operator: as the manager Deployment runs it (ServiceAccount, --leader-elect) plus %q; unpaced phases: %d concurrent creates; paced: %g/s\n\n", r.ManagerArgs, r.Creators, r.Pace)
	pods, vmis, mesh, pp, pv := r.phase("pods"), r.phase("vmis"), r.phase("mesh"), r.phase("paced-pods"), r.phase("paced-vmis")

	w.WriteString("| figure | measured | target | anchor |\n|---|---:|---|---|\n")
	row := func(fig, got, target, anchor string) {
		fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", fig, got, target, anchor)
	}
	if vmis != nil {
		row("API writes per VMI, create → Running (pod create + VMI status patches)", f2(r.WritesPerVMI), fmt.Sprintf("≤ 3: %s", check(r.WritesPerVMI <= 3)), "KubeVirt ≈ 10 (1 pod create, ≈ 2.2 pod patches, 6–7 VMI updates/patches)")
		row("GETs per VMI", f2(r.GetsPerVMI), fmt.Sprintf("none a cache or the create response answers: %s", check(r.GetsPerVMI < 0.05)), "before: 3 (4 in the mesh)")
		row("reads (get + list) per VMI", f2(r.ReadsPerVMI), "report", "before: 3–4 GETs + 1 LIST")
		row("Event writes per VMI (not in either budget)", f2(r.EventWritesPerVMI), "report", "KubeVirt records SuccessfulCreate too")
		row("reconciles per VMI", f2(r.ReconcilesPerVMI), "report", "before: 2.00")
	}
	if pods != nil && vmis != nil {
		row(fmt.Sprintf("all %d VMIs Ready ÷ all %d plain Pods Ready (unpaced, same run)", r.N, r.N), f2(r.ReadyTimeRatio), fmt.Sprintf("≤ 1.25 (≥ 0.8× pod throughput): %s", check(r.ReadyTimeRatio <= 1.25)), fmt.Sprintf("plain Pods %.1f s = %.0f/s; VMIs %.1f s = %.0f/s; KubeVirt ≈ 17 VMIs/s at client QPS 400", pods.AllReadyS, pods.PerS, vmis.AllReadyS, vmis.PerS))
	}
	if pods != nil && mesh != nil {
		row("mesh-enrolled VMIs ÷ plain Pods", f2(r.MeshReadyRatio), "report", fmt.Sprintf("mesh %.1f s = %.0f/s", mesh.AllReadyS, mesh.PerS))
	}
	if pv != nil {
		anchor := ""
		if pp != nil {
			anchor = fmt.Sprintf("plain Pods at %g/s: create → Ready p50/p95/p99 %s/%s/%s s", pp.PacePerS, f2(pp.CreateToReady.P50), f2(pp.CreateToReady.P95), f2(pp.CreateToReady.P99))
		}
		row(fmt.Sprintf("create → launcher pod ADDED at %g/s, p50/p95/p99 (s)", pv.PacePerS), fmt.Sprintf("%s/%s/%s", f2(pv.CreateToPod.P50), f2(pv.CreateToPod.P95), f2(pv.CreateToPod.P99)), fmt.Sprintf("p99 ≤ 0.5 s: %s", check(pv.CreateToPod.P99 <= 0.5)), "")
		row(fmt.Sprintf("create → VMI Ready at %g/s, p50/p95/p99 (s)", pv.PacePerS), fmt.Sprintf("%s/%s/%s", f2(pv.CreateToReady.P50), f2(pv.CreateToReady.P95), f2(pv.CreateToReady.P99)), fmt.Sprintf("p99 ≤ 2 s: %s", check(pv.CreateToReady.P99 <= 2)), anchor)
	}
	row("operator peak RSS (MiB, VmHWM over the whole run)", f1(r.PeakRSSMiB), fmt.Sprintf("≤ 100: %s", check(r.PeakRSSMiB <= 100)), "manager Deployment limit 256Mi")
	if vmis != nil {
		row("operator CPU seconds: unpaced VMI phase / whole run", fmt.Sprintf("%s / %s", f2(vmis.Operator.CPUSeconds), f2(r.CPUSeconds)), "report", "")
		row("VMI work queue: max depth (sampled every second) / p99 queue wait (histogram bucket bound)", fmt.Sprintf("%.0f / ≤ %gs", vmis.Operator.MaxQueueDepth, float64(vmis.Operator.QueueWaitP99Bound)), "report", "")
	}
	settled := true
	for _, p := range r.Phases {
		settled = settled && p.Operator.ReconcilesAfterReady == 0
	}
	row(fmt.Sprintf("reconciles finishing > %v after all were Ready (every phase)", settleGrace), fmt.Sprint(sumAfter(r.Phases)), fmt.Sprintf("0: %s", check(settled)), "")
	if pods != nil && vmis != nil {
		row("delete all: VMIs → launcher pods gone ÷ plain Pods gone", f2(r.DeleteTimeRatio), "report", fmt.Sprintf("plain Pods %.1f s, VMIs %.1f s", pods.DeleteAllGoneS, vmis.DeleteAllGoneS))
	}

	w.WriteString("\n## Phases\n\n| phase | N | pace/s | all Ready (s) | Ready/s | create → pod p50/p99 (s) | create → Ready p50/p95/p99 (s) | delete → gone (s) | VMI reconciles | errors | reconcile time (s) | writes | reads | events | pod / VMI updates per object | CPU (s) | max depth | quiet after (s) | peak RSS so far (MiB) |\n|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, p := range r.Phases {
		pod := "–"
		if p.CreateToPod != nil {
			pod = fmt.Sprintf("%s/%s", f2(p.CreateToPod.P50), f2(p.CreateToPod.P99))
		}
		fmt.Fprintf(&w, "| %s | %d | %g | %s | %s | %s | %s/%s/%s | %s | %d | %d | %s | %d | %d | %d | %.2f / %.2f | %s | %.0f | %s | %.1f |\n",
			p.Key, p.N, p.PacePerS, f1(p.AllReadyS), f1(p.PerS), pod, f2(p.CreateToReady.P50), f2(p.CreateToReady.P95), f2(p.CreateToReady.P99),
			f1(p.DeleteAllGoneS), p.Operator.VMIReconciles, p.Operator.VMIReconcileErrors, f1(p.Operator.ReconcileSeconds),
			p.Operator.Writes, p.Operator.Reads, p.Operator.Events, p.PodUpdates, p.VMIUpdates, f2(p.Operator.CPUSeconds), p.Operator.MaxQueueDepth, f1(p.Operator.QuietAfterS), p.Operator.PeakRSSMiB)
	}
	w.WriteString("\n## CPU seconds from the first create to all Ready, by process\n\n| phase | wall (s) |")
	procs := []string{"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok-controller", "operator", "driver"}
	for _, p := range procs {
		fmt.Fprintf(&w, " %s |", p)
	}
	fmt.Fprintf(&w, " all | CPUs busy (of %d) |", runtime.NumCPU())
	w.WriteString("\n|---|---:|" + strings.Repeat("---:|", len(procs)+2) + "\n")
	for _, p := range r.Phases {
		fmt.Fprintf(&w, "| %s | %s |", p.Key, f1(p.AllReadyS))
		var all float64
		for _, name := range procs {
			fmt.Fprintf(&w, " %.2f |", p.CPUByProcess[name])
			all += p.CPUByProcess[name]
		}
		fmt.Fprintf(&w, " %.1f | %.2f |\n", all, all/p.AllReadyS)
	}
	w.WriteString("\nA phase whose CPUs are all busy is bound by CPU: it ends sooner only if its processes spend less; one with CPU to spare waits on something else (for plain pods, kube-scheduler's client QPS).\n")
	if vmis != nil {
		fmt.Fprintf(&w, "\n## Operator requests per VMI (unpaced VMI phase, create → all Ready and settled; watches not counted)\n\n| verb | resource | count | per VMI |\n|---|---|---:|---:|\n")
		for _, q := range vmis.Operator.Requests {
			fmt.Fprintf(&w, "| %s | %s | %d | %.2f |\n", q.Verb, q.Resource, q.Count, q.PerVMI)
		}
		for _, q := range vmis.Operator.Failed {
			fmt.Fprintf(&w, "| %s (HTTP %s) | %s | %d | %.2f |\n", q.Verb, q.Code, q.Resource, q.Count, q.PerVMI)
		}
		fmt.Fprintf(&w, "\nWrites and reads per VMI count pods, VMIs and what decides a launcher pod (namespaces, MeshControlPlanes, snapshot ConfigMaps, nodes); the MeshControlPlane controller's requests (%d writes, %d reads in this phase), Events and Leases are listed but not counted. ", vmis.Operator.OtherWrites, vmis.Operator.OtherReads)
		fmt.Fprintf(&w, "KubeVirt's budget for the same work: ≈ 10 writes per VMI (1 pod create, ≈ 2.2 pod patches, 6–7 VMI updates/patches).\n")
	}
	for _, p := range r.Phases {
		if p.PodShape != "" && p.PodShape != "match" {
			fmt.Fprintf(&w, "\n- pod shape, phase %s: %s\n", p.Key, p.PodShape)
		}
	}
	return w.String()
}

func sumAfter(ps []PhaseResult) int {
	n := 0
	for _, p := range ps {
		n += p.Operator.ReconcilesAfterReady
	}
	return n
}

// compare prints the headline figures of two result files side by side.
func compare(w io.Writer, files []string) error {
	if len(files) != 2 {
		return errors.New("--compare needs two result files")
	}
	var rs [2]map[string]any
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &rs[i]); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	fmt.Fprintf(w, "| figure | %s | %s |\n|---|---:|---:|\n", filepath.Base(files[0]), filepath.Base(files[1]))
	for _, k := range []string{"commit", "n", "writes_per_vmi", "reads_per_vmi", "gets_per_vmi", "event_writes_per_vmi", "reconciles_per_vmi", "ready_time_ratio", "mesh_ready_time_ratio", "p99_create_to_pod_s", "p99_create_to_ready_s", "peak_rss_mib", "cpu_s", "delete_time_ratio"} {
		fmt.Fprintf(w, "| %s | %v | %v |\n", k, rs[0][k], rs[1][k])
	}
	return nil
}
