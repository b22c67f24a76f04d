package sipparse

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/sipprot/sipprot/packet"
)

var (
	keyA = ConnKey{netip.MustParseAddrPort("198.51.100.7:40001"), netip.MustParseAddrPort("192.0.2.10:5060")}
	keyB = ConnKey{netip.MustParseAddrPort("198.51.100.8:40002"), netip.MustParseAddrPort("192.0.2.10:5060")}
	keyC = ConnKey{netip.MustParseAddrPort("[2001:db8::9]:40003"), netip.MustParseAddrPort("[2001:db8::10]:5060")}
)

// seg is one TCP segment; off is its sequence number relative to isn+1.
type seg struct {
	key   ConnKey
	off   uint32
	flags uint8
	data  []byte
	// want lists the Call-IDs of the messages the segment completes.
	want []string
	// wantErr is the error the segment returns.
	wantErr error
}

// cat joins byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// headerEnd returns the length of b's header section.
func headerEnd(b []byte) int { return bytes.Index(b, []byte("\r\n\r\n")) + 4 }

func TestStreams(t *testing.T) {
	reg := sample(t, "register.sip")
	inv := sample(t, "invite.sip") // has an SDP body
	r401 := sample(t, "401.sip")
	const (
		regID  = "1402758723@192.168.1.23"
		invID  = "2143196377@192.168.1.23"
		r401ID = "1402758723@192.168.1.23"
	)
	invHdr := uint32(headerEnd(inv))
	lr, li := uint32(len(reg)), uint32(len(inv))
	noCL := wire("OPTIONS sip:x SIP/2.0\nCall-ID: nocl\nCSeq: 1 OPTIONS\n\n")
	bad := wire("OPTIONS sip:x SIP/2.0\nCall-ID: bad\nCSeq: x OPTIONS\nContent-Length: 0\n\n")
	tiny := wire("OPTIONS sip:x SIP/2.0\nCall-ID: tiny\nCSeq: 1 OPTIONS\nl: 0\n\n")
	big := wire("MESSAGE sip:x SIP/2.0\nCall-ID: big\nCSeq: 1 MESSAGE\nContent-Length: 100000\n\n")

	const isn = 1000
	tests := []struct {
		name      string
		maxConns  int
		maxBuf    int
		segs      []seg
		wantLen   *int // default 1
		wantStats StreamStats
	}{
		{
			name: "one message per segment",
			segs: []seg{
				{off: 0, data: reg, want: []string{regID}},
				{off: lr, data: r401, want: []string{r401ID}},
			},
		},
		{
			name: "two messages coalesced",
			segs: []seg{{off: 0, data: cat(reg, inv), want: []string{regID, invID}}},
		},
		{
			name: "keep-alives between and alone",
			segs: []seg{
				{off: 0, data: cat([]byte("\r\n\r\n"), reg, []byte("\r\n\r\n\r\n"), inv), want: []string{regID, invID}},
				{off: 4 + lr + 6 + li, data: []byte("\r\n\r\n")},
				{off: 4 + lr + 6 + li + 4, data: r401, want: []string{r401ID}},
			},
		},
		{
			name: "split inside start line",
			segs: []seg{
				{off: 0, data: inv[:10]},
				{off: 10, data: inv[10:], want: []string{invID}},
			},
		},
		{
			name: "split inside headers",
			segs: []seg{
				{off: 0, data: inv[:200]},
				{off: 200, data: inv[200:], want: []string{invID}},
			},
		},
		{
			name: "split inside header terminator",
			segs: []seg{
				{off: 0, data: reg[:len(reg)-1]},
				{off: lr - 1, data: cat(reg[len(reg)-1:], inv), want: []string{regID, invID}},
			},
		},
		{
			name: "split inside body: reported with its headers",
			segs: []seg{
				{off: 0, data: inv[:invHdr+20], want: []string{invID}},
				{off: invHdr + 20, data: cat(inv[invHdr+20:], reg), want: []string{regID}},
			},
		},
		{
			name: "three segments: start line, headers, body",
			segs: []seg{
				{off: 0, data: inv[:15]},
				{off: 15, data: inv[15 : invHdr+5], want: []string{invID}},
				{off: invHdr + 5, data: inv[invHdr+5:]},
				{off: li, data: reg, want: []string{regID}},
			},
		},
		{
			name: "byte by byte",
			segs: func() []seg {
				var ss []seg
				all := cat(reg, inv)
				for i := range all {
					s := seg{off: uint32(i), data: all[i : i+1]}
					switch uint32(i) {
					case lr - 1:
						s.want = []string{regID}
					case lr + invHdr - 1:
						s.want = []string{invID}
					}
					ss = append(ss, s)
				}
				return ss
			}(),
		},
		{
			name: "retransmission ignored",
			segs: []seg{
				{off: 0, data: reg, want: []string{regID}},
				{off: 0, data: reg},
				{off: lr, data: inv[:50]},
				{off: lr, data: inv[:50]},
				{off: lr + 50, data: inv[50:], want: []string{invID}},
			},
		},
		{
			name: "overlap takes only new bytes",
			segs: []seg{
				{off: 0, data: reg[:100]},
				{off: 50, data: cat(reg[50:], inv), want: []string{regID, invID}},
			},
		},
		{
			name: "gap drops the partial and restarts",
			segs: []seg{
				{off: 0, data: reg[:100]},
				{off: lr + 7, data: inv, want: []string{invID}},
				{off: lr + 7 + li, data: r401, want: []string{r401ID}},
			},
			wantStats: StreamStats{Resyncs: 1},
		},
		{
			name: "gap into a message skips to the next start line",
			segs: []seg{
				{off: 0, data: reg, want: []string{regID}},
				{off: lr + 30, data: cat(inv[30:], r401), want: []string{r401ID}},
			},
			wantStats: StreamStats{Resyncs: 1},
		},
		{
			name: "first seen midway",
			segs: []seg{{off: 30, flags: packet.FlagACK, data: cat(inv[30:], reg), want: []string{regID}}},
		},
		{
			name:    "FIN removes the connection",
			wantLen: ptr(0),
			segs:    []seg{{off: 0, flags: packet.FlagFIN | packet.FlagACK, data: reg, want: []string{regID}}},
		},
		{
			name:    "RST removes the connection",
			wantLen: ptr(0),
			segs: []seg{
				{off: 0, data: reg[:100]},
				{off: 100, flags: packet.FlagRST, data: reg[100:]},
			},
		},
		{
			name:    "pure ACK creates nothing",
			wantLen: ptr(0),
			segs:    []seg{{off: 0, flags: packet.FlagACK}},
		},
		{
			name: "SYN: junk at the start is malformed",
			segs: []seg{
				{off: ^uint32(0), flags: packet.FlagSYN},
				{off: 0, data: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wantErr: ErrNotSIP},
				{off: 27, data: reg, want: []string{regID}},
			},
		},
		{
			name: "SYN on a known connection starts afresh",
			segs: []seg{
				{off: 0, data: reg[:100]},
				{off: 50000, flags: packet.FlagSYN},
				{off: 50001, data: []byte("junk\r\n"), wantErr: ErrNotSIP},
				{off: 50007, data: inv, want: []string{invID}},
			},
		},
		{
			name: "SYN with data",
			segs: []seg{{off: ^uint32(0), flags: packet.FlagSYN, data: reg, want: []string{regID}}},
		},
		{
			name: "junk after a message is malformed",
			segs: []seg{{off: 0, data: cat(reg, []byte("\x00\x01junk\r\n"), inv), want: []string{regID, invID}, wantErr: ErrNotSIP}},
		},
		{
			name: "unsynced: a malformed message is skipped quietly",
			segs: []seg{{off: 0, data: cat(bad, reg), want: []string{regID}}},
		},
		{
			name: "malformed message, next one still parsed",
			segs: []seg{{off: 0, data: cat(reg, bad, inv), want: []string{regID, invID}, wantErr: ErrNotSIP}},
		},
		{
			name: "missing content-length",
			segs: []seg{{off: 0, data: cat(reg, noCL, []byte("v=0\r\n"), inv), want: []string{regID, "nocl", invID}, wantErr: ErrMissingHeader}},
		},
		{
			name:   "partial header section too large",
			maxBuf: 600,
			segs: []seg{
				{off: 0, data: reg[:250]},
				{off: 250, data: reg[250:700], wantErr: ErrTooLarge},
				{off: 700, data: cat(reg[700:], r401), want: []string{r401ID}},
			},
			wantStats: StreamStats{TooLarge: 1},
		},
		{
			name:   "complete header section too large",
			maxBuf: 300,
			segs: []seg{
				{off: 0, data: cat(reg, tiny), want: []string{"tiny"}, wantErr: ErrTooLarge},
			},
			wantStats: StreamStats{TooLarge: 1},
		},
		{
			name:   "content-length too large",
			maxBuf: 2000,
			segs: []seg{
				{off: 0, data: cat(big, []byte("body bytes\r\n"), reg), want: []string{"big", regID}, wantErr: ErrTooLarge},
			},
			wantStats: StreamStats{TooLarge: 1},
		},
		{
			name: "sequence numbers wrap",
			segs: []seg{
				{off: ^uint32(0) - isn - 99, data: inv[:100]},
				{off: ^uint32(0) - isn + 1, data: inv[100:], want: []string{invID}},
			},
		},
		{
			name:     "eviction: least recently fed goes first",
			maxConns: 2,
			segs: []seg{
				{key: keyA, off: 0, data: reg[:100]},
				{key: keyB, off: 0, data: reg[:100]},
				{key: keyA, off: 100, data: reg[100:200]}, // A is now the most recent
				{key: keyC, off: 0, data: reg, want: []string{regID}},
				// A kept its partial; B lost it and restarts midway.
				{key: keyA, off: 200, data: reg[200:], want: []string{regID}},
				{key: keyB, off: 100, data: cat(reg[100:], inv), want: []string{invID}},
			},
			wantLen:   ptr(2),
			wantStats: StreamStats{Evictions: 2},
		},
	}
	p := NewParser()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStreams(tt.maxConns, tt.maxBuf)
			for i, sg := range tt.segs {
				if sg.key == (ConnKey{}) {
					sg.key = keyA
				}
				msgs, err := s.Feed(p, sg.key, isn+1+sg.off, sg.flags, sg.data, nil)
				if !errors.Is(err, sg.wantErr) || (err == nil) != (sg.wantErr == nil) {
					t.Errorf("segment %d: error = %v, want %v", i, err, sg.wantErr)
				}
				var ids []string
				for _, m := range msgs {
					ids = append(ids, m.CallID)
				}
				if !slices.Equal(ids, sg.want) {
					t.Errorf("segment %d: messages %q, want %q", i, ids, sg.want)
				}
				checkBuffers(t, s)
			}
			wantLen := 1
			if tt.wantLen != nil {
				wantLen = *tt.wantLen
			}
			if got := s.Len(); got != wantLen {
				t.Errorf("Len() = %d, want %d", got, wantLen)
			}
			if got := s.Stats(); got != tt.wantStats {
				t.Errorf("Stats() = %+v, want %+v", got, tt.wantStats)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// checkBuffers fails if any connection buffers more than maxBuf.
func checkBuffers(tb testing.TB, s *Streams) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.conns {
		if len(c.buf) > s.maxBuf {
			tb.Fatalf("%v buffers %d bytes, limit %d", k, len(c.buf), s.maxBuf)
		}
	}
	if n := len(s.conns); n > s.maxConns {
		tb.Fatalf("%d connections, limit %d", n, s.maxConns)
	}
}

func TestStreamsMessageFields(t *testing.T) {
	s := NewStreams(0, 0)
	msgs, err := s.Feed(NewParser(), keyA, 1, packet.FlagSYN, cat(sample(t, "invite_proxyauth.sip"), sample(t, "401.sip")), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{Request: true, Method: "INVITE", CallID: "Hh3k8wDqYb", CSeq: 21, CSeqMethod: "INVITE",
			UserAgent: "Linphone Desktop/5.2.0 (Ubuntu 22.04.3 LTS, Qt 5.15.2) LinphoneCore/5.3.0", Credentials: true,
			Nonce: "QmFzZTY0Tm9uY2U="},
		{Status: 401, CallID: "1402758723@192.168.1.23", CSeq: 1, CSeqMethod: "REGISTER", Nonce: "1700000000/6d3b1a4c8e2f4f7a9c0d1e2f3a4b5c6d"},
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("Feed =\n %+v\nwant\n %+v", msgs, want)
	}
}

func TestStreamsForget(t *testing.T) {
	reg := sample(t, "register.sip")
	p := NewParser()
	s := NewStreams(0, 0)
	if msgs, _ := s.Feed(p, keyA, 1, 0, reg, nil); len(msgs) != 1 {
		t.Fatalf("first Feed: %d messages", len(msgs))
	}
	// Policy dropped that segment: its retransmission must be parsed again.
	s.Forget(keyA)
	if s.Len() != 0 {
		t.Fatalf("Len() = %d after Forget", s.Len())
	}
	if msgs, _ := s.Feed(p, keyA, 1, 0, reg, nil); len(msgs) != 1 {
		t.Errorf("retransmission after Forget: %d messages, want 1", len(msgs))
	}
}

// TestStreamsNoCopy checks that a segment of complete messages costs no more
// allocations than parsing those messages: nothing is buffered.
func TestStreamsNoCopy(t *testing.T) {
	reg := sample(t, "register.sip")
	two := cat(reg, reg)
	p := NewParser()
	var m Message
	parse := testing.AllocsPerRun(100, func() { _ = p.Parse(reg, &m) })

	s := NewStreams(0, 0)
	seq := uint32(1)
	out := make([]Message, 0, 2)
	_, _ = s.Feed(p, keyA, seq, 0, two, out) // creates the connection
	seq += uint32(len(two))
	feed := testing.AllocsPerRun(100, func() {
		msgs, err := s.Feed(p, keyA, seq, 0, two, out[:0])
		if err != nil || len(msgs) != 2 {
			t.Fatalf("Feed: %d messages, %v", len(msgs), err)
		}
		seq += uint32(len(two))
	})
	if feed > 2*parse {
		t.Errorf("Feed of 2 messages: %v allocs, Parse of one: %v", feed, parse)
	}
}

func BenchmarkStreamsFeed(b *testing.B) {
	reg := sample(b, "register.sip")
	p := NewParser()
	s := NewStreams(0, 0)
	out := make([]Message, 0, 1)
	seq := uint32(1)
	b.ReportAllocs()
	b.SetBytes(int64(len(reg)))
	for b.Loop() {
		var err error
		if out, err = s.Feed(p, keyA, seq, 0, reg, out[:0]); err != nil || len(out) != 1 {
			b.Fatal(len(out), err)
		}
		seq += uint32(len(reg))
	}
}
