package queue

import (
	"context"
	"testing"
)

func TestServeNeedsOpen(t *testing.T) {
	q := New(Config{}, deciderFunc(nil), nil)
	if err := q.Serve(context.Background()); err == nil {
		t.Fatal("Serve before Open: no error")
	}
	select {
	case <-q.Ready():
		t.Fatal("ready before Open")
	default:
	}
}

func TestNewDefaults(t *testing.T) {
	q := New(Config{Number: 7}, deciderFunc(nil), nil)
	c := q.cfg
	if c.Count != 1 || c.MaxQueueLen != DefaultMaxQueueLen || c.RcvBuf != DefaultRcvBuf || c.StallAfter != DefaultStallAfter {
		t.Fatalf("defaults %+v", c)
	}
	if len(q.readers) != 1 || q.readers[0].num != 7 || q.readers[0].v.queue != 7 {
		t.Fatalf("readers %+v", q.readers)
	}
	q = New(Config{Number: 65534, Count: 2}, deciderFunc(nil), nil)
	if len(q.readers) != 2 || q.readers[1].num != 65535 {
		t.Fatalf("last queue %d", q.readers[1].num)
	}
}
