package mesh

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"virtmesh.io/virtmesh/internal/config"
	"virtmesh.io/virtmesh/internal/testenv"
)

var (
	k8s client.Client // uncached, straight to the API server
	env *testenv.Env
)

// testImages: Grafana deliberately has no image, to test the unavailable-addon
// condition.
var testImages = config.Images{
	Hub:        "registry.example.com/istio",
	Prometheus: "registry.example.com/prom/prometheus:v3.5.0",
	Kiali:      "registry.example.com/kiali/kiali:v2.14",
	Jaeger:     "registry.example.com/jaegertracing/all-in-one:1.72.0",
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	log.SetLogger(logr.Discard())
	var err error
	env, err = testenv.Start(testenv.WithIstioCRDs())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	k8s = env.Client
	mgr, err := manager.New(env.Config, manager.Options{
		Scheme:  env.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r := &MeshControlPlaneReconciler{Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("virtmesh-operator"), Images: testImages}
	if err := r.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	code := m.Run()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	return code
}
