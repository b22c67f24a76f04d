package packet

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var sipPayload = []byte("OPTIONS sip:100@198.51.100.2 SIP/2.0\r\nUser-Agent: friendly-scanner\r\n\r\n")

// goodPackets are valid packets, decoded in TestDecode and cut short in
// TestDecodeTruncated.
var goodPackets = []struct {
	name string
	pkt  pkt
	want Parsed // Payload compared by content
}{
	{
		name: "v4 UDP",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 5070, dport: 5060, payload: sipPayload},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 5070, DstPort: 5060, Payload: sipPayload, Length: 28 + len(sipPayload)},
	},
	{
		name: "v4 UDP empty payload",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 1, dport: 2},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 1, DstPort: 2, Payload: []byte{}, Length: 28},
	},
	{
		name: "v4 UDP with options",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 5060, dport: 5060, ipOpts: []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1}, payload: sipPayload},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 5060, DstPort: 5060, Payload: sipPayload, Length: 40 + len(sipPayload)},
	},
	{
		name: "v4 UDP max options",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 5060, dport: 5060, ipOpts: make([]byte, 40), payload: sipPayload},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 5060, DstPort: 5060, Payload: sipPayload, Length: 68 + len(sipPayload)},
	},
	{
		// Ethernet pads short frames; the pad is not payload.
		name: "v4 UDP link padding trimmed",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 5060, dport: 5060, payload: []byte("hi"), trailer: make([]byte, 16)},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 5060, DstPort: 5060, Payload: []byte("hi"), Length: 30},
	},
	{
		name: "v4 UDP length shorter than IP payload",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 5060, dport: 5060, payload: []byte("hello"), udpLen: 10},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 5060, DstPort: 5060, Payload: []byte("he"), Length: 33},
	},
	{
		name: "v4 UDP length insane, use what is present",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 5060, dport: 5060, payload: []byte("hello"), udpLen: 3},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 5060, DstPort: 5060, Payload: []byte("hello"), Length: 33},
	},
	{
		name: "v4 TCP with options",
		pkt: pkt{src: v4a, dst: v4b, proto: TCP, sport: 40000, dport: 5061, seq: 0xdeadbeef, flags: FlagPSH | FlagACK,
			tcpOpts: []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, payload: sipPayload},
		want: Parsed{Src: v4a, Dst: v4b, Proto: TCP, SrcPort: 40000, DstPort: 5061, Seq: 0xdeadbeef, TCPFlags: FlagPSH | FlagACK, Payload: sipPayload, Length: 52 + len(sipPayload)},
	},
	{
		name: "v4 TCP SYN",
		pkt:  pkt{src: v4a, dst: v4b, proto: TCP, sport: 40000, dport: 5060, seq: 1, flags: FlagSYN, tcpOpts: []byte{2, 4, 5, 0xb4}},
		want: Parsed{Src: v4a, Dst: v4b, Proto: TCP, SrcPort: 40000, DstPort: 5060, Seq: 1, TCPFlags: FlagSYN, Payload: []byte{}, Length: 44},
	},
	{
		// The UDP length covers the whole datagram, more than is here.
		name: "v4 first fragment",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, sport: 5060, dport: 5060, more: true, payload: sipPayload, udpLen: 3000},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, SrcPort: 5060, DstPort: 5060, MoreFragments: true, Payload: sipPayload, Length: 28 + len(sipPayload)},
	},
	{
		name: "v4 non-first fragment",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, fragOff: 185, more: true, transport: sipPayload},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, Fragment: true, Length: 20 + len(sipPayload)},
	},
	{
		name: "v4 last fragment",
		pkt:  pkt{src: v4a, dst: v4b, proto: UDP, fragOff: 370, transport: []byte("tail")},
		want: Parsed{Src: v4a, Dst: v4b, Proto: UDP, Fragment: true, Length: 24},
	},
	{
		name: "v4 ICMP",
		pkt:  pkt{src: v4a, dst: v4b, proto: ICMP, payload: []byte{8, 0, 0, 0, 0, 1, 0, 1}},
		want: Parsed{Src: v4a, Dst: v4b, Proto: ICMP, Length: 28},
	},
	{
		name: "v6 UDP",
		pkt:  pkt{src: v6a, dst: v6b, proto: UDP, sport: 5060, dport: 5060, payload: sipPayload},
		want: Parsed{Src: v6a, Dst: v6b, Proto: UDP, SrcPort: 5060, DstPort: 5060, Payload: sipPayload, Length: 48 + len(sipPayload)},
	},
	{
		name: "v6 TCP",
		pkt:  pkt{src: v6a, dst: v6b, proto: TCP, sport: 5061, dport: 50000, seq: 7, flags: FlagSYN | FlagACK, tcpOpts: []byte{2, 4, 5, 0xa0}, payload: sipPayload},
		want: Parsed{Src: v6a, Dst: v6b, Proto: TCP, SrcPort: 5061, DstPort: 50000, Seq: 7, TCPFlags: FlagSYN | FlagACK, Payload: sipPayload, Length: 64 + len(sipPayload)},
	},
	{
		name: "v6 UDP link padding trimmed",
		pkt:  pkt{src: v6a, dst: v6b, proto: UDP, sport: 5060, dport: 5060, payload: []byte("x"), trailer: []byte{0, 0, 0}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: UDP, SrcPort: 5060, DstPort: 5060, Payload: []byte("x"), Length: 49},
	},
	{
		name: "v6 hop-by-hop, dest opts, first fragment",
		pkt: pkt{src: v6a, dst: v6b, proto: UDP, sport: 5060, dport: 5062, payload: sipPayload, udpLen: 4000, exts: []ext{
			{typ: ipv6HopByHop, body: []byte{5, 2, 0, 0}}, // router alert
			{typ: ipv6DestOpts, body: make([]byte, 14)},
			{typ: ipv6Fragment, more: true},
		}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: UDP, SrcPort: 5060, DstPort: 5062, MoreFragments: true, Payload: sipPayload, Length: 40 + 8 + 16 + 8 + 8 + len(sipPayload)},
	},
	{
		name: "v6 atomic fragment",
		pkt:  pkt{src: v6a, dst: v6b, proto: UDP, sport: 1, dport: 2, payload: []byte("a"), exts: []ext{{typ: ipv6Fragment}}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: UDP, SrcPort: 1, DstPort: 2, Payload: []byte("a"), Length: 57},
	},
	{
		name: "v6 non-first fragment",
		pkt: pkt{src: v6a, dst: v6b, proto: UDP, transport: sipPayload, exts: []ext{
			{typ: ipv6HopByHop},
			{typ: ipv6Fragment, fragOff: 100, more: true},
		}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: UDP, Fragment: true, Length: 56 + len(sipPayload)},
	},
	{
		name: "v6 routing and AH",
		pkt: pkt{src: v6a, dst: v6b, proto: TCP, sport: 5061, dport: 5061, seq: 9, flags: FlagACK, payload: sipPayload, exts: []ext{
			{typ: ipv6Routing, body: append([]byte{4, 0, 0, 0, 0, 0}, v6b.AsSlice()...)},
			{typ: AH, body: make([]byte, 12)},
		}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: TCP, SrcPort: 5061, DstPort: 5061, Seq: 9, TCPFlags: FlagACK, Payload: sipPayload, Length: 40 + 24 + 16 + 20 + len(sipPayload)},
	},
	{
		name: "v6 ESP stops the walk",
		pkt:  pkt{src: v6a, dst: v6b, proto: ESP, payload: make([]byte, 32), exts: []ext{{typ: ipv6DestOpts}}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: ESP, Length: 40 + 8 + 32},
	},
	{
		name: "v6 no next header",
		pkt:  pkt{src: v6a, dst: v6b, proto: NoNext},
		want: Parsed{Src: v6a, Dst: v6b, Proto: NoNext, Length: 40},
	},
	{
		name: "v6 eight extension headers is the limit",
		pkt: pkt{src: v6a, dst: v6b, proto: UDP, sport: 3, dport: 4, payload: []byte("z"), exts: []ext{
			{typ: ipv6HopByHop}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts},
			{typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts},
		}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: UDP, SrcPort: 3, DstPort: 4, Payload: []byte("z"), Length: 40 + 64 + 9},
	},
	{
		name: "v6 ICMPv6",
		pkt:  pkt{src: v6a, dst: v6b, proto: ICMPv6, payload: []byte{128, 0, 0, 0, 0, 1, 0, 1}},
		want: Parsed{Src: v6a, Dst: v6b, Proto: ICMPv6, Length: 48},
	},
}

// goodPacket returns the bytes of the goodPackets entry called name.
func goodPacket(name string) []byte {
	for _, g := range goodPackets {
		if g.name == name {
			return g.pkt.bytes()
		}
	}
	panic("no good packet " + name)
}

func checkParsed(t *testing.T, got, want *Parsed) {
	t.Helper()
	gp, wp := got.Payload, want.Payload
	g, w := *got, *want
	g.Payload, w.Payload = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("Decode:\n got %+v\nwant %+v", g, w)
	}
	if (gp == nil) != (wp == nil) || !bytes.Equal(gp, wp) {
		t.Errorf("Payload = %q (nil %v), want %q (nil %v)", gp, gp == nil, wp, wp == nil)
	}
}

func TestDecode(t *testing.T) {
	for _, tt := range goodPackets {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.pkt.bytes()
			var p Parsed
			p.Payload = []byte("stale") // Decode must overwrite every field
			p.SrcPort = 99
			if err := p.Decode(b); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkParsed(t, &p, &tt.want)
		})
	}
}

// TestDecodeTruncated cuts every valid packet at every length. Because the
// IP length field always covers the whole packet, every cut is
// ErrTruncated, and none may panic.
func TestDecodeTruncated(t *testing.T) {
	for _, tt := range goodPackets {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.pkt.bytes()
			b = b[:len(b)-len(tt.pkt.trailer)]
			for n := range len(b) {
				var p Parsed
				err := p.Decode(b[:n:n])
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("Decode(first %d of %d bytes) = %v, want ErrTruncated", n, len(b), err)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	v4 := pkt{src: v4a, dst: v4b, proto: UDP, sport: 1, dport: 2, payload: []byte("abc")}.bytes()
	v6 := pkt{src: v6a, dst: v6b, proto: UDP, sport: 1, dport: 2, payload: []byte("abc")}.bytes()
	tcp4 := pkt{src: v4a, dst: v4b, proto: TCP, sport: 1, dport: 2, payload: []byte("abc")}.bytes()
	edit := func(b []byte, f func([]byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return b
	}
	tests := []struct {
		name    string
		b       []byte
		want    error
		wantMsg string
	}{
		{"empty", nil, ErrTruncated, "truncated packet: empty packet"},
		{"version 0", edit(v4, func(b []byte) { b[0] = 0x05 }), ErrVersion, "not an IPv4 or IPv6 packet: IP version 0"},
		{"version 5", edit(v4, func(b []byte) { b[0] = 0x55 }), ErrVersion, "IP version 5"},
		{"version 15", edit(v6, func(b []byte) { b[0] = 0xf0 }), ErrVersion, "IP version 15"},
		{"v4 IHL 4", edit(v4, func(b []byte) { b[0] = 0x44 }), ErrHeader, "IHL"},
		{"v4 IHL past end", edit(v4, func(b []byte) { b[0] = 0x4f }), ErrTruncated, "options"},
		{"v4 total < IHL", edit(v4, func(b []byte) { b[3] = 19 }), ErrHeader, "total length shorter"},
		{"v4 total > bytes", edit(v4, func(b []byte) { b[3]++ }), ErrTruncated, "total length exceeds"},
		{"v4 UDP header cut by total length", edit(v4, func(b []byte) { b[3] = 27 }), ErrTruncated, "UDP header"},
		{"v4 TCP offset 4", edit(tcp4, func(b []byte) { b[32] = 0x40 }), ErrHeader, "data offset"},
		{"v4 TCP offset past end", edit(tcp4, func(b []byte) { b[32] = 0x70 }), ErrTruncated, "TCP options"},
		{"v6 payload length > bytes", edit(v6, func(b []byte) { b[5]++ }), ErrTruncated, "payload length exceeds"},
		{"v6 nine extension headers", pkt{src: v6a, dst: v6b, proto: UDP, sport: 1, dport: 2, exts: []ext{
			{typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts},
			{typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts}, {typ: ipv6DestOpts},
		}}.bytes(), ErrHeader, "more than 8"},
		{"v6 extension length past end", edit(pkt{src: v6a, dst: v6b, proto: UDP, sport: 1, dport: 2, exts: []ext{{typ: ipv6HopByHop}}}.bytes(),
			func(b []byte) { b[41] = 2 }), ErrTruncated, "extension header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parsed
			err := p.Decode(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.wantMsg)) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

// TestDecodeKeepsAddressesOnError checks that a packet cut after its fixed
// IP header still reports who sent it, so policy can judge by source.
func TestDecodeKeepsAddressesOnError(t *testing.T) {
	b := pkt{src: v4a, dst: v4b, proto: TCP, sport: 1, dport: 2}.bytes()
	var p Parsed
	if err := p.Decode(b[:30]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Decode = %v, want ErrTruncated", err)
	}
	if p.Src != v4a || p.Dst != v4b || p.Proto != TCP {
		t.Errorf("got %v > %v proto %d, want addresses and proto kept", p.Src, p.Dst, p.Proto)
	}
}

func TestDecodeZeroTotalLength(t *testing.T) {
	b := pkt{src: v4a, dst: v4b, proto: UDP, sport: 1, dport: 2, payload: []byte("big"), udpLen: 0}.bytes()
	b[2], b[3] = 0, 0 // as Linux leaves it on a >64 KiB offload packet
	var p Parsed
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	if p.Length != len(b) || string(p.Payload) != "big" {
		t.Errorf("Length %d payload %q, want %d %q", p.Length, p.Payload, len(b), "big")
	}
}

func TestDecodeJumbogram(t *testing.T) {
	b := pkt{src: v6a, dst: v6b, proto: UDP, sport: 1, dport: 2, payload: []byte("jumbo"), exts: []ext{
		{typ: ipv6HopByHop, body: []byte{0xc2, 4, 0, 0, 0, 0}},
	}}.bytes()
	b[4], b[5] = 0, 0
	var p Parsed
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	if p.Length != len(b) || string(p.Payload) != "jumbo" {
		t.Errorf("Length %d payload %q, want %d %q", p.Length, p.Payload, len(b), "jumbo")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		pkt  pkt
		want string
	}{
		{pkt{src: v4a, dst: v4b, proto: UDP, sport: 5070, dport: 5060, payload: []byte("abc")},
			"UDP 192.0.2.1:5070 > 198.51.100.2:5060 len=31 payload=3"},
		{pkt{src: v6a, dst: v6b, proto: TCP, sport: 5061, dport: 40000, seq: 5, flags: FlagSYN | FlagACK},
			"TCP [2001:db8::1]:5061 > [2001:db8:ffff::5060]:40000 [S.] seq=5 len=60 payload=0"},
		{pkt{src: v4a, dst: v4b, proto: UDP, fragOff: 10, transport: []byte("abcd")},
			"UDP 192.0.2.1 > 198.51.100.2 fragment len=24"},
		{pkt{src: v4a, dst: v4b, proto: UDP, sport: 1, dport: 2, more: true},
			"UDP 192.0.2.1:1 > 198.51.100.2:2 first-fragment len=28 payload=0"},
		{pkt{src: v4a, dst: v4b, proto: 47},
			"proto-47 192.0.2.1 > 198.51.100.2 len=20"},
	}
	for _, tt := range tests {
		var p Parsed
		if err := p.Decode(tt.pkt.bytes()); err != nil {
			t.Fatal(err)
		}
		if got := p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if got := new(Parsed).String(); got != "undecoded packet" {
		t.Errorf("zero String() = %q", got)
	}
}

func TestNoAllocs(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"IPv4 UDP", pkt{src: v4a, dst: v4b, proto: UDP, sport: 5070, dport: 5060, payload: sipPayload}.bytes()},
		{"IPv6 TCP", pkt{src: v6a, dst: v6b, proto: TCP, sport: 5061, dport: 5061, flags: FlagACK, payload: sipPayload}.bytes()},
		{"IPv6 ext headers", goodPacket("v6 hop-by-hop, dest opts, first fragment")},
		{"error", []byte{0x50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parsed
			if n := testing.AllocsPerRun(1000, func() { p.Decode(tt.b) }); n != 0 {
				t.Errorf("Decode allocs = %v, want 0", n)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	benches := []struct {
		name string
		b    []byte
	}{
		{"IPv4UDP", pkt{src: v4a, dst: v4b, proto: UDP, sport: 5070, dport: 5060, payload: sipPayload}.bytes()},
		{"IPv4TCP", pkt{src: v4a, dst: v4b, proto: TCP, sport: 5070, dport: 5061, flags: FlagACK, payload: sipPayload}.bytes()},
		{"IPv6UDP", pkt{src: v6a, dst: v6b, proto: UDP, sport: 5070, dport: 5060, payload: sipPayload}.bytes()},
		{"IPv6TCP", pkt{src: v6a, dst: v6b, proto: TCP, sport: 5061, dport: 5061, flags: FlagACK, payload: sipPayload}.bytes()},
		{"IPv6ExtHeaders", goodPacket("v6 hop-by-hop, dest opts, first fragment")},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			var p Parsed
			for b.Loop() {
				if err := p.Decode(bb.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
