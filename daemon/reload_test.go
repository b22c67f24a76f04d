package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

// writeBigList writes n random IPv4 and IPv6 prefixes, half of each, with
// notes, and returns the first IPv4 address listed.
func writeBigList(t testing.TB, path string, n int) netip.Addr {
	r := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	var first netip.Addr
	for i := range n {
		if i%2 == 0 {
			a := netip.AddrFrom4([4]byte{byte(1 + r.UintN(220)), byte(r.UintN(256)), byte(r.UintN(256)), byte(r.UintN(256))})
			p := netip.PrefixFrom(a, 16+int(r.UintN(17))).Masked()
			if !first.IsValid() {
				first = p.Addr()
			}
			fmt.Fprintf(&buf, "%s host %d\n", p, i)
		} else {
			var b [16]byte
			for j := range b {
				b[j] = byte(r.UintN(256))
			}
			b[0], b[1] = 0x20, 0x01
			fmt.Fprintf(&buf, "%s host %d\n", netip.PrefixFrom(netip.AddrFrom16(b), 32+int(r.UintN(97))).Masked(), i)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return first
}

// BenchmarkReloadDuringVerdicts reloads a 100,000-entry allow list (as
// the watcher and the control API do: read, build, publish, lift) while
// another goroutine judges packets as fast as it can, and reports the
// slowest reload and the longest gap between two verdicts, against the
// same loop with no reload. A timing, so a benchmark: `make unit` on a
// shared machine asserts only that the list is in force.
func BenchmarkReloadDuringVerdicts(b *testing.B) {
	t := b
	dir := t.TempDir()
	cfg := conf.Defaults()
	cfg.Lists.Allow, cfg.Lists.Deny = filepath.Join(dir, "allow"), filepath.Join(dir, "deny")
	listed := writeBigList(t, cfg.Lists.Allow, 100_000)
	os.WriteFile(cfg.Lists.Deny, nil, 0o644)
	d := &Daemon{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), engine: policy.New(policy.Compile(cfg), nil)}
	d.live.Store(cfg)
	options := func(src netip.Addr) *packet.Parsed {
		return &packet.Parsed{Src: src, Dst: netip.MustParseAddr("203.0.113.10"), SrcPort: 5060, DstPort: 5060, Proto: packet.UDP,
			Payload: []byte("OPTIONS sip:203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n" +
				"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: Yealink\r\nContent-Length: 0\r\n\r\n")}
	}
	pkts := []*packet.Parsed{options(listed), options(netip.MustParseAddr("192.0.2.9"))}

	// judge runs verdicts until stop and returns the longest gap between
	// two of them and how many it made.
	judge := func(stop *atomic.Bool) (time.Duration, int) {
		var worst time.Duration
		n := 0
		last := time.Now()
		for !stop.Load() {
			d.engine.Decide(pkts[n&1])
			n++
			now := time.Now()
			worst = max(worst, now.Sub(last))
			last = now
		}
		return worst, n
	}
	measure := func(work func()) (worst time.Duration, n int, took time.Duration) {
		var stop atomic.Bool
		done := make(chan struct{})
		go func() { worst, n = judge(&stop); close(done) }()
		time.Sleep(50 * time.Millisecond)
		t0 := time.Now()
		work()
		took = time.Since(t0)
		stop.Store(true)
		<-done
		return
	}
	reloads := 0
	var slowest time.Duration
	worstReload, nReload, tookReload := measure(func() {
		for b.Loop() {
			reloads++
			t0 := time.Now()
			if _, err := d.ReloadLists(); err != nil {
				t.Error(err)
			}
			slowest = max(slowest, time.Since(t0))
		}
	})
	worstIdle, nIdle, tookIdle := measure(func() { time.Sleep(tookReload) })
	if v := d.engine.Decide(pkts[0]); v.Reason != policy.ReasonAllow {
		t.Fatalf("the big allow list is not in force: %v", v)
	}
	b.ReportMetric(float64(slowest.Milliseconds()), "slowest-reload-ms")
	b.ReportMetric(float64(worstReload.Microseconds()), "gap-reloading-µs")
	b.ReportMetric(float64(worstIdle.Microseconds()), "gap-idle-µs")
	b.ReportMetric(float64(nReload)/tookReload.Seconds(), "verdicts-reloading/s")
	b.ReportMetric(float64(nIdle)/tookIdle.Seconds(), "verdicts-idle/s")
}
