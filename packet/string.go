package packet

import (
	"net/netip"
	"strconv"
	"strings"
)

// SrcAddrPort returns the source address and port (port 0 when unknown).
func (p *Parsed) SrcAddrPort() netip.AddrPort { return netip.AddrPortFrom(p.Src, p.SrcPort) }

// DstAddrPort returns the destination address and port (port 0 when unknown).
func (p *Parsed) DstAddrPort() netip.AddrPort { return netip.AddrPortFrom(p.Dst, p.DstPort) }

// String formats p for logs, e.g. "UDP 192.0.2.1:5060 > 198.51.100.2:5060
// len=512 payload=484". It allocates, so call it only when printing.
func (p *Parsed) String() string {
	if !p.Src.IsValid() {
		return "undecoded packet"
	}
	var sb strings.Builder
	sb.WriteString(protoName(p.Proto))
	sb.WriteByte(' ')
	ports := (p.Proto == TCP || p.Proto == UDP) && !p.Fragment
	if ports {
		sb.WriteString(p.SrcAddrPort().String())
		sb.WriteString(" > ")
		sb.WriteString(p.DstAddrPort().String())
	} else {
		sb.WriteString(p.Src.String())
		sb.WriteString(" > ")
		sb.WriteString(p.Dst.String())
	}
	if p.Proto == TCP && !p.Fragment {
		sb.WriteString(" [")
		sb.WriteString(tcpFlags(p.TCPFlags))
		sb.WriteString("] seq=")
		sb.WriteString(strconv.FormatUint(uint64(p.Seq), 10))
	}
	switch {
	case p.Fragment:
		sb.WriteString(" fragment")
	case p.MoreFragments:
		sb.WriteString(" first-fragment")
	}
	sb.WriteString(" len=")
	sb.WriteString(strconv.Itoa(p.Length))
	if ports {
		sb.WriteString(" payload=")
		sb.WriteString(strconv.Itoa(len(p.Payload)))
	}
	return sb.String()
}

func protoName(proto uint8) string {
	switch proto {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case ICMP:
		return "ICMP"
	case ICMPv6:
		return "ICMPv6"
	case ESP:
		return "ESP"
	case AH:
		return "AH"
	case NoNext:
		return "NoNext"
	}
	return "proto-" + strconv.Itoa(int(proto))
}

// tcpFlags spells the flags as tcpdump does: S, F, R, P, U, E, W, and "."
// for ACK, so "S." is a SYN-ACK.
func tcpFlags(f uint8) string {
	var b [8]byte
	n := 0
	for _, fl := range [...]struct {
		bit uint8
		c   byte
	}{{FlagSYN, 'S'}, {FlagFIN, 'F'}, {FlagRST, 'R'}, {FlagPSH, 'P'}, {FlagURG, 'U'}, {FlagECE, 'E'}, {FlagCWR, 'W'}, {FlagACK, '.'}} {
		if f&fl.bit != 0 {
			b[n] = fl.c
			n++
		}
	}
	if n == 0 {
		return "none"
	}
	return string(b[:n])
}
