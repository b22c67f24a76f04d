package capture

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzOpenBytes feeds arbitrary bytes to the capture reader: it must never
// panic (nor let pcapgo panic, which readNg would turn into an error), and
// every error must name the file.
func FuzzOpenBytes(f *testing.F) {
	v4, v6 := ipv4UDP("INVITE sip:x SIP/2.0\r\n\r\n"), ipv6UDP("REGISTER")
	f.Add(pcapFile(1, arp, ether(0x0800, v4), ether(0x8100, cat([]byte{0, 1, 0x86, 0xdd}, v6))))
	f.Add(pcapFile(113, sll(0x0800, v4)))
	f.Add(pcapFile(276, sll2(0x86dd, v6)))
	f.Add(pcapFile(0, cat([]byte{2, 0, 0, 0}, v4)))
	f.Add(pcapngFile(101, v4, v6))
	f.Add(cat(shb(), idb(1, 0, 9, 0, 1, 0, 9, 0, 0, 0), idb(229, 0), epb(1, base, v6),
		ngBlock(blockSPB, cat([]byte{40, 0, 0, 0}, ether(0x0800, v4))),
		ngBlock(blockISB, make([]byte, 12)), shb(), idb(228, 0), epb(0, base, v4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		const name = "fuzz.cap"
		r, err := newReader(name, bytes.NewReader(b), nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), name+": ") {
				t.Fatalf("Open error does not name the file: %v", err)
			}
			return
		}
		defer r.Close()
		for i := 0; i < 10000; i++ {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), name+": record ") {
					t.Fatalf("Next error does not name the file and record: %v", err)
				}
				if strings.Contains(err.Error(), "pcapgo panicked") {
					t.Fatalf("guard let through a block pcapgo panics on: %v", err)
				}
				return
			}
			if len(rec.Data) > len(b) || rec.Index < 1 {
				t.Fatalf("record %d has %d bytes from a %d-byte file", rec.Index, len(rec.Data), len(b))
			}
		}
	})
}
