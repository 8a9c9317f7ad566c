package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func decodeProbe(t *testing.T, js string) *VMIProbe {
	t.Helper()
	p := &VMIProbe{}
	if err := json.Unmarshal([]byte(js), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeTimingDefaults(t *testing.T) {
	for name, c := range map[string]struct {
		probe string
		want  ProbeTiming
	}{
		"KubeVirt's defaults": {`{"tcpSocket":{"port":1}}`, ProbeTiming{0, time.Second, 10 * time.Second, 1, 3}},
		"all set":             {`{"tcpSocket":{"port":1},"initialDelaySeconds":5,"timeoutSeconds":2,"periodSeconds":3,"successThreshold":2,"failureThreshold":4}`, ProbeTiming{5 * time.Second, 2 * time.Second, 3 * time.Second, 2, 4}},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, decodeProbe(t, c.probe).Timing()); diff != "" {
				t.Errorf("Timing (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProbeCheck runs each probe once against real listeners on the
// loopback address standing in for the guest's.
func TestProbeCheck(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Host+" "+r.URL.Path+" "+r.Header.Get("X-Probe")+" "+r.Header.Get("User-Agent"))
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/slow":
			time.Sleep(1500 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := netip.MustParseAddrPort(srv.Listener.Addr().String()).Port()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := netip.MustParseAddrPort(closed.Addr().String()).Port()
	_ = closed.Close()
	guest := netip.MustParseAddr("127.0.0.1")
	p := func(s string) string {
		return strings.NewReplacer("PORT", itoa(port), "CLOSED", itoa(closedPort)).Replace(s)
	}
	for name, c := range map[string]struct {
		probe   string
		wantErr string
	}{
		"tcp, listening":            {p(`{"tcpSocket":{"port":PORT}}`), ""},
		"tcp, refused":              {p(`{"tcpSocket":{"port":CLOSED}}`), "connection refused"},
		"http 200":                  {p(`{"httpGet":{"port":PORT,"path":"/ok"}}`), ""},
		"http path without slash":   {p(`{"httpGet":{"port":PORT,"path":"ok"}}`), ""},
		"http 302 is success":       {p(`{"httpGet":{"port":PORT,"path":"/moved"}}`), ""},
		"http 503":                  {p(`{"httpGet":{"port":PORT,"path":"/down"}}`), "HTTP status 503"},
		"http timeout":              {p(`{"httpGet":{"port":PORT,"path":"/slow"},"timeoutSeconds":1}`), "deadline exceeded"},
		"http refused":              {p(`{"httpGet":{"port":CLOSED}}`), "connection refused"},
		"named port is not guessed": {`{"tcpSocket":{"port":"http"}}`, "not a number"},
		"no handler":                {`{}`, "neither httpGet nor tcpSocket"},
	} {
		t.Run(name, func(t *testing.T) {
			err := decodeProbe(t, c.probe).Check(context.Background(), guest)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Check: %v, want success", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("Check: %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
	if err := decodeProbe(t, p(`{"httpGet":{"port":PORT,"path":"/ok","httpHeaders":[{"name":"Host","value":"details"},{"name":"X-Probe","value":"1"}]}}`)).Check(context.Background(), guest); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := seen[len(seen)-1]; last != "details /ok 1 virtmesh-probe/1.0" {
		t.Errorf("the guest saw %q, want Host details, the header and the probe's user agent", last)
	}
	for _, s := range seen {
		if strings.Contains(s, "/elsewhere") {
			t.Errorf("a redirect was followed: %v", seen)
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// TestRunProber drives the thresholds with a scripted check.
func TestRunProber(t *testing.T) {
	fail := errors.New("refused")
	for name, c := range map[string]struct {
		initial bool
		timing  ProbeTiming
		script  []error
		want    []string
	}{
		"readiness: ready on the first success": {
			initial: false, timing: ProbeTiming{Success: 1, Failure: 3},
			script: []error{fail, fail, fail, fail, nil, nil},
			want:   []string{"healthy after 5"},
		},
		"readiness: success threshold 2, then 3 failures take it out": {
			initial: false, timing: ProbeTiming{Success: 2, Failure: 3},
			script: []error{nil, fail, nil, nil, fail, fail, nil, fail, fail, fail},
			want:   []string{"healthy after 4", "unhealthy after 10: refused"},
		},
		"liveness: alive until 3 failures in a row": {
			// (The launcher ends the run at the first flip; the prober
			// itself would report the recovery.)
			initial: true, timing: ProbeTiming{Success: 1, Failure: 3},
			script: []error{fail, fail, nil, fail, fail, fail, nil},
			want:   []string{"unhealthy after 6: refused", "healthy after 7"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			c.timing.Period = time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			var got []string
			check := func(context.Context) error {
				if n == len(c.script) {
					cancel()
					return nil
				}
				n++
				return c.script[n-1]
			}
			RunProber(ctx, c.timing, c.initial, check, func(healthy bool, err error) {
				if healthy {
					got = append(got, "healthy after "+itoa(uint16(n)))
				} else {
					got = append(got, "unhealthy after "+itoa(uint16(n))+": "+err.Error())
				}
			})
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunProberWaitsTheInitialDelay: no check before the delay.
func TestRunProberWaitsTheInitialDelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	var first time.Duration
	RunProber(ctx, ProbeTiming{InitialDelay: 200 * time.Millisecond, Period: time.Hour, Success: 1, Failure: 1}, false, func(context.Context) error {
		if first == 0 {
			first = time.Since(start)
		}
		return nil
	}, func(bool, error) {})
	if first < 200*time.Millisecond {
		t.Errorf("first check after %s, want after the 200ms initial delay", first)
	}
}
