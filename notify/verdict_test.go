package notify

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

var (
	pbx       = netip.MustParseAddr("203.0.113.10")
	scanPayld = []byte("REGISTER sip:203.0.113.10 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:1001@203.0.113.10>;tag=abc\r\nTo: <sip:1001@203.0.113.10>\r\n" +
		"Call-ID: scan-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@198.51.100.1:5060>\r\n" +
		"User-Agent: friendly-scanner\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n")
)

// scanPackets are REGISTERs from n scanner sources in 2001:db8::/32.
func scanPackets(n int) []*packet.Parsed {
	pkts := make([]*packet.Parsed, n)
	for i := range pkts {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		pkts[i] = &packet.Parsed{Src: a, Dst: pbx, SrcPort: 5060, DstPort: 5060, Proto: packet.UDP, Payload: scanPayld, Length: 28 + len(scanPayld)}
	}
	return pkts
}

// phase runs n decisions flat out on a fresh engine whose events feed
// block (nil: drained only), as the daemon's event consumer does. It
// returns the time they took, the longest block call and the events the
// engine lost.
func phase(t testing.TB, n int, block func(policy.Event)) (took, longest time.Duration, lost uint64) {
	t.Helper()
	cfg := policy.DefaultConfig()
	cfg.UserAgents = []string{"friendly-scanner"}
	e := policy.New(cfg, policy.NewManualClock(t0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var maxNs atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-e.Ready():
				for _, ev := range e.TakeEvents(nil) {
					if block == nil || ev.Kind != policy.EventBlock {
						continue
					}
					start := time.Now()
					block(ev)
					if ns := int64(time.Since(start)); ns > maxNs.Load() {
						maxNs.Store(ns)
					}
				}
			}
		}
	})
	// Every 8th packet comes from a new scanner (a block), the others
	// from sources already blocked (drops), as in a scan wave.
	pkts := scanPackets(1 << 16)
	start := time.Now()
	for k := range n {
		p := pkts[(k/8)%len(pkts)]
		if dec := e.Decide(p); dec.Verdict != policy.Drop {
			t.Fatalf("packet %d from a scanner: %v %v", k, dec.Verdict, dec.Reason)
		}
	}
	took = time.Since(start)
	close(stop)
	wg.Wait()
	return took, time.Duration(maxNs.Load()), e.Stats().EventsLost
}

// hungNotifier is a notifier whose SMTP server accepts and never answers,
// with a batch of 100 sources.
func hungNotifier(t testing.TB) *runner {
	ln := hungListener(t)
	cfg := testConfig(nil, "ops@example.com")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cfg.SMTP.Port = atoi(port)
	cfg.SMTP.Timeout = conf.Duration{Duration: time.Hour} // hung for the whole test
	r := startNotifier(t, cfg, t.TempDir(), newFakeClock(t0), nil, nil, nil, withGrace(100*time.Millisecond))
	r.n.mu.Lock()
	r.n.maxBatch = 100
	r.n.mu.Unlock()
	return r
}

// While the SMTP server hangs (accepts, never answers) and the notifier's
// batch is full, every decision is made and Block returns: the test
// would hang otherwise. How fast Decide runs beside it is
// BenchmarkVerdictPathHungSMTP's figure.
func TestVerdictPathUnaffectedByHungSMTP(t *testing.T) {
	r := hungNotifier(t)
	const n = 1 << 19
	took, longest, lost := phase(t, n, r.n.Block)
	st := r.n.Status()
	if st.Pending != 1 || !st.LastDelivery.IsZero() {
		t.Fatalf("status %+v: want the first alert stuck in delivery", st)
	}
	r.n.mu.Lock()
	listed, more := len(r.n.doc.Batch.Entries), r.n.doc.Batch.MoreBlocks
	r.n.mu.Unlock()
	// Every 8th of n packets is a new scanner: the batch behind the
	// stuck alert is full, and no block event was lost.
	if listed != 100 || more == 0 || lost != 0 {
		t.Fatalf("batch %d listed, %d more, %d events lost: want it full and 0 lost", listed, more, lost)
	}
	t.Logf("%d decisions in %v with the SMTP server hung; longest Block %v", n, took, longest)
	// Shutdown cuts the hung session after the grace, not smtp.timeout
	// (an hour): the test would time out otherwise.
	r.stop()
	if st, err := ReadStatus(r.n.dir[:len(r.n.dir)-len(DirName)]); err != nil || st.Pending != 1 {
		t.Errorf("after stop: %+v, %v; want the alert kept for the next start", st, err)
	}
}

// BenchmarkVerdictPathHungSMTP: Decide's rate with no notifier beside
// Decide's rate feeding a notifier whose SMTP server hangs, in one run
// (ns-per-decide-idle, ns-per-decide-hung), and the longest Block call.
func BenchmarkVerdictPathHungSMTP(b *testing.B) {
	r := hungNotifier(b)
	const n = 1 << 18
	var idle, hung, longest time.Duration
	for b.Loop() {
		d, _, _ := phase(b, n, nil)
		idle += d
		d, l, _ := phase(b, n, r.n.Block)
		hung += d
		longest = max(longest, l)
	}
	b.ReportMetric(float64(idle.Nanoseconds())/float64(b.N*n), "ns-per-decide-idle")
	b.ReportMetric(float64(hung.Nanoseconds())/float64(b.N*n), "ns-per-decide-hung")
	b.ReportMetric(float64(longest.Microseconds()), "longest-block-µs")
}

// BenchmarkBlock: the cost of Block on the daemon's event consumer, into
// a full batch (the worst case: a new source past the limit).
func BenchmarkBlock(b *testing.B) {
	cfg := testConfig(nil, "ops@example.com")
	n := New(cfg, b.TempDir(), nil, nil, WithClock(newFakeClock(t0)))
	for _, tc := range []struct {
		name    string
		sources int
	}{{"same source", 1}, {"new sources", 1 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			ev := blockEvent(1, t0)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				ev.Addr = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				if tc.sources == 1 {
					ev.Addr = netip.AddrFrom4([4]byte{10, 0, 0, 1})
				}
				n.Block(ev)
			}
		})
	}
}
