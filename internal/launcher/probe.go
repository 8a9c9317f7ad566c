package launcher

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// VMIProbe is KubeVirt's guest probe (spec.readinessProbe, livenessProbe)
// as the launcher runs it: from inside the pod, against the guest's own
// address, so neither the kubelet's network nor the mesh's proxy is on the
// path. The API admits only httpGet and tcpSocket with a numeric port.
type VMIProbe struct {
	HTTPGet *struct {
		Path        string             `json:"path,omitempty"`
		Port        intstr.IntOrString `json:"port"`
		Scheme      string             `json:"scheme,omitempty"`
		HTTPHeaders []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"httpHeaders,omitempty"`
	} `json:"httpGet,omitempty"`
	TCPSocket *struct {
		Port intstr.IntOrString `json:"port"`
	} `json:"tcpSocket,omitempty"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds      int32 `json:"timeoutSeconds,omitempty"`
	PeriodSeconds       int32 `json:"periodSeconds,omitempty"`
	SuccessThreshold    int32 `json:"successThreshold,omitempty"`
	FailureThreshold    int32 `json:"failureThreshold,omitempty"`
}

// ProbeTiming is a probe's schedule and thresholds with KubeVirt's (and the
// kubelet's) defaults applied.
type ProbeTiming struct {
	InitialDelay, Timeout, Period time.Duration
	Success, Failure              int
}

// Timing applies the defaults: timeout 1s, period 10s, thresholds 1 and 3.
func (p *VMIProbe) Timing() ProbeTiming {
	orDefault := func(v, d int32) int32 {
		if v <= 0 {
			return d
		}
		return v
	}
	return ProbeTiming{
		InitialDelay: time.Duration(max(p.InitialDelaySeconds, 0)) * time.Second,
		Timeout:      time.Duration(orDefault(p.TimeoutSeconds, 1)) * time.Second,
		Period:       time.Duration(orDefault(p.PeriodSeconds, 10)) * time.Second,
		Success:      int(orDefault(p.SuccessThreshold, 1)),
		Failure:      int(orDefault(p.FailureThreshold, 3)),
	}
}

// target is the probe's address on the guest and a description for logs.
func (p *VMIProbe) target(guest netip.Addr) (netip.AddrPort, string, error) {
	var port intstr.IntOrString
	switch {
	case p.HTTPGet != nil:
		port = p.HTTPGet.Port
	case p.TCPSocket != nil:
		port = p.TCPSocket.Port
	default:
		return netip.AddrPort{}, "", errors.New("the probe has neither httpGet nor tcpSocket")
	}
	if port.Type != intstr.Int || port.IntVal < 1 || port.IntVal > 65535 {
		return netip.AddrPort{}, "", fmt.Errorf("probe port %s is not a number from 1 to 65535", port.String())
	}
	ap := netip.AddrPortFrom(guest, uint16(port.IntVal))
	if p.HTTPGet != nil {
		return ap, "httpGet " + p.url(ap), nil
	}
	return ap, "tcpSocket " + ap.String(), nil
}

func (p *VMIProbe) url(ap netip.AddrPort) string {
	scheme := "http"
	if strings.EqualFold(p.HTTPGet.Scheme, "HTTPS") {
		scheme = "https"
	}
	path := p.HTTPGet.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return scheme + "://" + ap.String() + path
}

// Check runs the probe once against the guest: nil when the guest answers
// (a TCP connection; an HTTP status from 200 to 399, redirects not
// followed), else why not.
func (p *VMIProbe) Check(ctx context.Context, guest netip.Addr) error {
	ap, _, err := p.target(guest)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timing().Timeout)
	defer cancel()
	if p.HTTPGet == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", ap.String())
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url(ap), http.NoBody)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "virtmesh-probe/1.0")
	for _, h := range p.HTTPGet.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		// Never a proxy from the environment: the probe asks the guest.
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			// As the kubelet: an HTTPS probe does not verify the guest.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the guest's certificate is not the probe's business
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP status %s", strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// RunProber runs check every period after the initial delay until ctx ends,
// and calls onChange when the thresholded state flips: to healthy after
// Success checks in a row pass, to unhealthy after Failure checks in a row
// fail (with the last error). The state starts as initial: false for
// readiness (not ready until the guest answers), true for liveness (alive
// until it stops answering).
func RunProber(ctx context.Context, t ProbeTiming, initial bool, check func(context.Context) error, onChange func(healthy bool, err error)) {
	healthy := initial
	successes, failures := 0, 0
	timer := time.NewTimer(t.InitialDelay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := check(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
			if !healthy && successes >= t.Success {
				healthy = true
				onChange(true, nil)
			}
		} else {
			successes, failures = 0, failures+1
			if healthy && failures >= t.Failure {
				healthy = false
				onChange(false, err)
			}
		}
		timer.Reset(max(t.Period-time.Since(start), 0))
	}
}
