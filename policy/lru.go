package policy

// lru is a bounded table that evicts the least recently used entry first.
// Entries live in one slice linked by int32 indices, so a full table
// allocates nothing more and values without pointers cost the GC nothing.
// It is not safe for concurrent use; shards lock around it.
type lru[K comparable, V any] struct {
	idx        map[K]int32
	ents       []lruEntry[K, V]
	head, tail int32 // most recent at head; -1 when empty
	free       int32 // free list through next; -1 when empty
	max        int
}

type lruEntry[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	if max < 1 {
		max = 1
	}
	return &lru[K, V]{idx: make(map[K]int32), head: -1, tail: -1, free: -1, max: max}
}

// Len returns the number of entries.
func (l *lru[K, V]) Len() int { return len(l.idx) }

// get returns the value for k and marks it recently used. The pointer is
// valid until the next insert.
func (l *lru[K, V]) get(k K) (*V, bool) {
	i, ok := l.idx[k]
	if !ok {
		return nil, false
	}
	l.toFront(i)
	return &l.ents[i].val, true
}

// peek returns the value for k without changing its age.
func (l *lru[K, V]) peek(k K) (*V, bool) {
	i, ok := l.idx[k]
	if !ok {
		return nil, false
	}
	return &l.ents[i].val, true
}

// put returns the value for k, inserting a zero value when absent. When the
// table is full the oldest entry is evicted in place to make room: nothing
// escapes, so a new source costs no allocation on a full table.
func (l *lru[K, V]) put(k K) (v *V, created bool) {
	if i, ok := l.idx[k]; ok {
		l.toFront(i)
		return &l.ents[i].val, false
	}
	var i int32
	switch {
	case len(l.idx) >= l.max:
		i = l.tail
		delete(l.idx, l.ents[i].key)
		l.unlink(i)
	case l.free >= 0:
		i = l.free
		l.free = l.ents[i].next
	default:
		l.ents = append(l.ents, lruEntry[K, V]{})
		i = int32(len(l.ents) - 1)
	}
	var zero V
	l.ents[i] = lruEntry[K, V]{key: k, val: zero, prev: -1, next: -1}
	l.idx[k] = i
	l.pushFront(i)
	return &l.ents[i].val, true
}

// del removes k.
func (l *lru[K, V]) del(k K) bool {
	i, ok := l.idx[k]
	if !ok {
		return false
	}
	delete(l.idx, k)
	l.unlink(i)
	var zero lruEntry[K, V]
	l.ents[i] = zero
	l.ents[i].next = l.free
	l.free = i
	return true
}

// each calls fn for every entry, newest first, until fn returns false. fn
// must not insert or delete.
func (l *lru[K, V]) each(fn func(k K, v *V) bool) {
	for i := l.head; i >= 0; i = l.ents[i].next {
		if !fn(l.ents[i].key, &l.ents[i].val) {
			return
		}
	}
}

func (l *lru[K, V]) toFront(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	l.pushFront(i)
}

func (l *lru[K, V]) pushFront(i int32) {
	e := &l.ents[i]
	e.prev = -1
	e.next = l.head
	if l.head >= 0 {
		l.ents[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

func (l *lru[K, V]) unlink(i int32) {
	e := &l.ents[i]
	if e.prev >= 0 {
		l.ents[e.prev].next = e.next
	} else if l.head == i {
		l.head = e.next
	}
	if e.next >= 0 {
		l.ents[e.next].prev = e.prev
	} else if l.tail == i {
		l.tail = e.prev
	}
	e.prev, e.next = -1, -1
}
