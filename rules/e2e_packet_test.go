//go:build e2e

package rules

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// topo is three namespaces in a line: srv (a DNS server, a SIP client)
// - rtr (sipprot's host) - cli, with 9000-byte MTUs so that one TCP
// segment can carry over 2050 bytes.
type topo struct{ srv, rtr, cli netnstest.NS }

var (
	srvAddr    = map[Family]netip.Addr{IPv4: netip.MustParseAddr("203.0.113.2"), IPv6: netip.MustParseAddr("2001:db8:2::2")}
	rtrSrvSide = map[Family]netip.Addr{IPv4: netip.MustParseAddr("203.0.113.1"), IPv6: netip.MustParseAddr("2001:db8:2::1")}
	rtrCliSide = map[Family]netip.Addr{IPv4: netip.MustParseAddr("198.51.100.1"), IPv6: netip.MustParseAddr("2001:db8:1::1")}
	cliAddr    = map[Family]netip.Addr{IPv4: netip.MustParseAddr("198.51.100.2"), IPv6: netip.MustParseAddr("2001:db8:1::2")}
)

func newTopo(t *testing.T) *topo {
	t.Helper()
	tp := &topo{srv: newNetns(t), rtr: newNetns(t), cli: newNetns(t)}
	for _, ns := range []netnstest.NS{tp.srv, tp.rtr, tp.cli} {
		// Without duplicate address detection link-local addresses work at
		// once; while they are tentative, the first forwarded IPv6 packets
		// are lost to neighbour discovery.
		ns.Sysctl(t, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	link := func(peer netnstest.NS, here, there string, addr, gw map[Family]netip.Addr, rtrAddr map[Family]netip.Addr) {
		netnstest.Link(t, tp.rtr, here, peer, there)
		tp.rtr.Run(t, "ip", "link", "set", "dev", here, "mtu", "9000")
		peer.Run(t, "ip", "link", "set", "dev", there, "mtu", "9000")
		for _, f := range Families {
			bits := "/24"
			if f == IPv6 {
				bits = "/64"
			}
			tp.rtr.Addr(t, here, rtrAddr[f].String()+bits)
			peer.Addr(t, there, addr[f].String()+bits)
			peer.Route(t, "default", gw[f].String())
		}
	}
	link(tp.srv, "tosrv", "torouter", srvAddr, rtrSrvSide, rtrSrvSide)
	link(tp.cli, "tocli", "torouter", cliAddr, rtrCliSide, rtrCliSide)
	tp.rtr.Forwarding(t)
	return tp
}

func install(t *testing.T, ns netnstest.NS, toml string) {
	t.Helper()
	if _, err := NewIPTables(Auto, ns.Command()...).Install(context.Background(), rulesFrom(t, toml)); err != nil {
		t.Fatal(err)
	}
}

func udpAddr(a netip.Addr, port int) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(port)))
}

// listenUDP opens a UDP socket in ns.
func listenUDP(t *testing.T, ns netnstest.NS, a netip.Addr, port int) *net.UDPConn {
	t.Helper()
	return ns.ListenUDP(t, netip.AddrPortFrom(a, uint16(port)))
}

// receive reads datagrams until none came for quiet, and returns their sizes.
func receive(c *net.UDPConn, quiet time.Duration) []int {
	var sizes []int
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return sizes
		}
		sizes = append(sizes, n)
	}
}

// udpDNS sends a datagram of each size from port 53 in ns from to dst, and
// returns the sizes that arrived in ns to.
func udpDNS(t *testing.T, from, to netnstest.NS, src, dst netip.Addr, sizes []int) []int {
	t.Helper()
	recv := listenUDP(t, to, dst, 4000)
	defer recv.Close()
	send := listenUDP(t, from, src, 53)
	defer send.Close()
	for _, n := range sizes {
		if _, err := send.WriteToUDP(make([]byte, n), udpAddr(dst, 4000)); err != nil {
			t.Fatalf("send %d bytes: %v", n, err)
		}
	}
	got := receive(recv, 500*time.Millisecond)
	slices.Sort(got)
	return got
}

// tcpDNS serves n bytes, written at once, from port 53 in ns server, and
// returns how many a client in ns client reads within a second.
func tcpDNS(t *testing.T, server, client netnstest.NS, srv netip.Addr, n int) int {
	t.Helper()
	var ln *net.TCPListener
	if err := server.Do(func() (err error) {
		ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(srv, 53)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(make([]byte, n))
		<-done
	}()
	var conn net.Conn
	if err := client.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", netip.AddrPortFrom(srv, 53).String(), 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	got := 0
	buf := make([]byte, 65536)
	for got < n {
		m, err := conn.Read(buf)
		got += m
		if err != nil {
			break
		}
	}
	return got
}

// TestDNSGuard sends DNS responses to sipprot's host (mode "local") and
// through it (mode "forward"): UDP messages up to 2048 bytes pass, larger
// ones are dropped; a TCP segment with 2050 bytes of payload passes, one
// with 2051 does not. The UDP responses are sent over a 1500-byte MTU,
// so every one over 1472 bytes arrives in fragments smaller than the
// limit: only reassembly lets the rule see them whole. The namespaces have
// no conntrack, so that reassembly is the rules' own doing.
func TestDNSGuard(t *testing.T) {
	netnstest.RequireRoot(t)
	sizes := []int{100, 2048, 2049, 3000, 12000}
	for _, mode := range []string{"local", "forward"} {
		t.Run(mode, func(t *testing.T) {
			tp := newTopo(t)
			to, dst := tp.rtr, rtrSrvSide
			if mode == "forward" {
				to, dst = tp.cli, cliAddr
			}
			srvMTU := func(mtu string) {
				tp.srv.Run(t, "ip", "link", "set", "dev", "torouter", "mtu", mtu)
			}
			check := func(f Family, wantUDP []int, wantTCP int) {
				t.Helper()
				srvMTU("1500")
				if got := udpDNS(t, tp.srv, to, srvAddr[f], dst[f], sizes); !slices.Equal(got, wantUDP) {
					t.Errorf("%s: UDP: %v arrived, want %v", f, got, wantUDP)
				}
				srvMTU("9000")
				if got := tcpDNS(t, tp.srv, to, srvAddr[f], 2050); got != 2050 {
					t.Errorf("%s: TCP segment of 2050 bytes: got %d bytes", f, got)
				}
				if got := tcpDNS(t, tp.srv, to, srvAddr[f], 2051); got != wantTCP {
					t.Errorf("%s: TCP segment of 2051 bytes: got %d bytes, want %d", f, got, wantTCP)
				}
			}
			for _, f := range Families {
				check(f, sizes, 2051)
			}
			if t.Failed() {
				t.Fatal("the network drops DNS responses before sipprot's rules are installed")
			}
			install(t, tp.rtr, fmt.Sprintf("[queue]\nmode = %q\n", mode))
			for _, f := range Families {
				check(f, []int{100, 2048}, 0)
			}
		})
	}
}

// sipFlood sends n datagrams to port 5060 of rtr from cli and returns how
// many arrived.
func sipFlood(t *testing.T, tp *topo, f Family, n int) int {
	t.Helper()
	recv := listenUDP(t, tp.rtr, rtrCliSide[f], 5060)
	defer recv.Close()
	recv.SetReadBuffer(4 << 20)
	got := make(chan int)
	go func() { got <- len(receive(recv, 500*time.Millisecond)) }()
	send := listenUDP(t, tp.cli, cliAddr[f], 0)
	defer send.Close()
	for i := 0; i < n; i++ {
		if _, err := send.WriteToUDP([]byte("REGISTER sip:x SIP/2.0\r\n\r\n"), udpAddr(rtrCliSide[f], 5060)); err != nil {
			t.Fatal(err)
		}
	}
	return <-got
}

// TestGuard floods from one source: the hashlimit guard lets about
// guard_pps (its burst) through to the queue, which nobody reads here, so
// they pass by --queue-bypass; a new rate applies on reinstall; an exempt
// source is not limited.
func TestGuard(t *testing.T) {
	netnstest.RequireRoot(t)
	tp := newTopo(t)
	for _, f := range Families {
		t.Run(f.String(), func(t *testing.T) {
			// A lower rate over an earlier install applies at once: the
			// kernel would keep the old rate under the same hashlimit name.
			install(t, tp.rtr, "[queue]\nguard_pps = 1000\n")
			if got := sipFlood(t, tp, f, 200); got != 200 {
				t.Errorf("guard_pps 1000: %d of 200 passed", got)
			}
			install(t, tp.rtr, "[queue]\nguard_pps = 20\n")
			save := saveCmd(NFT, f)
			name := fmt.Sprintf("sp%d-req-20", f)
			if got := sipFlood(t, tp, f, 200); got < 20 || got > 60 {
				t.Errorf("%d of 200 passed the guard, want about 20", got)
			}
			if n := ruleCounter(t, tp.rtr, save, "-A SIPPROT-GUARD", name, "-j DROP"); n < 140 {
				t.Errorf("guard dropped %d, want about 180", n)
			}
			install(t, tp.rtr, fmt.Sprintf("[queue]\nguard_pps = 20\nguard_exempt = [%q]\n", cliAddr[f]))
			if got := sipFlood(t, tp, f, 200); got != 200 {
				t.Errorf("exempt source: %d of 200 passed", got)
			}
			if n := ruleCounter(t, tp.rtr, save, "-A SIPPROT-GUARD", name, "-j DROP"); n != 0 {
				t.Errorf("guard dropped %d of an exempt source", n)
			}
		})
	}
	if _, err := NewIPTables(Auto, tp.rtr.Command()...).Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestEstablishedFlowIsQueued: a UDP flow that conntrack already calls
// ESTABLISHED, on a host whose first rule accepts ESTABLISHED, still goes
// to the queue: fail-closed with nobody reading drops it, fail-open lets
// it through.
func TestEstablishedFlowIsQueued(t *testing.T) {
	netnstest.RequireRoot(t)
	tp := newTopo(t)
	host := "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n"
	for _, f := range Families {
		t.Run(f.String(), func(t *testing.T) {
			tp.rtr.Output(t, host, restoreCmd(NFT, f))
			pbx := listenUDP(t, tp.rtr, rtrCliSide[f], 5060)
			defer pbx.Close()
			phone := listenUDP(t, tp.cli, cliAddr[f], 5070)
			defer phone.Close()
			to := udpAddr(rtrCliSide[f], 5060)
			// A request and its reply make the flow ESTABLISHED.
			if _, err := phone.WriteToUDP([]byte("REGISTER"), to); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			pbx.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, from, err := pbx.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no request before install: %v", err)
			}
			if _, err := pbx.WriteToUDP([]byte("SIP/2.0 401"), from); err != nil {
				t.Fatal(err)
			}
			phone.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := phone.ReadFromUDP(buf); err != nil {
				t.Fatalf("no reply before install: %v", err)
			}

			send := func() int {
				for i := 0; i < 5; i++ {
					phone.WriteToUDP([]byte("REGISTER"), to)
				}
				return len(receive(pbx, 300*time.Millisecond))
			}
			install(t, tp.rtr, "[queue]\nfail_open = false\n")
			if n := send(); n != 0 {
				t.Errorf("fail-closed, nobody reading the queue: %d of 5 arrived", n)
			}
			if n := ruleCounter(t, tp.rtr, saveCmd(NFT, f), "-A SIPPROT-REQUEST -j NFQUEUE"); n != 5 {
				t.Errorf("queue rule counted %d, want 5", n)
			}
			install(t, tp.rtr, "[queue]\nfail_open = true\n")
			if n := send(); n != 5 {
				t.Errorf("fail-open, nobody reading the queue: %d of 5 arrived", n)
			}
		})
	}
}
