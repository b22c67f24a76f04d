//go:build e2e

package queue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	nfqueue "github.com/florianl/go-nfqueue/v2"

	"github.com/sipprot/sipprot/packet"
)

// The throughput harness: a REGISTER flood from one namespace into the
// queue of another, judged by sipprot's loop and, in the same run, by a
// naive go-nfqueue loop (one queue, one verdict message per packet,
// default socket buffer, a sipgo parse per packet).
//
//	go test -tags e2e -run Throughput -v -timeout 30m ./queue/
//
// It runs only when -run names it. Knobs, from the environment:
// SP_Q_STEP_MS, the length of each measurement (2000); SP_Q_SOURCES, the
// flooding addresses (16); SP_Q_QUEUES, the queues sipprot balances over
// (2); SP_Q_QLEN and SP_Q_RCVBUF_KB, sipprot's queue length and socket
// buffer (0: the defaults); SP_Q_WORKERS, sender goroutines (1);
// SP_Q_ONLY=naive|sipprot, one loop only (to profile it); SP_Q_FANOUT=1
// adds --queue-cpu-fanout to sipprot's rule; SP_Q_PIN=0
// leaves sender and loop unpinned (by default the sender runs on CPU 0 and
// the loop on CPU 1).
//
// For each loop it measures a flat-out flood (the sender's top speed),
// then paced floods of rising rate, and reports the highest rate judged
// with under 1 % of the packets that reached the queue rule bypassing it.

// loopUnderTest is a verdict loop the harness can start and count.
type loopUnderTest interface {
	start(t *testing.T, n *testNet, first, count uint16) (stop func())
	judged() uint64
}

// sipprotLoop is this package's Queue in front of the real engine.
type sipprotLoop struct {
	d   Decider
	cfg Config // Number, Count and NetNS are set by start
	q   *Queue
}

func (l *sipprotLoop) start(t *testing.T, n *testNet, first, count uint16) func() {
	cfg := l.cfg
	cfg.Number, cfg.Count, cfg.NetNS, cfg.FailOpen = first, count, n.rxFD, true
	l.q = New(cfg, l.d, nil)
	if err := l.q.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.q.Serve(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func (l *sipprotLoop) judged() uint64 {
	var n uint64
	for _, h := range l.q.Health() {
		n += h.Packets
	}
	return n
}

// naiveLoop is the baseline of issue 3: go-nfqueue as documented, one
// SetVerdict per packet, a sipgo parse per packet.
type naiveLoop struct {
	count, errs atomic.Uint64
}

func (l *naiveLoop) start(t *testing.T, n *testNet, first, count uint16) func() {
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      first,
		MaxPacketLen: 0xffff,
		MaxQueueLen:  1024, // the kernel's default
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        nfqueue.NfQaCfgFlagFailOpen,
		NetNS:        n.rxFD,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var p packet.Parsed
	hook := func(a nfqueue.Attribute) int {
		if a.Payload != nil && p.Decode(*a.Payload) == nil && len(p.Payload) > 0 {
			sip.ParseMessage(p.Payload) // the baseline's cost; it accepts all
		}
		if err := nf.SetVerdict(*a.PacketID, nfqueue.NfAccept); err != nil {
			l.errs.Add(1)
		}
		l.count.Add(1)
		return 0
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, func(error) int { l.errs.Add(1); return 0 }); err != nil {
		t.Fatal(err)
	}
	return func() { cancel(); nf.Close() }
}

func (l *naiveLoop) judged() uint64 { return l.count.Load() }

// stepResult is one measurement.
type stepResult struct {
	rate           int // asked of the sender; 0 = flat out
	sent, hits     uint64
	judged         uint64
	elapsed        time.Duration // from the flood's start to the last verdict
	cpu            time.Duration // this process (the reader), user+system
	idSeq, ulost   uint64        // kernel: ids assigned, user_dropped+queue_dropped
	enobufs, lost  uint64        // sipprot's counters, when it is the loop
	verdictMsgs    uint64
	reads          uint64
	sendSeconds    float64
	bypass         uint64
	bypassFraction float64
}

func (s stepResult) verdictsPerSec() float64 { return float64(s.judged) / s.elapsed.Seconds() }

func (s stepResult) String() string {
	rate := "flat-out"
	if s.rate > 0 {
		rate = fmt.Sprintf("%d/s", s.rate)
	}
	cpu := 0.0
	if s.judged > 0 {
		cpu = float64(s.cpu.Nanoseconds()) / float64(s.judged) / 1000
	}
	extra := ""
	if s.reads > 0 {
		extra = fmt.Sprintf(" reads=%d verdict_msgs=%d enobufs=%d lost=%d", s.reads, s.verdictMsgs, s.enobufs, s.lost)
	}
	return fmt.Sprintf("rate=%-8s sent=%d (%.0f/s) hit_rule=%d judged=%d verdicts/s=%.0f bypassed=%d (%.2f%%) cpu/verdict=%.2fµs%s",
		rate, s.sent, float64(s.sent)/s.sendSeconds, s.hits, s.judged, s.verdictsPerSec(), s.bypass, 100*s.bypassFraction, cpu, extra)
}

type harness struct {
	t       *testing.T
	n       *testNet
	cpu     int // the sender's CPU, -1: unpinned
	step    time.Duration
	srcs    []netip.Addr
	first   uint16
	count   uint16
	workers int
}

// measure floods at rate for h.step and waits for the loop to settle.
func (h *harness) measure(l loopUnderTest, rate int) stepResult {
	t := h.t
	h.n.ipt(t, "-t", "mangle", "-Z", "INPUT")
	k0 := h.kernelTotals()
	j0 := l.judged()
	var s0 *QueueHealth
	if sl, ok := l.(*sipprotLoop); ok {
		s0 = sumHealth(sl.q.Health())
	}
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	fr := h.flood(rate)
	// Settle: the sockets may still hold a backlog.
	last, lastChange := l.judged(), time.Now()
	for time.Since(lastChange) < 300*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
		if j := l.judged(); j != last {
			last, lastChange = j, time.Now()
		}
	}
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	k1 := h.kernelTotals()
	r := stepResult{
		rate:        rate,
		sent:        fr.Sent,
		sendSeconds: fr.Elapsed.Seconds(),
		hits:        h.n.ruleHits(t, "mangle", "INPUT", "NFQUEUE"),
		judged:      last - j0,
		elapsed:     lastChange.Sub(start),
		cpu:         rusageTime(ru1) - rusageTime(ru0),
		idSeq:       k1.IDSequence - k0.IDSequence,
		ulost:       k1.UserDropped + k1.QueueDropped - k0.UserDropped - k0.QueueDropped,
	}
	if r.elapsed > fr.Elapsed+300*time.Millisecond {
		// Time to the last verdict, the settling wait excluded.
		r.elapsed = max(fr.Elapsed, r.elapsed-300*time.Millisecond)
	}
	if s0 != nil {
		s1 := sumHealth(l.(*sipprotLoop).q.Health())
		r.enobufs, r.lost = s1.ENOBUFS-s0.ENOBUFS, s1.Lost-s0.Lost
		r.verdictMsgs, r.reads = s1.VerdictMessages-s0.VerdictMessages, s1.Reads-s0.Reads
	}
	if r.hits > r.judged {
		r.bypass = r.hits - r.judged
	}
	if r.hits > 0 {
		r.bypassFraction = float64(r.bypass) / float64(r.hits)
	}
	return r
}

func rusageTime(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func sumHealth(hs []QueueHealth) *QueueHealth {
	var s QueueHealth
	for _, h := range hs {
		s.Packets += h.Packets
		s.ENOBUFS += h.ENOBUFS
		s.Lost += h.Lost
		s.VerdictMessages += h.VerdictMessages
		s.Reads += h.Reads
	}
	return &s
}

// kernelTotals sums the kernel's counters over the harness's queues.
func (h *harness) kernelTotals() (k struct{ IDSequence, UserDropped, QueueDropped uint64 }) {
	for num, s := range h.n.kernelStats(h.t) {
		if num >= h.first && num < h.first+h.count {
			k.IDSequence += uint64(s.IDSequence)
			k.UserDropped += uint64(s.UserDropped)
			k.QueueDropped += uint64(s.QueueDropped)
		}
	}
	return k
}

// flood runs the sender process in tx.
func (h *harness) flood(rate int) floodResult {
	spec, _ := json.Marshal(floodSpec{Dst: netip.AddrPortFrom(h.n.rxAddr, 5060), Srcs: h.srcs, Rate: rate,
		Duration: h.step, Workers: h.workers, CPU: h.cpu})
	argv := h.n.tx.Command(os.Args[0], "-test.run=^TestHelperFlood$", "-test.v=false")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "SP_Q_FLOOD="+string(spec))
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("flood: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), floodMarker); ok {
			var r floodResult
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.Err != "" {
				h.t.Fatalf("flood: %v %s", err, r.Err)
			}
			return r
		}
	}
	h.t.Fatalf("flood printed no result:\n%s", out)
	return floodResult{}
}

// run measures one loop: flat out, then rising rates until two in a row
// bypass 1 % or more. It returns the flat-out step and the highest clean
// rate.
func (h *harness) run(name string, l loopUnderTest, rates []int) (stepResult, int) {
	t := h.t
	stop := l.start(t, h.n, h.first, h.count)
	defer stop()
	defer h.queueRule()()
	flat := h.measure(l, 0)
	t.Logf("%s: %v", name, flat)
	clean, fails := 0, 0
	for _, rate := range rates {
		r := h.measure(l, rate)
		t.Logf("%s: %v", name, r)
		if r.bypassFraction < 0.01 && float64(r.sent) >= 0.9*float64(rate)*r.sendSeconds {
			clean, fails = rate, 0
		} else if fails++; fails == 2 {
			break
		}
	}
	return flat, clean
}

func TestThroughput(t *testing.T) {
	benchmarkOnly(t, "Throughput")
	env := envInt
	step := time.Duration(env("SP_Q_STEP_MS", 2000)) * time.Millisecond
	sources := env("SP_Q_SOURCES", 16)
	queues := uint16(env("SP_Q_QUEUES", 2))
	n := newTestNet(t, sources)
	// Accepted packets end here, past the queue: no socket, no ICMP.
	n.ipt(t, "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "DROP")

	h := &harness{t: t, n: n, step: step, srcs: n.txAddr, workers: env("SP_Q_WORKERS", 1), cpu: -1}
	if os.Getenv("SP_Q_PIN") != "0" && runtime.NumCPU() >= 2 {
		// The sender (and the kernel's receive path, which runs in its
		// softirq) on CPU 0, the verdict loop on CPU 1: the loops are
		// compared on one core each, whatever else the host runs.
		h.cpu = 0
		if err := pinProcess(1); err != nil {
			t.Fatal(err)
		}
	}
	rates := []int{2500, 5000, 7500, 10000, 15000, 20000, 30000, 40000, 50000, 60000, 80000, 100000, 120000,
		150000, 200000, 250000, 300000, 400000}

	only := os.Getenv("SP_Q_ONLY") // "naive" or "sipprot", to profile one
	var naiveFlat stepResult
	var naiveClean int
	if only != "sipprot" {
		h.first, h.count = 0, 1
		naiveFlat, naiveClean = h.run("naive", &naiveLoop{}, rates)
	}
	if only == "naive" {
		return
	}

	// The sender's ceiling: no queue, the DROP rule only.
	ceiling := h.flood(0)
	t.Logf("sender alone (no queue rule): %d packets in %v, %.0f/s", ceiling.Sent, ceiling.Elapsed, float64(ceiling.Sent)/ceiling.Elapsed.Seconds())

	cfg := Config{MaxQueueLen: uint32(env("SP_Q_QLEN", 0)), RcvBuf: env("SP_Q_RCVBUF_KB", 0) << 10}
	e := engineDenying(t)
	h.first, h.count = 10, queues
	sFlat, sClean := h.run(fmt.Sprintf("sipprot(%d queues)", queues), &sipprotLoop{d: e, cfg: cfg}, rates)

	// The blocked path: every source denied, the cheap decision.
	var deny []string
	for _, a := range n.txAddr {
		deny = append(deny, a.String()+"/32")
	}
	h.first = 20
	dFlat := h.measure1(&sipprotLoop{d: engineDenying(t, deny...), cfg: cfg})

	t.Logf("SUMMARY step=%v sources=%d sipprot_queues=%d sender_cpu=%d (-1: not pinned)", step, sources, queues, h.cpu)
	if only != "sipprot" {
		t.Logf("  naive:   flat-out %.0f verdicts/s, %.1f%% bypassed; highest clean rate %d/s", naiveFlat.verdictsPerSec(), 100*naiveFlat.bypassFraction, naiveClean)
	}
	t.Logf("  sipprot: flat-out %.0f verdicts/s, %.1f%% bypassed; highest clean rate %d/s", sFlat.verdictsPerSec(), 100*sFlat.bypassFraction, sClean)
	t.Logf("  sipprot, all sources denied: flat-out %.0f verdicts/s, %.1f%% bypassed", dFlat.verdictsPerSec(), 100*dFlat.bypassFraction)
	if naiveFlat.judged > 0 && naiveClean > 0 {
		t.Logf("  ratios: verdicts/s %.1fx, clean rate %.1fx", sFlat.verdictsPerSec()/naiveFlat.verdictsPerSec(), float64(sClean)/float64(naiveClean))
	}
}

// queueRule sends the flood to the harness's queues, as the rules
// package does (--queue-balance over several), and returns its removal.
// It is in mangle INPUT so that accepted packets go on to filter INPUT's
// DROP.
func (h *harness) queueRule() func() {
	rule := []string{"-t", "mangle", "-A", "INPUT", "-p", "udp", "--dport", "5060", "-j", "NFQUEUE"}
	if h.count > 1 {
		rule = append(rule, "--queue-balance", fmt.Sprintf("%d:%d", h.first, h.first+h.count-1))
		if os.Getenv("SP_Q_FANOUT") == "1" {
			rule = append(rule, "--queue-cpu-fanout")
		}
	} else {
		rule = append(rule, "--queue-num", fmt.Sprint(h.first))
	}
	h.n.ipt(h.t, append(rule, "--queue-bypass")...)
	return func() { h.n.ipt(h.t, "-t", "mangle", "-F", "INPUT") }
}

// measure1 measures a flat-out flood only.
func (h *harness) measure1(l loopUnderTest) stepResult {
	stop := l.start(h.t, h.n, h.first, h.count)
	defer stop()
	defer h.queueRule()()
	r := h.measure(l, 0)
	h.t.Logf("sipprot, all sources denied: %v", r)
	return r
}

// benchmarkOnly skips a root-only benchmark written as a test unless -run
// names it: `make e2e` runs the package, `make bench` asks for them.
func benchmarkOnly(t *testing.T, name string) {
	t.Helper()
	if !strings.Contains(flag.Lookup("test.run").Value.String(), name) {
		t.Skipf("a benchmark, not a test: run it with -run %s", name)
	}
}

// envInt is the positive integer in environment variable k, else def:
// the benchmarks' knobs.
func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}
