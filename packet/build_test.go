package packet

import (
	"encoding/binary"
	"net/netip"
)

// ext is one IPv6 extension header for the test builder: typ is its own
// header type (hop-by-hop, routing, ...); body is what follows the next
// header and length octets, padded by the builder.
type ext struct {
	typ  uint8
	body []byte
	// fragOff and more are used when typ is ipv6Fragment (offset in
	// 8-octet units).
	fragOff uint16
	more    bool
}

// pkt describes a test packet; bytes builds it.
type pkt struct {
	src, dst     netip.Addr // family picks IPv4 or IPv6
	proto        uint8
	sport, dport uint16
	ipOpts       []byte // IPv4 options, padded to a 4-octet multiple
	exts         []ext  // IPv6 extension headers, in order
	fragOff      uint16 // IPv4 fragment offset in 8-octet units
	more         bool   // IPv4 MF flag
	tcpOpts      []byte // padded to a 4-octet multiple
	flags        uint8
	seq          uint32
	payload      []byte
	udpLen       int    // overrides the UDP length field when non-zero
	transport    []byte // replaces the built transport header and payload
	trailer      []byte // bytes after the IP packet (link padding)
}

var (
	v4a = netip.MustParseAddr("192.0.2.1")
	v4b = netip.MustParseAddr("198.51.100.2")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8:ffff::5060")
)

func pad(b []byte, to int) []byte {
	for len(b)%to != 0 {
		b = append(b, 0)
	}
	return b
}

func (k pkt) transportBytes() []byte {
	if k.transport != nil {
		return k.transport
	}
	switch k.proto {
	case UDP:
		h := make([]byte, 8, 8+len(k.payload))
		binary.BigEndian.PutUint16(h[0:], k.sport)
		binary.BigEndian.PutUint16(h[2:], k.dport)
		n := 8 + len(k.payload)
		if k.udpLen != 0 {
			n = k.udpLen
		}
		binary.BigEndian.PutUint16(h[4:], uint16(n))
		return append(h, k.payload...)
	case TCP:
		opts := pad(append([]byte(nil), k.tcpOpts...), 4)
		h := make([]byte, 20, 20+len(opts)+len(k.payload))
		binary.BigEndian.PutUint16(h[0:], k.sport)
		binary.BigEndian.PutUint16(h[2:], k.dport)
		binary.BigEndian.PutUint32(h[4:], k.seq)
		h[12] = uint8((20+len(opts))/4) << 4
		h[13] = k.flags
		binary.BigEndian.PutUint16(h[14:], 65535)
		h = append(h, opts...)
		return append(h, k.payload...)
	}
	return k.payload
}

func (k pkt) bytes() []byte {
	t := k.transportBytes()
	var b []byte
	if k.src.Is4() {
		opts := pad(append([]byte(nil), k.ipOpts...), 4)
		ihl := 20 + len(opts)
		b = make([]byte, ihl, ihl+len(t))
		b[0] = 0x40 | uint8(ihl/4)
		binary.BigEndian.PutUint16(b[2:], uint16(ihl+len(t)))
		binary.BigEndian.PutUint16(b[4:], 0x1234)
		frag := k.fragOff
		if k.more {
			frag |= 0x2000
		}
		binary.BigEndian.PutUint16(b[6:], frag)
		b[8] = 64
		b[9] = k.proto
		s, d := k.src.As4(), k.dst.As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		copy(b[20:], opts)
	} else {
		b = make([]byte, 40)
		b[0] = 0x60
		b[7] = 64
		s, d := k.src.As16(), k.dst.As16()
		copy(b[8:], s[:])
		copy(b[24:], d[:])
		nextAt := 6 // where the next-header value for the following header goes
		for _, e := range k.exts {
			b[nextAt] = e.typ
			nextAt = len(b)
			switch e.typ {
			case ipv6Fragment:
				h := make([]byte, 8)
				binary.BigEndian.PutUint16(h[2:], e.fragOff<<3)
				if e.more {
					h[3] |= 1
				}
				binary.BigEndian.PutUint32(h[4:], 0xabcdef)
				b = append(b, h...)
			case AH:
				h := pad(append([]byte{0, 0, 0, 0}, e.body...), 4)
				if len(h) < 12 {
					h = append(h, make([]byte, 12-len(h))...)
				}
				h[1] = uint8(len(h)/4 - 2)
				b = append(b, h...)
			default:
				h := pad(append([]byte{0, 0}, e.body...), 8)
				h[1] = uint8(len(h)/8 - 1)
				b = append(b, h...)
			}
		}
		b[nextAt] = k.proto
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40+len(t)))
	}
	b = append(b, t...)
	return append(b, k.trailer...)
}
