package queue

import (
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	var l latency
	l.observe(5*time.Microsecond, 3)   // first bucket
	l.observe(10*time.Microsecond, 1)  // on the bound: still the first
	l.observe(700*time.Microsecond, 2) // ≤ 1 ms
	l.observe(time.Second, 1)          // beyond the last bound
	got := l.load()
	if got.Counts[0] != 4 || got.Counts[6] != 2 || got.Counts[len(LatencyBounds)] != 1 || got.Count() != 7 {
		t.Fatalf("counts = %v", got.Counts)
	}
	if want := 3*5*time.Microsecond + 10*time.Microsecond + 1400*time.Microsecond + time.Second; got.Sum != want {
		t.Fatalf("sum = %v, want %v", got.Sum, want)
	}
}

// TestLatencyObserved: the packet path puts each judged packet of a batch
// in the histogram, and nothing for a batch without packets.
func TestLatencyObserved(t *testing.T) {
	e := testEngine(t)
	r := testReader(e)
	handle(r, packetMsg(1, 1, registerFrom(allowed)))
	handle(r, packetMsg(2, 1, registerFrom(scanner)))
	handle(r, nil)
	q := &Queue{readers: []*reader{r}}
	if l := q.Latency(); l.Count() != 2 || l.Sum <= 0 {
		t.Fatalf("latency = %+v", l)
	}
}
