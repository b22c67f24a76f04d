package queue

import (
	"encoding/binary"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
)

// bindMessage is the one NFQNL_MSG_CONFIG request that binds queue num
// and sets its copy mode, length limit and flags. One message, so a packet
// arriving while it is processed finds the queue fully configured sooner,
// and one answer to wait for.
func bindMessage(num uint16, seq uint32, maxQueueLen uint32, failOpen bool) ([]byte, error) {
	var params [5]byte // struct nfqnl_msg_config_params, packed
	binary.BigEndian.PutUint32(params[0:4], 0xffff)
	params[4] = nfqueue.NfQnlCopyPacket
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	flags := uint32(0)
	if failOpen {
		flags = nfqueue.NfQaCfgFlagFailOpen
	}
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: nfqaCfgCmd, Data: []byte{nfqnlCfgCmdBind, 0, 0, 0}},
		{Type: nfqaCfgParams, Data: params[:]},
		{Type: nfqaCfgQueueLen, Data: be32(maxQueueLen)},
		{Type: nfqaCfgMask, Data: be32(nfqueue.NfQaCfgFlagFailOpen)},
		{Type: nfqaCfgFlags, Data: be32(flags)},
	})
	if err != nil {
		return nil, err
	}
	data := append([]byte{0 /* AF_UNSPEC */, 0 /* NFNETLINK_V0 */, byte(num >> 8), byte(num)}, attrs...)
	m := netlink.Message{
		Header: netlink.Header{
			Length:   uint32(nlmsgHdrLen + len(data)),
			Type:     netlink.HeaderType(nfqnlMsgConfig),
			Flags:    netlink.Request | netlink.Acknowledge,
			Sequence: seq,
		},
		Data: data,
	}
	return m.MarshalBinary()
}
