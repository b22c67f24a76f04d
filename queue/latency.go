package queue

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of the verdict latency histogram's
// buckets: from 10 µs (a batch of one decided in place) to 100 ms (a
// reader starved of CPU).
var LatencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 100 * time.Millisecond,
}

// Latency is a verdict latency histogram: how long packets waited in
// sipprot, from the read that brought them to the write that carried
// their verdicts. Every packet of a batch gets the batch's time, the
// most any of them waited. Time spent in the kernel's socket buffer
// before the read is not in it.
type Latency struct {
	// Counts[i] counts packets that waited at most LatencyBounds[i] and
	// more than the bound before it; the last element counts the rest.
	Counts [len(LatencyBounds) + 1]uint64
	Sum    time.Duration // over every packet
}

// Count is the number of packets in the histogram.
func (l *Latency) Count() uint64 {
	var n uint64
	for _, c := range l.Counts {
		n += c
	}
	return n
}

// add merges o into l.
func (l *Latency) add(o *Latency) {
	for i, c := range o.Counts {
		l.Counts[i] += c
	}
	l.Sum += o.Sum
}

// latency is a reader's histogram; the reader adds to it once per batch,
// Queue.Latency reads it from another goroutine.
type latency struct {
	counts [len(LatencyBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// observe records n packets that waited d.
func (l *latency) observe(d time.Duration, n uint64) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	l.counts[i].Add(n)
	l.sum.Add(int64(d) * int64(n))
}

func (l *latency) load() Latency {
	var o Latency
	for i := range l.counts {
		o.Counts[i] = l.counts[i].Load()
	}
	o.Sum = time.Duration(l.sum.Load())
	return o
}

// Latency returns the verdict latency histogram of every queue together.
func (q *Queue) Latency() Latency {
	var out Latency
	for _, r := range q.readers {
		l := r.lat.load()
		out.add(&l)
	}
	return out
}
