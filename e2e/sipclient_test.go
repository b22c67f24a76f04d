//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// sipClient sends SIP OPTIONS requests over UDP from an address inside a
// namespace to the registrar and matches the replies by Call-ID. It is the
// tests' own probe: "does this source reach Kamailio now?"
type sipClient struct {
	conn  *net.UDPConn
	local netip.AddrPort
	dst   netip.AddrPort
	ua    string

	mu   sync.Mutex
	seq  int
	sent map[string]*ping // by Call-ID
	all  []*ping
}

// ping is one request of a sipClient and its answer.
type ping struct {
	sent     time.Time
	answered time.Time // zero if no reply yet
	code     int
	done     chan struct{}
}

// newSIPClient binds a UDP socket to src (ephemeral port) inside ns; its
// requests carry User-Agent ua. It is closed when the test ends.
func newSIPClient(t *testing.T, ns netnstest.NS, src netip.Addr, ua string) *sipClient {
	t.Helper()
	c := &sipClient{
		conn: ns.ListenUDP(t, netip.AddrPortFrom(src, 0)),
		dst:  pbxAddr(src), ua: ua, sent: map[string]*ping{},
	}
	c.local = c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	go c.read()
	return c
}

// read delivers replies to their pings until the socket is closed.
func (c *sipClient) read() {
	buf := make([]byte, 65536)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			return
		}
		code, callID := parseReply(buf[:n])
		if code == 0 {
			continue
		}
		c.mu.Lock()
		p := c.sent[callID]
		if p != nil && p.answered.IsZero() {
			p.answered, p.code = time.Now(), code
			close(p.done)
		}
		c.mu.Unlock()
	}
}

// parseReply returns a SIP reply's status code and Call-ID (0 and "" if b
// is not a reply).
func parseReply(b []byte) (int, string) {
	if !bytes.HasPrefix(b, []byte("SIP/2.0 ")) || len(b) < 11 {
		return 0, ""
	}
	code, err := strconv.Atoi(string(b[8:11]))
	if err != nil {
		return 0, ""
	}
	for _, line := range bytes.Split(b, []byte("\r\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if ok && (bytes.EqualFold(bytes.TrimSpace(name), []byte("Call-ID")) || bytes.Equal(bytes.TrimSpace(name), []byte("i"))) {
			return code, string(bytes.TrimSpace(val))
		}
	}
	return code, ""
}

// send sends one OPTIONS and returns its ping.
func (c *sipClient) send() *ping {
	c.mu.Lock()
	c.seq++
	n := c.seq
	callID := fmt.Sprintf("e2e-%d-%d@%s", n, time.Now().UnixNano(), c.local.Addr())
	p := &ping{sent: time.Now(), done: make(chan struct{})}
	c.sent[callID] = p
	c.all = append(c.all, p)
	c.mu.Unlock()
	host := func(a netip.Addr) string {
		if a.Is6() {
			return "[" + a.String() + "]"
		}
		return a.String()
	}
	msg := fmt.Sprintf("OPTIONS sip:100@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-e2e-%d-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=e2e%d\r\n"+
		"To: <sip:100@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"User-Agent: %s\r\n"+
		"Content-Length: 0\r\n\r\n",
		host(c.dst.Addr()), host(c.local.Addr()), c.local.Port(), n, time.Now().UnixNano(),
		host(c.local.Addr()), n, host(c.dst.Addr()), callID, c.ua)
	_, _ = c.conn.WriteToUDPAddrPort([]byte(msg), c.dst)
	return p
}

// options sends an OPTIONS and waits up to timeout for the reply; it
// returns the status code, or 0 without a reply.
func (c *sipClient) options(timeout time.Duration) int {
	p := c.send()
	select {
	case <-p.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return p.code
	case <-time.After(timeout):
		return 0
	}
}

// reaches sends up to tries OPTIONS, each waiting up to timeout for the
// reply, and reports whether one was answered.
func (c *sipClient) reaches(tries int, timeout time.Duration) bool {
	for range tries {
		if c.options(timeout) != 0 {
			return true
		}
	}
	return false
}

// pinger sends an OPTIONS every interval from a sipClient until stopped:
// steady SIP traffic to watch while the daemon is killed and restarted.
type pinger struct {
	c    *sipClient
	stop chan struct{}
	done chan struct{}
}

// startPinger starts sending; the pinger is stopped when the test ends.
func startPinger(t *testing.T, c *sipClient, interval time.Duration) *pinger {
	p := &pinger{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				c.send()
			}
		}
	}()
	t.Cleanup(p.halt)
	return p
}

// halt stops sending (idempotent).
func (p *pinger) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// pingStats summarises the pings sent in a time window.
type pingStats struct {
	sent, answered int
	longestGap     time.Duration // longest time without any answer
}

// stats returns the pings sent in [from, to) (answers are counted up to
// now) and the longest stretch inside the window without an answer.
func (p *pinger) stats(from, to time.Time) pingStats {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	var s pingStats
	last := from
	for _, pg := range p.c.all {
		if pg.sent.Before(from) || !pg.sent.Before(to) {
			continue
		}
		s.sent++
		if pg.answered.IsZero() {
			continue
		}
		s.answered++
		if gap := pg.answered.Sub(last); gap > s.longestGap {
			s.longestGap = gap
		}
		last = pg.answered
	}
	if gap := to.Sub(last); gap > s.longestGap {
		s.longestGap = gap
	}
	return s
}

// answeredSince counts pings answered at or after t0.
func (p *pinger) answeredSince(t0 time.Time) int {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	n := 0
	for _, pg := range p.c.all {
		if !pg.answered.IsZero() && !pg.answered.Before(t0) {
			n++
		}
	}
	return n
}
