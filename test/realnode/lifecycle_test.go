package realnode

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/logtail"
)

func newNamespace(t *testing.T, ns string) {
	t.Helper()
	kubectlIn(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n", "apply", "-f", "-")
}

// followLog streams a container's log until stop is called or it ends.
type followLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
	stop context.CancelFunc
}

func (f *followLog) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}

func (f *followLog) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

func follow(ns, pod, container string) *followLog {
	ctx, cancel := context.WithCancel(context.Background())
	f := &followLog{done: make(chan struct{}), stop: cancel}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), "--kubeconfig", kubeconfig, "logs", "-f", "-n", ns, pod, "-c", container)
	cmd.Stdout, cmd.Stderr = f, f
	go func() { _ = cmd.Run(); close(f.done) }()
	return f
}

// TestLifecycle: proof 3.
func TestLifecycle(t *testing.T) {
	const ns = "lifecycle"
	newNamespace(t, ns)

	t.Run("3a kubectl delete powers the guest off through ACPI within the grace period", func(t *testing.T) {
		const grace = 30
		kubectlIn(t, vmiSpec{ns: ns, name: "acpi", userData: guestUserData, readiness: true, grace: grace}.manifest(), "apply", "-f", "-")
		waitVMIReady(t, ns, 4*time.Minute, "acpi")
		pod := launcherPod(t, ns, "acpi")
		serial := follow(ns, pod.Name, "compute")
		defer serial.stop()
		time.Sleep(time.Second) // the follower is attached

		start := time.Now()
		kubectl(t, "delete", "virtualmachineinstances.virt.virtmesh.io", "acpi", "-n", ns, "--wait=false")
		// Watch the pod terminate: compute's exit code tells a clean
		// power-down (0) from the kubelet's SIGKILL at the deadline (137).
		var lastCompute *corev1.ContainerStateTerminated
		eventually(t, time.Duration(grace+30)*time.Second, "the launcher pod gone", func() error {
			var p corev1.Pod
			if err := getJSON(&p, "pod", pod.Name, "-n", ns); err != nil {
				if strings.Contains(err.Error(), "NotFound") || strings.Contains(err.Error(), "not found") {
					return nil
				}
				return err
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == "compute" && cs.State.Terminated != nil {
					lastCompute = cs.State.Terminated
				}
			}
			return fmt.Errorf("pod %s still there (phase %s)", pod.Name, p.Status.Phase)
		})
		elapsed := time.Since(start)
		<-serial.done
		log := serial.String()
		t.Logf("delete -> pod gone in %s (grace %ds); the serial console's last lines:\n%s", elapsed.Round(100*time.Millisecond), grace, logtail.Last(log, 8))
		if !strings.Contains(log, "guest-init: ACPI power button: powering off") || !strings.Contains(log, "guest-init: shutting down") {
			t.Errorf("the serial console does not show an ACPI power-down:\n%s", logtail.Last(log, 30))
		}
		if elapsed > time.Duration(grace)*time.Second {
			t.Errorf("the pod took %s to go, more than the grace period %ds", elapsed, grace)
		}
		if lastCompute != nil {
			t.Logf("compute terminated: exit code %d, reason %s", lastCompute.ExitCode, lastCompute.Reason)
			if lastCompute.ExitCode != 0 {
				t.Errorf("compute exited %d (%s), want 0 after the guest's power-down", lastCompute.ExitCode, lastCompute.Message)
			}
		}
		eventually(t, 30*time.Second, "the VMI gone", func() error {
			if _, err := getVMI(ns, "acpi"); err == nil {
				return fmt.Errorf("VMI %s/acpi still there", ns)
			}
			return nil
		})
	})

	t.Run("3b a guest poweroff makes the VMI Succeeded", func(t *testing.T) {
		kubectlIn(t, vmiSpec{ns: ns, name: "poweroff", userData: guestUserData, readiness: true}.manifest(), "apply", "-f", "-")
		waitVMIReady(t, ns, 4*time.Minute, "poweroff")
		pod := launcherPod(t, ns, "poweroff")
		body := getUntil(t, "http://"+pod.Status.PodIP+":9080/cgi-bin/poweroff", 30*time.Second)
		t.Logf("the guest: %s", strings.TrimSpace(body))
		eventually(t, 2*time.Minute, "VMI Succeeded", func() error {
			vmi, err := getVMI(ns, "poweroff")
			if err != nil {
				return err
			}
			if vmi.Status.Phase != virtv1alpha1.Succeeded {
				return fmt.Errorf("phase %q", vmi.Status.Phase)
			}
			return nil
		})
		p := launcherPod(t, ns, "poweroff")
		t.Logf("launcher pod %s: phase %s", p.Name, p.Status.Phase)
		if p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("the launcher pod is %s, want Succeeded", p.Status.Phase)
		}
	})

	t.Run("3c a broken container disk makes the VMI Failed with the launcher's reason", func(t *testing.T) {
		// The pause image as a containerDisk: an image with no disk in /disk.
		kubectlIn(t, vmiSpec{ns: ns, name: "broken", image: state.Images.Pause}.manifest(), "apply", "-f", "-")
		var vmi *virtv1alpha1.VirtualMachineInstance
		eventually(t, 3*time.Minute, "VMI Failed", func() error {
			var err error
			if vmi, err = getVMI(ns, "broken"); err != nil {
				return err
			}
			if vmi.Status.Phase != virtv1alpha1.Failed {
				return fmt.Errorf("phase %q, conditions %+v", vmi.Status.Phase, vmi.Status.Conditions)
			}
			return nil
		})
		failure := meta.FindStatusCondition(vmi.Status.Conditions, virtv1alpha1.ConditionFailure)
		if failure == nil {
			t.Fatalf("no %s condition: %+v", virtv1alpha1.ConditionFailure, vmi.Status.Conditions)
		}
		t.Logf("Failure: reason %s, message %q", failure.Reason, failure.Message)
		if !strings.Contains(failure.Message, "disk") {
			t.Errorf("the Failure message does not carry the launcher's reason (the missing disk): %q", failure.Message)
		}
	})
}
