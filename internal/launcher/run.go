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

// run returns the termination message on a clean end.
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

	disks, err := r.prepareDisks(ctx, v)
	if err != nil {
		if ctx.Err() != nil {
			// SIGTERM while waiting for the disks: nothing ran, nothing failed.
			return fmt.Sprintf("stopped before the guest started (accel=%s)", accel), nil
		}
		return "", err
	}
	defer disks.close()
	for _, p := range []string{o.QMPSocket, o.SerialLog, o.ReadyFile} {
		_ = os.Remove(p)
	}
	// The tap's descriptor follows the disks' in QEMU's ExtraFiles.
	files := disks.files
	tapFD := 0
	if len(v.Spec.Domain.Devices.Interfaces) > 0 {
		tap, err := OpenTap(o.TunDevice, o.Tap)
		if err != nil {
			return "", fmt.Errorf("guest network: %w", err)
		}
		defer tap.Close()
		tapFD = 3 + len(files)
		files = append(append([]*os.File{}, files...), tap)
		r.logf("attached to tap %s through %s; QEMU gets it as fd %d", o.Tap, tap.Name(), tapFD)
	}
	m, err := BuildMachine(v, PlanInput{Accel: accel, Disks: disks.byVolume, SerialLog: o.SerialLog, QMPSocket: o.QMPSocket, Tap: o.Tap, TapFD: tapFD})
	if err != nil {
		return "", err
	}
	grace := o.GracePeriod
	if grace == 0 {
		grace = time.Duration(v.Spec.GracePeriodSeconds()) * time.Second
	}

	if r.Network != nil && len(m.NICs) > 0 {
		stop, err := r.Network(ctx, v, m.NICs[0])
		if err != nil {
			return "", fmt.Errorf("guest network: %w", err)
		}
		defer stop()
	}

	args := QEMUArgs(m)
	r.logf("starting %s %s", o.QEMUBinary, strings.Join(args, " "))
	// Not CommandContext: SIGTERM must become an ACPI power-down, not a kill.
	cmd := exec.Command(o.QEMUBinary, args...)
	cmd.ExtraFiles = files
	tail := &lastLines{n: 20}
	cmd.Stdout = r.Stderr
	cmd.Stderr = io.MultiWriter(r.Stderr, tail)
	// Own process group: a terminal's or runtime's signal to the launcher's
	// group must not reach QEMU before the launcher decides what to do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start QEMU: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	serialCtx, stopSerial := context.WithCancel(context.Background())
	serialDone := make(chan struct{})
	go func() { followFile(serialCtx, o.SerialLog, r.Stdout); close(serialDone) }()
	defer func() { stopSerial(); <-serialDone }()

	// QMP: wait for QEMU to be up and the guest running, then turn Ready.
	qctx, qcancel := context.WithCancel(ctx)
	type dialed struct {
		q   *QMP
		err error
	}
	qmpc := make(chan dialed, 1)
	go func() {
		q, err := DialQMP(qctx, o.QMPSocket)
		qmpc <- dialed{q, err}
	}()
	var q *QMP
	select {
	case d := <-qmpc:
		q = d.q
		if d.err != nil && ctx.Err() == nil {
			// Not our stop: QEMU closed QMP because it is going away.
			qcancel()
			select {
			case err := <-exited:
				return "", qemuFailed(err, tail, accel)
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				return "", fmt.Errorf("QEMU's QMP failed (%v) and QEMU did not exit: killed (accel=%s): %s", d.err, accel, tail.String())
			}
		}
	case err := <-exited:
		qcancel()
		return "", qemuFailed(err, tail, accel)
	}
	qcancel()
	if q == nil {
		// ctx ended before QMP came up: nothing to power down gracefully.
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Sprintf("stopped before the guest started (accel=%s)", accel), nil
	}
	defer q.Close()
	if st, err := q.Status(ctx); err == nil && st == "running" {
		if err := os.WriteFile(o.ReadyFile, []byte("accel="+accel+"\n"), 0o644); err != nil {
			r.logf("write ready file: %v", err)
		}
		r.logf("guest running (accel=%s); ready", accel)
	} else {
		r.logf("guest not running after start: status %q, %v", st, err)
	}

wait:
	for {
		select {
		case err := <-exited:
			if err != nil {
				return "", qemuFailed(err, tail, accel)
			}
			reason := q.LastShutdownReason()
			if reason == "" {
				reason = "guest-shutdown"
			}
			return fmt.Sprintf("guest powered off (%s, accel=%s)", reason, accel), nil
		case <-q.Stops():
			// A stopped VM never exits by itself: fail on states it cannot
			// leave, so the pod does not look healthy while the guest is dead.
			st, err := q.Status(ctx)
			if err == nil && (st == "internal-error" || st == "guest-panicked" || st == "io-error") {
				_ = os.Remove(o.ReadyFile)
				_ = cmd.Process.Kill()
				<-exited
				return "", fmt.Errorf("QEMU stopped the guest: %s (accel=%s): %s", st, accel, tail.String())
			}
		case <-ctx.Done():
			break wait
		}
	}

	// SIGTERM: not ready any more; ACPI power-down, hard stop after grace.
	_ = os.Remove(o.ReadyFile)
	r.logf("SIGTERM: ACPI power-down, hard stop in %s", grace)
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := q.PowerDown(pctx); err != nil {
		r.logf("system_powerdown: %v", err)
	}
	pcancel()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-exited:
		if err != nil {
			return "", qemuFailed(err, tail, accel)
		}
		return fmt.Sprintf("guest shut down gracefully after SIGTERM (accel=%s)", accel), nil
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-exited
		return "", fmt.Errorf("guest did not power off within the grace period %s after SIGTERM: QEMU killed (accel=%s)", grace, accel)
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
