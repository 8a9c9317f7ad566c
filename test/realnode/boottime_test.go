package realnode

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/logtail"
)

// bootPhases are the marks on the way from `kubectl apply` to the guest's
// first answer through its Service, each found in a log with kubectl logs
// --timestamps (sub-second) or in the pod's status (seconds).
var bootPhases = []struct {
	name string
	// what ends this phase (the previous mark starts it)
	mark string
}{
	{"pod start", "net-setup's first line (scheduled, sandbox, CNI, helper-install)"},
	{"net-setup", "net-setup's last line (bridge, tap, tun node, nat tables)"},
	{"proxy, disk helper, compute start", "compute's first line (the proxy's startup probe passed)"},
	{"QEMU start", "compute: starting qemu-system-x86_64"},
	{"guest boot", "serial: guest-init: acpid started (kernel and init up)"},
	{"cloud-init seed, DHCP", "serial: guest-init: eth0 ... via DHCP"},
	{"service up", "serial: user-data: ... httpd serving 9080"},
	{"first answer through the Service", "GET <Service ClusterIP>:9080 answered by the guest"},
}

var tsLine = regexp.MustCompile(`^(\S+) (.*)$`)

// mark returns the timestamp of the first (or last) line matching re.
func mark(log string, re *regexp.Regexp, last bool) (time.Time, bool) {
	var found time.Time
	ok := false
	for _, l := range strings.Split(log, "\n") {
		m := tsLine.FindStringSubmatch(l)
		if len(m) < 3 || !re.MatchString(m[2]) {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		found, ok = ts, true
		if !last {
			return found, true
		}
	}
	return found, ok
}

var anyLine = regexp.MustCompile(`.`)

type bootRun struct {
	name   string
	total  time.Duration
	phases []time.Duration
	accel  string
}

// TestBootTime: proof 6. Five meshed VMIs, one after the other on an
// otherwise idle node: the time from `kubectl apply` (VMI and Service) to
// the guest's first answer through the Service, and where it goes.
func TestBootTime(t *testing.T) {
	const ns, runs = "boottime", 5
	ensureMesh(t, ns)
	var results []bootRun
	for i := range runs {
		name := fmt.Sprintf("boot-%d", i)
		r := bootOnce(t, ns, name)
		results = append(results, r)
		t.Logf("%s: %s to the first answer (%s)", name, r.total.Round(10*time.Millisecond), r.accel)
		// Gone before the next one starts, so each run has the node alone.
		kubectl(t, "delete", "virtualmachineinstances.virt.virtmesh.io", name, "-n", ns, "--wait=true", "--timeout=2m")
		kubectl(t, "delete", "svc", name, "-n", ns)
		_, _, _ = kubectlRun("", "wait", "--for=delete", "pod", "-n", ns, "-l", "virt.virtmesh.io/vmi="+name, "--timeout=2m")
	}
	report := bootReport(results)
	t.Log("\n" + report)
	if out := os.Getenv("VIRTMESH_REALNODE_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func bootOnce(t *testing.T, ns, name string) bootRun {
	t.Helper()
	manifest := serviceManifest(ns, name, name) + "---\n" + vmiSpec{ns: ns, name: name, userData: guestUserData, grace: 10}.manifest()
	start := time.Now()
	kubectlIn(t, manifest, "apply", "-f", "-")
	ip := clusterIP(t, ns, name)
	url := "http://" + ip + ":9080/details/0"
	var answered time.Time
	deadline := start.Add(5 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		code, body, err := httpGet(ctx, url)
		cancel()
		var d guestDetails
		if err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &d) == nil && d.Kernel != "" {
			answered = time.Now()
			break
		}
		if time.Now().After(deadline) {
			pods, _ := launcherPods(ns, name)
			logs := ""
			for _, p := range pods {
				for _, c := range []string{"compute", "istio-proxy"} {
					out, errOut, _ := kubectlRun("", "logs", "-n", ns, p.Name, "-c", c, "--tail=40")
					logs += fmt.Sprintf("\n--- %s %s:\n%s%s", p.Name, c, out, errOut)
				}
			}
			t.Fatalf("%s: no answer from the guest through %s after 5m (last: %d %v %q)%s", name, url, code, err, logtail.Last(body, 5), logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pod := launcherPod(t, ns, name)
	netLog := containerLog(t, ns, pod.Name, "net-setup", true)
	compute := containerLog(t, ns, pod.Name, "compute", true)
	marks := make([]time.Time, 0, len(bootPhases)+1)
	marks = append(marks, start)
	add := func(log string, re *regexp.Regexp, last bool, what string) {
		ts, ok := mark(log, re, last)
		if !ok {
			t.Fatalf("%s: no %s in the log:\n%s", name, what, logtail.Last(log, 40))
		}
		marks = append(marks, ts)
	}
	add(netLog, anyLine, false, "net-setup line")
	add(netLog, anyLine, true, "net-setup line")
	add(compute, regexp.MustCompile(`^virt-launcher compute:`), false, "compute line")
	add(compute, regexp.MustCompile(`^virt-launcher compute: starting \S*qemu`), false, "QEMU start")
	add(compute, regexp.MustCompile(`guest-init: acpid started`), false, "guest init line")
	add(compute, regexp.MustCompile(`guest-init: eth0 \S+ via DHCP`), false, "DHCP line")
	add(compute, regexp.MustCompile(`user-data: kernel=\S+ instance-id=\S* httpd serving 9080`), false, "user-data line")
	marks = append(marks, answered)
	r := bootRun{name: name, total: answered.Sub(start)}
	for i := 1; i < len(marks); i++ {
		r.phases = append(r.phases, marks[i].Sub(marks[i-1]))
	}
	if m := regexp.MustCompile(`accelerator (\w+)`).FindStringSubmatch(compute); m != nil {
		r.accel = m[1]
	}
	return r
}

func bootReport(rs []bootRun) string {
	var b strings.Builder
	var totals []time.Duration
	fmt.Fprintf(&b, "apply -> first answer through the Service, %d meshed VMIs one at a time (accelerator: %s)\n\n", len(rs), rs[0].accel)
	fmt.Fprintf(&b, "| %-36s |", "phase (ends at)")
	for _, r := range rs {
		fmt.Fprintf(&b, " %7s |", r.name)
	}
	fmt.Fprintf(&b, " %7s |\n|%s|", "p50", strings.Repeat("-", 38))
	for range len(rs) + 1 {
		b.WriteString("---------|")
	}
	b.WriteString("\n")
	for i, p := range bootPhases {
		var ds []time.Duration
		fmt.Fprintf(&b, "| %-36s |", p.name)
		for _, r := range rs {
			fmt.Fprintf(&b, " %6.2fs |", r.phases[i].Seconds())
			ds = append(ds, r.phases[i])
		}
		fmt.Fprintf(&b, " %6.2fs |\n", percentile(ds, 0.5).Seconds())
	}
	fmt.Fprintf(&b, "| %-36s |", "total")
	for _, r := range rs {
		fmt.Fprintf(&b, " %6.2fs |", r.total.Seconds())
		totals = append(totals, r.total)
	}
	p50 := percentile(totals, 0.5)
	fmt.Fprintf(&b, " %6.2fs |\n\n", p50.Seconds())
	fmt.Fprintf(&b, "p50 apply -> first answer: %.1fs. KubeVirt's published creation -> Running p50 is about 16 s on bare metal,\n", p50.Seconds())
	b.WriteString("which ends when the VMI is Running (QEMU started) and so excludes the guest's boot; here the guest boots\n")
	b.WriteString("under " + rs[0].accel + " (software emulation when tcg) on a 2-core machine shared with other work.\n")
	b.WriteString("Phases end at: ")
	for i, p := range bootPhases {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.name + " = " + p.mark)
	}
	b.WriteString(".\n")
	return b.String()
}

// ensureMesh makes the mesh (mcp/basic) and ns a member of it.
func ensureMesh(t *testing.T, ns string) {
	t.Helper()
	kubectlIn(t, meshManifest(), "apply", "-f", "-")
	kubectl(t, "wait", "--for=condition=Reconciled", "mcp/basic", "-n", "istio-system", "--timeout=120s")
	newNamespace(t, ns)
	kubectl(t, "wait", `--for=jsonpath={.metadata.labels.mesh\.virtmesh\.io/member-of}=istio-system.basic`, "namespace/"+ns, "--timeout=60s")
}
