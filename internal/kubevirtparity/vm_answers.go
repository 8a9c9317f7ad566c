package kubevirtparity

// VMSpec answers every field of kubevirtv1.VirtualMachineSpec outside the
// template's spec, which VMISpec answers (the template's spec is a
// VirtualMachineInstanceSpec, validated the same way).
var VMSpec = []Entry{
	impl("running", "KubeVirt's deprecated alias: true runs the VM as runStrategy Always, false as Halted; setting both is rejected", `true`),
	impl("runStrategy", "Always, RerunOnFailure, Once, Manual and Halted with KubeVirt's meanings (neither field: Halted); a failed run restarts after a back-off of 10s doubling to 5m", `"RerunOnFailure"`),
	rej("instancetype", "instancetype is not supported by VirtMesh: write the CPU and memory into spec.template.spec.domain", `{"name":"u1.medium"}`),
	rej("preference", "preference is not supported by VirtMesh: write the devices and features into spec.template.spec.domain", `{"name":"fedora"}`),
	impl("template", "", ""),
	impl("template.metadata", "labels and annotations go to each run's VMI (and so its pod); name and creationTimestamp are accepted and ignored (the VMI is named like the VM)", `{"labels":{"app":"details"},"annotations":{"a":"b"},"creationTimestamp":null}`),
	impl("template.spec", "validated and run as a VirtualMachineInstance's spec (see the table above); a change applies on the next run, until then the VM is RestartRequired", ""),
	rej("dataVolumeTemplates[]", "dataVolumeTemplates are not supported by VirtMesh: they need CDI", `[{"metadata":{"name":"d"},"spec":{"storage":{"resources":{"requests":{"storage":"1Gi"}}}}}]`),
	impl("updateVolumesStrategy", "Replacement (a volume change applies on the next run) is what VirtMesh does; Migration is rejected: VirtMesh cannot migrate a running VM", `"Replacement"`),
}
