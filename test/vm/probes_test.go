package vm

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
)

// probeUserData starts the guest's service only after a pause, announcing
// it on the console first, so the test can tell "QEMU runs" from "the
// service answers". /cgi-bin/who tells the console who asked; /cgi-bin/stop
// stops the service.
func probeUserData(delay int) string {
	return fmt.Sprintf(`#!/bin/sh
mkdir -p /www/cgi-bin
cat > /www/cgi-bin/who <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nok\n'
echo "probe-test: GET from $REMOTE_ADDR" > /dev/console
CGI
cat > /www/cgi-bin/stop <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nstopping\n'
(sleep 1; killall httpd; echo "probe-test: httpd stopped" > /dev/console) &
CGI
chmod +x /www/cgi-bin/who /www/cgi-bin/stop
sleep %d
echo "probe-test: starting httpd" > /dev/console
httpd -p 9080 -h /www
echo "user-data: httpd serving 9080" > /dev/console
`, delay)
}

// withProbes sets the user-data and the VMI's probes (JSON as in the VMI).
func withProbes(userData string, probes map[string]any) func(spec map[string]any) {
	return func(spec map[string]any) {
		for _, v := range spec["volumes"].([]any) {
			if ci, ok := v.(map[string]any)["cloudInitNoCloud"].(map[string]any); ok {
				ci["userData"] = userData
			}
		}
		for k, p := range probes {
			spec[k] = p
		}
	}
}

// TestGuestProbes boots the real guest behind the mesh twice: with a
// readinessProbe, the pod is ready only while the guest's service answers;
// with a livenessProbe, a guest whose service stops ends the run with the
// probe's error. The probes reach the guest from inside the pod and never
// pass the proxy.
func TestGuestProbes(t *testing.T) {
	requireVMEnv(t)
	w := newWorld(t)

	readiness := map[string]any{"readinessProbe": map[string]any{
		"httpGet":       map[string]any{"port": 9080, "path": "/cgi-bin/who"},
		"periodSeconds": 1, "failureThreshold": 2,
	}}
	v := w.launchVM(t, "vm-ready", 30, "raw", withProbes(probeUserData(5), readiness))
	t.Run("1 not ready while QEMU runs and the service does not answer", func(t *testing.T) {
		deadline := time.Now().Add(4 * time.Minute)
		for !strings.Contains(v.compute.Stdout(), "probe-test: starting httpd") {
			if v.ready(w) {
				t.Fatalf("ready before the guest started its service:\n%s", v.compute.Stderr())
			}
			if time.Now().After(deadline) {
				t.Fatal("the guest never started its service")
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(v.compute.Stderr(), "ready once it answers its readinessProbe (httpGet http://10.0.2.2:9080/cgi-bin/who)") {
			t.Errorf("compute did not say it waits for the probe:\n%s", v.compute.Stderr())
		}
	})
	t.Run("2 ready once the guest answers, asked from inside the pod", func(t *testing.T) {
		v.compute.WaitFor(t, "guest answers its readinessProbe", 30*time.Second)
		if !v.ready(w) {
			t.Fatal("the pod's readiness probe fails although the guest answers")
		}
		t.Logf("ready %s after start", time.Since(v.started).Round(time.Second))
		gateway := podcontract.Gateway(podcontract.DefaultVMCIDR).String()
		// busybox httpd shows IPv4 peers IPv4-mapped.
		v.compute.WaitFor(t, "probe-test: GET from [::ffff:"+gateway+"]", 10*time.Second)
		if strings.Contains(w.proxy.Stderr(), "CONN outbound from="+gateway) || strings.Contains(w.proxy.Stderr(), "orig=10.0.2.2") {
			t.Errorf("a probe passed the proxy:\n%s", w.proxy.Stderr())
		}
	})
	t.Run("3 not ready once the service stops", func(t *testing.T) {
		if got := w.httpGet(t, "/cgi-bin/stop"); !contains(got, "stopping") {
			t.Fatalf("got %q", got)
		}
		v.compute.WaitFor(t, "guest stopped answering its readinessProbe", 30*time.Second)
		if v.ready(w) {
			t.Error("the pod's readiness probe still passes after the guest's service stopped")
		}
	})
	if err := v.compute.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := v.compute.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("compute exited %d after SIGTERM, want 0", code)
	}
	if t.Failed() {
		return
	}
	// How long this machine takes to boot the guest to its service bounds
	// the liveness probe's initial delay below, generously.
	booted := time.Since(v.started)

	w.startProxy(t)
	podnet.Run(t, "ip", "-n", w.pod, "neigh", "flush", "dev", podcontract.DefaultBridge)
	delay := int(2*booted.Seconds()) + 10
	liveness := map[string]any{"livenessProbe": map[string]any{
		"tcpSocket":           map[string]any{"port": 9080},
		"initialDelaySeconds": delay, "periodSeconds": 1, "failureThreshold": 2,
	}}
	t.Logf("liveness probe's initial delay %ds (the first boot took %s)", delay, booted.Round(time.Second))
	v2 := w.launchVM(t, "vm-alive", 30, "raw", withProbes(probeUserData(0), liveness))
	t.Run("4 without a readinessProbe, ready means QEMU runs", func(t *testing.T) {
		if !v2.ready(w) || !strings.Contains(v2.compute.Stderr(), "no readinessProbe: ready means QEMU runs the guest") {
			t.Errorf("want ready at once, saying what it means:\n%s", v2.compute.Stderr())
		}
	})
	t.Run("5 a live service keeps the run; a dead one ends it with the probe's error", func(t *testing.T) {
		v2.compute.WaitFor(t, "user-data: httpd serving 9080", 4*time.Minute)
		// Let the liveness probe pass a few times first.
		time.Sleep(time.Until(v2.started.Add(time.Duration(delay+3) * time.Second)))
		if v2.exited() {
			t.Fatalf("the run ended while the guest's service answered:\n%s", v2.compute.Stderr())
		}
		stopped := time.Now()
		if got := w.httpGet(t, "/cgi-bin/stop"); !contains(got, "stopping") {
			t.Fatalf("got %q", got)
		}
		code := v2.compute.Wait(t, 30*time.Second)
		t.Logf("compute exited %d %s after the service was stopped", code, time.Since(stopped).Round(100*time.Millisecond))
		if code == 0 {
			t.Error("exit code 0, want a failure: the pod fails and a VirtualMachine starts a new run")
		}
		msg, _ := os.ReadFile(v2.termLog)
		for _, want := range []string{"livenessProbe (tcpSocket 10.0.2.2:9080) failed 2 times in a row", "connection refused", "QEMU stopped"} {
			if !strings.Contains(string(msg), want) {
				t.Errorf("termination message %q lacks %q", msg, want)
			}
		}
		if v2.ready(w) {
			t.Error("still ready after the run ended")
		}
	})
}
