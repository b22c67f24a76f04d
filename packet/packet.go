// Package packet decodes raw IPv4 and IPv6 packets, as NFQUEUE delivers them
// and as captures hold them, into a reused Parsed value without allocating.
package packet

import "net/netip"

// IP protocol numbers sipprot looks at.
const (
	TCP = 6
	UDP = 17
)

// Other IP protocol numbers, named so String and tests can spell them.
const (
	ICMP   = 1
	ESP    = 50 // IPsec ESP: the rest is encrypted, so decoding stops here.
	AH     = 51
	ICMPv6 = 58
	NoNext = 59 // IPv6 "no next header".
)

// TCP flag bits, as in the TCP header's flags byte.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
	FlagECE = 0x40
	FlagCWR = 0x80
)

// Parsed is one decoded packet. Decode fills it in place; Payload aliases the
// decoded buffer, so it is valid only as long as that buffer is.
type Parsed struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// Proto is the transport protocol number (TCP, UDP, or another).
	Proto uint8
	// Fragment is true for a non-first IP fragment: ports and payload are
	// unknown, so only source-address rules can judge it.
	Fragment bool
	// TCPFlags and Seq are set for TCP.
	TCPFlags uint8
	Seq      uint32
	// Payload is the transport payload (UDP data or TCP segment data).
	Payload []byte
	// Length is the IP packet's total length in bytes.
	Length int
	// MoreFragments is true for a first fragment (offset 0, more to come):
	// ports are known but Payload holds only the start of the datagram.
	MoreFragments bool
	// Local is true for a packet this host sent (the OUTPUT hook). Decode
	// does not set it: the queue does, after Decode. Requests the host
	// sends are never judged, so a PBX calling out through a trunk that
	// answers 403 can never block its own address.
	Local bool
}
