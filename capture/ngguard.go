package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcapng block types.
const (
	blockIDB = 1          // interface description
	blockPB  = 2          // packet (obsolete)
	blockSPB = 3          // simple packet
	blockISB = 5          // interface statistics
	blockEPB = 6          // enhanced packet
	blockSHB = 0x0a0d0d0a // section header, same in both byte orders
)

// maxBlock bounds a pcapng block: a maxRecord packet plus generous room for
// options. Larger lengths are corruption.
const maxBlock = maxRecord + 64<<10

// ngGuard sits between the file and pcapgo's pcapng reader. It reads one
// whole block at a time, checks its framing and the fields pcapgo trusts
// without checking (lengths it subtracts or allocates by, option lengths,
// timestamp resolutions it divides by), and only then passes the block on.
// pcapgo would otherwise allocate whatever size a corrupt block claims, or
// panic. It also records each interface's link type as a uint16, which
// pcapgo cannot.
//
// A Read never crosses a block boundary, so when pcapgo returns a packet,
// the guard has read exactly up to the end of that packet's block, and
// link is that packet's link type.
type ngGuard struct {
	r      io.Reader
	order  binary.ByteOrder // of the current section
	buf    []byte           // the current block
	at     int              // bytes of buf already passed on
	offset int64            // file offset of the current block, for errors
	next   int64            // file offset of the block after it

	// ifaces holds the link type of each interface of the current
	// section; snap0 is interface 0's snap length, which simple packet
	// blocks are cut to.
	ifaces []linkType
	snap0  uint32
	// link is the link type of the last packet block read.
	link linkType
}

func (g *ngGuard) Read(p []byte) (int, error) {
	if g.at == len(g.buf) {
		if err := g.readBlock(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.buf[g.at:])
	g.at += n
	return n, nil
}

// readBlock reads and checks the next block into g.buf.
func (g *ngGuard) readBlock() error {
	g.buf, g.at = g.buf[:0], 0
	g.offset = g.next
	var hdr [12]byte
	if _, err := io.ReadFull(g.r, hdr[:8]); err != nil {
		return err // io.EOF only at a block boundary
	}
	typ := binary.LittleEndian.Uint32(hdr[0:4])
	if typ == blockSHB {
		// The byte-order magic after the length sets the section's order.
		if _, err := io.ReadFull(g.r, hdr[8:12]); err != nil {
			return noEOF(err)
		}
		switch binary.LittleEndian.Uint32(hdr[8:12]) {
		case 0x1a2b3c4d:
			g.order = binary.LittleEndian
		case 0x4d3c2b1a:
			g.order = binary.BigEndian
		default:
			return g.errorf("section header byte-order magic %#x", hdr[8:12])
		}
		g.ifaces, g.snap0 = g.ifaces[:0], 0
	} else if g.order == nil {
		return g.errorf("block type %#x before the first section header", typ)
	} else {
		typ = g.order.Uint32(hdr[0:4])
	}
	n := int(g.order.Uint32(hdr[4:8]))
	if n%4 != 0 || n < minBlockLen(typ) || n > maxBlock {
		return g.errorf("block type %d has bad length %d", typ, n)
	}
	if cap(g.buf) < n {
		g.buf = make([]byte, n)
	}
	g.buf = g.buf[:n]
	got := 8
	if typ == blockSHB {
		got = 12
	}
	copy(g.buf, hdr[:got])
	if _, err := io.ReadFull(g.r, g.buf[got:]); err != nil {
		g.buf = g.buf[:0]
		return noEOF(err)
	}
	g.next = g.offset + int64(n)
	if trail := int(g.order.Uint32(g.buf[n-4:])); trail != n {
		return g.errorf("block type %d length %d but trailing length %d", typ, n, trail)
	}
	if err := g.check(typ, g.buf); err != nil {
		return err
	}
	return nil
}

// minBlockLen is the smallest valid length of a block of type typ, from the
// fixed fields pcapgo reads.
func minBlockLen(typ uint32) int {
	switch typ {
	case blockSHB:
		return 28
	case blockIDB:
		return 20
	case blockSPB:
		return 16
	case blockISB:
		return 24
	case blockEPB, blockPB:
		return 32
	}
	return 12
}

// check vets the fields of block b (of type typ) that pcapgo relies on.
func (g *ngGuard) check(typ uint32, b []byte) error {
	end := len(b) - 4 // before the trailing length
	switch typ {
	case blockSHB:
		return g.checkOptions(typ, b[24:end])
	case blockIDB:
		link := linkType(g.order.Uint16(b[8:10]))
		if snap := g.order.Uint32(b[12:16]); snap > maxRecord {
			// pcapgo sizes its buffer by the snap length: cap it.
			g.order.PutUint32(b[12:16], maxRecord)
		}
		if len(g.ifaces) == 0 {
			g.snap0 = g.order.Uint32(b[12:16])
		}
		g.ifaces = append(g.ifaces, link)
		return g.checkOptions(typ, b[16:end])
	case blockISB:
		if err := g.checkIface(g.order.Uint32(b[8:12])); err != nil {
			return err
		}
		return g.checkOptions(typ, b[20:end])
	case blockEPB, blockPB:
		var iface uint32
		if typ == blockEPB {
			iface = g.order.Uint32(b[8:12])
		} else {
			iface = uint32(g.order.Uint16(b[8:10]))
		}
		if err := g.checkIface(iface); err != nil {
			return err
		}
		caplen, origlen := g.order.Uint32(b[20:24]), g.order.Uint32(b[24:28])
		if int64(caplen) > int64(end-28) {
			return g.errorf("packet data length %d exceeds its block (%d bytes)", caplen, len(b))
		}
		if caplen > origlen {
			return g.errorf("captured length %d exceeds original length %d", caplen, origlen)
		}
		g.link = g.ifaces[iface]
	case blockSPB:
		if err := g.checkIface(0); err != nil {
			return err
		}
		// pcapgo takes the captured length as the original length cut to
		// interface 0's snap length.
		caplen := g.order.Uint32(b[8:12])
		if g.snap0 != 0 && caplen > g.snap0 {
			caplen = g.snap0
		}
		if int64(caplen) > int64(end-12) {
			return g.errorf("simple packet length %d exceeds its block (%d bytes)", caplen, len(b))
		}
		g.link = g.ifaces[0]
	}
	return nil
}

func (g *ngGuard) checkIface(id uint32) error {
	if uint64(id) >= uint64(len(g.ifaces)) {
		return g.errorf("interface %d not described in this section (%d interfaces)", id, len(g.ifaces))
	}
	return nil
}

// checkOptions walks the options of a block, which pcapgo reads: each must
// fit inside the block, and a timestamp resolution must be one pcapgo can
// divide by.
func (g *ngGuard) checkOptions(typ uint32, b []byte) error {
	for len(b) >= 4 {
		code, n := g.order.Uint16(b[0:2]), int(g.order.Uint16(b[2:4]))
		if code == 0 { // end of options
			return nil
		}
		padded := (n + 3) &^ 3
		if 4+padded > len(b) {
			return g.errorf("block type %d option %d of length %d runs past the block", typ, code, n)
		}
		if typ == blockIDB && code == 9 { // if_tsresol
			if n < 1 {
				return g.errorf("interface timestamp resolution option is empty")
			}
			// 10^-v, or 2^-(v&0x7f) with the top bit set. pcapgo turns it
			// into a uint64 divisor, which must not overflow to 0.
			v := b[4]
			if (v&0x80 == 0 && v > 19) || (v&0x80 != 0 && v&0x7f > 63) {
				return g.errorf("interface timestamp resolution %#x out of range", v)
			}
		}
		b = b[4+padded:]
	}
	return nil
}

func (g *ngGuard) errorf(format string, args ...any) error {
	return fmt.Errorf("pcapng block at offset %d: %s", g.offset, fmt.Sprintf(format, args...))
}

// noEOF turns a clean EOF inside a block into the truncation it is.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
