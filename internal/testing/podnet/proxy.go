package podnet

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProxyUID is the uid the proxy stand-in runs as (Istio's proxy uid).
const ProxyUID = 1337

// ProxyOptions select the proxy stand-in's optional parts.
type ProxyOptions struct {
	// QuitQuitQuit serves pilot-agent's POST /quitquitquit on
	// 127.0.0.1:15020: the stand-in answers "OK", prints "QUIT" and exits 0.
	// Without it the stand-in runs until killed.
	QuitQuitQuit bool
}

// ServeProxyIfHelper is called first thing in TestMain. When the
// environment variable env is "proxy", this process is the proxy stand-in
// (a copy of the test binary started by the suite, see [Binaries]): it runs
// [RunProxy] and exits, 1 on error. Otherwise it returns at once.
func ServeProxyIfHelper(env string, o ProxyOptions) {
	if os.Getenv(env) != "proxy" {
		return
	}
	if err := RunProxy(o); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// RunProxy is the proxy stand-in. It behaves like Envoy in the launcher
// pod, as far as the dataplane can tell: it runs as uid 1337, accepts
// captured connections on 15001 (outbound) and 15006 (inbound), over IPv4
// and IPv6, reads SO_ORIGINAL_DST and forwards. Inbound connections are
// handed to the application from 127.0.0.6 (::6) to podIP:port, as Envoy's
// inbound passthrough does. Before piping, it tells the caller which
// listener took the connection and the original destination: "PROXY
// outbound orig=198.51.100.20:8080". Port 15021 answers "PROXY health" and
// 15000 "PROXY admin". Once listening it prints "READY uid=<uid>". Every
// connection it accepts is logged on stderr ("CONN outbound
// from=10.0.2.1:41234 to=127.0.0.1:15001"), so a test can show that a
// connection never reached the proxy.
func RunProxy(o ProxyOptions) error {
	type listener struct {
		port   int
		name   string
		handle func(c *net.TCPConn, v6 bool)
	}
	ls := []listener{
		{15001, "outbound", func(c *net.TCPConn, v6 bool) { forward(c, "outbound", netip.Addr{}) }},
		{15006, "inbound", func(c *net.TCPConn, v6 bool) {
			src := netip.MustParseAddr("127.0.0.6")
			if v6 {
				src = netip.MustParseAddr("::6")
			}
			forward(c, "inbound", src)
		}},
		{15021, "health", func(c *net.TCPConn, _ bool) { fmt.Fprintln(c, "PROXY health"); c.Close() }},
		{15000, "admin", func(c *net.TCPConn, _ bool) { fmt.Fprintln(c, "PROXY admin"); c.Close() }},
	}
	for _, l := range ls {
		for _, network := range []string{"tcp4", "tcp6"} {
			ln, err := net.ListenTCP(network, &net.TCPAddr{Port: l.port})
			if err != nil {
				return fmt.Errorf("listening on %s %d: %w", network, l.port, err)
			}
			go func() {
				for {
					c, err := ln.AcceptTCP()
					if err != nil {
						return
					}
					fmt.Fprintf(os.Stderr, "CONN %s from=%s to=%s\n", l.name, c.RemoteAddr(), c.LocalAddr())
					go l.handle(c, network == "tcp6")
				}
			}()
		}
	}
	var quit chan struct{} // nil: never closed
	if o.QuitQuitQuit {
		ln, err := net.Listen("tcp4", "127.0.0.1:15020")
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
	}
	fmt.Printf("READY uid=%d\n", os.Getuid())
	<-quit
	fmt.Println("QUIT")
	return nil
}

func forward(c *net.TCPConn, listener string, src netip.Addr) {
	defer c.Close()
	orig, err := originalDst(c)
	if err != nil {
		fmt.Fprintf(c, "PROXY %s error=%v\n", listener, err)
		return
	}
	fmt.Fprintf(c, "PROXY %s orig=%s\n", listener, orig)
	d := net.Dialer{}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	up, err := d.Dial("tcp", orig.String())
	if err != nil {
		fmt.Fprintf(c, "PROXY %s dial-error=%v\n", listener, err)
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(up, c); _ = up.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(c, up)
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
