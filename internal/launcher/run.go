package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"virtmesh.io/virtmesh/internal/containerdisk"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// NetworkFunc starts the guest-facing network services (the DHCP server
// on the bridge) before QEMU, for the given NIC. The returned stop is
// called when the launcher exits.
type NetworkFunc func(ctx context.Context, v *VMI, nic MachineNIC) (stop func(), err error)

// Runner is the compute container's process: it turns the VMI into a
// running QEMU and maps the guest's life onto the container's.
type Runner struct {
	Opts podcontract.ComputeOptions
	// Stdout receives the guest's serial console, Stderr the launcher's
	// own log and QEMU's stderr.
	Stdout, Stderr io.Writer
	// Network, when set, runs before QEMU starts.
	Network NetworkFunc
	// KVMDevice defaults to DefaultKVMDevice.
	KVMDevice string
}

func (r *Runner) logf(format string, a ...any) {
	fmt.Fprintf(r.Stderr, "virt-launcher compute: "+format+"\n", a...)
}

// Run runs the VM until the guest stops (nil: guest powered off, also
// after a graceful SIGTERM shutdown) or fails. ctx's cancellation is the
// container's SIGTERM. It always writes the termination message, removes
// the ready file and, when asked, stops the proxy sidecar.
func (r *Runner) Run(ctx context.Context) error {
	if r.KVMDevice == "" {
		r.KVMDevice = DefaultKVMDevice
	}
	msg, err := r.run(ctx)
	_ = os.Remove(r.Opts.ReadyFile)
	// Volume containers whose disk compute never took end on this file.
	if r.Opts.HelperSocketDir != "" {
		if werr := os.WriteFile(containerdisk.DoneFile(r.Opts.HelperSocketDir), nil, 0o644); werr != nil {
			r.logf("write %s: %v", containerdisk.DoneFile(r.Opts.HelperSocketDir), werr)
		}
	}
	if err != nil {
		msg = err.Error()
	}
	r.logf("%s", msg)
	r.writeTermination(msg)
	if r.Opts.StopProxyOnExit {
		if perr := StopProxy(r.Opts.ProxyAdminAddr); perr != nil {
			r.logf("stopping proxy: %v", perr)
		} else {
			r.logf("asked the proxy at %s to quit", r.Opts.ProxyAdminAddr)
		}
	}
	return err
}

func (r *Runner) writeTermination(msg string) {
	if r.Opts.TerminationLog == "" {
		return
	}
	if err := os.WriteFile(r.Opts.TerminationLog, []byte(msg+"\n"), 0o644); err != nil {
		r.logf("write termination log: %v", err)
	}
}

// run returns the termination message on a clean end: prepare everything
// QEMU needs, start it, wait for the guest to run, then supervise it until it
// powers off, fails, or SIGTERM (ctx) asks for a graceful shutdown.
func (r *Runner) run(ctx context.Context) (string, error) {
	o := r.Opts
	v, err := LoadVMI(o.VMIFile)
	if err != nil {
		return "", err
	}
	accel, why, err := ChooseAccel(o.Accel, r.KVMDevice)
	if err != nil {
		return "", err
	}
	r.logf("VMI %s/%s (uid %s): accelerator %s", v.Metadata.Namespace, v.Metadata.Name, v.Metadata.UID, why)
	stoppedEarly := fmt.Sprintf("stopped before the guest started (accel=%s)", accel)

	disks, err := r.prepareDisks(ctx, v)
	if err != nil {
		if ctx.Err() != nil {
			// SIGTERM while waiting for the disks: nothing ran, nothing failed.
			return stoppedEarly, nil
		}
		return "", err
	}
	defer disks.close()
	for _, p := range []string{o.QMPSocket, o.SerialLog, o.ReadyFile} {
		_ = os.Remove(p)
	}
	m, files, closeTap, err := r.machine(v, accel, disks)
	if err != nil {
		return "", err
	}
	defer closeTap()
	if r.Network != nil && len(m.NICs) > 0 {
		stop, err := r.Network(ctx, v, m.NICs[0])
		if err != nil {
			return "", fmt.Errorf("guest network: %w", err)
		}
		defer stop()
	}

	p, err := r.startQEMU(m, files)
	if err != nil {
		return "", err
	}
	serialCtx, stopSerial := context.WithCancel(context.Background())
	serialDone := make(chan struct{})
	go func() { followFile(serialCtx, o.SerialLog, r.Stdout); close(serialDone) }()
	defer func() { stopSerial(); <-serialDone }()

	q, err := p.waitQMP(ctx)
	if err != nil {
		return "", err
	}
	if q == nil {
		return stoppedEarly, nil
	}
	defer q.Close()
	r.checkRunning(ctx, q)
	probes := r.startProbes(ctx, v, accel)
	defer probes.stop()

	msg, sigterm, err := r.supervise(ctx, p, q, probes.dead)
	probes.stop()
	if !sigterm {
		return msg, err
	}
	grace := o.GracePeriod
	if grace == 0 {
		grace = time.Duration(v.Spec.GracePeriodSeconds()) * time.Second
	}
	return r.shutdown(p, q, grace)
}

// machine resolves the VM's hardware: the prepared disks and, when the VMI
// has an interface, the tap attached through the tun node (its descriptor
// follows the disks' in QEMU's ExtraFiles). closeTap releases the tap.
func (r *Runner) machine(v *VMI, accel string, disks *preparedDisks) (m Machine, files []*os.File, closeTap func(), err error) {
	o := r.Opts
	files = disks.files
	closeTap = func() {}
	tapFD := 0
	if len(v.Spec.Domain.Devices.Interfaces) > 0 {
		tap, err := OpenTap(o.TunDevice, o.Tap)
		if err != nil {
			return Machine{}, nil, closeTap, fmt.Errorf("guest network: %w", err)
		}
		closeTap = func() { tap.Close() }
		tapFD = 3 + len(files)
		files = append(append([]*os.File{}, files...), tap)
		r.logf("attached to tap %s through %s; QEMU gets it as fd %d", o.Tap, tap.Name(), tapFD)
	}
	m, err = BuildMachine(v, PlanInput{Accel: accel, Disks: disks.byVolume, SerialLog: o.SerialLog, QMPSocket: o.QMPSocket, Tap: o.Tap, TapFD: tapFD, Now: time.Now()})
	if err != nil {
		closeTap()
		return Machine{}, nil, func() {}, err
	}
	return m, files, closeTap, nil
}

// qemuProcess is a started QEMU: exited delivers its Wait result once, tail
// keeps its last words.
type qemuProcess struct {
	cmd    *exec.Cmd
	exited chan error
	tail   *lastLines
	accel  string
	qmp    string
}

// startQEMU starts QEMU for m in its own process group, so a signal to the
// launcher's group never reaches QEMU before the launcher decides what to do.
// Not CommandContext: SIGTERM must become an ACPI power-down, not a kill.
func (r *Runner) startQEMU(m Machine, files []*os.File) (*qemuProcess, error) {
	args := QEMUArgs(m)
	r.logf("starting %s %s", r.Opts.QEMUBinary, strings.Join(args, " "))
	cmd := exec.Command(r.Opts.QEMUBinary, args...)
	cmd.ExtraFiles = files
	p := &qemuProcess{cmd: cmd, exited: make(chan error, 1), tail: &lastLines{n: 20}, accel: m.Accel, qmp: r.Opts.QMPSocket}
	cmd.Stdout = r.Stderr
	cmd.Stderr = io.MultiWriter(r.Stderr, p.tail)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start QEMU: %w", err)
	}
	go func() { p.exited <- cmd.Wait() }()
	return p, nil
}

// kill stops QEMU hard and waits for it.
func (p *qemuProcess) kill() {
	_ = p.cmd.Process.Kill()
	ignore(<-p.exited) // killed: its exit status says nothing new
}

// failed describes QEMU's exit err as a failure with its last words.
func (p *qemuProcess) failed(err error) error { return qemuFailed(err, p.tail, p.accel) }

// waitQMP connects to QMP once QEMU is up. A nil *QMP with a nil error means
// ctx ended first (QEMU was killed: nothing to power down gracefully).
func (p *qemuProcess) waitQMP(ctx context.Context) (*QMP, error) {
	qctx, qcancel := context.WithCancel(ctx)
	defer qcancel()
	type dialed struct {
		q   *QMP
		err error
	}
	qmpc := make(chan dialed, 1)
	go func() {
		q, err := DialQMP(qctx, p.qmp)
		qmpc <- dialed{q, err}
	}()
	select {
	case err := <-p.exited:
		return nil, p.failed(err)
	case d := <-qmpc:
		switch {
		case d.err == nil:
			return d.q, nil
		case ctx.Err() != nil:
			p.kill()
			return nil, nil
		}
		// Not our stop: QEMU closed QMP because it is going away.
		select {
		case err := <-p.exited:
			return nil, p.failed(err)
		case <-time.After(10 * time.Second):
			p.kill()
			return nil, fmt.Errorf("QEMU's QMP failed (%v) and QEMU did not exit: killed (accel=%s): %s", d.err, p.accel, p.tail.String())
		}
	}
}

// checkRunning logs when QMP does not report the guest running right after
// start; the probes (or the ready file without a readinessProbe) follow.
func (r *Runner) checkRunning(ctx context.Context, q *QMP) {
	if st, err := q.Status(ctx); err != nil || st != "running" {
		r.logf("guest not running after start: status %q, %v", st, err)
	}
}

// supervise waits for the guest to power off (a clean end), QEMU to fail,
// the liveness probe to give up on the guest (dead: QEMU is stopped and the
// run fails), or ctx (SIGTERM, reported as sigterm: the caller shuts the
// guest down).
func (r *Runner) supervise(ctx context.Context, p *qemuProcess, q *QMP, dead <-chan error) (msg string, sigterm bool, err error) {
	for {
		select {
		case err := <-dead:
			_ = os.Remove(r.Opts.ReadyFile)
			p.kill()
			return "", false, fmt.Errorf("%w; QEMU stopped (accel=%s)", err, p.accel)
		case err := <-p.exited:
			if err != nil {
				return "", false, p.failed(err)
			}
			reason := q.LastShutdownReason()
			if reason == "" {
				reason = "guest-shutdown"
			}
			return fmt.Sprintf("guest powered off (%s, accel=%s)", reason, p.accel), false, nil
		case <-q.Stops():
			// A stopped VM never exits by itself: fail on states it cannot
			// leave, so the pod does not look healthy while the guest is dead.
			st, err := q.Status(ctx)
			if err == nil && (st == "internal-error" || st == "guest-panicked" || st == "io-error") {
				_ = os.Remove(r.Opts.ReadyFile)
				p.kill()
				return "", false, fmt.Errorf("QEMU stopped the guest: %s (accel=%s): %s", st, p.accel, p.tail.String())
			}
		case <-ctx.Done():
			return "", true, nil
		}
	}
}

// shutdown is SIGTERM's path: not ready any more, ACPI power-down, and a hard
// stop once grace has passed.
func (r *Runner) shutdown(p *qemuProcess, q *QMP, grace time.Duration) (string, error) {
	_ = os.Remove(r.Opts.ReadyFile)
	r.logf("SIGTERM: ACPI power-down, hard stop in %s", grace)
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := q.PowerDown(pctx); err != nil {
		r.logf("system_powerdown: %v", err)
	}
	pcancel()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-p.exited:
		if err != nil {
			return "", p.failed(err)
		}
		return fmt.Sprintf("guest shut down gracefully after SIGTERM (accel=%s)", p.accel), nil
	case <-timer.C:
		p.kill()
		return "", fmt.Errorf("guest did not power off within the grace period %s after SIGTERM: QEMU killed (accel=%s)", grace, p.accel)
	}
}

// qemuFailed describes a QEMU exit that was not a guest power-off.
func qemuFailed(err error, tail *lastLines, accel string) error {
	var ee *exec.ExitError
	reason := "exited before QMP came up"
	switch {
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			reason = "killed by signal " + ws.Signal().String()
		} else {
			reason = fmt.Sprintf("exit status %d", ee.ExitCode())
		}
	case err != nil:
		reason = err.Error()
	}
	return fmt.Errorf("QEMU crashed (%s, accel=%s): %s", reason, accel, tail.String())
}

// lastLines keeps the last n lines written to it: QEMU's last words.
type lastLines struct {
	mu    sync.Mutex
	n     int
	lines []string
	part  []byte
}

func (l *lastLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.part[:i]))
		l.part = l.part[i+1:]
		if len(l.lines) > l.n {
			l.lines = l.lines[1:]
		}
	}
	return len(p), nil
}

func (l *lastLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(append(append([]string{}, l.lines...), string(l.part)), " | ")
	return strings.Trim(s, " |")
}

// ignore discards an error whose value is known not to matter, saying so
// where a bare channel receive would not.
func ignore(error) {}
