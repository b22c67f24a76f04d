package queue

import (
	"encoding/binary"
	"errors"
)

// Netlink and nfnetlink_queue wire constants (linux/netlink.h,
// linux/netfilter/nfnetlink.h, linux/netfilter/nfnetlink_queue.h).
const (
	nlmsgHdrLen = 16
	nfgenHdrLen = 4
	nlaHdrLen   = 4
	nlaTypeMask = 0x3fff // drops NLA_F_NESTED and NLA_F_NET_BYTEORDER

	nlmsgNoop  = 1
	nlmsgError = 2
	nlmsgDone  = 3

	nlmFRequest = 0x1
	nlmFAck     = 0x4

	nfnlSubsysQueue      = 3
	nfqnlMsgPacket       = nfnlSubsysQueue<<8 | 0
	nfqnlMsgConfig       = nfnlSubsysQueue<<8 | 2
	nfqnlMsgVerdictBatch = nfnlSubsysQueue<<8 | 3

	nfqaPacketHdr  = 1
	nfqaVerdictHdr = 2
	nfqaPayload    = 10
	nfqaCapLen     = 13

	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueLen = 3
	nfqaCfgMask     = 4
	nfqaCfgFlags    = 5

	nfqnlCfgCmdBind = 1

	// hookLocalOut is NF_INET_LOCAL_OUT: the packet was sent by this host.
	hookLocalOut = 3
)

// Errors of the in-place message parser. They are built once: the parser
// runs per packet and must not allocate.
var (
	errShortMessage  = errors.New("netlink message shorter than its header")
	errMessageLength = errors.New("netlink message length outside the datagram")
	errShortAttr     = errors.New("nfqueue attribute runs past the message")
	errPacketHdr     = errors.New("nfqueue packet header attribute too short")
	errNoPacketHdr   = errors.New("nfqueue packet message without a packet header")
	errShortError    = errors.New("netlink error message too short")
)

// message is one netlink message inside a datagram; data follows the
// 16-byte nlmsghdr and aliases the datagram.
type message struct {
	typ   uint16
	flags uint16
	seq   uint32
	data  []byte
}

// nextMessage splits the first netlink message off b. A datagram may hold
// several; rest is what follows the first, alignment padding skipped.
func nextMessage(b []byte) (m message, rest []byte, err error) {
	if len(b) < nlmsgHdrLen {
		return message{}, nil, errShortMessage
	}
	n := binary.NativeEndian.Uint32(b[0:4])
	if n < nlmsgHdrLen || n > uint32(len(b)) {
		return message{}, nil, errMessageLength
	}
	m = message{
		typ:   binary.NativeEndian.Uint16(b[4:6]),
		flags: binary.NativeEndian.Uint16(b[6:8]),
		seq:   binary.NativeEndian.Uint32(b[8:12]),
		data:  b[nlmsgHdrLen:n],
	}
	next := min(align4(int(n)), len(b))
	return m, b[next:], nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// nfqPacket is what sipprot reads of one queued packet. payload aliases
// the receive buffer.
type nfqPacket struct {
	id      uint32
	hwProto uint16
	hook    uint8
	payload []byte
	// capLen is the packet's length when the kernel copied less than all
	// of it (NFQA_CAP_LEN), else 0.
	capLen uint32
}

// parsePacket reads the attributes of an NFQNL_MSG_PACKET message (data
// after the nlmsghdr) into p without allocating. Unknown attributes are
// skipped: newer kernels add some.
func parsePacket(data []byte, p *nfqPacket) error {
	*p = nfqPacket{}
	if len(data) < nfgenHdrLen {
		return errShortMessage
	}
	attrs := data[nfgenHdrLen:]
	seenHdr := false
	for len(attrs) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		if l < nlaHdrLen || l > len(attrs) {
			return errShortAttr
		}
		v := attrs[nlaHdrLen:l]
		switch binary.NativeEndian.Uint16(attrs[2:4]) & nlaTypeMask {
		case nfqaPacketHdr:
			// struct nfqnl_msg_packet_hdr { __be32 packet_id; __be16 hw_protocol; __u8 hook; }
			if len(v) < 7 {
				return errPacketHdr
			}
			p.id = binary.BigEndian.Uint32(v[0:4])
			p.hwProto = binary.BigEndian.Uint16(v[4:6])
			p.hook = v[6]
			seenHdr = true
		case nfqaPayload:
			p.payload = v
		case nfqaCapLen:
			if len(v) >= 4 {
				p.capLen = binary.BigEndian.Uint32(v[0:4])
			}
		}
		attrs = attrs[min(align4(l), len(attrs)):]
	}
	if !seenHdr {
		return errNoPacketHdr
	}
	return nil
}

// parseError reads an NLMSG_ERROR message: the errno (0 for an ACK) and
// the sequence number of the request it answers.
func parseError(data []byte) (errno int32, seq uint32, err error) {
	// struct nlmsgerr { int error; struct nlmsghdr msg; ... }
	if len(data) < 4+nlmsgHdrLen {
		return 0, 0, errShortError
	}
	return -int32(binary.NativeEndian.Uint32(data[0:4])), binary.NativeEndian.Uint32(data[4+8 : 4+12]), nil
}
