// Command manager is the VirtMesh operator: it reconciles MeshControlPlanes
// into a running mesh control plane and VirtualMachineInstances into
// virt-launcher pods.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	meshcontroller "virtmesh.io/virtmesh/controllers/mesh"
	virtcontroller "virtmesh.io/virtmesh/controllers/virt"
	"virtmesh.io/virtmesh/internal/apimetrics"
	"virtmesh.io/virtmesh/internal/config"
	"virtmesh.io/virtmesh/internal/podcontract"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
	"virtmesh.io/virtmesh/internal/scheme"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	var metricsAddr, probeAddr, pprofAddr, leaderElectNS string
	var leaderElect, vmIPv6 bool
	var vmiWorkers, apiBurst int
	var apiQPS, memLimitRatio float64
	var leaseDuration, renewDeadline, retryPeriod time.Duration
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the metrics endpoint binds to; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health probes bind to")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address net/http/pprof binds to (e.g. 127.0.0.1:6060), to profile the operator's heap and CPU; empty: off")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so only one manager reconciles at a time")
	flag.DurationVar(&leaseDuration, "leader-election-lease-duration", 30*time.Second, "How long a crashed leader's lease blocks the other replicas")
	flag.DurationVar(&renewDeadline, "leader-election-renew-deadline", 20*time.Second, "How long the leader keeps trying to renew its lease (e.g. while the API server restarts) before it gives up and exits; shorter than the lease duration")
	flag.DurationVar(&retryPeriod, "leader-election-retry-period", 2*time.Second, "How often replicas try to acquire or renew the lease")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's own namespace; required outside a cluster)")
	flag.BoolVar(&vmIPv6, "vm-ipv6", false, "Give VMs IPv6 in dual-stack pods. Launcher pods then set the sysctl "+
		podcontract.IPv6ForwardingSysctl+"=1, which is not a safe sysctl: every kubelet must run with "+
		podcontract.KubeletAllowIPv6ForwardingFlag+" or it rejects the pods. Off: VMs are IPv4-only and IPv6 connections to their pods are refused")
	flag.IntVar(&vmiWorkers, "vmi-workers", virtcontroller.DefaultVMIWorkers, "VirtualMachineInstances reconciled at the same time. A reconcile mostly waits on the API server "+
		"(a pod create, a status patch), so more workers overlap those round trips; the same VMI is never reconciled twice at once")
	flag.Float64Var(&apiQPS, "kube-api-qps", -1, "Client-side limit on requests per second to the API server; a negative value disables it "+
		"and leaves flow control to the API server's priority and fairness, as controller-runtime does by default")
	flag.IntVar(&apiBurst, "kube-api-burst", 0, "Requests allowed above --kube-api-qps in a burst (only with a positive --kube-api-qps; 0: client-go's default)")
	flag.Float64Var(&memLimitRatio, "memory-limit-ratio", 0.9, "Soft memory limit of the Go runtime as a fraction of the container's memory limit ($"+memoryLimitEnv+
		", in bytes, set by the Deployment from limits.memory); the garbage collector works harder near it instead of the container being OOM-killed. "+
		"0 disables it; an explicit GOMEMLIMIT wins")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	memLimit, err := softMemoryLimit(os.Getenv, memLimitRatio)
	if err != nil {
		return err
	}
	if memLimit > 0 {
		debug.SetMemoryLimit(memLimit)
	}

	images, err := config.ImagesFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restConfig.QPS = float32(apiQPS)
	if apiBurst > 0 {
		restConfig.Burst = apiBurst
	}
	// Count requests by verb and resource (virtmesh_apiserver_requests_total).
	apimetrics.Instrument(restConfig)
	ctrlmetrics.Registry.MustRegister(apimetrics.Requests)

	// Only what the operator owns is cached (see cacheByObject), without
	// managedFields: a Pod in the cache costs a few KB, managedFields alone
	// 2–4 KB. Launcher pods are trimmed further (virt.TrimLauncherPod).
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "virtmesh-operator.virtmesh.io",
		LeaderElectionNamespace: leaderElectNS,
		// Hand the lease over on a clean shutdown (a rollout, SIGTERM) so the
		// next replica takes over within a retry period instead of waiting
		// out the lease; main returns right after, so nothing runs unelected.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         cacheByObject(),
		},
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}

	if err := (&virtcontroller.VirtualMachineInstanceReconciler{
		Client:        mgr.GetClient(),
		Scheme:        mgr.GetScheme(),
		Recorder:      mgr.GetEventRecorder("virtualmachineinstance-controller"),
		LauncherImage: images.Launcher,
		VMIPv6:        vmIPv6,
		Workers:       vmiWorkers,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("VirtualMachineInstance controller: %w", err)
	}
	if err := (&virtcontroller.VirtualMachineReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder(virtcontroller.VMControllerName),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("VirtualMachine controller: %w", err)
	}
	if err := (&meshcontroller.MeshControlPlaneReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("meshcontrolplane-controller"),
		Images:   images,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("MeshControlPlane controller: %w", err)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("Starting manager", "launcherImage", images.Launcher, "meshHub", images.Hub, "vmIPv6", vmIPv6, "vmiWorkers", vmiWorkers, "kubeAPIQPS", apiQPS, "goMemLimitBytes", debug.SetMemoryLimit(-1))
	return mgr.Start(ctrl.SetupSignalHandler())
}

// cacheByObject restricts the informers to what the operator owns: launcher
// pods, and the kinds the MeshControlPlane controller renders (all labelled
// app.kubernetes.io/managed-by=virtmesh-operator). Without this the manager
// would cache every ConfigMap, Service, Deployment and RBAC object of the
// cluster. Reads of objects outside these sets (injection snapshots, pods to
// adopt) use the API reader. PersistentVolumeClaims and StorageClasses are
// watched whole, so a claim created or bound un-pends the VMIs waiting for
// it; they are small once stripped of managedFields.
func cacheByObject() map[client.Object]cache.ByObject {
	byObject := map[client.Object]cache.ByObject{
		&corev1.Pod{}: virtcontroller.LauncherPodCache(),
	}
	managed := labels.SelectorFromSet(labels.Set{cp.LabelManagedBy: cp.ManagedByValue})
	for _, kind := range append(cp.NamespacedKinds(), cp.ClusterKinds()...) {
		byObject[kind] = cache.ByObject{Label: managed}
	}
	return byObject
}
