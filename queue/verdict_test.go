package queue

import (
	"encoding/binary"
	"testing"
)

// decodeVerdicts reads back what verdicts.take encoded.
func decodeVerdicts(t *testing.T, b []byte) [][2]uint32 {
	t.Helper()
	var out [][2]uint32
	for len(b) > 0 {
		m, rest, err := nextMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if m.typ != nfqnlMsgVerdictBatch || m.flags != nlmFRequest || len(m.data) != verdictMsgLen-nlmsgHdrLen {
			t.Fatalf("message %+v", m)
		}
		if q := binary.BigEndian.Uint16(m.data[2:4]); q != 513 {
			t.Fatalf("queue %d", q)
		}
		a := m.data[4:]
		if binary.NativeEndian.Uint16(a[0:2]) != 12 || binary.NativeEndian.Uint16(a[2:4]) != nfqaVerdictHdr {
			t.Fatalf("attribute %v", a[:4])
		}
		out = append(out, [2]uint32{binary.BigEndian.Uint32(a[8:12]), binary.BigEndian.Uint32(a[4:8])})
		b = rest
	}
	return out
}

func TestVerdictRuns(t *testing.T) {
	A, D := nfAccept, nfDrop
	tests := []struct {
		name string
		in   [][2]uint32 // id, verdict
		want [][2]uint32 // last id of each run, verdict
	}{
		{"empty", nil, nil},
		{"one", [][2]uint32{{1, A}}, [][2]uint32{{1, A}}},
		{"one run", [][2]uint32{{1, A}, {2, A}, {3, A}}, [][2]uint32{{3, A}}},
		{"gaps stay in the run", [][2]uint32{{1, D}, {5, D}, {9, D}}, [][2]uint32{{9, D}}},
		{"alternating", [][2]uint32{{1, A}, {2, D}, {3, A}}, [][2]uint32{{1, A}, {2, D}, {3, A}}},
		{"runs", [][2]uint32{{10, A}, {11, A}, {12, D}, {13, D}, {14, D}, {15, A}}, [][2]uint32{{11, A}, {14, D}, {15, A}}},
		{"wrap", [][2]uint32{{^uint32(0), D}, {0, D}, {1, A}}, [][2]uint32{{0, D}, {1, A}}},
	}
	v := verdicts{queue: 513}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.in {
				v.add(p[0], p[1])
			}
			got := decodeVerdicts(t, v.take())
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			if rest := v.take(); len(rest) != 0 {
				t.Fatalf("second take: %d bytes", len(rest))
			}
		})
	}
}
