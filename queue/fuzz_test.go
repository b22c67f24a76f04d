package queue

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

// FuzzParseNfqueueMessage feeds arbitrary datagrams to the in-place parser
// and to the reader's whole packet path. Neither may panic, a payload must
// alias the datagram, and every verdict must name a packet that was
// parsed. The seed corpus is in testdata/fuzz/FuzzParseNfqueueMessage.
func FuzzParseNfqueueMessage(f *testing.F) {
	f.Add(packetMsg(1, 1, registerFrom(denied)))
	f.Add(append(packetMsg(7, 3, registerFrom(pbx)), errorMsg(-2, 0)...))
	f.Add(errorMsg(-16, 9))
	d := deciderFunc(func(p *packet.Parsed) policy.Decision {
		if p.SrcPort == 5060 {
			return policy.Decision{Verdict: policy.Drop}
		}
		return policy.Decision{}
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids := map[uint32]bool{}
		for rest := b; len(rest) > 0; {
			m, next, err := nextMessage(rest)
			if err != nil {
				break
			}
			if len(next) >= len(rest) {
				t.Fatalf("nextMessage did not advance: %d -> %d bytes", len(rest), len(next))
			}
			rest = next
			switch m.typ {
			case nfqnlMsgPacket:
				var p nfqPacket
				if parsePacket(m.data, &p) == nil {
					ids[p.id] = true
				}
				if len(p.payload) > 0 && !within(p.payload, b) {
					t.Fatal("payload outside the datagram")
				}
			case nlmsgError:
				parseError(m.data)
			}
		}

		r := testReader(d)
		r.datagram(bytes.Clone(b))
		out := r.v.take()
		if len(out)%verdictMsgLen != 0 {
			t.Fatalf("verdicts of %d bytes", len(out))
		}
		for i := 0; i < len(out); i += verdictMsgLen {
			id := uint32(out[i+28])<<24 | uint32(out[i+29])<<16 | uint32(out[i+30])<<8 | uint32(out[i+31])
			if !ids[id] {
				t.Fatalf("verdict for id %d, never parsed", id)
			}
		}
	})
}

// within reports whether s lies inside b's memory.
func within(s, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	lo, hi := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&b[0]))+uintptr(len(b))
	p := uintptr(unsafe.Pointer(&s[0]))
	return p >= lo && p+uintptr(len(s)) <= hi
}
