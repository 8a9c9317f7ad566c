package launcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"
)

// qmpExpect is what a QMP client must make of a byte stream from QEMU,
// message by message (one JSON object per line): the first greeting, the
// last SHUTDOWN reason, whether a STOP came, and the first reply (a
// "return" or an "error") to hand to the command waiting for it. Anything
// else (other events, later greetings, lines that are not a QMP message)
// is ignored.
type qmpExpect struct {
	greeted      bool
	lastShutdown string
	stopped      bool
	reply        *qmpMessage
}

func expectQMP(data []byte) qmpExpect {
	var e qmpExpect
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		var m qmpMessage
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch {
		case m.QMP != nil:
			e.greeted = true
		case m.Event == "SHUTDOWN":
			e.lastShutdown = m.Data.Reason
		case m.Event == "STOP":
			e.stopped = true
		case m.Event != "":
		case m.Return != nil || m.Error != nil:
			if e.reply == nil {
				e.reply = &m
			}
		}
	}
	return e
}

// FuzzQMP runs the QMP client against a QEMU that answers a command with
// arbitrary bytes and hangs up: Execute must return what the stream's first
// reply says (or that the connection closed), and the reader must end,
// having seen the greeting, events and replies the stream holds.
func FuzzQMP(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		client, qemu := net.Pipe()
		defer client.Close()
		q, greeting := startQMP(client)
		go func() {
			defer qemu.Close()
			// The command first: the answer comes after it, as from QEMU.
			if _, err := bufio.NewReader(qemu).ReadBytes('\n'); err != nil {
				return
			}
			_, _ = qemu.Write(data)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := q.Execute(ctx, "query-status")
		if ctx.Err() != nil {
			t.Fatalf("Execute hung on %q", data)
		}
		select {
		case <-q.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("reader did not end on %q", data)
		}

		want := expectQMP(data)
		switch {
		case want.reply == nil:
			if err == nil {
				t.Errorf("Execute = %s, nil; want an error: %q holds no reply", got, data)
			}
		case want.reply.Error != nil:
			if err == nil {
				t.Errorf("Execute = %s, nil; want QEMU's error %+v", got, *want.reply.Error)
			}
		default:
			if err != nil || !bytes.Equal(got, want.reply.Return) {
				t.Errorf("Execute = %s, %v; want %s", got, err, want.reply.Return)
			}
		}
		if g := <-greeting; (g == nil) != want.greeted {
			t.Errorf("greeting error %v, want greeted=%v", g, want.greeted)
		}
		if r := q.LastShutdownReason(); r != want.lastShutdown {
			t.Errorf("LastShutdownReason = %q, want %q", r, want.lastShutdown)
		}
		if stopped := len(q.Stops()) == 1; stopped != want.stopped {
			t.Errorf("STOP signalled = %v, want %v", stopped, want.stopped)
		}
	})
}
