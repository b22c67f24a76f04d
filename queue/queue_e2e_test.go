//go:build e2e

package queue

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaissmai/bart"

	"github.com/sipprot/sipprot/internal/testutil"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

// queueNums keeps the tests' queue numbers apart, though each test has
// its own namespace.
var queueNums atomic.Uint32

func nextQueue() uint16 { return uint16(100 + queueNums.Add(10)) }

// engineDenying is the real engine with deny as its deny list, its events
// drained as the daemon would.
func engineDenying(t testing.TB, deny ...string) *policy.Engine {
	t.Helper()
	e := policy.New(policy.DefaultConfig(), nil)
	d := new(bart.Lite)
	for _, s := range deny {
		d.Insert(netip.MustParsePrefix(s))
	}
	e.SetLists(nil, d)
	return e
}

// recorder wraps a Decider and remembers what it saw.
type recorder struct {
	Decider
	mu    sync.Mutex
	local map[uint16]int // by destination port, packets seen with Local set
	seen  map[uint16]int
}

func (r *recorder) Decide(p *packet.Parsed) policy.Decision {
	r.mu.Lock()
	if r.seen == nil {
		r.seen, r.local = map[uint16]int{}, map[uint16]int{}
	}
	r.seen[p.DstPort]++
	if p.Local {
		r.local[p.DstPort]++
	}
	r.mu.Unlock()
	return r.Decider.Decide(p)
}

// serve runs q in the background until the test ends.
func serve(t testing.TB, q *Queue) {
	t.Helper()
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Serve(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
}

func health(t testing.TB, q *Queue) QueueHealth {
	t.Helper()
	hs := q.Health()
	if len(hs) != 1 {
		t.Fatalf("Health: %d queues", len(hs))
	}
	return hs[0]
}

// TestE2EVerdicts: a denied source's packets are dropped, others accepted,
// and packets the host sends itself are marked Local.
func TestE2EVerdicts(t *testing.T) {
	n := newTestNet(t, 2)
	num := nextQueue()
	good, bad := n.txAddr[0], n.txAddr[1]
	rec := &recorder{Decider: engineDenying(t, bad.String()+"/32")}
	q := New(Config{Number: num, FailOpen: true, NetNS: n.rxFD, StallAfter: time.Second}, rec, nil)
	serve(t, q)
	qs := fmt.Sprint(num)
	n.ipt(t, "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "NFQUEUE", "--queue-num", qs, "--queue-bypass")
	n.ipt(t, "-A", "OUTPUT", "-p", "udp", "--dport", "5070", "-j", "NFQUEUE", "--queue-num", qs, "--queue-bypass")

	ln := n.listen(t, 5060)
	for _, src := range []netip.Addr{good, bad} {
		c := n.dialFrom(t, src, 5060)
		for i := range 20 {
			if _, err := c.Write(register(src, i, "Yealink")); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := receiveAll(ln, 500*time.Millisecond)
	if got[good] != 20 || got[bad] != 0 {
		t.Fatalf("received %v, want 20 from %v and none from %v", got, good, bad)
	}

	// A packet this host sends (OUTPUT hook) is Local.
	out := n.listenTX(t, 5070)
	err := n.rx.Do(func() error {
		c, err := dialUDP(n.rxAddr, out.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(register(n.rxAddr, 1, "pbx"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := receiveAll(out.c, 500*time.Millisecond); got[n.rxAddr] != 1 {
		t.Fatalf("the host's own packet did not pass: %v", got)
	}
	rec.mu.Lock()
	seen, local := rec.seen, rec.local
	rec.mu.Unlock()
	if seen[5060] != 40 || local[5060] != 0 || seen[5070] != 1 || local[5070] != 1 {
		t.Fatalf("decider saw %v, Local on %v; want 40 inbound not local, 1 outbound local", seen, local)
	}

	h := health(t, q)
	if h.Packets != 41 || h.Dropped != 20 || h.Accepted != 21 || !h.Healthy || h.Errors != 0 {
		t.Fatalf("health %+v", h)
	}
	if h.Kernel == nil || h.Kernel.CopyMode != 2 || h.Kernel.CopyRange < 65000 || h.Kernel.Waiting != 0 {
		t.Fatalf("kernel view %+v", h.Kernel)
	}
	t.Logf("health: %+v kernel: %+v", h, *h.Kernel)
}

// TestE2EBypassWithoutReader: with --queue-bypass, packets pass while no
// reader is bound: before start, and after a stop.
func TestE2EBypassWithoutReader(t *testing.T) {
	n := newTestNet(t, 1)
	num := nextQueue()
	src := n.txAddr[0]
	n.ipt(t, "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num), "--queue-bypass")
	ln := n.listen(t, 5060)
	c := n.dialFrom(t, src, 5060)
	send := func(k int) {
		for i := range k {
			if _, err := c.Write(register(src, i, "Yealink")); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(5)
	if got := receiveAll(ln, 300*time.Millisecond); got[src] != 5 {
		t.Fatalf("no reader yet: received %v, want 5", got)
	}

	q := New(Config{Number: num, FailOpen: true, NetNS: n.rxFD}, engineDenying(t, src.String()+"/32"), nil)
	if err := q.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Serve(ctx); close(done) }()
	send(5)
	if got := receiveAll(ln, 300*time.Millisecond); got[src] != 0 {
		t.Fatalf("reader bound, source denied: received %v", got)
	}
	cancel()
	<-done
	testutil.WaitFor(t, 5*time.Second, "queue unbound", func() bool { _, ok := n.kernelStats(t)[num]; return !ok })
	send(5)
	if got := receiveAll(ln, 300*time.Millisecond); got[src] != 5 {
		t.Fatalf("reader stopped: received %v, want 5", got)
	}
}

// blocker is a Decider that holds every decision until released.
type blocker struct {
	release chan struct{}
	entered chan struct{}
}

func newBlocker() *blocker {
	return &blocker{release: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (b *blocker) Decide(*packet.Parsed) policy.Decision {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return policy.Decision{Verdict: policy.Accept}
}

// TestE2EFailOpenFlag: with a one-packet queue and the reader busy, later
// packets pass when FailOpen is set and are dropped (and counted by the
// kernel) when it is not. This is the kernel flag, not --queue-bypass.
func TestE2EFailOpenFlag(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprintf("fail_open=%v", failOpen), func(t *testing.T) {
			n := newTestNet(t, 1)
			num := nextQueue()
			src := n.txAddr[0]
			b := newBlocker()
			q := New(Config{Number: num, FailOpen: failOpen, MaxQueueLen: 1, NetNS: n.rxFD}, b, nil)
			serve(t, q)
			t.Cleanup(func() { close(b.release) })
			n.ipt(t, "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num), "--queue-bypass")
			ln := n.listen(t, 5060)
			c := n.dialFrom(t, src, 5060)
			c.Write(register(src, 0, "Yealink"))
			<-b.entered // the reader holds packet 1; the queue is full
			for i := range 9 {
				c.Write(register(src, i+1, "Yealink"))
			}
			got := receiveAll(ln, 300*time.Millisecond)
			k := n.kernelStats(t)[num]
			if failOpen {
				if got[src] != 9 || k.QueueDropped != 0 {
					t.Fatalf("fail-open: received %d of the 9 overflow packets, kernel %+v", got[src], k)
				}
			} else if got[src] != 0 || k.QueueDropped != 9 {
				t.Fatalf("fail-closed: received %d of the 9 overflow packets (want 0), kernel %+v", got[src], k)
			}
		})
	}
}

// TestE2EWedged: a reader stuck in a decision while the kernel holds
// packets is reported unhealthy, and healthy again once it moves.
func TestE2EWedged(t *testing.T) {
	n := newTestNet(t, 1)
	num := nextQueue()
	src := n.txAddr[0]
	b := newBlocker()
	q := New(Config{Number: num, FailOpen: true, NetNS: n.rxFD, StallAfter: 300 * time.Millisecond}, b, nil)
	serve(t, q)
	if !q.Alive() {
		t.Fatalf("not alive when idle: %+v", q.Health())
	}
	n.ipt(t, "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num), "--queue-bypass")
	c := n.dialFrom(t, src, 5060)
	c.Write(register(src, 0, "Yealink"))
	<-b.entered
	time.Sleep(500 * time.Millisecond)
	h := health(t, q)
	if h.Healthy || !strings.Contains(h.Problem, "wedged") || q.Alive() {
		t.Fatalf("stuck reader reported %+v", h)
	}
	t.Logf("stuck: %s", h.Problem)
	close(b.release)
	testutil.WaitFor(t, 5*time.Second, "healthy again", func() bool { return health(t, q).Healthy })
}

// TestE2EReopen: when the reader's socket dies under it, it binds again
// and goes on judging; a second Queue on the same number is refused.
func TestE2EReopen(t *testing.T) {
	n := newTestNet(t, 1)
	num := nextQueue()
	src := n.txAddr[0]
	q := New(Config{Number: num, FailOpen: true, NetNS: n.rxFD}, engineDenying(t, src.String()+"/32"), nil)
	serve(t, q)

	other := New(Config{Number: num, NetNS: n.rxFD}, engineDenying(t), nil)
	err := other.Open()
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("queue %d", num)) {
		t.Fatalf("second bind: %v, want ErrInUse naming queue %d", err, num)
	}
	t.Logf("second bind: %v", err)

	n.ipt(t, "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num), "--queue-bypass")
	c := n.dialFrom(t, src, 5060)
	c.Write(register(src, 0, "Yealink"))
	testutil.WaitFor(t, 5*time.Second, "first packet", func() bool { return health(t, q).Dropped == 1 })

	q.readers[0].cur.Load().close() // the socket dies
	testutil.WaitFor(t, 5*time.Second, "re-open", func() bool { h := health(t, q); return h.Reopens == 1 && h.Running })
	c.Write(register(src, 1, "Yealink"))
	testutil.WaitFor(t, 5*time.Second, "packet after re-open", func() bool { return health(t, q).Dropped == 2 })
	if h := health(t, q); !h.Healthy {
		t.Fatalf("after re-open: %+v", h)
	}
}

// slowDecider delays the decisions for one source.
type slowDecider struct {
	Decider
	slow  netip.Addr
	delay time.Duration
}

func (s slowDecider) Decide(p *packet.Parsed) policy.Decision {
	if p.Src == s.slow {
		time.Sleep(s.delay)
	}
	return s.Decider.Decide(p)
}

// TestE2EENOBUFS: a flood into a tiny socket buffer makes the kernel
// report ENOBUFS; the reader counts it, keeps going, and still judges
// what comes after.
func TestE2EENOBUFS(t *testing.T) {
	n := newTestNet(t, 2)
	num := nextQueue()
	flooder, denied := n.txAddr[0], n.txAddr[1]
	d := slowDecider{Decider: engineDenying(t, denied.String()+"/32"), slow: flooder, delay: 200 * time.Microsecond}
	q := New(Config{Number: num, FailOpen: true, RcvBuf: 4096, NetNS: n.rxFD}, d, nil)
	serve(t, q)
	n.ipt(t, "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num), "--queue-bypass")
	ln := n.listen(t, 5060)
	c := n.dialFrom(t, flooder, 5060)
	const flood = 5000
	msg := register(flooder, 0, "Yealink")
	for range flood {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	got := receiveAll(ln, 500*time.Millisecond)
	h := health(t, q)
	t.Logf("flood of %d: %d judged, %d reached the listener; health %+v", flood, h.Packets, got[flooder], h)
	if h.ENOBUFS == 0 || h.Lost == 0 || !h.Running || h.Reopens != 0 {
		t.Fatalf("want ENOBUFS and lost packets counted, the reader running: %+v", h)
	}
	if h.Packets+h.Lost > flood || got[flooder] > flood {
		t.Fatalf("more judged or lost than sent: %+v", h)
	}

	// The loop goes on: a denied source is dropped, packet for packet
	// (one at a time: the tiny buffer holds two or three).
	before := h
	c2 := n.dialFrom(t, denied, 5060)
	for i := range 10 {
		c2.Write(register(denied, i, "Yealink"))
		testutil.WaitFor(t, 5*time.Second, "the packet judged", func() bool { return health(t, q).Packets == before.Packets+uint64(i)+1 })
	}
	if got := receiveAll(ln, 300*time.Millisecond); got[denied] != 0 {
		t.Fatalf("denied source passed after the flood: %v", got)
	}
	if h := health(t, q); h.Dropped != before.Dropped+10 || !h.Healthy {
		t.Fatalf("after the flood: %+v", h)
	}
}

// TestE2ERun: Run closes Ready once bound and returns nil when ctx ends;
// a Run that cannot bind returns the error at once.
func TestE2ERun(t *testing.T) {
	n := newTestNet(t, 1)
	num := nextQueue()
	q := New(Config{Number: num, Count: 3, NetNS: n.rxFD}, engineDenying(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- q.Run(ctx) }()
	select {
	case <-q.Ready():
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	ks := n.kernelStats(t)
	for i := range uint16(3) {
		if _, ok := ks[num+i]; !ok {
			t.Fatalf("queue %d not bound: %v", num+i, ks)
		}
	}
	if !q.Alive() {
		t.Fatalf("not alive: %+v", q.Health())
	}

	other := New(Config{Number: num + 2, NetNS: n.rxFD}, engineDenying(t), nil)
	if err := other.Run(context.Background()); !errors.Is(err, ErrInUse) {
		t.Fatalf("Run on a taken queue: %v", err)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if len(n.kernelStats(t)) != 0 || q.Alive() {
		t.Fatalf("queues left bound after Run: %v", n.kernelStats(t))
	}
}
