package queue

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestParsePacket(t *testing.T) {
	payload := udp4(netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.1"), 5060, 5060, []byte(testRegister))
	tests := []struct {
		name    string
		body    []byte
		want    nfqPacket
		wantErr error
	}{
		{"full", nfBody(0, packetHdr(7, 1), attr{3, []byte{0, 0, 0, 1}}, attr{nfqaPayload, payload}),
			nfqPacket{id: 7, hwProto: 0x0800, hook: 1, payload: payload}, nil},
		{"local out", nfBody(0, packetHdr(1<<31, hookLocalOut), attr{nfqaPayload, payload}),
			nfqPacket{id: 1 << 31, hwProto: 0x0800, hook: hookLocalOut, payload: payload}, nil},
		{"payload before header, odd length, caplen", nfBody(0, attr{nfqaPayload, []byte{0x45, 1, 2}}, attr{nfqaCapLen, []byte{0, 0, 5, 220}}, packetHdr(3, 1)),
			nfqPacket{id: 3, hwProto: 0x0800, hook: 1, payload: []byte{0x45, 1, 2}, capLen: 1500}, nil},
		{"net byteorder flag on type", nfBody(0, attr{nfqaPacketHdr | 0x4000, packetHdr(9, 1).data}),
			nfqPacket{id: 9, hwProto: 0x0800, hook: 1}, nil},
		{"unknown attributes skipped", nfBody(0, attr{99, []byte("xyz")}, packetHdr(4, 2), attr{0x3fff, nil}),
			nfqPacket{id: 4, hwProto: 0x0800, hook: 2}, nil},
		{"no packet header", nfBody(0, attr{nfqaPayload, payload}), nfqPacket{payload: payload}, errNoPacketHdr},
		{"short packet header", nfBody(0, attr{nfqaPacketHdr, []byte{0, 0, 0, 1, 8, 0}}), nfqPacket{}, errPacketHdr},
		{"no nfgenmsg", []byte{2, 0}, nfqPacket{}, errShortMessage},
		{"attribute longer than message", append(nfBody(0, packetHdr(1, 1)), 200, 0, 10, 0), nfqPacket{id: 1, hwProto: 0x0800, hook: 1}, errShortAttr},
		{"attribute length below header", append(nfBody(0, packetHdr(1, 1)), 2, 0, 10, 0), nfqPacket{id: 1, hwProto: 0x0800, hook: 1}, errShortAttr},
		{"trailing bytes under an attribute header", append(nfBody(0, packetHdr(5, 1)), 0, 0),
			nfqPacket{id: 5, hwProto: 0x0800, hook: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p nfqPacket
			err := parsePacket(tt.body, &p)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if p.id != tt.want.id || p.hook != tt.want.hook || p.hwProto != tt.want.hwProto || p.capLen != tt.want.capLen ||
				!bytes.Equal(p.payload, tt.want.payload) {
				t.Fatalf("got %+v\nwant %+v", p, tt.want)
			}
		})
	}
}

func TestNextMessage(t *testing.T) {
	a := packetMsg(1, 1, []byte{0x45})
	b := errorMsg(-2, 0)
	dgram := append(append([]byte(nil), a...), b...)
	m, rest, err := nextMessage(dgram)
	if err != nil || m.typ != nfqnlMsgPacket || len(m.data) != len(a)-nlmsgHdrLen || !bytes.Equal(rest, b) {
		t.Fatalf("first: %+v, rest %d bytes, %v", m, len(rest), err)
	}
	m, rest, err = nextMessage(rest)
	if err != nil || m.typ != nlmsgError || len(rest) != 0 {
		t.Fatalf("second: %+v, rest %d bytes, %v", m, len(rest), err)
	}
	errno, seq, err := parseError(m.data)
	if err != nil || errno != 2 || seq != 0 {
		t.Fatalf("parseError: %d %d %v", errno, seq, err)
	}

	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", a[:15], errShortMessage},
		{"length past datagram", a[:20], errMessageLength},
		{"length below header", func() []byte { c := append([]byte(nil), a...); c[0], c[1], c[2], c[3] = 8, 0, 0, 0; return c }(), errMessageLength},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := nextMessage(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	if _, _, err := parseError(make([]byte, 19)); !errors.Is(err, errShortError) {
		t.Fatalf("short error message: %v", err)
	}
}

func TestBindMessage(t *testing.T) {
	b, err := bindMessage(0x0102, 77, 4096, true)
	if err != nil {
		t.Fatal(err)
	}
	m, rest, err := nextMessage(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("%v, %d bytes left", err, len(rest))
	}
	if m.typ != nfqnlMsgConfig || m.flags != nlmFRequest|nlmFAck || m.seq != 77 || m.data[2] != 1 || m.data[3] != 2 {
		t.Fatalf("header %+v", m)
	}
	want := map[uint16][]byte{
		nfqaCfgCmd:      {nfqnlCfgCmdBind, 0, 0, 0},
		nfqaCfgParams:   {0, 0, 0xff, 0xff, 2},
		nfqaCfgQueueLen: {0, 0, 0x10, 0},
		nfqaCfgMask:     {0, 0, 0, 1},
		nfqaCfgFlags:    {0, 0, 0, 1},
	}
	got := map[uint16][]byte{}
	for a := m.data[4:]; len(a) >= 4; {
		l := int(a[0]) | int(a[1])<<8
		got[uint16(a[2])|uint16(a[3])<<8] = a[4:l]
		a = a[align4(l):]
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("attribute %d = %v, want %v", k, got[k], v)
		}
	}
	b, _ = bindMessage(0, 1, 1, false)
	m, _, _ = nextMessage(b)
	if flags := m.data[len(m.data)-4:]; !bytes.Equal(flags, []byte{0, 0, 0, 0}) {
		t.Errorf("fail-open off: flags %v", flags)
	}
}
