// Package validation checks admission of VirtMesh resources against a real
// kube-apiserver: every manifest under bad/ must be rejected with the message
// its first line announces, and every sample under config/samples must be
// accepted as written.
package validation

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/testenv"
	"virtmesh.io/virtmesh/internal/testing/badmanifest"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(testenv.WithIstioCRDs())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// strict is what kubectl sends by default: unknown fields are errors, not
// silently pruned.
var strict = client.FieldValidation(metav1.FieldValidationStrict)

// readDocs splits a YAML file into objects.
func readDocs(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestBadManifestsRejected applies each bad manifest. A file with one object
// must fail on create; a file with two objects is an update: the first is
// created (and must be accepted), the second applied over it must fail.
func TestBadManifestsRejected(t *testing.T) {
	cases, err := badmanifest.Load("bad")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("want at least 30 bad manifests, found %d", len(cases))
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var objs []*unstructured.Unstructured
			for _, d := range c.Docs {
				u := &unstructured.Unstructured{}
				if err := utilyaml.Unmarshal([]byte(d), &u.Object); err != nil {
					t.Fatal(err)
				}
				objs = append(objs, u)
			}
			ns := fmt.Sprintf("bad-%d", i)
			ensureNamespace(t, ns)
			for _, o := range objs {
				o.SetNamespace(ns)
			}
			var got error
			switch len(objs) {
			case 1:
				got = env.Client.Create(ctx, objs[0], strict)
			case 2:
				if err := env.Client.Create(ctx, objs[0], strict); err != nil {
					t.Fatalf("the first object of an update case must be valid: %v", err)
				}
				objs[1].SetResourceVersion(objs[0].GetResourceVersion())
				got = env.Client.Update(ctx, objs[1], strict)
			}
			if got == nil {
				t.Fatalf("accepted, want rejection containing %q", c.Wants)
			}
			if missing := c.Missing(got.Error()); len(missing) > 0 {
				t.Fatalf("rejected with\n  %v\nwant the message to contain\n  %q", got, missing)
			}
			t.Logf("rejected as expected: %v", got)
		})
	}
}

// TestSamplesAccepted applies every sample as written.
func TestSamplesAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no samples found")
	}
	ctx := context.Background()
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, o := range readDocs(t, f) {
				if o.GetNamespace() != "" {
					ensureNamespace(t, o.GetNamespace())
				}
				if err := env.Client.Create(ctx, o, strict); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatalf("%s %s rejected: %v", o.GetKind(), o.GetName(), err)
				}
			}
		})
	}
}

// TestDefaultsApplied checks that server-side defaults are visible on a
// minimal MeshControlPlane, so `kubectl get -o yaml` shows what is in force.
func TestDefaultsApplied(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, "defaults")
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "mesh.virtmesh.io/v1alpha1", "kind": "MeshControlPlane",
		"metadata": map[string]any{"name": "minimal", "namespace": "defaults"},
	}}
	if err := env.Client.Create(ctx, u, strict); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"spec.version": "1.30.0", "spec.security.mtls": "PERMISSIVE", "spec.security.trustDomain": "cluster.local",
		"spec.outboundTrafficPolicy": "ALLOW_ANY", "spec.clusterID": "Kubernetes", "spec.clusterDomain": "cluster.local",
	} {
		got, _, _ := unstructured.NestedString(u.Object, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s = %q, want default %q", path, got, want)
		}
	}
}

// TestReservedPortsInCEL keeps the literal port lists in the CRDs' CEL rules
// equal to meshv1alpha1.ReservedProxyPorts: CEL cannot read Go constants.
func TestReservedPortsInCEL(t *testing.T) {
	parts := make([]string, len(meshv1alpha1.ReservedProxyPorts))
	for i, p := range meshv1alpha1.ReservedProxyPorts {
		parts[i] = fmt.Sprint(p)
	}
	want := "[" + strings.Join(parts, ", ") + "]"
	for _, crd := range []string{"virt.virtmesh.io_virtualmachineinstances.yaml", "mesh.virtmesh.io_meshcontrolplanes.yaml"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", crd))
		if err != nil {
			t.Fatal(err)
		}
		// YAML folds long rules, so compare with all white space removed.
		if !strings.Contains(strings.Join(strings.Fields(string(b)), ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("%s: no CEL rule lists the reserved proxy ports %s", crd, want)
		}
	}
}

// TestKubectlExplain runs the real kubectl against the API server: the CRDs
// publish their field documentation, so `kubectl explain` teaches the API.
func TestKubectlExplain(t *testing.T) {
	kubectl := filepath.Join(testenv.RepoRoot(), "bin", "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("bin/kubectl missing (make bins builds it): %v", err)
	}
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ resource, want string }{
		{"virtualmachineinstances.virt.virtmesh.io.spec.domain.devices.interfaces.masquerade", "puts the VM behind NAT inside the launcher pod"},
		{"virtualmachineinstances.virt.virtmesh.io.spec.networks.pod.vmNetworkCIDR", "the gateway"},
		{"virtualmachineinstances.virt.virtmesh.io.spec.networks", "it is the default, as in KubeVirt when a VMI names no networks and no interfaces"},
		{"virtualmachineinstances.virt.virtmesh.io.spec.domain.devices.autoattachGraphicsDevice", "accepted and ignored: VirtMesh VMs are headless"},
		{"meshcontrolplanes.spec.security.mtls", "mesh-wide mutual TLS mode"},
		{"mvm.spec.runStrategy", "Always, RerunOnFailure, Halted"},
		{"mcp.spec.proxy.includeOutboundIPRanges", "destinations whose outbound traffic is"},
	} {
		// The API server publishes a new CRD's OpenAPI a little after the CRD
		// is established; poll until kubectl finds it.
		var out []byte
		var err error
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
			out, err = exec.Command(kubectl, "--kubeconfig", kubeconfig, "explain", tc.resource).CombinedOutput()
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Errorf("kubectl explain %s: %v\n%s", tc.resource, err, out)
			continue
		}
		if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), tc.want) {
			t.Errorf("kubectl explain %s does not document %q:\n%s", tc.resource, tc.want, out)
		}
	}
}
