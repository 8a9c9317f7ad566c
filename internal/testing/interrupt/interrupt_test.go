package interrupt

import (
	"flag"
	"testing"
	"time"
)

func TestAlarmRunsDown(t *testing.T) {
	called := make(chan struct{})
	stop := watch("test", func() { close(called) }, 10*time.Millisecond)
	defer stop()
	select {
	case <-called:
	case <-time.After(5 * time.Second):
		t.Fatal("down not called when the alarm went off")
	}
}

func TestStopBeforeAlarm(t *testing.T) {
	called := make(chan struct{}, 1)
	stop := watch("test", func() { called <- struct{}{} }, 200*time.Millisecond)
	stop()
	select {
	case <-called:
		t.Fatal("down called after stop")
	case <-time.After(400 * time.Millisecond):
	}
}

func TestDeadline(t *testing.T) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		t.Fatal("no -test.timeout flag in a test binary")
	}
	old := f.Value.String()
	defer func() { _ = f.Value.Set(old) }()
	for _, tc := range []struct {
		timeout string
		want    time.Duration
		ok      bool
	}{
		{"10m", 10 * time.Minute, true},
		{"1m", 0, false},
		{"0s", 0, false},
	} {
		if err := f.Value.Set(tc.timeout); err != nil {
			t.Fatal(err)
		}
		if got, ok := deadline(); got != tc.want || ok != tc.ok {
			t.Errorf("-test.timeout=%s: deadline() = %v, %v; want %v, %v", tc.timeout, got, ok, tc.want, tc.ok)
		}
	}
}
