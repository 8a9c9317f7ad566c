// Package containerdisk exposes a containerDisk volume's image, which lives
// in the filesystem of its own volume container, to the compute container of
// the same pod — without privileges and without a node agent.
//
// Mechanism: the volume container runs the disk helper (a static binary
// copied into a shared emptyDir by an init container). The helper opens the
// image read-only, listens on a unix socket in another emptyDir shared with
// compute, and answers every connection with a small JSON header plus the
// open file descriptor as SCM_RIGHTS ancillary data. Compute keeps the fd
// and hands it to QEMU (-add-fd, "/dev/fdset/N" as the backing file of a
// qcow2 overlay), so QEMU reads the image through the very descriptor the
// helper opened: no path in the other container's mount namespace is ever
// resolved, no shareProcessNamespace or /proc/<pid>/root access (which would
// need ptrace rights) is needed, and only the helper's uid must be able to
// read the file. The image cannot be written through the fd: it is O_RDONLY,
// and all guest writes go to compute's overlay.
//
// compute keeps its connection to each helper open for its whole life;
// when it closes (however compute ends) or compute's DoneFile appears, the
// helper exits 0, so the pod can complete once the VM has stopped.
//
// When the image is missing or unreadable the helper writes the reason to
// its termination log and to <socket>.error next to the socket, so compute
// fails fast with the same message instead of waiting out its timeout.
package containerdisk
