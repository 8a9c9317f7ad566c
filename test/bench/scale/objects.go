package main

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// vmiYAML is the Bookinfo details shape without cloud-init: 1 core, a
// 256Mi guest, requests 250m/256Mi, one containerDisk, port 9080.
const vmiYAML = `
apiVersion: virt.virtmesh.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  labels:
    app: scale
spec:
  domain:
    cpu:
      cores: 1
    memory:
      guest: 256Mi
    resources:
      requests:
        memory: 256Mi
        cpu: 250m
    devices:
      disks:
        - name: containerdisk
          disk:
            bus: virtio
      interfaces:
        - name: default
          masquerade: {}
          ports:
            - name: http
              port: 9080
  networks:
    - name: default
      pod: {}
  volumes:
    - name: containerdisk
      containerDisk:
        image: quay.io/containerdisks/fedora:40
`

// podYAML mirrors the launcher pod the operator renders for that VMI
// outside the mesh: compute 250m/448Mi (the 256Mi guest plus overhead), the
// container-disk container and two init containers of 10m/40Mi. The run
// checks that the requests match a real launcher pod's.
const podYAML = `
apiVersion: v1
kind: Pod
metadata:
  labels:
    app: scale
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  restartPolicy: Never
  initContainers:
    - name: helper-install
      image: quay.io/virtmesh/virt-launcher:v0.1.0
      resources: {requests: {cpu: 10m, memory: 40Mi}, limits: {cpu: 10m, memory: 40Mi}}
    - name: net-setup
      image: quay.io/virtmesh/virt-launcher:v0.1.0
      resources: {requests: {cpu: 10m, memory: 40Mi}, limits: {cpu: 10m, memory: 40Mi}}
  containers:
    - name: compute
      image: quay.io/virtmesh/virt-launcher:v0.1.0
      resources: {requests: {cpu: 250m, memory: 448Mi}}
    - name: volumecontainerdisk
      image: quay.io/containerdisks/fedora:40
      resources: {requests: {cpu: 10m, memory: 40Mi}, limits: {cpu: 10m, memory: 40Mi}}
`

var (
	vmiTemplate virtv1alpha1.VirtualMachineInstance
	podTemplate corev1.Pod
)

func init() {
	if err := yaml.UnmarshalStrict([]byte(vmiYAML), &vmiTemplate); err != nil {
		panic(err)
	}
	if err := yaml.UnmarshalStrict([]byte(podYAML), &podTemplate); err != nil {
		panic(err)
	}
}

func newVMI(ns string, i int) *virtv1alpha1.VirtualMachineInstance {
	v := vmiTemplate.DeepCopy()
	v.Namespace, v.Name = ns, fmt.Sprintf("vm-%d", i)
	return v
}

func newPod(ns string, i int) *corev1.Pod {
	p := podTemplate.DeepCopy()
	p.Namespace, p.Name = ns, fmt.Sprintf("pod-%d", i)
	return p
}

// requestsShape is a pod's init container requests | container requests.
func requestsShape(p *corev1.Pod) string {
	var s string
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil {
			continue // a native sidecar (the mesh proxy) is not in the plain pod
		}
		s += fmt.Sprintf("%s/%s ", c.Resources.Requests.Cpu(), c.Resources.Requests.Memory())
	}
	s += "|"
	for _, c := range p.Spec.Containers {
		s += fmt.Sprintf(" %s/%s", c.Resources.Requests.Cpu(), c.Resources.Requests.Memory())
	}
	return s
}
