package sipparse

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/sipprot/sipprot/packet"
)

// ErrTooLarge is returned, wrapped with the connection, when a connection's
// buffered partial message or a message's declared size exceeds the
// per-connection limit. The connection's buffer is discarded.
var ErrTooLarge = errors.New("SIP message over TCP exceeds buffer limit")

// Default limits for NewStreams.
const (
	DefaultMaxConns = 1024
	DefaultMaxBuf   = 64 << 10
)

// Buffers at most this big are kept for reuse once emptied; larger ones are
// released so that idle connections do not pin up to maxBuf each.
const keepBufCap = 4 << 10

// ConnKey identifies one direction of a TCP connection.
type ConnKey struct {
	Src, Dst netip.AddrPort
}

// String formats the key for error messages.
func (k ConnKey) String() string {
	return k.Src.String() + "->" + k.Dst.String()
}

// StreamStats counts stream events since NewStreams.
type StreamStats struct {
	// Resyncs counts gaps in sequence numbers, after which the partial
	// message was dropped and parsing restarted at the new segment.
	Resyncs uint64
	// Evictions counts connections dropped to stay within maxConns.
	Evictions uint64
	// TooLarge counts ErrTooLarge events.
	TooLarge uint64
}

// Streams reassembles SIP messages from TCP segments, per connection
// direction. It is safe for concurrent use; one mutex guards all
// connections, and it is held while headers are parsed.
type Streams struct {
	mu       sync.Mutex
	maxConns int
	maxBuf   int
	conns    map[ConnKey]*conn
	// lru is a sentinel of a circular list, most recently fed first.
	lru   conn
	stats StreamStats
}

// conn is one connection direction's reassembly state.
type conn struct {
	key  ConnKey
	next uint32 // sequence number of the next byte expected
	// buf holds the start of a message whose header section is not yet
	// complete (or, when !synced, a partial line).
	buf []byte
	// scan is how far into buf the header terminator has been searched for
	// (lineEnd > 0) or the start line's CRLF (lineEnd == 0), so that small
	// segments do not rescan the whole buffer.
	scan int
	// lineEnd is the offset just past the start line's CRLF in buf once the
	// start line is known to be plausible, else 0.
	lineEnd int
	// skip is the number of body bytes still to pass over: bodies are
	// framed by Content-Length but never buffered.
	skip int
	// synced is true when the stream is known to be at a message boundary
	// (after a SYN or a parsed message), so anything but a SIP message there
	// is malformed. When false (stream joined midway, after a gap or an
	// error) lines are skipped quietly until a message parses.
	synced bool

	prev, nextc *conn
}

// NewStreams returns a Streams that tracks at most maxConns connections,
// evicting the least recently fed, and buffers at most maxBuf bytes of a
// partial message per connection. Values <= 0 select the defaults.
func NewStreams(maxConns, maxBuf int) *Streams {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	if maxBuf <= 0 {
		maxBuf = DefaultMaxBuf
	}
	s := &Streams{
		maxConns: maxConns,
		maxBuf:   maxBuf,
		conns:    make(map[ConnKey]*conn),
	}
	s.lru.prev, s.lru.nextc = &s.lru, &s.lru
	return s
}

// Feed processes one TCP segment of the connection key: seq is its sequence
// number, flags its TCP flags, payload its data. It appends to out every SIP
// message whose header section this segment completes and returns out. Feed
// every segment of the connection, SYN and payload-less ones included: a
// SYN starts a stream that must begin with a SIP message, FIN and RST end it.
//
// A message is reported by the segment that completes its header section,
// not its body: that is the segment policy must drop to stop the message,
// and its retransmission starts with the same headers. The body is then
// skipped by Content-Length (required on streams, RFC 3261 section 7.5)
// without being buffered. CRLF keep-alives between messages are skipped.
//
// Data already seen (retransmissions, the old part of an overlap) is
// ignored. After a gap the buffered partial message is dropped and parsing
// restarts at this segment; a stream first seen midway does the same. Data
// in the hole is never inspected: an out-of-order sender can hide the start
// of a message from Feed.
//
// The error, if any, is the first of this segment: ErrTooLarge, or one
// satisfying errors.Is(err, ErrNotSIP) for a malformed message; the stream
// then resynchronises at the next start line. Messages parsed before and
// after it are still returned, and so is a message whose headers parsed but
// whose framing is refused (no Content-Length, or one over maxBuf), so that
// policy can judge its headers too.
func (s *Streams) Feed(p *Parser, key ConnKey, seq uint32, flags uint8, payload []byte, out []Message) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	c := s.conns[key]
	if flags&packet.FlagRST != 0 {
		// The receiver discards an RST's data, so do not parse it.
		if c != nil {
			s.remove(c)
		}
		return out, nil
	}
	syn := flags&packet.FlagSYN != 0
	if syn {
		seq++ // the SYN occupies one sequence number before the data
	}
	switch {
	case c == nil:
		if len(payload) == 0 && !syn {
			return out, nil // a pure ACK or FIN tells nothing yet
		}
		c = s.add(key)
		c.next, c.synced = seq, syn
	case syn && seq != c.next:
		// A new connection on the same addresses.
		c.reset()
		c.next, c.synced = seq, true
		s.touch(c)
	default:
		s.touch(c)
	}

	var err error
	if d := int32(seq - c.next); d < 0 {
		old := c.next - seq
		if uint64(old) >= uint64(len(payload)) {
			payload = nil // retransmission
		} else {
			payload = payload[old:]
		}
	} else if d > 0 {
		s.stats.Resyncs++
		c.reset()
		c.next = seq
	}
	c.next += uint32(len(payload))

	if len(payload) > 0 {
		out, err = s.consume(p, c, payload, out)
	}
	if flags&packet.FlagFIN != 0 {
		s.remove(c)
	}
	return out, err
}

// consume parses data, the new bytes of c in order, appending complete
// messages to out.
func (s *Streams) consume(p *Parser, c *conn, data []byte, out []Message) ([]Message, error) {
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}

	// Parse straight from the segment unless a partial message is pending
	// (skip > 0 implies an empty buffer).
	work, scan, lineEnd := data, 0, 0
	if len(c.buf) > 0 {
		c.buf = append(c.buf, data...)
		work, scan, lineEnd = c.buf, c.scan, c.lineEnd
	}

	for len(work) > 0 {
		if c.skip > 0 {
			k := min(c.skip, len(work))
			c.skip -= k
			work = work[k:]
			continue
		}
		if lineEnd == 0 {
			before := len(work)
			work = trimCRLF(work)
			scan = max(0, scan-(before-len(work)))
			if len(work) == 0 {
				break
			}
			i := bytes.Index(work[scan:], crlf)
			if i < 0 {
				scan = max(0, len(work)-1)
				break
			}
			i += scan
			if !plausibleStart(work[:i]) {
				if c.synced {
					fail(fmt.Errorf("%w: stream %v: no start line", ErrNotSIP, c.key))
					c.synced = false
				}
				work, scan = work[i+2:], 0
				continue
			}
			lineEnd, scan = i+2, i
		}
		i := bytes.Index(work[scan:], crlfcrlf)
		if i < 0 {
			scan = max(lineEnd-2, len(work)-3)
			break
		}
		hdrLen := scan + i + 4
		if hdrLen > s.maxBuf {
			// Refuse before sipgo spends time on it.
			s.stats.TooLarge++
			fail(fmt.Errorf("%w: stream %v: header section of %d bytes", ErrTooLarge, c.key, hdrLen))
			c.synced = false
			work, scan, lineEnd = work[hdrLen:], 0, 0
			continue
		}

		var m Message
		n, cl, hasCL, err := p.parseHead(work[:hdrLen], &m)
		switch {
		case err == nil && n != hdrLen:
			// Cannot happen while sipgo ends headers at the first empty
			// line; refuse rather than frame differently from it.
			err = fmt.Errorf("%w: header section ends at %d, not %d", ErrNotSIP, n, hdrLen)
			fallthrough
		case err != nil:
			// Unsynced, the start line may be a chance match inside a
			// message joined midway: not evidence of a malformed message.
			if c.synced {
				fail(fmt.Errorf("stream %v: %w", c.key, err))
			}
			c.synced = false
		case !hasCL:
			// The headers are sound, so policy still sees them. Where the
			// message ends is unknown: resync on start lines.
			out = append(out, m)
			fail(fmt.Errorf("stream %v: %w", c.key, errMissingLength))
			c.synced = false
		case hdrLen+cl > s.maxBuf:
			// Content-Length is not trusted this far: skipping it could
			// hide what follows, so resync on start lines instead.
			out = append(out, m)
			s.stats.TooLarge++
			fail(fmt.Errorf("%w: stream %v: %d bytes", ErrTooLarge, c.key, hdrLen+cl))
			c.synced = false
		default:
			out = append(out, m)
			c.skip = cl
			c.synced = true
		}
		work, scan, lineEnd = work[hdrLen:], 0, 0
	}

	// Keep what is left: the start of a message (or of a line).
	if len(work) > s.maxBuf {
		// A partial line is only reported at a message boundary; once a
		// start line is found it is a message.
		if c.synced || lineEnd > 0 {
			s.stats.TooLarge++
			fail(fmt.Errorf("%w: stream %v: partial message over %d bytes", ErrTooLarge, c.key, s.maxBuf))
		}
		c.reset()
		return out, first
	}
	c.keep(work, scan, lineEnd)
	return out, first
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
	sip20    = []byte("SIP/2.0")
)

// keep stores work, the unparsed tail, as c's buffer; work may alias c.buf.
func (c *conn) keep(work []byte, scan, lineEnd int) {
	if len(work) == 0 {
		if cap(c.buf) > keepBufCap {
			c.buf = nil
		}
		c.buf = c.buf[:0]
		c.scan, c.lineEnd = 0, 0
		return
	}
	c.buf = append(c.buf[:0], work...) // copy handles the overlap
	c.scan, c.lineEnd = scan, lineEnd
}

// reset drops c's partial message and leaves it unsynchronised.
func (c *conn) reset() {
	c.buf = nil
	c.scan, c.lineEnd, c.skip = 0, 0, 0
	c.synced = false
}

// plausibleStart reports whether line looks like a SIP start line: a status
// line ("SIP/2.0 ...") or a request line (token SP URI-with-scheme SP
// "SIP/2.0"). It only picks where to resynchronise; the parse decides.
func plausibleStart(line []byte) bool {
	if len(line) > len(sip20) && line[len(sip20)] == ' ' && bytes.EqualFold(line[:len(sip20)], sip20) {
		return true
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || !bytes.EqualFold(line[sp2+1:], sip20) {
		return false
	}
	return isToken(line[:sp1]) && bytes.IndexByte(line[sp1+1:sp2], ':') > 0
}

// Forget drops the state of connection key. Policy calls it when it drops a
// segment, so that the retransmission is parsed again instead of being
// skipped as already seen.
func (s *Streams) Forget(key ConnKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conns[key]; c != nil {
		s.remove(c)
	}
}

// Len returns the number of tracked connections.
func (s *Streams) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Stats returns the counters.
func (s *Streams) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// add tracks a new connection, evicting the least recently fed one if full.
func (s *Streams) add(key ConnKey) *conn {
	if len(s.conns) >= s.maxConns {
		s.remove(s.lru.prev)
		s.stats.Evictions++
	}
	c := &conn{key: key}
	s.conns[key] = c
	s.pushFront(c)
	return c
}

func (s *Streams) remove(c *conn) {
	delete(s.conns, c.key)
	c.prev.nextc, c.nextc.prev = c.nextc, c.prev
	c.prev, c.nextc = nil, nil
}

func (s *Streams) touch(c *conn) {
	c.prev.nextc, c.nextc.prev = c.nextc, c.prev
	s.pushFront(c)
}

func (s *Streams) pushFront(c *conn) {
	c.prev, c.nextc = &s.lru, s.lru.nextc
	s.lru.nextc.prev = c
	s.lru.nextc = c
}
