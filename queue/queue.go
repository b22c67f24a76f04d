// Package queue is sipprot's NFQUEUE verdict loop: it binds the queues the
// firewall rules send packets to, decodes each packet into a reused
// packet.Parsed, asks the policy for a decision, and returns the verdict
// to the kernel.
//
// Each queue has one reader goroutine and its own netlink socket, so the
// packets of one source (the kernel spreads flows over the queues by
// address) are judged in order. The reader takes every pending message
// with one recvmmsg(2) and answers a whole batch with one write, using
// NFQNL_MSG_VERDICT_BATCH for runs of packets that share a verdict. The
// packet path does not allocate.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

// Defaults for the zero values of Config.
const (
	DefaultRcvBuf      = 8 << 20
	DefaultMaxQueueLen = 8192
	DefaultStallAfter  = 5 * time.Second
)

// batchSize is how many messages one read takes at most. Under load a
// read returns a full batch, so the system calls per packet shrink to
// about two per batch.
const batchSize = 32

// bindTimeout bounds the wait for the kernel's answer to a bind.
const bindTimeout = 5 * time.Second

// Config selects and tunes the queues.
type Config struct {
	// Number is the first queue; Count queues follow it (0 means 1).
	Number, Count uint16
	// FailOpen sets the kernel's fail-open flag: a packet that finds the
	// queue or the socket full is accepted rather than dropped.
	FailOpen bool
	// MaxQueueLen is how many packets the kernel holds per queue
	// awaiting a verdict; 0 means DefaultMaxQueueLen.
	MaxQueueLen uint32
	// RcvBuf is the socket receive buffer in bytes, set with
	// SO_RCVBUFFORCE; 0 means DefaultRcvBuf.
	RcvBuf int
	// StallAfter is how long a queue may hold packets with no verdict
	// before Health calls it wedged; 0 means DefaultStallAfter.
	StallAfter time.Duration
	// NetNS, when not 0, is a file descriptor of the network namespace to
	// bind the queues in (tests); 0 means this process's namespace.
	NetNS int
}

// Decider decides on one decoded packet; policy.Engine is one. It is
// called from every reader at once, so it must be safe for concurrent
// use, and it must not keep p.
type Decider interface {
	Decide(p *packet.Parsed) policy.Decision
}

// ErrInUse is wrapped by Open's error when the kernel refuses a bind
// because another process holds the queue or this one lacks the right.
var ErrInUse = errors.New("is another sipprot running? (binding needs root)")

// Queue is the set of queues Number..Number+Count-1.
type Queue struct {
	cfg     Config
	d       Decider
	log     *slog.Logger
	readers []*reader
	ready   chan struct{}
	opened  atomic.Bool
	served  atomic.Bool

	// now and kernel are replaced by tests.
	now    func() time.Time
	kernel func() (map[uint16]KernelStats, error)

	healthMu sync.Mutex
}

// New prepares the queues of cfg; Open or Run binds them. A nil log
// discards.
func New(cfg Config, d Decider, log *slog.Logger) *Queue {
	if cfg.Count == 0 {
		cfg.Count = 1
	}
	if cfg.MaxQueueLen == 0 {
		cfg.MaxQueueLen = DefaultMaxQueueLen
	}
	if cfg.RcvBuf == 0 {
		cfg.RcvBuf = DefaultRcvBuf
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{cfg: cfg, d: d, log: log.With("component", "queue"), ready: make(chan struct{}), now: time.Now}
	q.kernel = func() (map[uint16]KernelStats, error) { return readKernelStatsIn(cfg.NetNS) }
	for i := range cfg.Count {
		q.readers = append(q.readers, newReader(q, cfg.Number+i))
	}
	return q
}

// Open binds every queue. When it returns nil, packets sent to the queues
// are judged (they wait in the sockets until Serve runs), so the caller
// may install the firewall rules. On error nothing stays bound (Open may
// be tried again); the error names the queue and wraps ErrInUse when
// another process holds it.
func (q *Queue) Open() error {
	if q.opened.Swap(true) {
		return errors.New("queue: already open")
	}
	for i, r := range q.readers {
		if err := r.open(); err != nil {
			for _, o := range q.readers[:i] {
				o.closeConn()
			}
			q.opened.Store(false)
			return err
		}
	}
	close(q.ready)
	q.log.Info("queues bound", "first", q.cfg.Number, "count", q.cfg.Count, "fail_open", q.cfg.FailOpen,
		"max_queue_len", q.cfg.MaxQueueLen, "rcvbuf", q.cfg.RcvBuf)
	return nil
}

// Ready is closed once every queue is bound.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Serve judges packets until ctx ends, then verdicts what the sockets
// still hold and closes them. A reader whose socket fails is re-opened;
// Serve itself returns only when ctx ends, with nil.
func (q *Queue) Serve(ctx context.Context) error {
	if !q.opened.Load() {
		return errors.New("queue: Serve before Open")
	}
	if q.served.Swap(true) {
		return errors.New("queue: already served")
	}
	var wg sync.WaitGroup
	for _, r := range q.readers {
		wg.Go(func() { r.serve(ctx) })
	}
	stop := context.AfterFunc(ctx, func() {
		// Wake readers waiting in recv; each one sees ctx done.
		for _, r := range q.readers {
			r.wake()
		}
	})
	wg.Wait()
	stop()
	q.log.Info("queues closed")
	return nil
}

// Run is Open then Serve: it returns the bind error, or nil when ctx
// ends. Ready tells when the queues are bound.
func (q *Queue) Run(ctx context.Context) error {
	if err := q.Open(); err != nil {
		return err
	}
	return q.Serve(ctx)
}

// bindError explains a refused bind.
func bindError(num uint16, err error) error {
	if isInUse(err) {
		return fmt.Errorf("queue %d: bind: %w: %w", num, err, ErrInUse)
	}
	return fmt.Errorf("queue %d: bind: %w", num, err)
}
