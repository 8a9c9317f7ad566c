package launcher

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/podcontract"
)

func TestLastLines(t *testing.T) {
	l := &lastLines{n: 2}
	for _, s := range []string{"one\ntw", "o\nthree\n", "partial"} {
		_, _ = l.Write([]byte(s)) // lastLines never fails
	}
	if got, want := l.String(), "two | three | partial"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStopProxy(t *testing.T) {
	var method, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, path = r.Method, r.URL.Path
	}))
	defer srv.Close()
	if err := StopProxy(strings.TrimPrefix(srv.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	if method != http.MethodPost || path != "/quitquitquit" {
		t.Errorf("got %s %s, want POST /quitquitquit", method, path)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if err := StopProxy(addr); err == nil {
		t.Error("no proxy listening: want error")
	}
}

func TestFollowFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serial.log")
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { followFile(ctx, path, &out); close(done) }()
	time.Sleep(150 * time.Millisecond) // the file appears late, as QEMU creates it
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("boot\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := f.WriteString("login:\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cancel()
	<-done
	if out.String() != "boot\nlogin:\n" {
		t.Errorf("got %q", out.String())
	}
}

// TestRunWritesTerminationOnBadVMI: even failures before QEMU leave the
// reason in the termination log.
func TestRunWritesTerminationOnBadVMI(t *testing.T) {
	dir := t.TempDir()
	o := podcontract.DefaultComputeOptions()
	o.VMIFile = filepath.Join(dir, "missing.json")
	o.TerminationLog = filepath.Join(dir, "term")
	o.ReadyFile = filepath.Join(dir, "ready")
	var stderr bytes.Buffer
	r := &Runner{Opts: o, Stdout: &bytes.Buffer{}, Stderr: &stderr}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("want error")
	}
	b, _ := os.ReadFile(o.TerminationLog)
	if !strings.HasPrefix(string(b), "read VMI: open ") {
		t.Errorf("termination message %q", b)
	}
}
