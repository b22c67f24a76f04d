package packet

import (
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics and that what it returns is
// consistent. Seeds: the goodPackets table plus testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, g := range goodPackets {
		f.Add(g.pkt.bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parsed
		err := p.Decode(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrHeader) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != (b[0]>>4 == 4) {
			t.Fatalf("addresses %v > %v do not match version %d", p.Src, p.Dst, b[0]>>4)
		}
		if p.Length > len(b) {
			t.Fatalf("Length %d > %d bytes", p.Length, len(b))
		}
		if p.Fragment {
			if p.SrcPort != 0 || p.DstPort != 0 || p.Payload != nil || p.MoreFragments {
				t.Fatalf("non-first fragment with ports %d/%d, payload %d bytes, more %v", p.SrcPort, p.DstPort, len(p.Payload), p.MoreFragments)
			}
		}
		if p.Proto != TCP && p.Proto != UDP && (p.SrcPort != 0 || p.DstPort != 0 || p.Payload != nil) {
			t.Fatalf("proto %d with ports or payload", p.Proto)
		}
		if len(p.Payload) > 0 {
			// Payload must alias b, inside the IP packet's length.
			at := -1
			for i := range b {
				if &b[i] == &p.Payload[0] {
					at = i
					break
				}
			}
			if at < 0 {
				t.Fatal("Payload is not a subslice of the input")
			}
			if at+len(p.Payload) > p.Length {
				t.Fatalf("Payload [%d:%d] runs past Length %d", at, at+len(p.Payload), p.Length)
			}
		}
		_ = p.String()
	})
}
