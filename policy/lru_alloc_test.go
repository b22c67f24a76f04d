package policy

import "testing"

// fullLRU returns a table of n entries, full, and the next unused key.
func fullLRU(n int) (*lru[uint64, source], uint64) {
	l := newLRU[uint64, source](n)
	for k := range uint64(n) {
		l.put(k)
	}
	return l, uint64(n)
}

// TestLRUFullNoAllocs: once a table is full, a new key evicts the oldest
// entry in place, without an allocation (the first packet of a new source
// under a wide scan).
func TestLRUFullNoAllocs(t *testing.T) {
	l, next := fullLRU(1024)
	if n := testing.AllocsPerRun(10000, func() {
		if _, created := l.put(next); !created {
			t.Fatal("new key not created")
		}
		next++
	}); n != 0 {
		t.Fatalf("%v allocs per insert into a full table, want 0", n)
	}
	if l.Len() != 1024 {
		t.Fatalf("len %d, want 1024", l.Len())
	}
	if _, ok := l.peek(next - 1024 - 1); ok {
		t.Error("oldest key not evicted")
	}
	if _, ok := l.peek(next - 1); !ok {
		t.Error("newest key missing")
	}
}

// BenchmarkLRUFull inserts new keys into a full table: every insert evicts.
func BenchmarkLRUFull(b *testing.B) {
	l, next := fullLRU(4096)
	b.ReportAllocs()
	for b.Loop() {
		l.put(next)
		next++
	}
}
