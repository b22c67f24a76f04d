package capture

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Builders for test captures. They write bytes by hand, little-endian,
// because pcapgo's writers keep the link type in a uint8 and so cannot
// write LINUX_SLL2, and because corrupt files need byte-level control.

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// pcapFile builds a microsecond pcap file; record i is stamped base+i s.
func pcapFile(link uint16, frames ...[]byte) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:], magicPcapMicro)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 65535)
	binary.LittleEndian.PutUint32(b[20:], uint32(link))
	for i, f := range frames {
		b = append(b, pcapRecord(base.Add(time.Duration(i)*time.Second), len(f), len(f))...)
		b = append(b, f...)
	}
	return b
}

// pcapRecord is a pcap record header.
func pcapRecord(ts time.Time, caplen, origlen int) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(ts.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(caplen))
	binary.LittleEndian.PutUint32(h[12:], uint32(origlen))
	return h
}

// ngBlock frames body as a pcapng block of type typ, padding it.
func ngBlock(typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

func shb() []byte {
	body := binary.LittleEndian.AppendUint32(nil, 0x1a2b3c4d)
	body = binary.LittleEndian.AppendUint16(body, 1)
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint64(body, ^uint64(0)) // section length unknown
	return ngBlock(blockSHB, body)
}

// idb describes an interface; opts are raw option bytes.
func idb(link uint16, snap uint32, opts ...byte) []byte {
	body := binary.LittleEndian.AppendUint16(nil, link)
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint32(body, snap)
	return ngBlock(blockIDB, append(body, opts...))
}

// epb is an enhanced packet block with microsecond timestamp ts.
func epb(iface uint32, ts time.Time, data []byte) []byte {
	us := uint64(ts.UnixMicro())
	body := binary.LittleEndian.AppendUint32(nil, iface)
	body = binary.LittleEndian.AppendUint32(body, uint32(us>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(us))
	body = binary.LittleEndian.AppendUint32(body, uint32(len(data)))
	body = binary.LittleEndian.AppendUint32(body, uint32(len(data)))
	return ngBlock(blockEPB, append(body, data...))
}

// pcapngFile builds a one-section, one-interface file; record i is
// stamped base+i s.
func pcapngFile(link uint16, frames ...[]byte) []byte {
	b := append(shb(), idb(link, 65535)...)
	for i, f := range frames {
		b = append(b, epb(0, base.Add(time.Duration(i)*time.Second), f)...)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ipv4UDP is a minimal IPv4/UDP packet carrying payload.
func ipv4UDP(payload string) []byte {
	b := make([]byte, 28, 28+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(payload)))
	b[8], b[9] = 64, 17
	copy(b[12:], []byte{192, 0, 2, 1, 198, 51, 100, 2})
	binary.BigEndian.PutUint16(b[20:], 5070)
	binary.BigEndian.PutUint16(b[22:], 5060)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	return append(b, payload...)
}

// ipv6UDP is a minimal IPv6/UDP packet carrying payload.
func ipv6UDP(payload string) []byte {
	b := make([]byte, 48, 48+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	b[6], b[7] = 17, 64
	b[8], b[9], b[23] = 0x20, 0x01, 1
	b[24], b[25], b[39] = 0x20, 0x01, 2
	binary.BigEndian.PutUint16(b[40:], 5060)
	binary.BigEndian.PutUint16(b[42:], 5060)
	binary.BigEndian.PutUint16(b[44:], uint16(8+len(payload)))
	return append(b, payload...)
}

var (
	macs = []byte{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6}
	// arp is an Ethernet ARP request, which Next must skip.
	arp = cat(macs, []byte{0x08, 0x06}, make([]byte, 28))
)

func ether(et uint16, payload []byte) []byte {
	return cat(macs, binary.BigEndian.AppendUint16(nil, et), payload)
}

// sll is a Linux cooked v1 header.
func sll(proto uint16, payload []byte) []byte {
	h := []byte{0, 0, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0}
	return cat(h, binary.BigEndian.AppendUint16(nil, proto), payload)
}

// sll2 is a Linux cooked v2 header.
func sll2(proto uint16, payload []byte) []byte {
	h := binary.BigEndian.AppendUint16(nil, proto)
	h = append(h, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0, 1, 2, 3, 4, 5, 0, 0)
	return cat(h, payload)
}
