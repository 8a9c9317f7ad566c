package realnode

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/internal/logtail"
)

// meshManifest is the samples' mesh for Bookinfo with istiod's local image
// (bin/pilot-discovery), the proxy stand-in and without the ingress
// gateway and the addons (their images cannot run here).
func meshManifest() string {
	return `apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: mesh.virtmesh.io/v1alpha1
kind: MeshControlPlane
metadata:
  name: basic
  namespace: istio-system
spec:
  version: 1.30.0
  images:
    istiod: ` + state.Images.Istiod + `
    proxy: ` + state.Images.Proxy + `
  security:
    mtls: STRICT
    trustDomain: cluster.local
  proxy:
    holdApplicationUntilProxyStarts: true
  members:
    namespaces:
      - bookinfo
      - boottime
`
}

// setupBookinfo makes namespace bookinfo a mesh member and starts the
// details VMI (the test guest, meshed), its Service and the productpage
// stand-in; it returns once the guest serves (the VMI's readinessProbe).
func setupBookinfo(t *testing.T) {
	t.Helper()
	ensureMesh(t, "bookinfo")
	pp, err := os.ReadFile(filepath.Join(repoRoot, "hack/localcluster/samples/productpage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubectlIn(t, strings.ReplaceAll(string(pp), "image: productpage-standin", "image: "+state.Images.Productpage), "apply", "-f", "-")
	kubectlIn(t, serviceManifest("bookinfo", "details", "details"), "apply", "-f", "-")
	// net-setup exits before anyone can look at it: watch for it while the
	// pod starts.
	netSetupWatch = watchProcesses("virt-launcher net-setup")
	kubectlIn(t, vmiSpec{ns: "bookinfo", name: "details", app: "details", userData: guestUserData, readiness: true, memory: "256Mi", grace: 30}.manifest(), "apply", "-f", "-")
	waitVMIReady(t, "bookinfo", 5*time.Minute, "details")
	netSetupWatch.stop()
	kubectl(t, "rollout", "status", "-n", "bookinfo", "deployment/productpage-v1", "--timeout=120s")
}

var netSetupWatch *procWatch

// procWatch records /proc/<pid>/status of every process in a kubepods
// cgroup whose command line contains a string, while it runs.
type procWatch struct {
	mu   sync.Mutex
	seen map[int]caughtProc
	done chan struct{}
}

type caughtProc struct {
	cmdline, status, cgroup string
}

func watchProcesses(match string) *procWatch {
	w := &procWatch{seen: map[int]caughtProc{}, done: make(chan struct{})}
	go func() {
		for {
			procs, _ := host.Processes()
			for _, p := range procs {
				cmd := strings.Join(p.Args, " ")
				if !strings.Contains(cmd, match) {
					continue
				}
				w.mu.Lock()
				_, known := w.seen[p.PID]
				w.mu.Unlock()
				if known {
					continue
				}
				st, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
				cg, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PID))
				if err1 != nil || err2 != nil || !strings.Contains(string(cg), "kubepods") {
					continue
				}
				w.mu.Lock()
				w.seen[p.PID] = caughtProc{cmdline: cmd, status: string(st), cgroup: string(cg)}
				w.mu.Unlock()
			}
			select {
			case <-w.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *procWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}

// caught returns the recorded processes whose cgroup names containerID.
func (w *procWatch) caught(containerID string) map[int]caughtProc {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[int]caughtProc{}
	for pid, p := range w.seen {
		if strings.Contains(p.cgroup, containerID) {
			out[pid] = p
		}
	}
	return out
}

// productpageAnswer is the productpage stand-in's JSON.
type productpageAnswer struct {
	StandIn    string          `json:"standIn"`
	Pod        string          `json:"pod"`
	DetailsURL string          `json:"detailsURL"`
	AnsweredBy string          `json:"answeredBy"`
	Status     int             `json:"status"`
	Details    json.RawMessage `json:"details"`
	Body       string          `json:"body"`
	Error      string          `json:"error"`
}

// TestBookinfo: proofs 1, 2 and 4 on one meshed VM.
func TestBookinfo(t *testing.T) {
	setupBookinfo(t)
	pod := launcherPod(t, "bookinfo", "details")
	detailsIP := clusterIP(t, "bookinfo", "details")
	productpageIP := clusterIP(t, "bookinfo", "productpage")
	var ppPods corev1.PodList
	if err := getJSON(&ppPods, "pods", "-n", "bookinfo", "-l", "app=productpage"); err != nil || len(ppPods.Items) != 1 {
		t.Fatalf("the productpage pod: %v (%d pods)", err, len(ppPods.Items))
	}
	ppPod := ppPods.Items[0]
	serial := containerLog(t, "bookinfo", pod.Name, "compute", false)
	seed := serialSeed.FindStringSubmatch(serial)
	ud := serialUserData.FindStringSubmatch(serial)
	if seed == nil || ud == nil {
		t.Fatalf("the serial console (kubectl logs -c compute) lacks the guest's cloud-init and user-data lines:\n%s", logtail.Last(serial, 60))
	}
	guestKernel, instanceID := ud[1], seed[1]
	t.Logf("the guest says on its serial console: kernel %s, instance-id %s", guestKernel, instanceID)
	if hostKernel, _ := os.ReadFile("/proc/sys/kernel/osrelease"); strings.TrimSpace(string(hostKernel)) == guestKernel {
		t.Fatalf("the guest's kernel %s is the host's: it would not tell who answered", guestKernel)
	}

	t.Run("1 productpage's request to details.bookinfo.svc.cluster.local is answered by the guest through the proxy", func(t *testing.T) {
		body := getUntil(t, "http://"+productpageIP+":9080/", 60*time.Second)
		var a productpageAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("productpage's answer: %v\n%s", err, body)
		}
		t.Logf("productpage (pod %s) answered:\n  %s", a.Pod, prettyJSON(body))
		if a.DetailsURL != "http://details.bookinfo.svc.cluster.local:9080/details/0" || a.Status != 200 {
			t.Fatalf("productpage called %s: status %d, error %q", a.DetailsURL, a.Status, a.Error)
		}
		if ip, _, _ := net.SplitHostPort(a.AnsweredBy); ip != detailsIP {
			t.Errorf("productpage connected to %s, want the details Service's ClusterIP %s", a.AnsweredBy, detailsIP)
		}
		var d guestDetails
		if err := json.Unmarshal(a.Details, &d); err != nil {
			t.Fatalf("details: %v: %s", err, a.Details)
		}
		if d.Kernel != guestKernel || d.InstanceID != instanceID || d.Author != "William Shakespeare" {
			t.Errorf("the answer %+v is not the guest's (kernel %s, instance-id %s)", d, guestKernel, instanceID)
		}
		proxyLog := containerLog(t, "bookinfo", pod.Name, "istio-proxy", false)
		// The proxy took the connection on its inbound listener (15006)
		// with the pod's address as the original destination, from
		// productpage's pod (or the node when kube-proxy masqueraded it).
		in := regexp.MustCompile(`FORWARD inbound orig=`+regexp.QuoteMeta(pod.Status.PodIP)+`:9080 from=(\S+)`).FindAllStringSubmatch(proxyLog, -1)
		if len(in) == 0 {
			t.Fatalf("the proxy's log has no inbound connection to %s:9080:\n%s", pod.Status.PodIP, logtail.Last(proxyLog, 30))
		}
		froms := make([]string, 0, len(in))
		for _, m := range in {
			froms = append(froms, m[1])
		}
		t.Logf("the proxy's inbound listener took connections to %s:9080 from %s", pod.Status.PodIP, strings.Join(froms, ", "))
		if !strings.Contains(strings.Join(froms, " "), ppPod.Status.PodIP+":") {
			t.Errorf("no inbound connection from productpage's pod %s in the proxy's log:\n%s", ppPod.Status.PodIP, logtail.Last(proxyLog, 30))
		}
	})

	// The README's way to poke around: kubectl exec into productpage (its
	// image has no shell; the stand-in's own get command makes the call).
	t.Run("1b kubectl exec into productpage reaches the guest by the Service's name", func(t *testing.T) {
		url := "http://details.bookinfo.svc.cluster.local:9080/details/0"
		out, errOut, err := kubectlRun("", "exec", "-n", "bookinfo", ppPod.Name, "--", "/productpage-standin", "get", url)
		if err != nil {
			t.Fatalf("kubectl exec %s -- /productpage-standin get %s: %v\n%s%s", ppPod.Name, url, err, out, errOut)
		}
		var a productpageAnswer
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatalf("kubectl exec printed no answer: %v\n%s", err, out)
		}
		var d guestDetails
		if err := json.Unmarshal(a.Details, &d); err != nil || d.Kernel != guestKernel {
			t.Errorf("kubectl exec's answer is not the guest's (kernel %s): %v\n%s", guestKernel, err, out)
		}
	})

	t.Run("2 the guest calls productpage by name through the proxy's outbound listener", func(t *testing.T) {
		body := getUntil(t, "http://"+detailsIP+":9080/cgi-bin/productpage", 60*time.Second)
		t.Logf("the guest's CGI answered:\n  %s", body)
		dns := clusterIP(t, "kube-system", "kube-dns")
		lines := strings.SplitN(body, "\n", 3)
		if len(lines) < 3 {
			t.Fatalf("short answer from the guest:\n%s", body)
		}
		// The test guest's DHCP hook writes the nameserver (and only a
		// single "domain", not the search list), hence the FQDN.
		if !strings.Contains(lines[0], "nameserver "+dns) {
			t.Errorf("the guest's resolv.conf (from DHCP) should name kube-dns %s: %s", dns, lines[0])
		}
		if !strings.HasSuffix(lines[1], " is "+productpageIP) {
			t.Errorf("the guest resolved %s, want productpage's ClusterIP %s", lines[1], productpageIP)
		}
		// The raw HTTP answer: the JSON starts after the headers.
		var a productpageAnswer
		i := strings.Index(lines[2], "\n{")
		if i < 0 || !strings.HasPrefix(lines[2], "HTTP/1.") {
			t.Fatalf("no HTTP answer from productpage in the guest's output:\n%s", body)
		}
		if err := json.Unmarshal([]byte(lines[2][i+1:]), &a); err != nil {
			t.Fatalf("no productpage answer in the guest's output (%v):\n%s", err, body)
		}
		if a.Pod != ppPod.Name {
			t.Errorf("the answer came from pod %q, want productpage's %s", a.Pod, ppPod.Name)
		}
		// productpage called details, which is this guest: a round trip
		// out of the VM and back in.
		if d := (guestDetails{}); a.Status != http.StatusOK || json.Unmarshal(a.Details, &d) != nil || d.InstanceID != instanceID {
			t.Errorf("productpage's call to details for the guest: status %d, error %q, details %s; want 200 with instance-id %s", a.Status, a.Error, a.Details, instanceID)
		}
		proxyLog := containerLog(t, "bookinfo", pod.Name, "istio-proxy", false)
		out := regexp.MustCompile(`FORWARD outbound orig=` + regexp.QuoteMeta(productpageIP) + `:9080 from=(\S+)`).FindStringSubmatch(proxyLog)
		if out == nil {
			t.Fatalf("the proxy's log has no outbound connection to productpage's ClusterIP %s:9080:\n%s", productpageIP, logtail.Last(proxyLog, 30))
		}
		t.Logf("the proxy's outbound listener took the guest's connection to %s:9080 from %s", productpageIP, out[1])
		if !strings.HasPrefix(out[1], "10.0.2.2:") {
			t.Errorf("the outbound connection came from %s, want the guest (10.0.2.2)", out[1])
		}
	})

	t.Run("4 only net-setup holds NET_ADMIN and NET_RAW", func(t *testing.T) {
		checkCapabilities(t, pod)
	})
}

// Capability numbers (linux/capability.h).
const (
	capChown          = 0
	capNetBindService = 10
	capNetAdmin       = 12
	capNetRaw         = 13
	capMknod          = 27
)

var capNames = map[int]string{capChown: "CHOWN", capNetBindService: "NET_BIND_SERVICE", capNetAdmin: "NET_ADMIN", capNetRaw: "NET_RAW", capMknod: "MKNOD"}

func capSet(bits ...int) uint64 {
	var s uint64
	for _, b := range bits {
		s |= 1 << b
	}
	return s
}

func capString(s uint64) string {
	var out []string
	for b := range 64 {
		if s&(1<<b) != 0 {
			if n, ok := capNames[b]; ok {
				out = append(out, n)
			} else {
				out = append(out, fmt.Sprintf("cap%d", b))
			}
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// caps parses the Cap* lines of /proc/<pid>/status (or net-setup's copy).
func caps(status string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, m := range regexp.MustCompile(`(Cap(?:Inh|Prm|Eff|Bnd|Amb))[:=]\s*([0-9a-f]{16})`).FindAllStringSubmatch(status, -1) {
		var v uint64
		if _, err := fmt.Sscanf(m[2], "%x", &v); err != nil {
			return nil, err
		}
		out[m[1]] = v
	}
	if len(out) != 5 {
		return nil, fmt.Errorf("want 5 capability sets, found %v", out)
	}
	return out, nil
}

// containerProcesses maps each running container of pod (by name) to the
// host processes in its cgroup.
func containerProcesses(t *testing.T, pod corev1.Pod) map[string][]host.Process {
	t.Helper()
	ids := map[string]string{}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.State.Running != nil {
			ids[cs.Name] = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	procs, err := host.Processes()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]host.Process{}
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PID))
		if err != nil {
			continue
		}
		for name, id := range ids {
			if id != "" && strings.Contains(string(b), id) {
				out[name] = append(out[name], p)
			}
		}
	}
	return out
}

// checkCapabilities reads the capability sets of every process of the
// launcher pod's running containers from /proc, and net-setup's (an init
// container that has exited) from the line it logs from its own
// /proc/self/status, and compares them with docs/networking.md.
func checkCapabilities(t *testing.T, pod corev1.Pod) {
	// Bounding sets as docs/networking.md documents them; a process may
	// hold at most these in any set.
	allowed := map[string]uint64{
		"net-setup":           capSet(capNetAdmin, capNetRaw, capMknod, capChown),
		"compute":             capSet(capNetBindService),
		"volumecontainerdisk": 0,
		"istio-proxy":         0,
	}
	var netSetupID string
	for _, cs := range pod.Status.InitContainerStatuses {
		if cs.Name == "net-setup" {
			netSetupID = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	caught := netSetupWatch.caught(netSetupID)
	if netSetupID == "" || len(caught) == 0 {
		// A launcher built with net-setup's capability line says it itself.
		netLog := containerLog(t, "bookinfo", pod.Name, "net-setup", false)
		line := regexp.MustCompile(`virt-launcher net-setup: uid \d+, .*`).FindString(netLog)
		c, err := caps(line)
		if err != nil {
			t.Fatalf("net-setup (container %q) was not caught running, and its log has no capability line (%v)", netSetupID, err)
		}
		t.Logf("%-20s %-8s %s (from the line it logs from its own /proc/self/status)", "net-setup", "exited", fmtCaps(c))
		checkNetSetup(t, c, allowed["net-setup"])
	}
	for pid, p := range caught {
		c, err := caps(p.status)
		if err != nil {
			t.Fatal(err)
		}
		uid := regexp.MustCompile(`Uid:\s+(\d+)`).FindStringSubmatch(p.status)
		t.Logf("%-20s pid %-6d uid %-5s %-28s %s (caught while it ran)", "net-setup", pid, uid[1], strings.Fields(p.cmdline)[0], fmtCaps(c))
		checkNetSetup(t, c, allowed["net-setup"])
	}

	byContainer := containerProcesses(t, pod)
	for name, want := range allowed {
		if name == "net-setup" {
			continue
		}
		procs := byContainer[name]
		if len(procs) == 0 {
			t.Errorf("no running process found for container %s", name)
			continue
		}
		for _, p := range procs {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			c, err := caps(string(b))
			if err != nil {
				t.Fatal(err)
			}
			uid := regexp.MustCompile(`Uid:\s+(\d+)`).FindStringSubmatch(string(b))
			t.Logf("%-20s pid %-6d uid %-5s %-28s %s", name, p.PID, uid[1], p.Name(), fmtCaps(c))
			checkSets(t, fmt.Sprintf("%s (pid %d, %s)", name, p.PID, p.Name()), c, want)
			if name == "compute" && p.Name() == "virt-launcher" {
				checkTunDevice(t, p.PID)
			}
		}
	}
}

// checkTunDevice shows that compute reaches tap0 through the tun node
// net-setup made, with the container runtime's default device rules: its
// devices cgroup allows the tun device (c 10:200) and is not the
// privileged "a *:* rwm".
func checkTunDevice(t *testing.T, computePID int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", computePID))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\d+:devices:(\S+)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Logf("compute has no devices cgroup (cgroup v2): the device rules are a BPF program")
		return
	}
	list, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/devices", m[1], "devices.list"))
	if err != nil {
		t.Fatal(err)
	}
	rules := strings.Fields(strings.ReplaceAll(string(list), "\n", ";"))
	t.Logf("compute's devices cgroup %s allows: %s", m[1], strings.Join(rules, " "))
	if strings.Contains(string(list), "a *:* rwm") {
		t.Errorf("compute's devices cgroup allows every device (privileged)")
	}
	if !strings.Contains(string(list), "c 10:200 rwm") {
		t.Errorf("compute's devices cgroup lacks the tun device (c 10:200 rwm)")
	}
}

func checkNetSetup(t *testing.T, c map[string]uint64, allowed uint64) {
	t.Helper()
	if c["CapEff"]&capSet(capNetAdmin, capNetRaw) != capSet(capNetAdmin, capNetRaw) {
		t.Errorf("net-setup lacks NET_ADMIN/NET_RAW: %s", fmtCaps(c))
	}
	checkSets(t, "net-setup", c, allowed)
}

func fmtCaps(c map[string]uint64) string {
	return fmt.Sprintf("eff=%s prm=%s bnd=%s amb=%s inh=%s", capString(c["CapEff"]), capString(c["CapPrm"]), capString(c["CapBnd"]), capString(c["CapAmb"]), capString(c["CapInh"]))
}

func checkSets(t *testing.T, who string, c map[string]uint64, allowed uint64) {
	t.Helper()
	for _, set := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"} {
		if extra := c[set] &^ allowed; extra != 0 {
			t.Errorf("%s holds %s in %s beyond what docs/networking.md documents (%s)", who, capString(extra), set, capString(allowed))
		}
	}
	if !strings.HasPrefix(who, "net-setup") && (c["CapEff"]|c["CapPrm"]|c["CapBnd"]|c["CapAmb"]|c["CapInh"])&capSet(capNetAdmin, capNetRaw) != 0 {
		t.Errorf("%s holds NET_ADMIN or NET_RAW: only net-setup may", who)
	}
}
