package vm

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// runProxy is test/dataplane's proxy stand-in (IPv4 only here): uid 1337,
// outbound listener 15001 and inbound 15006 that announce themselves and the
// SO_ORIGINAL_DST before piping. Added: the agent's 15020 answers POST
// /quitquitquit by printing QUIT and exiting, as pilot-agent does.
func runProxy() error {
	for port, handle := range map[int]func(c *net.TCPConn){
		15001: func(c *net.TCPConn) { forward(c, "outbound", netip.Addr{}) },
		15006: func(c *net.TCPConn) { forward(c, "inbound", netip.MustParseAddr("127.0.0.6")) },
	} {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{Port: port})
		if err != nil {
			return fmt.Errorf("listening on %d: %w", port, err)
		}
		go func() {
			for {
				c, err := ln.AcceptTCP()
				if err != nil {
					return
				}
				go handle(c)
			}
		}()
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:15020")
	if err != nil {
		return err
	}
	quit := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /quitquitquit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "OK")
		close(quit)
	})
	go http.Serve(ln, mux)
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
	go func() { _, _ = io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(c, up)
}

// originalDst reads the pre-REDIRECT IPv4 destination from conntrack.
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var ap netip.AddrPort
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		// struct sockaddr_in fits in the 16 bytes of an ipv6_mreq.
		m, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
		if err != nil {
			sockErr = fmt.Errorf("SO_ORIGINAL_DST: %w", err)
			return
		}
		port := binary.BigEndian.Uint16(m.Multiaddr[2:4])
		ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m.Multiaddr[4:8])), port)
	})
	if err == nil {
		err = sockErr
	}
	return ap, err
}
