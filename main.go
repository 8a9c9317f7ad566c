// Command manager is the VirtMesh operator: it reconciles MeshControlPlanes
// into a running mesh control plane and VirtualMachineInstances into
// virt-launcher pods.
package main

import (
	"flag"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	meshcontroller "virtmesh.io/virtmesh/controllers/mesh"
	virtcontroller "virtmesh.io/virtmesh/controllers/virt"
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
	var metricsAddr, probeAddr string
	var leaderElect, vmIPv6 bool
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the metrics endpoint binds to; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health probes bind to")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so only one manager reconciles at a time")
	flag.BoolVar(&vmIPv6, "vm-ipv6", false, "Give VMs IPv6 in dual-stack pods. Launcher pods then set the sysctl "+
		podcontract.IPv6ForwardingSysctl+"=1, which is not a safe sysctl: every kubelet must run with "+
		podcontract.KubeletAllowIPv6ForwardingFlag+" or it rejects the pods. Off: VMs are IPv4-only and IPv6 connections to their pods are refused")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	images, err := config.ImagesFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}

	// Only what the operator owns is cached (see cacheByObject), without
	// managedFields: a Pod in the cache costs a few KB, managedFields alone 2–4 KB.
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "virtmesh-operator.virtmesh.io",
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
	log.Info("Starting manager", "launcherImage", images.Launcher, "meshHub", images.Hub, "vmIPv6", vmIPv6)
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
		&corev1.Pod{}: {Label: virtcontroller.LauncherPodSelector()},
	}
	managed := labels.SelectorFromSet(labels.Set{cp.LabelManagedBy: cp.ManagedByValue})
	for _, kind := range append(cp.NamespacedKinds(), cp.ClusterKinds()...) {
		byObject[kind] = cache.ByObject{Label: managed}
	}
	return byObject
}
