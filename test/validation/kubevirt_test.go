package validation

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/kubevirtparity"
	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
	"virtmesh.io/virtmesh/internal/testing/badmanifest"
	"virtmesh.io/virtmesh/internal/testing/golden"
	"virtmesh.io/virtmesh/internal/testing/launcherplan"
)

// asVirtMesh proves doc is a valid KubeVirt VMI (strict decoding into
// kubevirt.io/api's own type: no unknown field, right types) and returns it
// with the one change a user makes: the apiVersion.
func asVirtMesh(t *testing.T, doc []byte, namespace string) *unstructured.Unstructured {
	t.Helper()
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.APIVersion != "kubevirt.io/v1" {
		t.Fatalf("apiVersion %q: the corpus holds KubeVirt's kubevirt.io/v1 objects", meta.APIVersion)
	}
	var err error
	switch meta.Kind {
	case "VirtualMachineInstance":
		err = yaml.UnmarshalStrict(doc, &kubevirtv1.VirtualMachineInstance{})
	case "VirtualMachine":
		err = yaml.UnmarshalStrict(doc, &kubevirtv1.VirtualMachine{})
	default:
		t.Fatalf("kind %q: the corpus holds VirtualMachineInstances and VirtualMachines", meta.Kind)
	}
	if err != nil {
		t.Fatalf("not a valid KubeVirt %s: %v", meta.Kind, err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(doc, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetAPIVersion(virtv1alpha1.GroupVersion.String())
	u.SetNamespace(namespace)
	return u
}

// storedVMI reads back what the API server stored for u: the VMI, or for a
// VirtualMachine the VMI its template gives (named like the VM).
func storedVMI(t *testing.T, u *unstructured.Unstructured) *virtv1alpha1.VirtualMachineInstance {
	t.Helper()
	ctx := context.Background()
	if u.GetKind() == "VirtualMachine" {
		vm := &virtv1alpha1.VirtualMachine{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), vm); err != nil {
			t.Fatal(err)
		}
		return &virtv1alpha1.VirtualMachineInstance{
			ObjectMeta: metav1.ObjectMeta{Name: vm.Name, Namespace: vm.Namespace, Labels: vm.Spec.Template.ObjectMeta.Labels},
			Spec:       vm.Spec.Template.Spec,
		}
	}
	vmi := &virtv1alpha1.VirtualMachineInstance{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), vmi); err != nil {
		t.Fatal(err)
	}
	return vmi
}

// TestKubeVirtCorpusAccepted: KubeVirt-shaped VMIs apply after the
// apiVersion change, the defaults show in the stored object, and each renders
// to a launcher pod whose QEMU command line is pinned in <name>.args.
func TestKubeVirtCorpusAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("kubevirt", "accepted", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("want the accepted KubeVirt corpus, found %d files: %v", len(files), err)
	}
	ensureNamespace(t, "kubevirt-accepted")
	ctx := context.Background()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			doc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u := asVirtMesh(t, doc, "kubevirt-accepted")
			if err := env.Client.Create(ctx, u, strict); err != nil {
				t.Fatalf("rejected: %v", err)
			}
			vmi := storedVMI(t, u)
			if len(vmi.Spec.Networks) != 1 || len(vmi.Spec.Domain.Devices.Interfaces) != 1 || vmi.Spec.Domain.Devices.Interfaces[0].Masquerade == nil {
				t.Errorf("stored networks %+v, interfaces %+v: want the pod network with a masquerade interface", vmi.Spec.Networks, vmi.Spec.Domain.Devices.Interfaces)
			}
			args := qemuArgs(t, vmi)
			golden.Assert(t, filepath.Join("kubevirt", "accepted", name+".args"), []byte(strings.Join(args, "\n")+"\n"))
		})
	}
}

// qemuArgs renders vmi's launcher pod and computes, from the VMI file the pod
// projects and compute's flags, the QEMU command line compute would start
// (TCG, a fixed clock). The UID is fixed so the MAC and SMBIOS UUID are
// stable; every claim is taken as bound with 10Gi.
func qemuArgs(t *testing.T, vmi *virtv1alpha1.VirtualMachineInstance) []string {
	t.Helper()
	vmi = vmi.DeepCopy()
	sum := sha256.Sum256([]byte(vmi.Name))
	id, err := uuid.FromBytes(sum[:16])
	if err != nil {
		t.Fatal(err)
	}
	vmi.UID = types.UID(id.String())
	opts := launcherpod.Options{LauncherImage: "example.com/virt-launcher:test", Claims: map[string]launcherpod.Claim{}}
	for _, v := range vmi.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			opts.Claims[v.PersistentVolumeClaim.ClaimName] = launcherpod.Claim{Capacity: resource.MustParse("10Gi")}
		}
	}
	pod, err := launcherpod.RenderLauncherPod(vmi, nil, opts)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	co, ok := launcherpod.ComputeOptions(pod)
	if !ok {
		t.Fatal("compute's flags do not parse")
	}
	file := filepath.Join(t.TempDir(), podcontract.VMIFileName)
	if err := os.WriteFile(file, []byte(pod.Annotations[podcontract.VMIAnnotation]), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := launcher.LoadVMI(file)
	if err != nil {
		t.Fatal(err)
	}
	args, err := launcherplan.Args(v, podcontract.AccelTCG, podcontract.DefaultDisksDir, time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), co.PersistentDisks...)
	if err != nil {
		t.Fatalf("QEMU command line: %v", err)
	}
	return args
}

// TestKubeVirtCorpusRejected: KubeVirt-valid VMIs that VirtMesh refuses are
// refused with every message their file announces, naming the cause.
func TestKubeVirtCorpusRejected(t *testing.T) {
	cases, err := badmanifest.Load(filepath.Join("kubevirt", "rejected"))
	if err != nil || len(cases) < 10 {
		t.Fatalf("want the rejected KubeVirt corpus, found %d files: %v", len(cases), err)
	}
	ensureNamespace(t, "kubevirt-rejected")
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			u := asVirtMesh(t, []byte(c.Docs[0]), "kubevirt-rejected")
			got := env.Client.Create(ctx, u, strict)
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

// sampleBase is the smallest KubeVirt VMI the field samples are set on.
const sampleBase = `{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstance","metadata":{"name":"sample"},
"spec":{"domain":{"resources":{"requests":{"memory":"128Mi"}},
"devices":{"disks":[{"name":"containerdisk","disk":{"bus":"virtio"}}],"interfaces":[{"name":"default","masquerade":{}}]}},
"networks":[{"name":"default","pod":{}}],
"volumes":[{"name":"containerdisk","containerDisk":{"image":"quay.io/kubevirt/cirros-container-disk-demo:v1.9.0"}}]}}`

// sampleVMBase is the smallest KubeVirt VirtualMachine: sampleBase's spec
// as its template.
const sampleVMBase = `{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","metadata":{"name":"sample"},
"spec":{"template":{"spec":{"domain":{"resources":{"requests":{"memory":"128Mi"}},
"devices":{"disks":[{"name":"containerdisk","disk":{"bus":"virtio"}}],"interfaces":[{"name":"default","masquerade":{}}]}},
"networks":[{"name":"default","pod":{}}],
"volumes":[{"name":"containerdisk","containerDisk":{"image":"quay.io/kubevirt/cirros-container-disk-demo:v1.9.0"}}]}}}}`

// TestKubeVirtFieldSamples applies, for every row of the parity tables with
// a sample, a minimal VMI or VM with that field set: it must be valid
// KubeVirt, and VirtMesh accepts it unless the row says rejected, then with
// the row's message.
func TestKubeVirtFieldSamples(t *testing.T) {
	ensureNamespace(t, "kubevirt-samples")
	n := 0
	for _, tb := range []struct {
		name    string
		base    string
		entries []kubevirtparity.Entry
	}{
		{"vmi", sampleBase, kubevirtparity.VMISpec},
		{"vm", sampleVMBase, kubevirtparity.VMSpec},
	} {
		for i, e := range tb.entries {
			if e.Sample == "" {
				continue
			}
			n++
			t.Run(tb.name+"/"+e.Path, func(t *testing.T) {
				applySample(t, tb.base, e, fmt.Sprintf("%s-sample-%d", tb.name, i))
			})
		}
	}
	if n < 100 {
		t.Errorf("only %d rows have samples; want at least 100", n)
	}
}

// sampleVolumeSources are the minimal valid sources a sample below them is
// set on (e.g. readOnly on a claim that has a claimName).
var sampleVolumeSources = map[string]string{
	"persistentVolumeClaim": `{"claimName":"sample"}`,
	"emptyDisk":             `{"capacity":"1Gi"}`,
	"cloudInitNoCloud":      `{"userData":"#!/bin/sh\n"}`,
}

// applySample sets e's sample on base and dry-runs its creation. A sample
// for a volume source other than the base's containerDisk goes on a volume
// of its own, so it is judged alone and not as a second source of the
// containerDisk volume.
func applySample(t *testing.T, base string, e kubevirtparity.Entry, name string) {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(base), &obj); err != nil {
		t.Fatal(err)
	}
	var value any
	if err := json.Unmarshal([]byte(e.Sample), &value); err != nil {
		t.Fatalf("sample %s: %v", e.Sample, err)
	}
	spec, path := obj["spec"].(map[string]any), strings.Split(e.Path, ".")
	if len(path) > 1 && path[0] == "volumes[]" && path[1] != "name" && path[1] != "containerDisk" {
		vol := map[string]any{"name": "sample"}
		if src, ok := sampleVolumeSources[path[1]]; ok && len(path) > 2 {
			var v any
			if err := json.Unmarshal([]byte(src), &v); err != nil {
				t.Fatal(err)
			}
			vol[path[1]] = v
		}
		setPath(vol, path[1:], value)
		spec["volumes"] = append(spec["volumes"].([]any), vol)
	} else {
		setPath(spec, path, value)
	}
	obj["metadata"].(map[string]any)["name"] = name
	doc, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := asVirtMesh(t, doc, "kubevirt-samples")
	got := env.Client.Create(context.Background(), u, strict, client.DryRunAll)
	switch {
	case e.Answer == kubevirtparity.Rejected && got == nil:
		t.Fatalf("spec.%s: %s was accepted, want rejection containing %q", e.Path, e.Sample, e.Note)
	case e.Answer == kubevirtparity.Rejected && !strings.Contains(got.Error(), e.Note):
		t.Fatalf("spec.%s: rejected with\n  %v\nwant the message to contain\n  %q", e.Path, got, e.Note)
	case e.Answer != kubevirtparity.Rejected && got != nil:
		t.Fatalf("spec.%s: %s (%s) was rejected: %v", e.Path, e.Sample, e.Answer, got)
	}
}

// setPath sets value at path below obj, creating maps on the way; a "x[]"
// step descends into x's first element (created when absent), and a final
// "x[]" sets the whole list.
func setPath(obj map[string]any, path []string, value any) {
	part := path[0]
	list := strings.HasSuffix(part, "[]")
	part = strings.TrimSuffix(part, "[]")
	if len(path) == 1 {
		obj[part] = value
		return
	}
	if list {
		items, _ := obj[part].([]any)
		if len(items) == 0 {
			items = []any{map[string]any{}}
			obj[part] = items
		}
		setPath(items[0].(map[string]any), path[1:], value)
		return
	}
	next, ok := obj[part].(map[string]any)
	if !ok {
		next = map[string]any{}
		obj[part] = next
	}
	setPath(next, path[1:], value)
}
