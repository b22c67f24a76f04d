package fleet

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// startupStream is a /v1/decisions/stream?startup=true answer of n Ip
// decisions in 2001:db8::/32, from four origins.
func startupStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"deleted":null,"new":[`)
	origins := []string{"crowdsec", "cscli", "sipprot/pbx2", "sipprot/pbx3"}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"duration":"3h59m59.254200941s","id":%d,"origin":%q,"scenario":"crowdsecurity/ssh-bf","scope":"Ip","type":"ban","value":"2001:db8:%x:%x::1"}`,
			i+1, origins[i%len(origins)], i>>16, i&0xffff)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkStartup100k applies a 100,000-decision startup answer to an
// empty set, delivering the adds; it reports the heap held per decision.
func BenchmarkStartup100k(b *testing.B) {
	const n = 100_000
	body := startupStream(n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var p *puller
	for b.Loop() {
		p = testPuller(DefaultMaxDecisions, nil)
		if err := p.applyStartup(bytes.NewReader(body), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	if len(p.set.m) != n {
		b.Fatalf("held %d", len(p.set.m))
	}
	b.ReportMetric(heapPerDecision(n, body, func() any {
		q := testPuller(DefaultMaxDecisions, nil)
		_ = q.applyStartup(bytes.NewReader(body), time.Now())
		return q
	}), "heapB/decision")
}

// heapPerDecision measures the live heap that build keeps, divided by n;
// body (the answer) is kept alive throughout so it is not counted.
func heapPerDecision(n int, body []byte, build func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	runtime.KeepAlive(body)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestHeapPerDecision logs the heap the set holds per decision at 100k,
// the figure that sizes MaxDecisions (1M by default).
func TestHeapPerDecision(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 100_000
	body := startupStream(n)
	per := heapPerDecision(n, body, func() any {
		p := testPuller(DefaultMaxDecisions, func([]Decision, []netip.Prefix) {})
		if err := p.applyStartup(bytes.NewReader(body), time.Now()); err != nil {
			t.Fatal(err)
		}
		return p
	})
	t.Logf("%.0f bytes of heap per decision held (%d decisions)", per, n)
	if per > 1024 {
		t.Errorf("%.0f bytes per decision: the 1M default would need %.1f GB", per, per*1e6/1e9)
	}
}
