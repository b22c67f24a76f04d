package sipparse

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/sipprot/sipprot/packet"
)

// samples returns every testdata/*.sip message.
func samples(tb testing.TB) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.sip"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no samples: %v", err)
	}
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func FuzzParse(f *testing.F) {
	for _, b := range samples(f) {
		f.Add(b)
	}
	p := NewParser()
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		err := p.Parse(b, &m)
		switch {
		case err == nil:
			if m.CallID == "" {
				t.Fatalf("parsed without Call-ID: %+v", m)
			}
			if m.Request == (m.Method == "") || m.Request == (m.Status != 0) {
				t.Fatalf("inconsistent request/response: %+v", m)
			}
			// Nonces are cut from the input, the first one fills Nonce,
			// and a message carries at most maxNonces of them.
			if m.Nonce == "" && m.MoreNonces != nil || len(m.MoreNonces) >= maxNonces {
				t.Fatalf("nonces %q then %q", m.Nonce, m.MoreNonces)
			}
			m.Nonces(func(n string) {
				if n == "" || !bytes.Contains(b, []byte(n)) {
					t.Fatalf("nonce %q not in the input", n)
				}
			})
		case errors.Is(err, ErrKeepAlive), errors.Is(err, ErrNotSIP):
			if !reflect.DeepEqual(m, Message{}) {
				t.Fatalf("error %v left %+v", err, m)
			}
		default:
			t.Fatalf("error %v is neither ErrNotSIP nor ErrKeepAlive", err)
		}
	})
}

// FuzzStreams feeds data in segments cut at fuzz-chosen lengths. Each byte
// of cuts gives a segment length (low 7 bits + 1); its top bit resends the
// segment (a retransmission) and then feeds an unrelated connection, which
// evicts another one. Beyond never panicking and staying within bounds, the
// messages must be those of the same data fed as one segment: cut points
// must not change framing.
func FuzzStreams(f *testing.F) {
	all := samples(f)
	f.Add(slices.Concat(all...), []byte{7, 200, 1, 1, 1, 90, 255, 3})
	for _, b := range all {
		f.Add(b, []byte{0})
		f.Add(slices.Concat([]byte("\r\n\r\n"), b, []byte("\r\n"), b), []byte{127, 130, 5})
	}
	const maxConns, maxBuf = 2, 4096
	p := NewParser()
	others := []ConnKey{keyB, keyC}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(cuts) == 0 {
			cuts = []byte{127}
		}
		ref := NewStreams(maxConns, maxBuf)
		want, _ := ref.Feed(p, keyA, 0, packet.FlagSYN, data, nil)

		s := NewStreams(maxConns, maxBuf)
		got, _ := s.Feed(p, keyA, 0, packet.FlagSYN, nil, nil)
		seq := uint32(1)
		for i, rest := 0, data; len(rest) > 0; i++ {
			c := cuts[i%len(cuts)]
			n := min(int(c&0x7f)+1, len(rest))
			var err error
			got, err = s.Feed(p, keyA, seq, packet.FlagACK, rest[:n], got)
			checkErr(t, err)
			if c&0x80 != 0 {
				var again []Message
				again, err = s.Feed(p, keyA, seq, packet.FlagACK, rest[:n], nil)
				checkErr(t, err)
				if len(again) != 0 {
					t.Fatalf("retransmission gave %d messages", len(again))
				}
				_, err = s.Feed(p, others[i%2], uint32(i), 0, rest[:n], nil)
				checkErr(t, err)
			}
			checkBuffers(t, s)
			for _, m := range got {
				if m.CallID == "" {
					t.Fatalf("message without Call-ID: %+v", m)
				}
			}
			seq += uint32(n)
			rest = rest[n:]
		}
		if s.Len() > maxConns {
			t.Fatalf("Len() = %d > %d", s.Len(), maxConns)
		}
		// A partial line over maxBuf is dropped without reaching a boundary
		// when fed in pieces but may be parsed whole, so compare only then.
		if len(data) <= maxBuf && !reflect.DeepEqual(got, want) {
			t.Fatalf("segmented:\n %+v\nwhole:\n %+v", got, want)
		}
	})
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrNotSIP) && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v is neither ErrNotSIP nor ErrTooLarge", err)
	}
}
