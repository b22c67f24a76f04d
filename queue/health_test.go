package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAssess(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	stall := 5 * time.Second
	base := sample{
		running: true, portID: 77, boundAt: t0.Add(-time.Hour),
		lastVerdict: t0.Add(-time.Minute), lastRecv: t0.Add(-time.Minute), lastID: 500,
		kernelOK: true, inKernel: true,
		kernel:    KernelStats{PortID: 77, IDSequence: 500},
		prevValid: true, prevIDSeq: 500,
	}
	tests := []struct {
		name string
		mod  func(*sample)
		want string // substring of the problem; "" means healthy
	}{
		{"idle", nil, ""},
		{"busy and answering", func(s *sample) {
			s.kernel.Waiting, s.kernel.IDSequence = 300, 9000
			s.lastVerdict, s.lastRecv, s.lastID = t0.Add(-time.Millisecond), t0.Add(-time.Millisecond), 8700
		}, ""},
		{"not running", func(s *sample) { s.running = false }, "not running"},
		{"no proc file: running is enough", func(s *sample) { s.kernelOK, s.inKernel, s.kernel.Waiting = false, false, 10 }, ""},
		{"not bound in the kernel", func(s *sample) { s.inKernel = false }, "no socket bound"},
		{"bound to another socket", func(s *sample) { s.kernel.PortID = 78 }, "another socket"},
		{"held packets, no verdict", func(s *sample) { s.kernel.Waiting = 3 }, "holds 3 packets"},
		{"held packets, just bound", func(s *sample) {
			s.kernel.Waiting, s.boundAt = 3, t0.Add(-time.Second)
		}, ""},
		{"held packets, never answered since bind", func(s *sample) {
			s.kernel.Waiting, s.boundAt, s.lastVerdict = 3, t0.Add(-10*time.Second), time.Time{}
		}, "holds 3 packets"},
		{"numbered, never delivered", func(s *sample) { s.kernel.IDSequence = 520 }, "numbered packets up to 520"},
		{"numbered, never delivered, ENOBUFS explains it", func(s *sample) { s.kernel.IDSequence, s.enobufs = 520, 1 }, ""},
		{"gap left from before the last look", func(s *sample) { s.kernel.IDSequence, s.prevIDSeq = 520, 520 }, ""},
		{"no previous look", func(s *sample) { s.kernel.IDSequence, s.prevValid = 520, false }, ""},
		{"numbered, received recently", func(s *sample) { s.kernel.IDSequence, s.lastRecv = 520, t0.Add(-time.Second) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			if tt.mod != nil {
				tt.mod(&s)
			}
			got := assess(s, t0, stall)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("assess = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHealth runs Health and Alive over a queue whose kernel view and
// clock the test sets.
func TestHealth(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now := t0
	ks := map[uint16]KernelStats{}
	var kerr error
	q := New(Config{Number: 4, Count: 2}, deciderFunc(nil), nil)
	q.now = func() time.Time { return now }
	q.kernel = func() (map[uint16]KernelStats, error) { return ks, kerr }
	if q.Alive() {
		t.Fatal("alive before Open")
	}
	close(q.ready) // as Open does
	for i, r := range q.readers {
		r.st.running.Store(true)
		r.st.portID.Store(uint32(100 + i))
		r.st.boundAt.Store(t0.UnixNano())
		r.st.packets.Store(10)
		ks[r.num] = KernelStats{Queue: r.num, PortID: uint32(100 + i), QueueDropped: 2, UserDropped: 3}
	}
	hs := q.Health()
	if len(hs) != 2 || hs[0].Number != 4 || hs[1].Number != 5 || !hs[0].Healthy || hs[0].Packets != 10 ||
		hs[1].KernelDropped != 2 || hs[1].UserDropped != 3 || hs[1].Kernel == nil {
		t.Fatalf("health %+v", hs)
	}
	if !q.Alive() {
		t.Fatal("not alive")
	}

	// Queue 5 holds packets and answers nothing for StallAfter.
	ks[5] = KernelStats{Queue: 5, PortID: 101, Waiting: 4}
	now = t0.Add(DefaultStallAfter + time.Second)
	if hs = q.Health(); hs[0].Healthy == false || hs[1].Healthy || q.Alive() {
		t.Fatalf("wedged queue 5: %+v", hs)
	}
	// It answers again.
	q.readers[1].st.lastVerdict.Store(now.UnixNano())
	if !q.Alive() {
		t.Fatalf("answering again: %+v", q.Health())
	}
	// No proc file: running readers are alive.
	kerr = errors.New("no such file")
	if !q.Alive() {
		t.Fatal("no proc file")
	}
	q.readers[0].st.running.Store(false)
	if q.Alive() {
		t.Fatal("a reader down, still alive")
	}
}
