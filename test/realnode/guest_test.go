package realnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/logtail"
)

// guestUserData serves on 9080 (busybox httpd in the test guest):
//
//	/details/0           Bookinfo's details API, plus what only the guest
//	                     knows: its kernel (uname -r) and its cloud-init
//	                     instance-id (from the NoCloud seed)
//	/cgi-bin/productpage the guest calls productpage's Service by name
//	                     (DNS from the DHCP-provided resolver)
//	/cgi-bin/poweroff    powers the guest off from inside
const guestUserData = `#!/bin/sh
mkdir -p /www/details /www/cgi-bin
kernel=$(uname -r)
id=$(sed -n 's/^instance-id: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /mnt/cidata/meta-data)
echo "{\"id\":0,\"author\":\"William Shakespeare\",\"year\":1595,\"guestKernel\":\"$kernel\",\"guestInstanceID\":\"$id\",\"guestHostname\":\"$(hostname)\"}" > /www/details/0
cat > /www/cgi-bin/productpage <<'CGI'
#!/bin/sh
# busybox's nslookup asks the resolver in /etc/resolv.conf (from DHCP)
# itself; its wget crashes in the static libc's resolver code (no NSS
# modules in the initramfs), so nc speaks HTTP. nc half-closes the
# connection when its input ends, which Go's server takes for a client gone
# (productpage's call is canceled): the input stays open for 3 s, and nc
# ends when productpage closes the connection after its answer.
printf 'Content-Type: text/plain\r\n\r\n'
echo "resolv.conf: $(tr '\n' ' ' </etc/resolv.conf)"
name=productpage.bookinfo.svc.cluster.local
ip=$(nslookup $name | sed -n '/^Name:/,$ s/^Address:[[:space:]]*\([0-9.]*\).*/\1/p' | head -n1)
echo "nslookup: $name is $ip"
{ printf 'GET / HTTP/1.0\r\nHost: %s:9080\r\n\r\n' $name; sleep 3; } | nc $ip 9080
CGI
cat > /www/cgi-bin/poweroff <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\npowering off\n'
poweroff
CGI
chmod +x /www/cgi-bin/productpage /www/cgi-bin/poweroff
httpd -p 9080 -h /www
echo "user-data: kernel=$kernel instance-id=$id httpd serving 9080"
`

type vmiSpec struct {
	ns, name string
	// app labels the VMI (a Service selects it).
	app      string
	memory   string
	grace    int
	image    string
	userData string
	// readiness adds the details readinessProbe (Ready once the guest serves).
	readiness bool
}

func (v vmiSpec) manifest() string {
	if v.memory == "" {
		v.memory = "128Mi"
	}
	if v.grace == 0 {
		v.grace = 30
	}
	if v.image == "" {
		v.image = state.Images.Guest
	}
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: virt.virtmesh.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  name: %s
  namespace: %s
  labels:
    app: %s
spec:
  terminationGracePeriodSeconds: %d
  hostname: %s
`, v.name, v.ns, or(v.app, v.name), v.grace, v.name)
	if v.readiness {
		b.WriteString(`  readinessProbe:
    httpGet:
      port: 9080
      path: /details/0
    periodSeconds: 2
`)
	}
	fmt.Fprintf(&b, `  domain:
    memory:
      guest: %s
    resources:
      requests:
        memory: %s
    devices:
      disks:
        - name: containerdisk
          disk:
            bus: virtio
`, v.memory, v.memory)
	if v.userData != "" {
		b.WriteString(`        - name: cloudinitdisk
          disk:
            bus: virtio
`)
	}
	fmt.Fprintf(&b, `      interfaces:
        - name: default
          masquerade: {}
          ports:
            - name: http
              port: 9080
  networks:
    - name: default
      pod: {}
  volumes:
    - name: containerdisk
      containerDisk:
        image: %s
        imagePullPolicy: Never
`, v.image)
	if v.userData != "" {
		b.WriteString("    - name: cloudinitdisk\n      cloudInitNoCloud:\n        userData: |\n")
		for _, l := range strings.Split(strings.TrimRight(v.userData, "\n"), "\n") {
			b.WriteString("          " + l + "\n")
		}
	}
	return b.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func serviceManifest(ns, name, app string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  selector:
    app: %s
  ports:
    - name: http
      port: 9080
      targetPort: 9080
`, name, ns, app)
}

func getVMI(ns, name string) (*virtv1alpha1.VirtualMachineInstance, error) {
	var vmi virtv1alpha1.VirtualMachineInstance
	if err := getJSON(&vmi, "virtualmachineinstances.virt.virtmesh.io", name, "-n", ns); err != nil {
		return nil, err
	}
	return &vmi, nil
}

func waitVMIReady(t testing.TB, ns string, timeout time.Duration, names ...string) {
	t.Helper()
	args := []string{"wait", "--for=condition=Ready", "-n", ns, "--timeout=" + timeout.String()}
	for _, n := range names {
		args = append(args, "virtualmachineinstances.virt.virtmesh.io/"+n)
	}
	if out, errOut, err := kubectlRun("", args...); err != nil {
		desc, _, _ := kubectlRun("", "describe", "mvmi,pods", "-n", ns)
		t.Fatalf("kubectl %s: %v\n%s%s\n%s", strings.Join(args, " "), err, out, errOut, logtail.Last(desc, 120))
	}
}

// launcherPods lists the launcher pods of a VMI.
func launcherPods(ns, vmi string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := getJSON(&list, "pods", "-n", ns, "-l", "virt.virtmesh.io/vmi="+vmi); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func launcherPod(t testing.TB, ns, vmi string) corev1.Pod {
	t.Helper()
	pods, err := launcherPods(ns, vmi)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 {
		t.Fatalf("VMI %s/%s has %d launcher pods, want 1", ns, vmi, len(pods))
	}
	return pods[0]
}

// containerLog is `kubectl logs` of one container (with --timestamps).
func containerLog(t testing.TB, ns, pod, container string, timestamps bool) string {
	t.Helper()
	args := []string{"logs", "-n", ns, pod, "-c", container}
	if timestamps {
		args = append(args, "--timestamps")
	}
	return kubectl(t, args...)
}

// directClient opens a new connection for every request, never through a
// proxy: a ClusterIP asked before kube-proxy has its rule is routed out of
// the host like any address, and a kept-alive connection to whatever
// answered there (404s for minutes) would never meet the Service's rule.
var directClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// httpGet GETs url from this host (ClusterIPs are routed by kube-proxy's
// rules here as on any node).
func httpGet(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return 0, "", err
	}
	resp, err := directClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// getUntil GETs url until it answers 200, returning the body.
func getUntil(t testing.TB, url string, timeout time.Duration) string {
	t.Helper()
	var body string
	eventually(t, timeout, "GET "+url, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code, b, err := httpGet(ctx, url)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("%d: %s", code, strings.TrimSpace(b))
		}
		body = b
		return nil
	})
	return body
}

func clusterIP(t testing.TB, ns, svc string) string {
	t.Helper()
	return strings.TrimSpace(kubectl(t, "get", "svc", svc, "-n", ns, "-o", "jsonpath={.spec.clusterIP}"))
}

// guestDetails is what the guest's /details/0 answers.
type guestDetails struct {
	ID         int    `json:"id"`
	Author     string `json:"author"`
	Kernel     string `json:"guestKernel"`
	InstanceID string `json:"guestInstanceID"`
	Hostname   string `json:"guestHostname"`
}

var serialSeed = regexp.MustCompile(`guest-init: cloud-init seed on \S+: instance-id=(\S*) hostname=(\S*)`)
var serialUserData = regexp.MustCompile(`user-data: kernel=(\S+) instance-id=(\S*) httpd serving 9080`)

// prettyJSON indents JSON for logs.
func prettyJSON(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "  ", "  ") != nil {
		return s
	}
	return b.String()
}

// percentile of durations (nearest rank).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
