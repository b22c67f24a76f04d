// Package packet decodes raw IPv4 and IPv6 packets, as NFQUEUE delivers them
// and as captures hold them, into a reused Parsed value without allocating.
package packet

import "net/netip"

// IP protocol numbers sipprot looks at.
const (
	TCP = 6
	UDP = 17
)

// TCP flag bits, as in the TCP header's flags byte.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
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
}
