package netnstest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestIsDocAddr(t *testing.T) {
	for _, tc := range []struct {
		a    string
		want bool
	}{
		{"192.0.2.1", true},
		{"198.51.100.0/24", true},
		{"203.0.113.255/32", true},
		{"2001:db8:1::2/64", true},
		{"10.0.0.1/8", false},
		{"192.0.3.1", false},
		{"2001:db9::1", false},
		{"default", false},
	} {
		t.Run(tc.a, func(t *testing.T) {
			if got := IsDocAddr(tc.a); got != tc.want {
				t.Errorf("IsDocAddr(%q) = %v, want %v", tc.a, got, tc.want)
			}
		})
	}
}

// TestLinkedPair joins two namespaces and sends a datagram across; both
// are gone once the subtest's cleanup ran.
func TestLinkedPair(t *testing.T) {
	RequireRoot(t)
	prefix := fmt.Sprintf("sp-n-%d-", os.Getpid())
	var a, b NS
	t.Run("pair", func(t *testing.T) {
		a, b = New(t, prefix+"a"), New(t, prefix+"b")
		Link(t, a, "veth-a", b, "veth-b")
		a.Addr(t, "veth-a", "192.0.2.1/24", "2001:db8::1/64")
		b.Addr(t, "veth-b", "192.0.2.2/24", "2001:db8::2/64")
		b.Route(t, "203.0.113.0/24", "192.0.2.1")
		b.Forwarding(t)
		errFn := errors.New("fn failed")
		if err := a.Do(func() error { return errFn }); err != errFn {
			t.Errorf("Do returned %v, want fn's error as it is", err)
		}
		if out := b.Run(t, "sysctl", "-n", "net.ipv4.ip_forward"); out != "1\n" {
			t.Errorf("ip_forward in %s = %q, want 1", b, out)
		}
		for _, dst := range []netip.AddrPort{netip.MustParseAddrPort("192.0.2.2:4000"), netip.MustParseAddrPort("[2001:db8::2]:4000")} {
			recv := b.ListenUDP(t, dst)
			if !b.Listening("udp", dst) {
				t.Errorf("%s: nothing listens on %s", b, dst)
			}
			if a.Listening("udp", dst) {
				t.Errorf("%s: a socket of %s shows there", a, b)
			}
			send := a.ListenUDP(t, netip.AddrPortFrom(netip.IPv6Unspecified(), 0))
			if _, err := send.WriteToUDPAddrPort([]byte("hello"), dst); err != nil {
				t.Fatal(err)
			}
			recv.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 16)
			n, _, err := recv.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "hello" {
				t.Errorf("to %s: got %q, %v", dst, buf[:n], err)
			}
		}
	})
	for _, n := range []NS{a, b} {
		if n.Exists() {
			t.Errorf("%s still exists after its test ended", n)
		}
	}
}
