// Package launcher runs the virtual machine a VirtualMachineInstance describes
// inside the virt-launcher pod's compute container: it prepares the disks,
// attaches to the tap net-setup made, builds the QEMU command line, talks QMP,
// and maps the guest's lifecycle onto the container's (ready file, ACPI
// power-down on SIGTERM, termination message).
//
// Its inputs are the compute container's flags (podcontract.ComputeOptions)
// and the VMI file the pod projects; it never calls the API server. The
// operator does not link this package: the pod's contract is
// internal/podcontract.
package launcher
