// Package interrupt runs a suite's cluster teardown when the run is cut
// short: on SIGINT/SIGTERM, and shortly before go test's -timeout panics
// (the panic skips the rest of TestMain, and with it the suite's own
// teardown), so an aborted run leaves no etcd, API server, kubelet or
// operator behind on the machine.
package interrupt

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// margin is how long before -timeout the teardown starts: long enough for
// a cluster's down.
const margin = 30 * time.Second

// Teardown calls down (once) on SIGINT/SIGTERM, then exits 130, or
// margin before -test.timeout expires (then the panic follows). suite
// names the run in the message on stderr. Call flag.Parse first, so
// -test.timeout is read; the returned stop ends the watch.
func Teardown(suite string, down func()) (stop func()) {
	after := time.Duration(-1)
	if d, ok := deadline(); ok {
		after = d - margin
	}
	return watch(suite, down, after)
}

// watch is Teardown with the alarm after the given time (none if < 0).
func watch(suite string, down func(), after time.Duration) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var alarm <-chan time.Time
	var timer *time.Timer
	if after >= 0 {
		timer = time.NewTimer(after)
		alarm = timer.C
	}
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "%s: %v: tearing the cluster down\n", suite, s)
			down()
			os.Exit(130)
		case <-alarm:
			fmt.Fprintf(os.Stderr, "%s: go test -timeout is about to expire: tearing the cluster down\n", suite)
			down()
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		if timer != nil {
			timer.Stop()
		}
		close(done)
	}
}

// deadline is -test.timeout when it leaves room for the margin.
func deadline() (time.Duration, bool) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0, false
	}
	d, err := time.ParseDuration(f.Value.String())
	if err != nil || d <= time.Minute {
		return 0, false
	}
	return d, true
}
