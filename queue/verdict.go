package queue

import (
	"encoding/binary"

	nfqueue "github.com/florianl/go-nfqueue/v2"
)

// Kernel verdicts.
const (
	nfDrop   = uint32(nfqueue.NfDrop)
	nfAccept = uint32(nfqueue.NfAccept)
)

// verdictMsgLen is one NFQNL_MSG_VERDICT_BATCH message: nlmsghdr,
// nfgenmsg and the NFQA_VERDICT_HDR attribute {verdict, id}.
const verdictMsgLen = nlmsgHdrLen + nfgenHdrLen + nlaHdrLen + 8

// verdicts collects the verdicts of one receive batch into as few
// messages as it can, all sent with one write.
//
// A VERDICT_BATCH message for id N applies to every packet of the queue up
// to N that still waits for a verdict. The kernel numbers a queue's packets
// in the order it hands them to the one socket reading it, so when packets
// are judged in the order received, a run of packets sharing a verdict is
// settled by one message naming the run's last id: the earlier runs are
// already settled by the messages before it. Gaps in the ids (packets the
// kernel could not deliver, already let through or dropped) do not matter:
// those packets are not waiting in the queue.
type verdicts struct {
	queue   uint16
	buf     []byte
	pending bool // a run is open: id and verdict hold its last packet
	id      uint32
	verdict uint32
	msgs    uint64 // messages encoded, for the counters
}

// add records the verdict for packet id, which must be later than every
// id added before.
func (v *verdicts) add(id, verdict uint32) {
	if v.pending && verdict != v.verdict {
		v.encode()
	}
	v.pending, v.id, v.verdict = true, id, verdict
}

// take closes the open run and returns the encoded messages, valid until
// the next add. The buffer is reused, so a steady state never allocates.
func (v *verdicts) take() []byte {
	if v.pending {
		v.encode()
	}
	out := v.buf
	v.buf = v.buf[:0]
	return out
}

func (v *verdicts) encode() {
	v.pending = false
	v.msgs++
	n := len(v.buf)
	v.buf = append(v.buf, make([]byte, verdictMsgLen)...)
	b := v.buf[n:]
	binary.NativeEndian.PutUint32(b[0:4], verdictMsgLen)
	binary.NativeEndian.PutUint16(b[4:6], nfqnlMsgVerdictBatch)
	binary.NativeEndian.PutUint16(b[6:8], nlmFRequest)
	// Sequence 0 and no ACK flag: the kernel answers only on error, and
	// those errors are told apart from a bind's answer by sequence.
	b[16] = 0 // AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:20], v.queue)
	binary.NativeEndian.PutUint16(b[20:22], nlaHdrLen+8)
	binary.NativeEndian.PutUint16(b[22:24], nfqaVerdictHdr)
	binary.BigEndian.PutUint32(b[24:28], v.verdict)
	binary.BigEndian.PutUint32(b[28:32], v.id)
}
