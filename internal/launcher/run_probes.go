package launcher

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// guestProbes runs the VMI's readiness and liveness probes while the guest
// runs. Readiness owns the ready file (the compute container's readiness
// probe, and so the pod's and the VMI's Ready): it exists only while the
// guest answers. A liveness failure is sent on dead, once.
type guestProbes struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dead   chan error
}

// startProbes starts the VMI's probes. Without a readinessProbe the ready
// file is written now: Ready then means QEMU runs the guest.
func (r *Runner) startProbes(ctx context.Context, v *VMI, accel string) *guestProbes {
	ctx, cancel := context.WithCancel(ctx)
	g := &guestProbes{cancel: cancel, dead: make(chan error, 1)}
	guest := podcontract.VMAddress(r.Opts.VMCIDR)
	if p := v.Spec.ReadinessProbe; p != nil {
		_, desc, _ := p.target(guest)
		r.logf("guest running (accel=%s); ready once it answers its readinessProbe (%s)", accel, desc)
		g.run(ctx, p, guest, false, func(healthy bool, err error) {
			if healthy {
				r.writeReady(fmt.Sprintf("accel=%s\nreadinessProbe=%s\n", accel, desc))
				r.logf("guest answers its readinessProbe (%s); ready", desc)
				return
			}
			_ = os.Remove(r.Opts.ReadyFile)
			r.logf("guest stopped answering its readinessProbe (%s): %v; not ready", desc, err)
		})
	} else {
		r.writeReady("accel=" + accel + "\n")
		r.logf("guest running (accel=%s); ready (no readinessProbe: ready means QEMU runs the guest)", accel)
	}
	if p := v.Spec.LivenessProbe; p != nil {
		_, desc, _ := p.target(guest)
		t := p.Timing()
		r.logf("livenessProbe (%s) every %s after %s; the run ends after %d failures in a row", desc, t.Period, t.InitialDelay, t.Failure)
		g.run(ctx, p, guest, true, func(healthy bool, err error) {
			if !healthy {
				g.dead <- fmt.Errorf("livenessProbe (%s) failed %d times in a row: %w", desc, t.Failure, err)
			}
		})
	}
	return g
}

func (g *guestProbes) run(ctx context.Context, p *VMIProbe, guest netip.Addr, initial bool, onChange func(bool, error)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		RunProber(ctx, p.Timing(), initial, func(ctx context.Context) error { return p.Check(ctx, guest) }, onChange)
	}()
}

// stop ends the probes and waits for them, so none writes the ready file
// after the caller removed it.
func (g *guestProbes) stop() {
	g.cancel()
	g.wg.Wait()
}

func (r *Runner) writeReady(content string) {
	if err := os.WriteFile(r.Opts.ReadyFile, []byte(content), 0o644); err != nil {
		r.logf("write ready file: %v", err)
	}
}
