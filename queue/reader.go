package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

// maxBadReads is how many failed reads in a row (ENOBUFS excepted) end a
// socket: the reader then re-opens it.
const maxBadReads = 1000

// drainReads bounds the final reads after ctx ends, so a flood cannot
// hold a stop.
const drainReads = 64

// Re-open backoff after a socket failed.
const (
	reopenFirst = 100 * time.Millisecond
	reopenMax   = 5 * time.Second
)

// logEvery rate-limits the reader's error logs.
const logEvery = 10 * time.Second

// bindSeq numbers bind requests; their answers are told apart from the
// answers to verdicts (sequence 0) by it.
var bindSeq atomic.Uint32

// reader serves one queue. Everything but st and cur belongs to the
// reader's goroutine.
type reader struct {
	q   *Queue
	num uint16
	c   *conn
	cur atomic.Pointer[conn] // c, for wake and tests

	p   packet.Parsed
	pkt nfqPacket
	v   verdicts
	n   counts // the batch being processed; published after it
	st  stats
	lat latency

	lastID uint32
	haveID bool

	bindSeq  uint32
	bindDone bool
	bindErr  error

	logLimit limiter
}

// counts are the per-packet counters of one batch.
type counts struct {
	packets, accepted, dropped, undecodable, lost uint64
}

// stats is what Health reads while the reader runs.
type stats struct {
	packets, accepted, dropped, undecodable atomic.Uint64
	lost, errors, enobufs, reopens          atomic.Uint64
	reads, verdictMsgs                      atomic.Uint64
	lastVerdict, lastRecv, boundAt          atomic.Int64 // unix nanoseconds
	lastID, portID                          atomic.Uint32
	running                                 atomic.Bool

	// The previous Health sample, under Queue.healthMu.
	prevIDSeq   uint32
	prevENOBUFS uint64
	prevValid   bool
}

func newReader(q *Queue, num uint16) *reader {
	return &reader{q: q, num: num, v: verdicts{queue: num}, logLimit: limiter{every: logEvery}}
}

// open dials and binds the queue.
func (r *reader) open() error {
	c, err := dial(r.q.cfg.NetNS, r.q.cfg.RcvBuf, batchSize)
	if err != nil {
		return fmt.Errorf("queue %d: %w", r.num, err)
	}
	r.c, r.haveID = c, false
	r.st.lastID.Store(0) // a new binding numbers from 0 again
	if err := r.bind(); err != nil {
		r.c = nil
		c.close()
		return bindError(r.num, err)
	}
	r.cur.Store(c)
	r.st.portID.Store(c.portID)
	r.st.boundAt.Store(r.q.now().UnixNano())
	r.st.running.Store(true)
	return nil
}

// bind sends the bind request and reads until its answer. Packets may
// arrive before the answer (rules already in place after a crash): they
// are judged like any other.
func (r *reader) bind() error {
	r.bindSeq = bindSeq.Add(1)
	if r.bindSeq == 0 {
		r.bindSeq = bindSeq.Add(1)
	}
	r.bindDone, r.bindErr = false, nil
	msg, err := bindMessage(r.num, r.bindSeq, r.q.cfg.MaxQueueLen, r.q.cfg.FailOpen)
	if err != nil {
		return err
	}
	if err := r.c.send(msg); err != nil {
		return err
	}
	if err := r.c.setReadDeadline(time.Now().Add(bindTimeout)); err != nil {
		return err
	}
	for !r.bindDone {
		n, err := r.c.recv()
		if err != nil {
			if isENOBUFS(err) {
				r.fault("receive", err)
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("no answer from the kernel within %v", bindTimeout)
			}
			return err
		}
		r.process(n)
	}
	if r.bindErr != nil {
		return r.bindErr
	}
	return r.c.setReadDeadline(time.Time{})
}

// wake interrupts a recv in progress (Serve's ctx ended).
func (r *reader) wake() {
	if c := r.cur.Load(); c != nil {
		_ = c.setReadDeadline(time.Unix(1, 0))
	}
}

func (r *reader) closeConn() {
	r.st.running.Store(false)
	if r.c != nil {
		r.c.close()
		r.c = nil
	}
}

// serve runs the queue until ctx ends, re-opening its socket whenever it
// fails.
func (r *reader) serve(ctx context.Context) {
	for {
		err := r.loop(ctx)
		if ctx.Err() != nil {
			r.drain()
			r.closeConn()
			return
		}
		r.closeConn()
		r.st.reopens.Add(1)
		r.q.log.Error("queue reader stopped, re-opening", "queue", r.num, "err", err)
		if !r.reopen(ctx) {
			return
		}
	}
}

// reopen binds the queue again, backing off while it fails. It reports
// false if ctx ended first.
func (r *reader) reopen(ctx context.Context) bool {
	wait := reopenFirst
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		err := r.open()
		if err == nil {
			// Store then check: wake, run after ctx ended, either saw
			// this socket or this check sees ctx ended.
			if ctx.Err() != nil {
				r.closeConn()
				return false
			}
			r.q.log.Info("queue re-opened", "queue", r.num)
			return true
		}
		r.st.errors.Add(1)
		if ok, n := r.logLimit.allow(time.Now()); ok {
			r.q.log.Error("re-opening queue failed", "queue", r.num, "err", err, "suppressed", n)
		}
		wait = min(2*wait, reopenMax)
	}
}

// loop reads and judges until ctx ends (nil) or the socket fails.
func (r *reader) loop(ctx context.Context) error {
	bad := 0
	for ctx.Err() == nil {
		n, err := r.c.recv()
		if err == nil {
			bad = 0
			r.process(n)
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if isClosed(err) {
			return err
		}
		r.fault("receive", err)
		if isENOBUFS(err) {
			// The kernel had no room for messages to us: those packets
			// were let through (fail-open) or dropped. Keep reading;
			// this is the error that ends go-nfqueue's loop.
			continue
		}
		if bad++; bad >= maxBadReads {
			return fmt.Errorf("%d receive errors in a row, last: %w", bad, err)
		}
	}
	return nil
}

// drain judges what the socket still holds once ctx ended: closing the
// socket makes the kernel drop the packets waiting for us.
func (r *reader) drain() {
	if r.c == nil {
		return
	}
	_ = r.c.setReadDeadline(time.Time{})
	r.c.nowait = true
	for range drainReads {
		n, err := r.c.recv()
		if err != nil || n == 0 {
			break
		}
		r.process(n)
	}
}

// process judges the n datagrams of the last read and sends their
// verdicts with one write.
func (r *reader) process(n int) {
	start := time.Now()
	for i := range n {
		b, truncated := r.c.datagram(i)
		if truncated {
			// Cannot happen: slotSize exceeds the largest message. The
			// cut message fails to parse and is skipped; the next
			// batch verdict settles its packet.
			r.fault("receive", errTruncated)
		}
		r.datagram(b)
	}
	sent := false
	if out := r.v.take(); len(out) > 0 {
		if err := r.c.send(out); err != nil {
			r.fault("verdict", err)
		} else {
			sent = true
		}
	}
	end := time.Now()
	now := end.UnixNano()
	if sent {
		r.st.lastVerdict.Store(now)
		r.observe(start, end)
	}
	if n > 0 {
		r.st.lastRecv.Store(now)
		r.st.lastID.Store(r.lastID)
	}
	r.publish()
}

var errTruncated = errors.New("message cut to fit the receive buffer")

// datagram handles the netlink messages of one datagram.
func (r *reader) datagram(b []byte) {
	for len(b) > 0 {
		m, rest, err := nextMessage(b)
		if err != nil {
			r.fault("parse", err)
			return
		}
		b = rest
		switch m.typ {
		case nfqnlMsgPacket:
			r.packet(m.data)
		case nlmsgError:
			r.netlinkError(m.data)
		}
	}
}

// packet judges one queued packet and records its verdict.
func (r *reader) packet(data []byte) {
	if err := parsePacket(data, &r.pkt); err != nil {
		r.fault("parse", err)
		return
	}
	id := r.pkt.id
	if r.haveID {
		// Ids the kernel skipped are packets it could not deliver.
		if gap := id - r.lastID - 1; gap != 0 && gap < 1<<31 {
			r.n.lost += uint64(gap)
		}
	}
	r.lastID, r.haveID = id, true
	r.v.add(id, r.judge(&r.pkt))
}

// judge decides one packet. This is the one place a verdict is chosen.
func (r *reader) judge(pkt *nfqPacket) uint32 {
	r.n.packets++
	d := policy.Decision{Verdict: policy.Accept}
	if r.decode(pkt) {
		d = r.q.d.Decide(&r.p)
	}
	if d.Verdict == policy.Drop {
		r.n.dropped++
		return nfDrop
	}
	r.n.accepted++
	return nfAccept
}

// decode fills r.p from the packet. It reports false when not even the
// source address is known; such a packet is accepted.
func (r *reader) decode(pkt *nfqPacket) bool {
	p := &r.p
	if err := p.Decode(pkt.payload); err != nil {
		r.n.undecodable++
		if !p.Src.IsValid() {
			return false
		}
		// Judged by address only, as a fragment is: a malformed packet
		// from a denied or blocked source is still dropped.
		*p = packet.Parsed{Src: p.Src, Dst: p.Dst, Proto: p.Proto, Length: p.Length, Fragment: true}
	}
	p.Local = pkt.hook == hookLocalOut
	return true
}

// netlinkError handles the kernel's answer to a bind, or its complaint
// about a verdict.
func (r *reader) netlinkError(data []byte) {
	errno, seq, err := parseError(data)
	if err != nil {
		r.fault("parse", err)
		return
	}
	if seq != 0 && seq == r.bindSeq {
		r.bindDone = true
		if errno != 0 {
			r.bindErr = syscall.Errno(errno)
		}
		return
	}
	if errno != 0 {
		// A verdict for a packet no longer queued (ENOENT), at worst.
		r.fault("verdict", syscall.Errno(errno))
	}
}

// observe puts the batch's packets in the latency histogram: read at
// start, verdicts written at end. Once per batch, not per packet.
func (r *reader) observe(start, end time.Time) {
	if r.n.packets > 0 {
		r.lat.observe(end.Sub(start), r.n.packets)
	}
}

// publish adds the batch's counters to the shared ones.
func (r *reader) publish() {
	n := &r.n
	if n.packets != 0 {
		r.st.packets.Add(n.packets)
		r.st.accepted.Add(n.accepted)
		r.st.dropped.Add(n.dropped)
	}
	if n.undecodable != 0 {
		r.st.undecodable.Add(n.undecodable)
	}
	if n.lost != 0 {
		r.st.lost.Add(n.lost)
	}
	r.st.reads.Add(1)
	if m := r.v.msgs; m != 0 {
		r.st.verdictMsgs.Add(m)
		r.v.msgs = 0
	}
	*n = counts{}
}

// fault counts an error and logs it, at most once per logEvery.
func (r *reader) fault(what string, err error) {
	r.st.errors.Add(1)
	if isENOBUFS(err) {
		r.st.enobufs.Add(1)
	}
	if ok, n := r.logLimit.allow(time.Now()); ok {
		r.q.log.Warn("queue error", "queue", r.num, "op", what, "err", err, "suppressed", n)
	}
}

// limiter allows one event per period and counts the rest. Only the
// reader's goroutine uses it.
type limiter struct {
	every      time.Duration
	next       time.Time
	suppressed int
}

func (l *limiter) allow(now time.Time) (bool, int) {
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.next, l.suppressed = now.Add(l.every), 0
	return true, n
}
