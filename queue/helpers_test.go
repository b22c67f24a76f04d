package queue

import (
	"encoding/binary"
	"net/netip"
)

// attr is one netlink attribute for the message builders.
type attr struct {
	typ  uint16
	data []byte
}

// nlMessage builds a netlink message: header, then body.
func nlMessage(typ, flags uint16, seq uint32, body []byte) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(body)+3)
	binary.NativeEndian.PutUint32(b[0:], uint32(nlmsgHdrLen+len(body)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nfBody is an nfgenmsg for queue num followed by the attributes.
func nfBody(num uint16, attrs ...attr) []byte {
	b := []byte{2 /* AF_INET */, 0, byte(num >> 8), byte(num)}
	for _, a := range attrs {
		n := nlaHdrLen + len(a.data)
		b = binary.NativeEndian.AppendUint16(b, uint16(n))
		b = binary.NativeEndian.AppendUint16(b, a.typ)
		b = append(b, a.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// packetHdr is an NFQA_PACKET_HDR attribute.
func packetHdr(id uint32, hook uint8) attr {
	d := binary.BigEndian.AppendUint32(nil, id)
	d = binary.BigEndian.AppendUint16(d, 0x0800)
	return attr{nfqaPacketHdr, append(d, hook)}
}

// packetMsg is a whole NFQNL_MSG_PACKET message as the kernel sends it:
// packet header, a mark, the interface, the payload.
func packetMsg(id uint32, hook uint8, payload []byte) []byte {
	return nlMessage(nfqnlMsgPacket, 0, 0, nfBody(0,
		packetHdr(id, hook),
		attr{3 /* NFQA_MARK */, []byte{0, 0, 0, 0}},
		attr{5 /* NFQA_IFINDEX_INDEV */, []byte{0, 0, 0, 2}},
		attr{nfqaPayload, payload},
	))
}

// errorMsg is an NLMSG_ERROR answering the request numbered seq.
func errorMsg(errno int32, seq uint32) []byte {
	body := binary.NativeEndian.AppendUint32(nil, uint32(errno)) // negative, as the kernel sends it
	orig := make([]byte, nlmsgHdrLen)
	binary.NativeEndian.PutUint32(orig[0:], nlmsgHdrLen)
	binary.NativeEndian.PutUint32(orig[8:], seq)
	return nlMessage(nlmsgError, 0, seq, append(body, orig...))
}

// udp4 builds an IPv4/UDP packet.
func udp4(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 28, 28+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(payload)))
	b[8] = 64
	b[9] = 17
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	return append(b, payload...)
}

const testRegister = "REGISTER sip:198.51.100.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-1;rport\r\n" +
	"Max-Forwards: 70\r\nFrom: <sip:1001@198.51.100.1>;tag=1\r\nTo: <sip:1001@198.51.100.1>\r\n" +
	"Call-ID: t-1@203.0.113.7\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@203.0.113.7:5060>\r\n" +
	"User-Agent: Yealink\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
