package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sipprot/sipprot/packet"
)

// readAll reads every record of path.
func readAll(t *testing.T, path string) ([]Record, int, error) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	var recs []Record
	for {
		rec, err := r.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return recs, r.Skipped(), err
		}
		rec.Data = bytes.Clone(rec.Data) // valid only until the next call
		recs = append(recs, rec)
	}
}

func TestLinkTypes(t *testing.T) {
	v4, v6 := ipv4UDP("INVITE"), ipv6UDP("REGISTER")
	tests := []struct {
		name    string
		link    uint16
		frames  [][]byte
		want    [][]byte // IP packets, in order
		index   []int    // their record numbers
		skipped int
	}{
		{"ethernet", 1, [][]byte{arp, ether(0x0800, v4), ether(0x86dd, v6)}, [][]byte{v4, v6}, []int{2, 3}, 1},
		{"ethernet padded", 1, [][]byte{ether(0x0800, cat(v4, make([]byte, 10)))}, [][]byte{cat(v4, make([]byte, 10))}, []int{1}, 0},
		{"ethernet 802.1Q", 1, [][]byte{ether(0x8100, cat([]byte{0, 100, 0x08, 0x00}, v4))}, [][]byte{v4}, []int{1}, 0},
		{"ethernet 802.1ad QinQ", 1, [][]byte{ether(0x88a8, cat([]byte{0, 10, 0x81, 0x00, 0, 20, 0x86, 0xdd}, v6))}, [][]byte{v6}, []int{1}, 0},
		{"ethernet VLAN ARP", 1, [][]byte{ether(0x8100, cat([]byte{0, 100, 0x08, 0x06}, make([]byte, 28)))}, nil, nil, 1},
		{"ethernet PPPoE", 1, [][]byte{ether(0x8864, cat([]byte{0x11, 0, 0, 1, 0, 0, 0x00, 0x21}, v4))}, [][]byte{v4}, []int{1}, 0},
		{"ethernet runt", 1, [][]byte{{1, 2, 3}, ether(0x0800, v4)}, [][]byte{v4}, []int{2}, 1},
		{"linux SLL", 113, [][]byte{sll(0x0806, make([]byte, 28)), sll(0x0800, v4), sll(0x86dd, v6)}, [][]byte{v4, v6}, []int{2, 3}, 1},
		{"linux SLL2", 276, [][]byte{sll2(0x86dd, v6), sll2(0x0806, make([]byte, 28)), sll2(0x0800, v4)}, [][]byte{v6, v4}, []int{1, 3}, 1},
		{"raw", 101, [][]byte{v4, v6, {0x00, 1, 2}}, [][]byte{v4, v6}, []int{1, 2}, 1},
		{"ipv4", 228, [][]byte{v4}, [][]byte{v4}, []int{1}, 0},
		{"ipv6", 229, [][]byte{v6}, [][]byte{v6}, []int{1}, 0},
		{"null little-endian", 0, [][]byte{cat([]byte{2, 0, 0, 0}, v4), cat([]byte{30, 0, 0, 0}, v6), cat([]byte{7, 0, 0, 0}, v4)}, [][]byte{v4, v6}, []int{1, 2}, 1},
		{"null big-endian", 0, [][]byte{cat([]byte{0, 0, 0, 24}, v6)}, [][]byte{v6}, []int{1}, 0},
		{"loop", 108, [][]byte{cat([]byte{0, 0, 0, 2}, v4), cat([]byte{0, 0, 0, 24}, v6)}, [][]byte{v4, v6}, []int{1, 2}, 0},
	}
	for _, tt := range tests {
		for _, format := range []struct {
			name  string
			build func(uint16, ...[]byte) []byte
		}{{"pcap", pcapFile}, {"pcapng", pcapngFile}} {
			t.Run(tt.name+"/"+format.name, func(t *testing.T) {
				path := writeFile(t, "cap", format.build(tt.link, tt.frames...))
				recs, skipped, err := readAll(t, path)
				if err != nil {
					t.Fatal(err)
				}
				if skipped != tt.skipped {
					t.Errorf("Skipped() = %d, want %d", skipped, tt.skipped)
				}
				if len(recs) != len(tt.want) {
					t.Fatalf("got %d records, want %d", len(recs), len(tt.want))
				}
				for i, rec := range recs {
					if !bytes.Equal(rec.Data, tt.want[i]) {
						t.Errorf("record %d Data = %x, want %x", i, rec.Data, tt.want[i])
					}
					if rec.Index != tt.index[i] {
						t.Errorf("record %d Index = %d, want %d", i, rec.Index, tt.index[i])
					}
					if want := base.Add(time.Duration(rec.Index-1) * time.Second); !rec.Time.Equal(want) {
						t.Errorf("record %d Time = %v, want %v", i, rec.Time, want)
					}
					var p packet.Parsed
					if err := p.Decode(rec.Data); err != nil || p.Proto != packet.UDP {
						t.Errorf("record %d does not decode as UDP: %v %v", i, err, &p)
					}
				}
			})
		}
	}
}

// TestPcapgoWriters reads files written by pcapgo, the usual way test
// captures get made.
func TestPcapgoWriters(t *testing.T) {
	v4 := ipv4UDP("OPTIONS")
	frame := ether(0x0800, v4)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}

	var pcapNano, pcapMicro, ng bytes.Buffer
	w := pcapgo.NewWriterNanos(&pcapNano)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	w.WritePacket(ci, frame)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(arp), Length: len(arp)}, arp)
	w = pcapgo.NewWriter(&pcapMicro)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	w.WritePacket(ci, frame)
	nw, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	nw.WritePacket(ci, frame)
	nw.Flush()

	for _, tt := range []struct {
		name    string
		b       []byte
		ts      time.Time
		skipped int
	}{
		{"pcap nanosecond", pcapNano.Bytes(), ts, 1},
		{"pcap microsecond", pcapMicro.Bytes(), ts.Truncate(time.Microsecond), 0},
		{"pcapng", ng.Bytes(), ts, 0}, // pcapgo writes nanosecond resolution
	} {
		t.Run(tt.name, func(t *testing.T) {
			recs, skipped, err := readAll(t, writeFile(t, "x.cap", tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || !bytes.Equal(recs[0].Data, v4) || !recs[0].Time.Equal(tt.ts) || skipped != tt.skipped {
				t.Fatalf("got %+v skipped %d, want one record %x at %v, skipped %d", recs, skipped, v4, tt.ts, tt.skipped)
			}
		})
	}
}

func TestBigEndianPcap(t *testing.T) {
	v4 := ipv4UDP("x")
	b := make([]byte, 24)
	binary.BigEndian.PutUint32(b[0:], magicPcapMicro)
	binary.BigEndian.PutUint16(b[4:], 2)
	binary.BigEndian.PutUint16(b[6:], 4)
	binary.BigEndian.PutUint32(b[16:], 65535)
	binary.BigEndian.PutUint32(b[20:], 0x0400_0000|276) // FCS bits set above the type
	rec := make([]byte, 16)
	frame := sll2(0x0800, v4)
	binary.BigEndian.PutUint32(rec[0:], uint32(base.Unix()))
	binary.BigEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.BigEndian.PutUint32(rec[12:], uint32(len(frame)))
	recs, _, err := readAll(t, writeFile(t, "be.pcap", cat(b, rec, frame)))
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Data, v4) || !recs[0].Time.Equal(base) {
		t.Fatalf("got %+v, %v", recs, err)
	}
}

func TestGzip(t *testing.T) {
	v4 := ipv4UDP("gz")
	for _, tt := range []struct {
		name string
		b    []byte
	}{{"pcap", pcapFile(101, v4)}, {"pcapng", pcapngFile(101, v4)}} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(tt.b)
			zw.Close()
			recs, _, err := readAll(t, writeFile(t, "x.gz", buf.Bytes()))
			if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Data, v4) {
				t.Fatalf("got %+v, %v", recs, err)
			}
		})
	}
}

func TestPcapngInterfacesAndSections(t *testing.T) {
	v4, v6 := ipv4UDP("a"), ipv6UDP("b")
	b := cat(
		shb(), idb(1, 65535), idb(189, 65535), // Ethernet and USB
		epb(0, base, ether(0x0800, v4)),
		epb(1, base.Add(time.Second), []byte("usb urb")),
		ngBlock(0x0bad, []byte("unknown block, skipped")),
		ngBlock(blockISB, append(make([]byte, 12), 1, 0, 2, 0, 'h', 'i', 0, 0, 0, 0, 0, 0)),
		// A second section resets the interfaces: 0 is now SLL2.
		shb(), idb(276, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0), // if_tsresol 10^-9
		epb(0, base.Add(2*time.Second), sll2(0x86dd, v6)),
		// A simple packet block: original length, then the frame.
		ngBlock(blockSPB, cat(binary.LittleEndian.AppendUint32(nil, uint32(len(v6)+20)), sll2(0x86dd, v6))),
	)
	recs, skipped, err := readAll(t, writeFile(t, "multi.pcapng", b))
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 || len(recs) != 3 {
		t.Fatalf("got %d records, %d skipped, want 3 and 1", len(recs), skipped)
	}
	for i, want := range []struct {
		index int
		data  []byte
	}{{1, v4}, {3, v6}, {4, v6}} {
		if recs[i].Index != want.index || !bytes.Equal(recs[i].Data, want.data) {
			t.Errorf("record %d = #%d %x, want #%d %x", i, recs[i].Index, recs[i].Data, want.index, want.data)
		}
	}
	// The second section's timestamps are in nanoseconds: the microsecond
	// value we wrote reads as 1000 times earlier, which proves the option
	// was parsed.
	if want := time.Unix(0, base.Add(2*time.Second).UnixMicro()).UTC(); !recs[1].Time.Equal(want) {
		t.Errorf("nanosecond-resolution record Time = %v, want %v", recs[1].Time, want)
	}
}

func TestOpenErrors(t *testing.T) {
	missing := t.TempDir() + "/missing.pcap"
	if _, err := Open(missing); !errors.Is(err, fs.ErrNotExist) || err.Error() != "open "+missing+": no such file or directory" {
		t.Errorf("Open(missing) = %v", err)
	}
	tests := []struct {
		name string
		b    []byte
		want string // after "<path>: "
	}{
		{"empty", nil, "not a pcap or pcapng file"},
		{"short", []byte{0xd4, 0xc3}, "not a pcap or pcapng file"},
		{"text", []byte("[sipprot]\nqueue = 0\n"), "not a pcap or pcapng file"},
		{"gzip of text", func() []byte {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write([]byte("hello, world"))
			zw.Close()
			return buf.Bytes()
		}(), "not a pcap or pcapng file"},
		{"pcap header cut", pcapFile(1)[:20], "pcap file header: unexpected EOF"},
		{"pcap version", func() []byte { b := pcapFile(1); b[4] = 3; return b }(), "pcap file header: Unknown major version 3"},
		{"pcap 802.11", pcapFile(105), "unsupported link type 105 (IEEE802_11)"},
		{"pcap unknown link", pcapFile(4000), "unsupported link type 4000"},
		{"pcapng USB", pcapngFile(189, []byte("urb")), "unsupported link type 189 (USB_LINUX)"},
		{"pcapng section header cut", shb()[:20], "pcapng section header: unexpected EOF"},
		{"pcapng bad byte order", func() []byte { b := shb(); b[8] = 0; return b }(), "pcapng section header: pcapng block at offset 0: section header byte-order magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "f", tt.b)
			_, err := Open(path)
			if err == nil || !strings.HasPrefix(err.Error(), path+": "+tt.want) {
				t.Errorf("Open = %v, want %q", err, path+": "+tt.want)
			}
		})
	}
}

// TestCorruptRecords checks mid-file damage: the records before it are
// returned, then an error naming the file and record, every time.
func TestCorruptRecords(t *testing.T) {
	v4 := ipv4UDP("ok")
	good := pcapFile(101, v4)
	goodNg := pcapngFile(101, v4)
	tests := []struct {
		name string
		b    []byte
		want string // after "<path>: "
	}{
		{"pcap record too big", cat(good, pcapRecord(base, maxRecord+1, maxRecord+1)),
			"record 2: capture length exceeds snap length: 262145 > 262144"},
		{"pcap caplen > origlen", cat(good, pcapRecord(base, 10, 5), make([]byte, 10)),
			"record 2: capture length exceeds original packet length: 10 > 5"},
		{"pcapng bad trailing length", func() []byte {
			b := cat(goodNg, epb(0, base, v4))
			b[len(b)-1] = 9
			return b
		}(), "record 2: pcapng block at offset "},
		{"pcapng block length huge", cat(goodNg, []byte{6, 0, 0, 0, 0xf0, 0xff, 0xff, 0x7f}),
			"record 2: pcapng block at offset 112: block type 6 has bad length 2147483632"},
		{"pcapng block length short", cat(goodNg, ngBlock(blockEPB, make([]byte, 8))),
			"record 2: pcapng block at offset 112: block type 6 has bad length 20"},
		{"pcapng caplen past block", func() []byte {
			b := epb(0, base, v4)
			binary.LittleEndian.PutUint32(b[20:], 4000)
			return cat(goodNg, b)
		}(), "record 2: pcapng block at offset 112: packet data length 4000 exceeds its block"},
		{"pcapng unknown interface", cat(goodNg, epb(3, base, v4)),
			"record 2: pcapng block at offset 112: interface 3 not described in this section (1 interfaces)"},
		{"pcapng option overrun", cat(goodNg, idb(1, 0, 2, 0, 200, 0, 'e', 't', 'h', '0')),
			"record 2: pcapng block at offset 112: block type 1 option 2 of length 200 runs past the block"},
		{"pcapng tsresol overflow", cat(goodNg, idb(1, 0, 9, 0, 1, 0, 64, 0, 0, 0)),
			"record 2: pcapng block at offset 112: interface timestamp resolution 0x40 out of range"},
		{"pcapng binary tsresol overflow", cat(goodNg, idb(1, 0, 9, 0, 1, 0, 0xc0, 0, 0, 0)),
			"record 2: pcapng block at offset 112: interface timestamp resolution 0xc0 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "bad", tt.b)
			recs, _, err := readAll(t, path)
			if len(recs) != 1 || !bytes.Equal(recs[0].Data, v4) {
				t.Errorf("got %d records before the damage, want the good one", len(recs))
			}
			if err == nil || !strings.HasPrefix(err.Error(), path+": "+tt.want) {
				t.Fatalf("err = %v, want %q", err, path+": "+tt.want)
			}
		})
	}
}

func TestErrorIsSticky(t *testing.T) {
	path := writeFile(t, "cut.pcap", pcapFile(101, ipv4UDP("a"), ipv4UDP("b"))[:24+16+29+16+5])
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 || !errors.Is(err1, io.ErrUnexpectedEOF) {
		t.Errorf("errors %v then %v, want the same unexpected EOF twice", err1, err2)
	}
}

// TestTruncatedFiles cuts valid files at every length. A cut at a record
// boundary is a shorter valid file; any other cut must be reported as an
// unexpected EOF in the record it falls in, never a panic.
func TestTruncatedFiles(t *testing.T) {
	frames := [][]byte{ether(0x0800, ipv4UDP("one")), arp, ether(0x86dd, ipv6UDP("three"))}
	for _, tt := range []struct {
		name      string
		b         []byte
		first     int // where the first record starts
		headerLen int // what Open must read: file header or section header
	}{
		{"pcap", pcapFile(1, frames...), 24, 24},
		{"pcapng", pcapngFile(1, frames...), len(shb()) + len(idb(1, 65535)), len(shb())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// ends[i] is where record i+1 ends; clean holds every length
			// at which the file is a valid shorter capture.
			var ends []int
			clean := []int{tt.first}
			if tt.name == "pcapng" {
				clean = append(clean, len(shb())) // a section with no interface yet
			}
			at := tt.first
			for _, f := range frames {
				if tt.name == "pcap" {
					at += 16 + len(f)
				} else {
					at += len(epb(0, base, f))
				}
				ends = append(ends, at)
				clean = append(clean, at)
			}
			for n := range len(tt.b) {
				path := writeFile(t, "cut", tt.b[:n])
				r, err := Open(path)
				if n < tt.headerLen {
					if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
						t.Errorf("cut at %d: Open = %v, want an error naming the file", n, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("cut at %d: Open: %v", n, err)
					continue
				}
				complete := 0
				for _, e := range ends {
					if e <= n {
						complete++
					}
				}
				var last int
				for {
					rec, err := r.Next()
					if err == io.EOF {
						if !contains(clean, n) {
							t.Errorf("cut at %d: clean EOF inside a record", n)
						}
						break
					}
					if err != nil {
						want := path + ": record " + itoa(complete+1) + ": "
						if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, io.ErrUnexpectedEOF) {
							t.Errorf("cut at %d: %v, want %q… unexpected EOF", n, err, want)
						}
						break
					}
					last = rec.Index
				}
				if last > complete {
					t.Errorf("cut at %d: got record %d of only %d complete", n, last, complete)
				}
				r.Close()
			}
		})
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestPcapngLinkPerPacket alternates packets between an Ethernet and a RAW
// interface, small and larger than pcapgo's read buffer, so a link type
// taken from the wrong block would garble or skip them.
func TestPcapngLinkPerPacket(t *testing.T) {
	b := cat(shb(), idb(1, 0), idb(101, 0))
	var want [][]byte
	for i := range 12 {
		ip := ipv4UDP(strings.Repeat("x", i*997%6000))
		if i%3 == 1 {
			ip = ipv6UDP(strings.Repeat("y", i*1301%7000))
		}
		want = append(want, ip)
		if i%2 == 0 {
			et := uint16(0x0800)
			if ip[0]>>4 == 6 {
				et = 0x86dd
			}
			b = append(b, epb(0, base, ether(et, ip))...)
		} else {
			b = append(b, epb(1, base, ip)...)
		}
	}
	recs, skipped, err := readAll(t, writeFile(t, "mixed.pcapng", b))
	if err != nil || skipped != 0 || len(recs) != len(want) {
		t.Fatalf("got %d records, %d skipped, err %v; want %d", len(recs), skipped, err, len(want))
	}
	for i := range want {
		if !bytes.Equal(recs[i].Data, want[i]) {
			t.Errorf("record %d: got %d bytes, want %d", i+1, len(recs[i].Data), len(want[i]))
		}
	}
}
