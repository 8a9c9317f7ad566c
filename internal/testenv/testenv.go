// Package testenv starts a real kube-apiserver and etcd (built pinned into
// bin/ by hack/build-bins.sh) with VirtMesh's CRDs installed, for tests that
// must see real admission, CEL validation, defaulting and watches. No fake
// client: what passes here passes on a cluster.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	vmscheme "virtmesh.io/virtmesh/internal/scheme"
)

// Env is a running API server with the CRDs installed.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	env    *envtest.Environment
}

// RepoRoot is the repository root, found from this file's location so tests
// work from any package directory.
func RepoRoot() string {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		panic("testenv: cannot find own source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Scheme returns the operator's scheme (core kinds and both VirtMesh APIs).
func Scheme() *runtime.Scheme { return vmscheme.New() }

// Option changes what Start installs.
type Option func(*envtest.Environment)

// WithIstioCRDs installs Istio's CRDs that VirtMesh ships (config/crd/istio)
// too, as `kubectl apply -k config/default` does.
func WithIstioCRDs() Option {
	return func(e *envtest.Environment) {
		e.CRDDirectoryPaths = append(e.CRDDirectoryPaths, filepath.Join(RepoRoot(), "config", "crd", "istio"))
	}
}

// Start starts kube-apiserver and etcd from bin/ (or $KUBEBUILDER_ASSETS) and
// installs the CRDs from config/crd/bases.
func Start(opts ...Option) (*Env, error) {
	root := RepoRoot()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run 'hack/build-bins.sh' (or 'make bins') first: %w", assets, err)
	}
	scheme := Scheme()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
	}
	for _, o := range opts {
		o(env)
	}
	cfg, err := env.Start()
	if err != nil {
		// Start can fail after the control plane is up (e.g. a CRD the API
		// server rejects); stop it so no kube-apiserver or etcd is left behind.
		_ = env.Stop()
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// Kubeconfig writes a kubeconfig for the API server to dir and returns its
// path, so tests can drive the real kubectl against it.
func (e *Env) Kubeconfig(dir string) (string, error) {
	user, err := e.env.AddUser(envtest.User{Name: "kubectl-tester", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add kubectl user: %w", err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("render kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", err
	}
	return path, nil
}
