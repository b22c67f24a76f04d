package capture

import (
	"encoding/binary"
	"strconv"
)

// linkType is a LINKTYPE_ value (tcpdump.org/linktypes.html). gopacket's
// layers.LinkType is a uint8 and cannot hold LINUX_SLL2 (276).
type linkType uint16

// Link types Next unwraps.
const (
	linkNull     linkType = 0   // BSD loopback: 4-byte address family, host order
	linkEthernet linkType = 1   // Ethernet II, with any 802.1Q/802.1ad tags
	linkRaw      linkType = 101 // bare IPv4 or IPv6
	linkLoop     linkType = 108 // OpenBSD loopback: family in network order
	linkSLL      linkType = 113 // Linux "any" cooked capture, v1
	linkIPv4     linkType = 228
	linkIPv6     linkType = 229
	linkSLL2     linkType = 276 // Linux cooked capture, v2
)

// EtherTypes Next looks for.
const (
	etherIPv4    = 0x0800
	etherIPv6    = 0x86dd
	etherVLAN    = 0x8100 // 802.1Q
	etherQinQ    = 0x88a8 // 802.1ad
	etherQinQOld = 0x9100 // pre-standard double tagging
	etherPPPoE   = 0x8864 // PPPoE session stage
)

// maxVLANTags bounds the tag walk; real frames carry one or two.
const maxVLANTags = 4

func (l linkType) supported() bool {
	switch l {
	case linkNull, linkEthernet, linkRaw, linkLoop, linkSLL, linkIPv4, linkIPv6, linkSLL2:
		return true
	}
	return false
}

// linkNames spells the supported link types, and a few common others, in
// errors.
var linkNames = map[linkType]string{
	linkNull: "NULL", linkEthernet: "ETHERNET", linkRaw: "RAW", linkLoop: "LOOP",
	linkSLL: "LINUX_SLL", linkIPv4: "IPV4", linkIPv6: "IPV6", linkSLL2: "LINUX_SLL2",
	9: "PPP", 105: "IEEE802_11", 127: "IEEE802_11_RADIOTAP", 189: "USB_LINUX", 220: "USB_LINUX_MMAPPED",
}

func (l linkType) String() string {
	name := linkNames[l]
	if name == "" {
		return strconv.Itoa(int(l))
	}
	return strconv.Itoa(int(l)) + " (" + name + ")"
}

// ipPacket returns the IP packet in frame, or false if the frame holds none
// (another protocol, or too short for its link header).
func (l linkType) ipPacket(frame []byte) ([]byte, bool) {
	switch l {
	case linkEthernet:
		if len(frame) < 14 {
			return nil, false
		}
		return etherPayload(binary.BigEndian.Uint16(frame[12:14]), frame[14:])
	case linkSLL:
		// packet type, ARPHRD type, address length, 8-byte address, protocol
		if len(frame) < 16 {
			return nil, false
		}
		return etherPayload(binary.BigEndian.Uint16(frame[14:16]), frame[16:])
	case linkSLL2:
		// protocol, reserved, interface index, ARPHRD type, packet type,
		// address length, 8-byte address
		if len(frame) < 20 {
			return nil, false
		}
		return etherPayload(binary.BigEndian.Uint16(frame[0:2]), frame[20:])
	case linkNull, linkLoop:
		if len(frame) < 4 {
			return nil, false
		}
		// NULL is in the capturing host's byte order, which the file does
		// not record; a family value is small, so either order is clear.
		fam := binary.BigEndian.Uint32(frame)
		if fam > 0xffff {
			fam = binary.LittleEndian.Uint32(frame)
		}
		switch fam {
		case 2: // AF_INET everywhere
			return frame[4:], true
		case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return frame[4:], true
		}
		return nil, false
	case linkRaw:
		if len(frame) == 0 || (frame[0]>>4 != 4 && frame[0]>>4 != 6) {
			return nil, false
		}
		return frame, true
	case linkIPv4, linkIPv6:
		return frame, true
	}
	// An interface of a link type we cannot unwrap, in a pcapng file.
	return nil, false
}

// etherPayload returns the IP packet after an EtherType, walking VLAN tags
// and a PPPoE session header.
func etherPayload(et uint16, b []byte) ([]byte, bool) {
	for range maxVLANTags {
		if et != etherVLAN && et != etherQinQ && et != etherQinQOld {
			break
		}
		// tag control information, then the inner EtherType
		if len(b) < 4 {
			return nil, false
		}
		et = binary.BigEndian.Uint16(b[2:4])
		b = b[4:]
	}
	switch et {
	case etherIPv4, etherIPv6:
		return b, true
	case etherPPPoE:
		// version/type, code, session id, length, then the PPP protocol
		if len(b) < 8 {
			return nil, false
		}
		switch binary.BigEndian.Uint16(b[6:8]) {
		case 0x0021, 0x0057: // PPP IPv4, IPv6
			return b[8:], true
		}
	}
	return nil, false
}
