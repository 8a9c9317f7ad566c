package istio

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"virtmesh.io/virtmesh/internal/hostistiod"
)

// runningIstiod is an istiod the suite runs for a pod.
type runningIstiod struct {
	*hostistiod.Istiod
	log     *syncBuffer
	started time.Time
	mu      sync.Mutex
	readyAt time.Time // first time the probe's readiness reached the pod
}

// startIstiod runs istiod for pod and writes its readiness into the pod's
// status until owner ends.
func startIstiod(t, owner *testing.T, pod *corev1.Pod, name string) *runningIstiod {
	t.Helper()
	logFile, err := os.Create(filepath.Join(stateDir, name+".istiod.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := &runningIstiod{log: &syncBuffer{}, started: time.Now()}
	i, err := hostistiod.Start(context.Background(), hostistiod.Options{
		Client: cs, Config: restConfig, Binary: filepath.Join(binDir, "pilot-discovery"),
		Dir: filepath.Join(stateDir, "hosts", name), Pod: pod, Log: io.MultiWriter(r.log, logFile),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Istiod = i
	untrack := track(procOf(i))
	ctx, cancel := context.WithCancel(context.Background())
	mirrored := make(chan struct{})
	go func() {
		defer close(mirrored)
		err := i.MirrorReadiness(ctx, cs, func(ready bool, at time.Time) {
			r.mu.Lock()
			if ready && r.readyAt.IsZero() {
				r.readyAt = at
			}
			r.mu.Unlock()
		})
		if err != nil {
			owner.Errorf("mirror istiod's readiness into pod %s: %v", pod.Name, err)
		}
	}()
	owner.Cleanup(func() {
		cancel()
		<-mirrored
		if err := i.Stop(20 * time.Second); err != nil {
			t.Logf("istiod %s stopped: %v", name, err)
		}
		untrack()
		_ = logFile.Close()
	})
	return r
}

func procOf(i *hostistiod.Istiod) *os.Process {
	p, _ := os.FindProcess(i.PID())
	return p
}

// get GETs an istiod debug endpoint on its loopback monitoring port (istiod
// serves /debug/* without authentication to loopback callers only).
func (r *runningIstiod) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + hostistiod.Addr(r.Ports.Monitoring) + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", path, resp.Status, err, b)
	}
	return b
}

// denial is one RBAC refusal istiod logged.
type denial struct{ Verb, Group, Resource, Namespace string }

func (d denial) String() string {
	g := d.Group
	if g == "" {
		g = "core"
	}
	s := fmt.Sprintf("%s %s/%s", d.Verb, g, d.Resource)
	if d.Namespace != "" {
		s += " in " + d.Namespace
	}
	return s
}

// denialRE matches the API server's refusal as client-go's reflectors log it:
// `... is forbidden: User "system:serviceaccount:ns:sa" cannot list resource
// "ingresses" in API group "networking.k8s.io" at the cluster scope`.
var denialRE = regexp.MustCompile(`cannot ([a-z]+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?`)

// denials returns the distinct RBAC refusals in an istiod log.
func denials(log string) []denial {
	seen := map[denial]bool{}
	var out []denial
	for _, m := range denialRE.FindAllStringSubmatch(log, -1) {
		d := denial{Verb: m[1], Resource: m[2], Group: m[3], Namespace: m[4]}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// rss is a process's resident memory in MiB (VmRSS of /proc/<pid>/status).
func rss(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// endpointz is istiod's /debug/endpointz: service host → namespace → shards.
type endpointz map[string]map[string]struct {
	Shards map[string][]struct {
		Addresses      []string
		Labels         map[string]string
		ServiceAccount string
		EndpointPort   int
		TLSMode        string
		WorkloadName   string
	}
}

// endpointOf finds the endpoint with ip of host in endpointz.
func (e endpointz) endpointOf(host, ns, ip string) (tlsMode, sa string, port int, ok bool) {
	for _, eps := range e[host][ns].Shards {
		for _, ep := range eps {
			for _, a := range ep.Addresses {
				if a == ip {
					return ep.TLSMode, ep.ServiceAccount, ep.EndpointPort, true
				}
			}
		}
	}
	return "", "", 0, false
}

func (r *runningIstiod) endpointz(t *testing.T) endpointz {
	t.Helper()
	var e endpointz
	if err := json.Unmarshal(r.get(t, "/debug/endpointz"), &e); err != nil {
		t.Fatal(err)
	}
	return e
}
