// Package proxystandin is VirtMesh's STAND-IN for the mesh proxy (Envoy
// driven by pilot-agent). It is not Envoy and speaks no xDS, mTLS or HTTP
// routing: it only does what the launcher pod's dataplane can observe of a
// sidecar proxy, so that the traffic redirection can be proven with real
// packets where no Envoy binary can be had (Envoy is in neither Debian nor
// the Go module proxy). The test suites run it from their own binaries
// (internal/testing/podnet) and the local cluster's proxy-standin image
// runs it as a container (hack/images/cmd/proxy-standin).
package proxystandin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UID is the uid the stand-in runs as (Istio's proxy uid).
const UID = 1337

// The stand-in's ports, Istio's.
const (
	OutboundPort = 15001 // captured outbound connections
	InboundPort  = 15006 // captured inbound connections
	AgentPort    = 15020 // pilot-agent: POST /quitquitquit
	HealthPort   = 15021 // readiness
	AdminPort    = 15000 // Envoy's admin
)

// HealthPath is the readiness path Istio's sidecar probes use on HealthPort.
const HealthPath = "/healthz/ready"

// Options select the stand-in's optional parts.
type Options struct {
	// QuitQuitQuit serves pilot-agent's POST /quitquitquit on
	// 127.0.0.1:15020: the stand-in answers "OK", prints "QUIT" and returns.
	// Without it the stand-in runs until killed.
	QuitQuitQuit bool
	// Transparent forwards captured connections without telling the client
	// anything, as Envoy does, so HTTP clients and servers see only each
	// other; which listener took the connection and its original
	// destination are logged instead ("FORWARD inbound orig=10.244.0.7:9080").
	// Without it the first line the client reads is "PROXY <listener>
	// orig=<addr>", which lets a test tell from the client side alone that a
	// connection passed the proxy.
	Transparent bool
	// HTTPHealth serves HTTP on the health port (GET /healthz/ready: 200),
	// as the kubelet's probes of Istio's sidecar expect. Without it the
	// health and admin ports answer one line ("PROXY health", "PROXY admin")
	// to any connection.
	HTTPHealth bool
	// IPv6Optional listens over IPv4 only when the network has no IPv6 (a
	// pod whose IPv6 is disabled). Without it a missing IPv6 is an error.
	IPv6Optional bool
	// Log receives one line per accepted connection (default os.Stderr).
	Log io.Writer
	// Out receives "READY uid=<uid>" once listening and "QUIT" (default os.Stdout).
	Out io.Writer
}

// Run is the stand-in. It behaves like Envoy in the launcher pod, as far as
// the dataplane can tell: it runs as uid 1337, accepts captured
// connections on 15001 (outbound) and 15006 (inbound), over IPv4 and IPv6,
// reads SO_ORIGINAL_DST and forwards. Inbound connections are handed to
// the application from 127.0.0.6 (::6) to podIP:port, as Envoy's inbound
// passthrough does. Port 15021 answers health and 15000 admin (see
// [Options.HTTPHealth]). Once listening it prints "READY uid=<uid>". Every
// connection it accepts is logged ("CONN outbound from=10.0.2.1:41234
// to=127.0.0.1:15001"), so a test can show that a connection never reached
// the proxy.
func Run(o Options) error {
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	type listener struct {
		port   int
		name   string
		handle func(c *net.TCPConn, v6 bool)
	}
	ls := []listener{
		{OutboundPort, "outbound", func(c *net.TCPConn, v6 bool) { o.forward(c, "outbound", netip.Addr{}) }},
		{InboundPort, "inbound", func(c *net.TCPConn, v6 bool) {
			src := netip.MustParseAddr("127.0.0.6")
			if v6 {
				src = netip.MustParseAddr("::6")
			}
			o.forward(c, "inbound", src)
		}},
	}
	if o.HTTPHealth {
		mux := http.NewServeMux()
		mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "PROXY-STANDIN ready")
		})
		srv := &http.Server{Handler: mux}
		defer srv.Close()
		for _, network := range []string{"tcp4", "tcp6"} {
			ln, err := listen(network, HealthPort, o.IPv6Optional)
			if err != nil {
				return err
			}
			if ln != nil {
				go func() { _ = srv.Serve(logListener{ln, "health", o.Log}) }()
			}
		}
	} else {
		ls = append(ls,
			listener{HealthPort, "health", func(c *net.TCPConn, _ bool) { fmt.Fprintln(c, "PROXY health"); c.Close() }},
			listener{AdminPort, "admin", func(c *net.TCPConn, _ bool) { fmt.Fprintln(c, "PROXY admin"); c.Close() }},
		)
	}
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	for _, l := range ls {
		for _, network := range []string{"tcp4", "tcp6"} {
			ln, err := listen(network, l.port, o.IPv6Optional)
			if err != nil {
				return err
			}
			if ln == nil {
				continue
			}
			listeners = append(listeners, ln)
			go func() {
				for {
					c, err := ln.AcceptTCP()
					if err != nil {
						return
					}
					fmt.Fprintf(o.Log, "CONN %s from=%s to=%s\n", l.name, c.RemoteAddr(), c.LocalAddr())
					go l.handle(c, network == "tcp6")
				}
			}()
		}
	}
	var quit chan struct{} // nil: never closed
	if o.QuitQuitQuit {
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", AgentPort))
		if err != nil {
			return err
		}
		quit = make(chan struct{})
		mux := http.NewServeMux()
		mux.HandleFunc("POST /quitquitquit", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "OK")
			close(quit)
		})
		go func() { _ = http.Serve(ln, mux) }() // ends when the listener closes
		defer ln.Close()
	}
	fmt.Fprintf(o.Out, "READY uid=%d\n", os.Getuid())
	<-quit
	fmt.Fprintln(o.Out, "QUIT")
	return nil
}

// listen listens on every address of one family; with optional, a family
// the network lacks (no IPv6) gives a nil listener.
func listen(network string, port int, optional bool) (*net.TCPListener, error) {
	ln, err := net.ListenTCP(network, &net.TCPAddr{Port: port})
	if err != nil {
		if optional && network == "tcp6" && (errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL)) {
			return nil, nil
		}
		return nil, fmt.Errorf("listening on %s %d: %w", network, port, err)
	}
	return ln, nil
}

// logListener logs each accepted connection as the TCP listeners do.
type logListener struct {
	net.Listener
	name string
	log  io.Writer
}

func (l logListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		fmt.Fprintf(l.log, "CONN %s from=%s to=%s\n", l.name, c.RemoteAddr(), c.LocalAddr())
	}
	return c, err
}

func (o Options) forward(c *net.TCPConn, listener string, src netip.Addr) {
	defer c.Close()
	orig, err := originalDst(c)
	if err != nil {
		o.report(c, listener, fmt.Sprintf("error=%v", err))
		return
	}
	o.report(c, listener, "orig="+orig.String())
	d := net.Dialer{}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	up, err := d.Dial("tcp", orig.String())
	if err != nil {
		o.report(c, listener, fmt.Sprintf("dial-error=%v", err))
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(up, c); _ = up.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(c, up)
}

// report tells a forwarding step ("orig=10.0.2.2:9080", "dial-error=…"):
// to the client ("PROXY inbound orig=…"), or in transparent mode to the
// log ("FORWARD inbound orig=… from=…"), so the client's bytes stay its own.
func (o Options) report(c *net.TCPConn, listener, what string) {
	if o.Transparent {
		fmt.Fprintf(o.Log, "FORWARD %s %s from=%s\n", listener, what, c.RemoteAddr())
		return
	}
	fmt.Fprintf(c, "PROXY %s %s\n", listener, what)
}

// originalDst reads the pre-REDIRECT destination from conntrack.
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var ap netip.AddrPort
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		if la := c.LocalAddr().(*net.TCPAddr); la.IP.To4() != nil {
			// struct sockaddr_in fits in the 16 bytes of an ipv6_mreq.
			m, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
			if err != nil {
				sockErr = fmt.Errorf("SO_ORIGINAL_DST: %w", err)
				return
			}
			port := binary.BigEndian.Uint16(m.Multiaddr[2:4])
			ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m.Multiaddr[4:8])), port)
			return
		}
		// struct sockaddr_in6 (28 bytes) fits in an ip6_mtuinfo.
		info, err := unix.GetsockoptIPv6MTUInfo(int(fd), unix.SOL_IPV6, ip6tSOOriginalDst)
		if err != nil {
			sockErr = fmt.Errorf("IP6T_SO_ORIGINAL_DST: %w", err)
			return
		}
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&info.Addr.Port))[:]) // network order
		ap = netip.AddrPortFrom(netip.AddrFrom16(info.Addr.Addr), port)
	})
	if err == nil {
		err = sockErr
	}
	return ap, err
}

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST from linux/netfilter_ipv6/ip6_tables.h.
const ip6tSOOriginalDst = 80
