//go:build e2e

package queue

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns"
	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// The test world: two namespaces joined by a veth pair. rx runs the queue
// (198.51.100.1), tx sends from 198.51.100.2 and up. Nothing here touches
// the root namespace's addresses or firewall.
type testNet struct {
	rx, tx netnstest.NS
	rxFD   int // rx's namespace, for Config.NetNS
	rxAddr netip.Addr
	txAddr []netip.Addr
}

var netSeq atomic.Int32

// newTestNet builds the namespaces with sources addresses in tx.
func newTestNet(t testing.TB, sources int) *testNet {
	t.Helper()
	netnstest.RequireRoot(t)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, netSeq.Add(1))
	n := &testNet{
		rx:     netnstest.New(t, "sp-q-"+id+"-rx"),
		tx:     netnstest.New(t, "sp-q-"+id+"-tx"),
		rxAddr: netip.MustParseAddr("198.51.100.1"),
	}
	netnstest.Link(t, n.rx, "sp-q-v0", n.tx, "sp-q-v1")
	n.rx.Addr(t, "sp-q-v0", "198.51.100.1/24")
	for i := range sources {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(2 + i)})
		n.txAddr = append(n.txAddr, a)
		n.tx.Addr(t, "sp-q-v1", a.String()+"/24")
	}
	f, err := netns.Open(string(n.rx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n.rxFD = int(f.Fd())
	return n
}

// ipt runs iptables in rx.
func (n *testNet) ipt(t testing.TB, args ...string) string {
	t.Helper()
	return n.rx.Run(t, append([]string{"iptables", "-w"}, args...)...)
}

// ruleHits returns the packet counter of the first rule of chain in
// table that jumps to target.
func (n *testNet) ruleHits(t testing.TB, table, chain, target string) uint64 {
	t.Helper()
	out := n.ipt(t, "-t", table, "-L", chain, "-v", "-x", "-n")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == target {
			v, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatalf("iptables counter %q: %v", l, err)
			}
			return v
		}
	}
	t.Fatalf("no %s rule in %s %s:\n%s", target, table, chain, out)
	return 0
}

// kernelStats reads rx's /proc/net/netfilter/nfnetlink_queue.
func (n *testNet) kernelStats(t testing.TB) map[uint16]KernelStats {
	t.Helper()
	m, err := readKernelStatsIn(n.rxFD)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// listen opens a UDP socket on rx's address.
func (n *testNet) listen(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.rx.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: n.rxAddr.AsSlice(), Port: port})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialFrom opens a UDP socket in tx from src to rx's port.
func (n *testNet) dialFrom(t testing.TB, src netip.Addr, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.tx.Do(func() (err error) {
		c, err = net.DialUDP("udp4", &net.UDPAddr{IP: src.AsSlice()}, &net.UDPAddr{IP: n.rxAddr.AsSlice(), Port: port})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receiveAll reads datagrams from c until quiet for wait, by source.
func receiveAll(c *net.UDPConn, wait time.Duration) map[netip.Addr]int {
	got := map[netip.Addr]int{}
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(wait))
		_, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return got
		}
		got[from.Addr().Unmap()]++
	}
}

// register is a SIP REGISTER from src.
func register(src netip.Addr, i int, ua string) []byte {
	return []byte(fmt.Sprintf("REGISTER sip:198.51.100.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:1001@198.51.100.1>;tag=%d\r\nTo: <sip:1001@198.51.100.1>\r\n"+
		"Call-ID: flood-%d@%s\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@%s:5060>\r\n"+
		"User-Agent: %s\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n", src, i, i, i, src, src, ua))
}

// txListener is a UDP socket in tx.
type txListener struct {
	c    *net.UDPConn
	addr netip.AddrPort
}

// listenTX opens a UDP socket on tx's first address.
func (n *testNet) listenTX(t testing.TB, port int) txListener {
	t.Helper()
	l := txListener{addr: netip.AddrPortFrom(n.txAddr[0], uint16(port))}
	err := n.tx.Do(func() (err error) {
		l.c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(l.addr))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.c.Close() })
	return l
}

// dialUDP opens a UDP socket from src to dst in the calling thread's
// namespace.
func dialUDP(src netip.Addr, dst netip.AddrPort) (*net.UDPConn, error) {
	return net.DialUDP("udp4", &net.UDPAddr{IP: src.AsSlice()}, net.UDPAddrFromAddrPort(dst))
}
