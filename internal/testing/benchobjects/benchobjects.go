// Package benchobjects holds the VirtualMachineInstance the performance
// measurements share: make scale (test/bench/scale) creates it by the
// thousand, and BenchmarkVMIAdmission (internal/testing/crdschema) measures
// what the API server spends validating it, so the benchmark explains the
// scale run's profile.
package benchobjects

// ScaleVMIYAML is the Bookinfo details shape without cloud-init: 1 core, a
// 256Mi guest, requests 250m/256Mi, one containerDisk, port 9080. It has no
// name and namespace; its users set them.
const ScaleVMIYAML = `
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
