package launcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// QMP is a minimal client of QEMU's machine protocol: enough to ask the
// run state, press the ACPI power button and learn why the guest stopped.
// Commands are serialised; events are delivered to OnEvent.
type QMP struct {
	conn    net.Conn
	mu      sync.Mutex // one command in flight
	replies chan qmpMessage
	// lastShutdown is the reason of the last SHUTDOWN event.
	evMu         sync.Mutex
	lastShutdown string
	// done is closed when the reader stops; readErr, set before, says why.
	done    chan struct{}
	readErr error
	stops   chan struct{}
}

// maxQMPMessage bounds one QMP message (a line) from QEMU. What the
// launcher asks for and the events it reads are well under a KiB; a longer
// line ends the reader (and so every pending and later command) instead of
// growing its buffer.
const maxQMPMessage = 1 << 20

type qmpMessage struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
	Data  struct {
		Guest  bool   `json:"guest"`
		Reason string `json:"reason"`
	} `json:"data"`
	QMP json.RawMessage `json:"QMP"`
}

// DialQMP connects to the QMP socket, retrying until QEMU has created it or
// ctx ends, and negotiates capabilities.
func DialQMP(ctx context.Context, socket string) (*QMP, error) {
	var conn net.Conn
	for {
		var err error
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", socket)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect QMP %s: %w (last: %v)", socket, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	q, greeting := startQMP(conn)
	select {
	case err := <-greeting:
		if err != nil {
			conn.Close()
			return nil, err
		}
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("QMP greeting: %w", ctx.Err())
	}
	if _, err := q.Execute(ctx, "qmp_capabilities"); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// startQMP starts reading conn; the greeting's outcome arrives on the
// returned channel.
func startQMP(conn net.Conn) (*QMP, <-chan error) {
	q := &QMP{conn: conn, replies: make(chan qmpMessage, 1), done: make(chan struct{}), stops: make(chan struct{}, 1)}
	greeting := make(chan error, 1)
	go q.read(greeting)
	return q, greeting
}

// read reads QMP messages until the connection ends: the greeting goes to
// greeting (an error when the connection ends first), events are recorded,
// and a reply is handed to the one Execute waiting for it.
func (q *QMP) read(greeting chan<- error) {
	defer close(q.done)
	sc := bufio.NewScanner(q.conn)
	sc.Buffer(make([]byte, 0, 4<<10), maxQMPMessage)
	first := true
	for sc.Scan() {
		var m qmpMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch {
		case m.QMP != nil:
			// Only the first greeting counts; another is not a reply.
			if first {
				first = false
				greeting <- nil
			}
		case m.Event == "SHUTDOWN":
			q.evMu.Lock()
			q.lastShutdown = m.Data.Reason
			q.evMu.Unlock()
		case m.Event == "STOP":
			select {
			case q.stops <- struct{}{}:
			default:
			}
		case m.Event != "":
		case m.Return == nil && m.Error == nil:
			// Neither an event nor a reply: nothing to hand to Execute.
		default:
			// Never block the reader (events must keep flowing): a reply
			// nobody waits for any more (its caller timed out) is dropped
			// by the next Execute.
			select {
			case q.replies <- m:
			default:
			}
		}
	}
	q.readErr = errors.New("connection closed")
	if err := sc.Err(); err != nil {
		q.readErr = err
		if errors.Is(err, bufio.ErrTooLong) {
			q.readErr = fmt.Errorf("a message from QEMU is longer than %d bytes: connection abandoned", maxQMPMessage)
		}
		// Nobody reads QEMU's side any more: let it see the hangup.
		_ = q.conn.Close()
	}
	if first {
		greeting <- fmt.Errorf("QMP: %w before the greeting", q.readErr)
	}
}

// Execute runs a QMP command and returns its "return" value.
func (q *QMP) Execute(ctx context.Context, command string) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-q.replies: // stale reply of a command whose caller gave up
	default:
	}
	b, _ := json.Marshal(map[string]string{"execute": command})
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("QMP %s: %w", command, err)
	}
	select {
	case m := <-q.replies:
		return m.result(command)
	case <-q.done:
		// The reply may have come just before QEMU hung up: both cases
		// were ready and select picked this one.
		select {
		case m := <-q.replies:
			return m.result(command)
		default:
		}
		return nil, fmt.Errorf("QMP %s: %w", command, q.readErr)
	case <-ctx.Done():
		return nil, fmt.Errorf("QMP %s: %w", command, ctx.Err())
	}
}

// result is a reply's return value or error.
func (m qmpMessage) result(command string) (json.RawMessage, error) {
	if m.Error != nil {
		return nil, fmt.Errorf("QMP %s: %s: %s", command, m.Error.Class, m.Error.Desc)
	}
	return m.Return, nil
}

// Status is query-status' run state ("running", "paused", ...).
func (q *QMP) Status(ctx context.Context) (string, error) {
	r, err := q.Execute(ctx, "query-status")
	if err != nil {
		return "", err
	}
	var s struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(r, &s); err != nil {
		return "", fmt.Errorf("QMP query-status: %w", err)
	}
	return s.Status, nil
}

// PowerDown presses the ACPI power button.
func (q *QMP) PowerDown(ctx context.Context) error {
	_, err := q.Execute(ctx, "system_powerdown")
	return err
}

// LastShutdownReason is the reason of the last SHUTDOWN event
// ("guest-shutdown", "host-qmp-system-powerdown"... ) or "".
func (q *QMP) LastShutdownReason() string {
	q.evMu.Lock()
	defer q.evMu.Unlock()
	return q.lastShutdown
}

// Stops signals STOP events: the VM stopped running (paused, or an
// internal error such as a KVM emulation failure, or a guest panic).
func (q *QMP) Stops() <-chan struct{} { return q.stops }

// Close closes the connection.
func (q *QMP) Close() error { return q.conn.Close() }
