// Package capture reads pcap and pcapng files and yields the IP packet in
// each record, so replay can feed captures through the same decoder and
// policy as live NFQUEUE traffic.
package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// maxRecord is the largest record accepted, tcpdump's and dumpcap's
// MAXIMUM_SNAPLEN. It bounds the buffer a corrupt length can make us
// allocate; real captures never hold more.
const maxRecord = 262144

// Record is one IP packet from a capture.
type Record struct {
	// Time is the capture timestamp, in UTC.
	Time time.Time
	// Index is the 1-based number of the record in the file, counting
	// skipped records, so it matches what Wireshark shows.
	Index int
	// Data is the IP packet, starting at the IP header. It aliases the
	// Reader's buffer and is valid only until the next call to Next. It is
	// shorter than the packet was on the wire if the capture's snap
	// length cut it.
	Data []byte
}

// Reader reads the IP packets of one capture file. It is not safe for
// concurrent use.
type Reader struct {
	name    string
	c       io.Closer    // the file
	gz      *gzip.Reader // set for a gzip-compressed file
	pcap    *pcapgo.Reader
	ng      *pcapgo.NgReader
	guard   *ngGuard   // vets pcapng blocks before pcapgo sees them
	link    linkType   // pcap: the file's link type
	index   int        // records read so far
	skipped int        // records with no IP packet
	err     error      // sticky: a capture stream cannot resync after an error
	pending *rawRecord // pcapng: the first record, read early by Open
}

// rawRecord is one record as pcapgo returned it.
type rawRecord struct {
	data []byte
	ci   gopacket.CaptureInfo
	err  error
}

// File magic numbers, as the first four bytes read little-endian.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapng      = 0x0a0d0d0a
)

// Open opens a pcap or pcapng file, optionally gzip-compressed. The format
// is found from the magic number, not the file name. It fails if the file
// is neither, or if its (first) link type is one Next cannot unwrap.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError: "open X: no such file or directory"
	}
	r, err := newReader(path, f, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// newReader reads a capture from src; name is used in errors and c, if
// not nil, is closed by Close.
func newReader(name string, src io.Reader, c io.Closer) (*Reader, error) {
	r := &Reader{name: name, c: c}
	if err := r.open(src); err != nil {
		if r.gz != nil {
			r.gz.Close()
		}
		return nil, err
	}
	return r, nil
}

func (r *Reader) open(src io.Reader) error {
	br := bufio.NewReaderSize(src, 64<<10)
	if m, err := br.Peek(2); err == nil && m[0] == 0x1f && m[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: gzip: %w", r.name, err)
		}
		r.gz = gz
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	hdr, _ := br.Peek(24)
	if len(hdr) < 4 {
		return fmt.Errorf("%s: not a pcap or pcapng file", r.name)
	}
	switch binary.LittleEndian.Uint32(hdr) {
	case magicPcapMicro, magicPcapNano, magicPcapMicroBE, magicPcapNanoBE:
		return r.openPcap(br, hdr)
	case magicPcapng:
		return r.openPcapng(br)
	}
	return fmt.Errorf("%s: not a pcap or pcapng file", r.name)
}

func (r *Reader) openPcap(br *bufio.Reader, hdr []byte) error {
	if len(hdr) < 24 {
		return fmt.Errorf("%s: pcap file header: %w", r.name, io.ErrUnexpectedEOF)
	}
	// pcapgo keeps the link type in a uint8, which cannot hold SLL2 (276),
	// so read it here, before pcapgo reads past the peeked header. Its
	// upper 16 bits carry FCS flags, not the type.
	order := binary.ByteOrder(binary.LittleEndian)
	if m := binary.LittleEndian.Uint32(hdr); m == magicPcapMicroBE || m == magicPcapNanoBE {
		order = binary.BigEndian
	}
	r.link = linkType(order.Uint32(hdr[20:24]) & 0xffff)
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return fmt.Errorf("%s: pcap file header: %w", r.name, err)
	}
	// Records above the header's snap length are accepted, as tcpdump and
	// Wireshark do; maxRecord still bounds the buffer.
	pr.SetSnaplen(maxRecord)
	r.pcap = pr
	if !r.link.supported() {
		return fmt.Errorf("%s: unsupported link type %s", r.name, r.link)
	}
	return nil
}

func (r *Reader) openPcapng(br *bufio.Reader) error {
	r.guard = &ngGuard{r: br}
	ng, err := pcapgo.NewNgReader(r.guard, pcapgo.NgReaderOptions{
		// Every interface's packets, each with its own link type, so
		// record numbers count every packet block.
		WantMixedLinkType: true,
	})
	if err != nil {
		return fmt.Errorf("%s: pcapng section header: %w", r.name, err)
	}
	r.ng = ng
	// The link type is in the first interface block, which pcapgo reads
	// only when it looks for the first packet: read that now.
	rec := r.readRaw()
	r.pending = &rec
	if len(r.guard.ifaces) > 0 && !r.guard.ifaces[0].supported() {
		return fmt.Errorf("%s: unsupported link type %s", r.name, r.guard.ifaces[0])
	}
	return nil
}

// readRaw reads the next record from pcapgo.
func (r *Reader) readRaw() rawRecord {
	if r.pcap != nil {
		data, ci, err := r.pcap.ZeroCopyReadPacketData()
		if err == io.EOF && ci.CaptureLength > 0 {
			// The record header was there but its data was not.
			err = io.ErrUnexpectedEOF
		}
		return rawRecord{data, ci, err}
	}
	data, ci, err := r.readNg()
	return rawRecord{data, ci, err}
}

// readNg reads from pcapgo's pcapng reader, turning any panic in it into an
// error: our guard vets block framing and the fields pcapgo trusts, but a
// crafted file must not be able to crash a replay through a case we missed.
func (r *Reader) readNg() (data []byte, ci gopacket.CaptureInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed pcapng block: pcapgo panicked: %v", p)
		}
	}()
	return r.ng.ZeroCopyReadPacketData()
}

// Next returns the next record that holds an IP packet, skipping (and
// counting) the others. It returns io.EOF after the last record; any other
// error names the file and the record, and is returned again by every later
// call.
func (r *Reader) Next() (Record, error) {
	for r.err == nil {
		var raw rawRecord
		if r.pending != nil {
			raw, r.pending = *r.pending, nil
		} else {
			raw = r.readRaw()
		}
		if raw.err != nil {
			r.err = raw.err
			if raw.err != io.EOF {
				r.err = fmt.Errorf("%s: record %d: %w", r.name, r.index+1, raw.err)
			}
			break
		}
		r.index++
		link := r.link
		if r.guard != nil {
			link = r.guard.link
		}
		ip, ok := link.ipPacket(raw.data)
		if !ok {
			r.skipped++
			continue
		}
		return Record{Time: raw.ci.Timestamp, Index: r.index, Data: ip}, nil
	}
	return Record{}, r.err
}

// Skipped returns how many records so far held no IP packet (ARP, STP,
// frames from an interface of unsupported link type, runts).
func (r *Reader) Skipped() int { return r.skipped }

// Name returns the path the Reader was opened with.
func (r *Reader) Name() string { return r.name }

// Close closes the file.
func (r *Reader) Close() error {
	var errs []error
	if r.gz != nil {
		errs = append(errs, r.gz.Close())
	}
	if r.c != nil {
		errs = append(errs, r.c.Close())
	}
	return errors.Join(errs...)
}
