package launcher_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/launcherplan"
)

// TestTypedVMIMatchesFixture pins the contract with the renderer: a VMI
// built with the API's Go types and marshalled as the renderer does (into
// podcontract.VMIAnnotation) must decode into the same machine as the JSON fixture,
// so the launcher's own decoding cannot drift from the API's JSON names.
func TestTypedVMIMatchesFixture(t *testing.T) {
	guest := resource.MustParse("1Gi")
	grace := int64(20)
	boot := uint32(1)
	vmi := virtv1alpha1.VirtualMachineInstance{
		TypeMeta:   metav1.TypeMeta{APIVersion: virtv1alpha1.GroupVersion.String(), Kind: "VirtualMachineInstance"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: types.UID("6a1e7c3e-2f35-4c7b-9a40-0d4b1f6c2e11")},
		Spec: virtv1alpha1.VirtualMachineInstanceSpec{
			Hostname:                      "web-0",
			TerminationGracePeriodSeconds: &grace,
			Domain: virtv1alpha1.DomainSpec{
				CPU:       &virtv1alpha1.CPU{Sockets: 1, Cores: 2, Threads: 2},
				Memory:    &virtv1alpha1.Memory{Guest: &guest},
				Resources: virtv1alpha1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}},
				Devices: virtv1alpha1.Devices{
					Disks: []virtv1alpha1.Disk{
						{Name: "data", Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio}, Serial: "DATA-1"},
						{Name: "rootdisk", Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio}, BootOrder: &boot},
						{Name: "cloudinitdisk", Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio}},
					},
					Interfaces: []virtv1alpha1.Interface{{Name: "default", Masquerade: &virtv1alpha1.InterfaceMasquerade{}, MacAddress: "02:00:00:aa:bb:cc", Ports: []virtv1alpha1.Port{{Name: "http", Port: 9080}}}},
				},
			},
			Networks: []virtv1alpha1.Network{{Name: "default", Pod: &virtv1alpha1.PodNetwork{VMNetworkCIDR: "10.0.2.0/24"}}},
			Volumes: []virtv1alpha1.Volume{
				{Name: "rootdisk", ContainerDisk: &virtv1alpha1.ContainerDiskSource{Image: "example.com/web:1", Path: "/disk/web.qcow2"}},
				{Name: "data", ContainerDisk: &virtv1alpha1.ContainerDiskSource{Image: "example.com/data:1"}},
				{Name: "cloudinitdisk", CloudInitNoCloud: &virtv1alpha1.CloudInitNoCloudSource{UserData: "#!/bin/sh\necho hi\n"}},
				{Name: "state", PersistentVolumeClaim: &virtv1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "web-state"}},
				{Name: "scratch", EmptyDisk: &virtv1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}},
			},
		},
	}
	b, err := json.Marshal(vmi)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), podcontract.VMIFileName)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	typed, err := launcher.LoadVMI(path)
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := launcher.LoadVMI(filepath.Join("testdata", "full.vmi.json"))
	if err != nil {
		t.Fatal(err)
	}
	argsFor := func(v *launcher.VMI) string {
		args, err := launcherplan.Args(v, podcontract.AccelKVM, "/d", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(args, "\n")
	}
	if got, want := argsFor(typed), argsFor(fixture); got != want {
		t.Errorf("typed VMI gives other QEMU args than the fixture:\n got %s\nwant %s", got, want)
	}
	if typed.Hostname() != "web-0" || typed.Spec.GracePeriodSeconds() != 20 {
		t.Errorf("hostname %q, grace %d", typed.Hostname(), typed.Spec.GracePeriodSeconds())
	}
	// The launcher reads a claim's name and an emptyDisk's capacity from the
	// VMI: the argv does not show them.
	if vols := typed.Spec.Volumes; vols[3].PersistentVolumeClaim == nil || vols[3].PersistentVolumeClaim.ClaimName != "web-state" ||
		vols[4].EmptyDisk == nil || vols[4].EmptyDisk.Capacity.Value() != 1<<30 {
		t.Errorf("volumes %+v: want claim web-state and a 1Gi emptyDisk", vols)
	}
}
