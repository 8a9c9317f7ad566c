package launcher

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeQEMU speaks enough QMP to drive the client: it greets, answers each
// command from replies (by name) and emits the events queued in events
// after a command.
func fakeQEMU(t *testing.T, replies map[string]string, events map[string][]string) (socket string, got chan string) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 10)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintln(c, `{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": ["oob"]}}`)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var cmd struct {
				Execute string `json:"execute"`
			}
			_ = json.Unmarshal(sc.Bytes(), &cmd)
			got <- cmd.Execute
			for _, e := range events[cmd.Execute] {
				fmt.Fprintln(c, e)
			}
			r, ok := replies[cmd.Execute]
			if !ok {
				r = `{"return": {}}`
			}
			fmt.Fprintln(c, r)
		}
	}()
	return socket, got
}

func TestQMP(t *testing.T) {
	socket, got := fakeQEMU(t,
		map[string]string{
			"query-status": `{"return": {"status": "running", "running": true}}`,
			"bogus":        `{"error": {"class": "CommandNotFound", "desc": "The command bogus has not been found"}}`,
		},
		map[string][]string{
			// Events arrive interleaved with replies; they must not be taken
			// for the reply.
			"system_powerdown": {
				`{"event": "POWERDOWN", "data": {}}`,
				`{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}`,
				`{"event": "STOP"}`,
			},
		})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := DialQMP(ctx, socket)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := q.Status(ctx)
	if err != nil || st != "running" {
		t.Fatalf("Status = %q, %v", st, err)
	}
	if err := q.PowerDown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute(ctx, "bogus"); err == nil || err.Error() != "QMP bogus: CommandNotFound: The command bogus has not been found" {
		t.Errorf("bogus: err = %v", err)
	}
	select {
	case <-q.Stops():
	case <-time.After(2 * time.Second):
		t.Error("STOP event not signalled")
	}
	if r := q.LastShutdownReason(); r != "guest-shutdown" {
		t.Errorf("LastShutdownReason = %q", r)
	}
	var cmds []string
	for len(got) > 0 {
		cmds = append(cmds, <-got)
	}
	if diff := cmp.Diff([]string{"qmp_capabilities", "query-status", "system_powerdown", "bogus"}, cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

func TestDialQMPGivesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := DialQMP(ctx, filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Fatal("want error")
	}
}

// TestQMPReplyBeforeHangup: a reply QEMU sends right before closing the
// socket (system_powerdown, then exit) is the command's result, not
// "connection closed". Before the fix about 1 in 500 replies was lost.
func TestQMPReplyBeforeHangup(t *testing.T) {
	for i := 0; i < 5000; i++ {
		client, qemu := net.Pipe()
		q, _ := startQMP(client)
		go func() {
			defer qemu.Close()
			if _, err := bufio.NewReader(qemu).ReadBytes('\n'); err == nil {
				fmt.Fprintln(qemu, `{"return": {}}`)
			}
		}()
		_, err := q.Execute(context.Background(), "system_powerdown")
		client.Close()
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
}

// TestQMPMessageLimit: a line longer than maxQMPMessage ends the reader
// with an error naming the limit instead of growing the buffer.
func TestQMPMessageLimit(t *testing.T) {
	client, qemu := net.Pipe()
	defer client.Close()
	q, greeting := startQMP(client)
	go func() {
		defer qemu.Close()
		fmt.Fprintln(qemu, `{"QMP": {}}`)
		if _, err := bufio.NewReader(qemu).ReadBytes('\n'); err != nil {
			return
		}
		long := `{"return": "` + strings.Repeat("x", maxQMPMessage) + `"}`
		_, _ = fmt.Fprintln(qemu, long)
		// The reader has given up; nothing reads this.
		_, _ = fmt.Fprintln(qemu, `{"return": {}}`)
	}()
	if err := <-greeting; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := q.Execute(ctx, "query-status")
	if err == nil || !strings.Contains(err.Error(), "longer than 1048576 bytes") {
		t.Fatalf("Execute = %v, want the message limit", err)
	}
}
