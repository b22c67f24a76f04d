//go:build e2e

package queue

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test world: two namespaces joined by a veth pair. rx runs the queue
// (198.51.100.1), tx sends from 198.51.100.2 and up. Nothing here touches
// the root namespace's addresses or firewall.
type testNet struct {
	rx, tx string
	rxFD   int
	rxAddr netip.Addr
	txAddr []netip.Addr
}

var netSeq atomic.Int32

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, NFQUEUE)")
	}
}

// newTestNet builds the namespaces with sources addresses in tx.
func newTestNet(t testing.TB, sources int) *testNet {
	t.Helper()
	needRoot(t)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, netSeq.Add(1))
	n := &testNet{rx: "sp-q-" + id + "-rx", tx: "sp-q-" + id + "-tx", rxAddr: netip.MustParseAddr("198.51.100.1")}
	t.Cleanup(func() {
		if n.rxFD > 0 {
			unix.Close(n.rxFD)
		}
		exec.Command("ip", "netns", "del", n.rx).Run()
		exec.Command("ip", "netns", "del", n.tx).Run()
	})
	run(t, "ip", "netns", "add", n.rx)
	run(t, "ip", "netns", "add", n.tx)
	run(t, "ip", "-n", n.rx, "link", "add", "sp-q-v0", "type", "veth", "peer", "name", "sp-q-v1", "netns", n.tx)
	run(t, "ip", "-n", n.rx, "addr", "add", "198.51.100.1/24", "dev", "sp-q-v0")
	for i := range sources {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(2 + i)})
		n.txAddr = append(n.txAddr, a)
		run(t, "ip", "-n", n.tx, "addr", "add", a.String()+"/24", "dev", "sp-q-v1")
	}
	for _, ns := range []string{n.rx, n.tx} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", n.rx, "link", "set", "sp-q-v0", "up")
	run(t, "ip", "-n", n.tx, "link", "set", "sp-q-v1", "up")
	fd, err := unix.Open("/run/netns/"+n.rx, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	n.rxFD = fd
	return n
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ipt runs iptables in rx.
func (n *testNet) ipt(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", n.rx, "iptables", "-w"}, args...)...)
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

// inNetNS runs f on a thread inside namespace name; sockets f opens stay
// in that namespace.
func inNetNS(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := os.Open("/run/netns/" + name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// listen opens a UDP socket on rx's address.
func (n *testNet) listen(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := inNetNS(n.rx, func() (err error) {
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
	err := inNetNS(n.tx, func() (err error) {
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
	err := inNetNS(n.tx, func() (err error) {
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
