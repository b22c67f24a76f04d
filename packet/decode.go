package packet

import (
	"encoding/binary"
	"net/netip"
)

// maxExtHeaders bounds the IPv6 extension header walk, so a crafted chain
// costs at most this many steps. Real traffic carries two or three.
const maxExtHeaders = 8

// IPv6 extension header types Decode walks through.
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60
)

// Decode decodes the raw IP packet b, which starts at the IP header (as
// NFQUEUE delivers it), into p, overwriting every field. It does not
// allocate; p.Payload is a subslice of b.
//
// Length rules, the same for both families: bytes past the IP total length
// (link-layer padding) are ignored, and a total length larger than b is
// ErrTruncated rather than a short payload, so a partial SIP message is
// never judged as if it were whole. A total length of 0 (IPv4 TSO/BIG TCP,
// IPv6 jumbogram with a hop-by-hop header) means "all of b".
//
// A non-first fragment sets Fragment, Proto, addresses and Length, leaves
// ports and Payload zero, and returns nil. A first fragment decodes the
// transport header and sets MoreFragments; Payload is what is present.
// Protocols other than TCP and UDP (and IPv6 ESP or no-next-header) set
// addresses and Proto only.
//
// On error, the fields decoded before the fault stay set (addresses once
// the fixed IP header is present), which is enough to log or judge by
// source; everything else is zero. Errors wrap ErrTruncated, ErrVersion or
// ErrHeader.
func (p *Parsed) Decode(b []byte) error {
	*p = Parsed{}
	if len(b) == 0 {
		return errEmpty
	}
	switch v := b[0] >> 4; v {
	case 4:
		return p.decode4(b)
	case 6:
		return p.decode6(b)
	default:
		return errBadVersion[v]
	}
}

func (p *Parsed) decode4(b []byte) error {
	if len(b) < 20 {
		return errIPv4Short
	}
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.Proto = b[9]
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return errIPv4IHL
	}
	if ihl > len(b) {
		return errIPv4Options
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 {
		// Linux leaves it 0 on segmentation-offload packets over 64 KiB;
		// a packet from the wire with 0 is dropped by the kernel before
		// it could be queued to us.
		total = len(b)
	}
	p.Length = total
	if total < ihl {
		return errIPv4TotalLen
	}
	if total > len(b) {
		return errIPv4Cut
	}
	b = b[:total]
	frag := binary.BigEndian.Uint16(b[6:8])
	if frag&0x1fff != 0 {
		// Non-first fragment: no transport header here to read.
		p.Fragment = true
		return nil
	}
	p.MoreFragments = frag&0x2000 != 0
	return p.decodeTransport(b[ihl:])
}

func (p *Parsed) decode6(b []byte) error {
	if len(b) < 40 {
		return errIPv6Short
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next := b[6]
	if plen := int(binary.BigEndian.Uint16(b[4:6])); plen == 0 && next == ipv6HopByHop {
		// Jumbogram (RFC 2675): the real length is in a hop-by-hop
		// option; trusting the bytes we were given is equivalent here.
		p.Length = len(b)
	} else {
		p.Length = 40 + plen
		if p.Length > len(b) {
			p.Proto = next
			return errIPv6Cut
		}
		b = b[:p.Length]
	}
	off := 40
	for i := 0; ; i++ {
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts, ipv6Fragment, AH:
		default:
			// Transport, ESP, no-next-header or unknown: stop walking.
			p.Proto = next
			return p.decodeTransport(b[off:])
		}
		if i == maxExtHeaders {
			return errIPv6Chain
		}
		if len(b)-off < 8 {
			// Every extension header is at least 8 octets.
			return errIPv6Ext
		}
		var n int
		switch next {
		case ipv6Fragment:
			n = 8
			frag := binary.BigEndian.Uint16(b[off+2 : off+4])
			if frag&0xfff8 != 0 {
				p.Fragment = true
				p.MoreFragments = false // an earlier, bogus fragment header may have set it
				p.Proto = b[off]
				return nil
			}
			p.MoreFragments = frag&1 != 0
		case AH:
			n = (int(b[off+1]) + 2) * 4 // RFC 4302: length in 4-octet units, minus 2
		default:
			n = (int(b[off+1]) + 1) * 8 // RFC 8200: length in 8-octet units, minus 1
		}
		if n > len(b)-off {
			return errIPv6Ext
		}
		next = b[off]
		off += n
	}
}

// decodeTransport decodes the TCP or UDP header at the start of seg, which
// ends where the IP packet ends. Other protocols carry nothing we read.
func (p *Parsed) decodeTransport(seg []byte) error {
	switch p.Proto {
	case UDP:
		if len(seg) < 8 {
			return errUDPShort
		}
		p.SrcPort = binary.BigEndian.Uint16(seg[0:2])
		p.DstPort = binary.BigEndian.Uint16(seg[2:4])
		// The UDP length is only a hint: a first fragment holds less than
		// it says, and 0 is legal in a jumbogram.
		if n := int(binary.BigEndian.Uint16(seg[4:6])); n >= 8 && n <= len(seg) {
			seg = seg[:n]
		}
		p.Payload = seg[8:]
	case TCP:
		if len(seg) < 20 {
			return errTCPShort
		}
		p.SrcPort = binary.BigEndian.Uint16(seg[0:2])
		p.DstPort = binary.BigEndian.Uint16(seg[2:4])
		p.Seq = binary.BigEndian.Uint32(seg[4:8])
		p.TCPFlags = seg[13]
		off := int(seg[12]>>4) * 4
		if off < 20 {
			return errTCPOffset
		}
		if off > len(seg) {
			return errTCPOptions
		}
		p.Payload = seg[off:]
	}
	return nil
}
