package packet

import (
	"errors"
	"fmt"
)

// Sentinel errors for callers to test with errors.Is. Decode returns more
// specific errors that wrap one of these and say what is wrong.
var (
	// ErrTruncated means the packet ends before a header or length it
	// declares.
	ErrTruncated = errors.New("truncated packet")
	// ErrVersion means the IP version nibble is neither 4 nor 6.
	ErrVersion = errors.New("not an IPv4 or IPv6 packet")
	// ErrHeader means a header field is impossible (IHL or TCP data offset
	// too small, total length shorter than the header, too many IPv6
	// extension headers).
	ErrHeader = errors.New("malformed header")
)

// The errors Decode returns, built once so that returning one never
// allocates on the packet path.
var (
	errEmpty        = fmt.Errorf("%w: empty packet", ErrTruncated)
	errIPv4Short    = fmt.Errorf("%w: shorter than the 20-byte IPv4 header", ErrTruncated)
	errIPv4IHL      = fmt.Errorf("%w: IPv4 header length (IHL) below 5 words", ErrHeader)
	errIPv4Options  = fmt.Errorf("%w: IPv4 options run past the end of the packet", ErrTruncated)
	errIPv4TotalLen = fmt.Errorf("%w: IPv4 total length shorter than its header", ErrHeader)
	errIPv4Cut      = fmt.Errorf("%w: IPv4 total length exceeds the bytes present", ErrTruncated)
	errIPv6Short    = fmt.Errorf("%w: shorter than the 40-byte IPv6 header", ErrTruncated)
	errIPv6Cut      = fmt.Errorf("%w: IPv6 payload length exceeds the bytes present", ErrTruncated)
	errIPv6Ext      = fmt.Errorf("%w: IPv6 extension header runs past the end of the packet", ErrTruncated)
	errIPv6Chain    = fmt.Errorf("%w: more than %d IPv6 extension headers", ErrHeader, maxExtHeaders)
	errUDPShort     = fmt.Errorf("%w: shorter than the 8-byte UDP header", ErrTruncated)
	errTCPShort     = fmt.Errorf("%w: shorter than the 20-byte TCP header", ErrTruncated)
	errTCPOffset    = fmt.Errorf("%w: TCP data offset below 5 words", ErrHeader)
	errTCPOptions   = fmt.Errorf("%w: TCP options run past the end of the packet", ErrTruncated)

	// errBadVersion holds one error per version nibble, so the message can
	// name the version seen without formatting per packet.
	errBadVersion [16]error
)

func init() {
	for v := range errBadVersion {
		errBadVersion[v] = fmt.Errorf("%w: IP version %d", ErrVersion, v)
	}
}
