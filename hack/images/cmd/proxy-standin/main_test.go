package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/proxystandin"
	"virtmesh.io/virtmesh/internal/testing/podnet"
	"virtmesh.io/virtmesh/internal/testing/require"
)

// build builds the command as the image ships it, into a directory uid
// 1337 can read.
func build(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "proxy-standin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "proxy-standin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestStandInInAPod runs the image's command as Istio's sidecar runs (uid
// 1337, pilot-agent's arguments) in a network namespace whose rules
// capture outbound port 8080 to 15001 and port 9081 to 15006, as a pod's
// would: the HTTP client and server must see only each other
// (transparent), the log must say what passed, the kubelet's readiness
// probe must get 200, and POST /quitquitquit must end it with 0.
func TestStandInInAPod(t *testing.T) {
	require.Root(t, "the stand-in runs as uid 1337 in a network namespace with iptables rules")
	require.Tools(t, "ip", "iptables-restore")
	bin := build(t)
	ns := podnet.NewNS(t, "pst", "pod")
	rules := fmt.Sprintf(`*nat
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp -m owner --uid-owner %[1]d -j RETURN
-A OUTPUT -p tcp --dport 8080 -j REDIRECT --to-ports %[2]d
-A OUTPUT -p tcp --dport 9081 -j REDIRECT --to-ports %[3]d
COMMIT
`, proxystandin.UID, proxystandin.OutboundPort, proxystandin.InboundPort)
	restore := exec.Command("ip", "netns", "exec", ns, "iptables-restore")
	restore.Stdin = strings.NewReader(rules)
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore: %v\n%s", err, out)
	}

	// The application: answers who it saw.
	for _, port := range []string{"8080", "9081"} {
		var ln net.Listener
		podnet.MustInNS(t, ns, func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:"+port); return err })
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "app:%s saw %s", port, r.RemoteAddr)
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
	}

	p := podnet.StartInNS(t, ns, "proxy-standin", proxystandin.UID, nil, nil,
		bin, "proxy", "sidecar", "--domain", "bookinfo.svc.cluster.local", "--proxyLogLevel=warning")
	p.WaitLine(t, "READY uid=1337", 10*time.Second)
	if !strings.Contains(p.Stderr(), "STAND-IN") {
		t.Errorf("the log does not say it is a stand-in:\n%s", p.Stderr())
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = podnet.InNS(ns, func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	get := func(method, url string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, http.NoBody)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v\nproxy log:\n%s", method, url, err, p.Stderr())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	// Outbound: the proxy dials the original destination as uid 1337.
	if code, body := get(http.MethodGet, "http://127.0.0.1:8080/"); code != 200 || !strings.HasPrefix(body, "app:8080 saw 127.0.0.1:") {
		t.Errorf("outbound: %d %q", code, body)
	}
	p.WaitStderr(t, "FORWARD outbound orig=127.0.0.1:8080", 5*time.Second)
	// Inbound: handed to the application from 127.0.0.6, as Envoy does.
	if code, body := get(http.MethodGet, "http://127.0.0.1:9081/"); code != 200 || !strings.HasPrefix(body, "app:9081 saw 127.0.0.6:") {
		t.Errorf("inbound: %d %q", code, body)
	}
	p.WaitStderr(t, "FORWARD inbound orig=127.0.0.1:9081", 5*time.Second)
	if got := strings.Count(p.Stderr(), "CONN "); got != 2 {
		t.Errorf("%d CONN lines, want 2:\n%s", got, p.Stderr())
	}

	if code, body := get(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", proxystandin.HealthPort, proxystandin.HealthPath)); code != 200 {
		t.Errorf("readiness: %d %q", code, body)
	}
	if code, body := get(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/quitquitquit", proxystandin.AgentPort)); code != 200 || body != "OK\n" {
		t.Errorf("quitquitquit: %d %q", code, body)
	}
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d after quitquitquit", code)
	}
	if !strings.Contains(p.Stdout(), "QUIT") {
		t.Errorf("stdout = %q", p.Stdout())
	}
}

// TestStandInStopsOnSIGTERM: the kubelet stops the sidecar with SIGTERM.
func TestStandInStopsOnSIGTERM(t *testing.T) {
	require.Root(t, "the stand-in runs in its own network namespace")
	require.Tools(t, "ip")
	bin := build(t)
	ns := podnet.NewNS(t, "pst", "term")
	p := podnet.StartInNS(t, ns, "proxy-standin", proxystandin.UID, nil, nil, bin, "proxy", "sidecar")
	p.WaitLine(t, "READY", 10*time.Second)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}

// TestStandInRefusesIstioIptables: istio-init runs the proxy image with
// "istio-iptables"; the stand-in cannot write rules and must say so
// instead of serving as a proxy in an init container forever.
func TestStandInRefusesIstioIptables(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "istio-iptables", "-p", "15001").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "not implemented") {
		t.Fatalf("istio-iptables: %v\n%s", err, out)
	}
}
