package rules

import "strconv"

// The CVE-2015-7547 limits; the package documentation says what each rule
// matches and why.
const (
	dnsMaxMessage = 2048 // glibc's stack buffer for one response
	udpHeader     = 8
	ipv4Header    = 20 // without options
	ipv6Header    = 40 // without extension headers
)

// dnsUDPMinLength is the smallest IP packet length (what -m length
// compares) that can hold a UDP DNS message over 2048 bytes.
func dnsUDPMinLength(f Family) int {
	ip := ipv4Header
	if f == IPv6 {
		ip = ipv6Header
	}
	return ip + udpHeader + dnsMaxMessage + 1
}

// dnsTCPu32 is the u32 test "the TCP payload has more than 2050 bytes",
// spelled as iptables-save prints it so that saved rules compare equal.
// IPv4: IHL*4 (0>>22&0x3C) is where TCP starts; its data offset*4
// (@12>>26&0x3C) is where the payload starts; reading 4 bytes at payload
// offset 2047 needs 2051 bytes. IPv6: only TCP right after the fixed
// header (next header, 4>>8&0xFF, is 6); the data offset is at 40+12 = 52,
// and payload offset 2047 is 40+2047 = 2087 past the TCP header length.
func dnsTCPu32(f Family) string {
	if f == IPv6 {
		return `"0x4>>0x8&0xff=0x6&&0x34>>0x1a&0x3c@0x827=0x0:0xffffffff"`
	}
	return `"0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x7ff=0x0:0xffffffff"`
}

// dnsRules drops oversized DNS responses in chain.
func dnsRules(f Family, chain string) []string {
	n := dnsUDPMinLength(f)
	return []string{
		"# DNS guard (CVE-2015-7547): UDP responses with a message over 2048 bytes (IP packet of " + strconv.Itoa(n) + "+ bytes).",
		"-A " + chain + " -p udp -m udp --sport 53 -m length --length " + strconv.Itoa(n) + ":65535 -j DROP",
		"# TCP segments with over 2050 bytes of payload (a 2048-byte message and its 2-byte length).",
		"-A " + chain + " -p tcp -m tcp --sport 53 -m u32 --u32 " + dnsTCPu32(f) + " -j DROP",
	}
}
