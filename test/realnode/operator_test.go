package realnode

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/hack/localcluster/cluster"
)

// operatorPod is the operator's pod (config/default's Deployment).
func operatorPod(t *testing.T) corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := getJSON(&list, "pods", "-n", cluster.OperatorNamespace, "-l", "control-plane=controller-manager"); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d operator pods, want 1", len(list.Items))
	}
	return list.Items[0]
}

// TestOperatorKilled: proof 5. The operator's process is SIGKILLed while
// 20 VMIs start; the kubelet restarts it, it takes the leader lease again,
// and every VMI ends with exactly one launcher pod, Running.
func TestOperatorKilled(t *testing.T) {
	const ns, n = "storm", 20
	newNamespace(t, ns)
	defer func() {
		// Free the node for the next test: 20 guests power down.
		_, _, _ = kubectlRun("", "delete", "namespace", ns, "--wait=true", "--timeout=3m")
	}()
	op := operatorPod(t)
	restarts := op.Status.ContainerStatuses[0].RestartCount
	procs := containerProcesses(t, op)["manager"]
	if len(procs) != 1 {
		t.Fatalf("want the operator's one process, found %v", procs)
	}
	var manifests []string
	for i := range n {
		manifests = append(manifests, vmiSpec{ns: ns, name: fmt.Sprintf("vm-%02d", i), grace: 5, memory: "128Mi"}.manifest())
	}

	// Count launcher pods per VMI all along, not only at the end: a
	// duplicate that was created and deleted again would be a bug too.
	var mu sync.Mutex
	maxPods := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var list corev1.PodList
			if err := getJSON(&list, "pods", "-n", ns, "-l", "virt.virtmesh.io/vmi"); err == nil {
				count := map[string]int{}
				for _, p := range list.Items {
					count[p.Labels["virt.virtmesh.io/vmi"]]++
				}
				mu.Lock()
				for k, v := range count {
					maxPods[k] = max(maxPods[k], v)
				}
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	kubectlIn(t, strings.Join(manifests, "---\n"), "create", "-f", "-")
	// Let it get going, then kill it mid-way.
	eventually(t, 60*time.Second, "the operator creating launcher pods", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(maxPods) == 0 {
			return fmt.Errorf("no launcher pod yet")
		}
		return nil
	})
	mu.Lock()
	created := len(maxPods)
	mu.Unlock()
	if err := syscall.Kill(procs[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILLed the operator (pid %d) %s after creating 20 VMIs, with %d launcher pods made", procs[0].PID, time.Since(start).Round(100*time.Millisecond), created)
	eventually(t, 2*time.Minute, "the operator restarted and ready", func() error {
		p := operatorPod(t)
		cs := p.Status.ContainerStatuses[0]
		if cs.RestartCount <= restarts || !cs.Ready {
			return fmt.Errorf("restartCount %d, ready %v", cs.RestartCount, cs.Ready)
		}
		return nil
	})
	t.Logf("the operator is back (restartCount %d) %s after the create", restarts+1, time.Since(start).Round(100*time.Millisecond))

	var phases map[string]virtv1alpha1.VirtualMachineInstancePhase
	eventually(t, 10*time.Minute, "every VMI Running", func() error {
		var list virtv1alpha1.VirtualMachineInstanceList
		if err := getJSON(&list, "virtualmachineinstances.virt.virtmesh.io", "-n", ns); err != nil {
			return err
		}
		phases = map[string]virtv1alpha1.VirtualMachineInstancePhase{}
		var notYet []string
		for _, v := range list.Items {
			phases[v.Name] = v.Status.Phase
			if v.Status.Phase != virtv1alpha1.Running {
				notYet = append(notYet, v.Name+"="+string(v.Status.Phase))
			}
		}
		if len(list.Items) != n || len(notYet) > 0 {
			return fmt.Errorf("%d VMIs, not Running: %s", len(list.Items), strings.Join(notYet, " "))
		}
		return nil
	})
	t.Logf("all %d VMIs Running %s after the create", n, time.Since(start).Round(100*time.Millisecond))
	close(stop)
	wg.Wait()
	var list corev1.PodList
	if err := getJSON(&list, "pods", "-n", ns, "-l", "virt.virtmesh.io/vmi"); err != nil {
		t.Fatal(err)
	}
	now := map[string]int{}
	for _, p := range list.Items {
		now[p.Labels["virt.virtmesh.io/vmi"]]++
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("launcher pod %s is %s", p.Name, p.Status.Phase)
		}
	}
	var bad []string
	for i := range n {
		name := fmt.Sprintf("vm-%02d", i)
		if now[name] != 1 || maxPods[name] != 1 {
			bad = append(bad, fmt.Sprintf("%s: %d now, at most %d", name, now[name], maxPods[name]))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("VMIs without exactly one launcher pod: %s", strings.Join(bad, "; "))
	}
	if t.Failed() {
		fmt.Fprintln(os.Stderr, kubectl(t, "get", "pods", "-n", ns, "-o", "wide"))
	}
}
