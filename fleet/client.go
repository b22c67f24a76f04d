package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors for the caller of Push and Unblock.
var (
	ErrPushOff   = errors.New("fleet: push is off (no MachineID)")
	ErrQueueFull = errors.New("fleet: push queue full")
	ErrBadBlock  = errors.New("fleet: invalid block")
)

// queueLen bounds the pushes waiting for the pusher goroutine; past it
// Push refuses rather than wait.
const queueLen = 4096

// maxAnswer bounds the answers read whole (all but the decision stream).
const maxAnswer = 4 << 20

// ChangeFunc receives the decisions that came (or changed: an add for a
// prefix already held replaces it) and the prefixes that went. It runs on
// the puller goroutine: a slow one delays the next pull, nothing else.
// A large change arrives in several calls.
type ChangeFunc func(add []Decision, del []netip.Prefix)

// Client talks to one LAPI as a machine (push) and a bouncer (pull).
type Client struct {
	cfg      Config
	log      *slog.Logger
	http     *http.Client
	onChange ChangeFunc
	queue    chan outboxEntry
	outbox   *outbox // pusher goroutine only

	ownOrigin string

	queueFull  atomic.Uint64
	outboxFull atomic.Uint64
	outboxLen  atomic.Int64
	pushed     atomic.Uint64
	logins     atomic.Uint64

	mu     sync.Mutex
	status Status // guarded by mu; InForce and Refusals copied in and out

	seed []Decision // the set saved by the last run; the puller starts from it

	lapiBack chan struct{} // the puller's word to the pusher that the LAPI answers again

	// now is the clock the token's expiry is read on; tests move it to
	// reach the renewal window without waiting out a LAPI token (1 h).
	now func() time.Time
}

// Seed gives the client the decisions the caller held at its last stop
// (saved in its state), before Run. The first full pull then tells the
// caller which of them are gone as deletions, so a decision removed while
// this host was down is lifted, not kept until it expires.
func (c *Client) Seed(ds []Decision) { c.seed = ds }

// New checks cfg, opens the outbox and returns a client that does
// nothing until Run.
func New(cfg Config, onChange ChangeFunc) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:      cfg,
		log:      cfg.Log,
		http:     &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}},
		onChange: onChange,
		queue:    make(chan outboxEntry, queueLen),
		lapiBack: make(chan struct{}, 1),
		now:      time.Now,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "fleet")
	if c.onChange == nil {
		c.onChange = func([]Decision, []netip.Prefix) {}
	}
	if cfg.MachineID != "" {
		c.ownOrigin = OriginPrefix + "/" + cfg.MachineID
		ob, err := openOutbox(cfg.OutboxDir, c.log)
		if err != nil {
			return nil, err
		}
		c.outbox = ob
		c.outboxLen.Store(int64(ob.len()))
	}
	return c, nil
}

// OwnOrigin is the origin of this host's decisions, "" when push is off.
func (c *Client) OwnOrigin() string { return c.ownOrigin }

// Run pushes and pulls until ctx ends. It returns nil then: every LAPI
// failure is retried, logged and shown in Status, never returned.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if c.outbox != nil {
		wg.Go(func() { c.pushLoop(ctx) })
	}
	if c.cfg.APIKey != "" {
		wg.Go(func() { c.pullLoop(ctx) })
	}
	wg.Wait()
	return nil
}

// Push queues b for the LAPI without waiting: the pusher goroutine writes
// it to the outbox, then sends it.
func (c *Client) Push(b Block) error {
	if c.outbox == nil {
		return ErrPushOff
	}
	if !b.Addr.IsValid() || b.Addr.Zone() != "" {
		return fmt.Errorf("%w: address %v", ErrBadBlock, b.Addr)
	}
	if b.Reason == "" {
		return fmt.Errorf("%w: empty reason for %v", ErrBadBlock, b.Addr)
	}
	if b.Start.IsZero() {
		b.Start = time.Now()
	}
	return c.enqueue(outboxEntry{
		Kind: kindBlock, Addr: b.Addr.Unmap(), Reason: b.Reason, Start: b.Start.UTC(),
		Until: b.Until.UTC(), UserAgent: b.UserAgent, Country: b.Country,
	})
}

// Unblock queues the deletion of this host's decisions for addr; other
// hosts' and cscli's decisions for it stay.
func (c *Client) Unblock(addr netip.Addr) error {
	if c.outbox == nil {
		return ErrPushOff
	}
	if !addr.IsValid() {
		return fmt.Errorf("%w: address %v", ErrBadBlock, addr)
	}
	return c.enqueue(outboxEntry{Kind: kindUnblock, Addr: addr.Unmap()})
}

func (c *Client) enqueue(e outboxEntry) error {
	e.V = 1
	e.ID = newID()
	e.Queued = time.Now().UTC()
	select {
	case c.queue <- e:
		return nil
	default:
		c.queueFull.Add(1)
		return ErrQueueFull
	}
}

// Status returns a snapshot; it never waits on the network.
func (c *Client) Status() Status {
	c.mu.Lock()
	s := c.status
	s.InForce = make(map[string]int, len(c.status.InForce))
	for k, v := range c.status.InForce {
		s.InForce[k] = v
	}
	c.mu.Unlock()
	s.Outbox = int(c.outboxLen.Load())
	s.Pushed = c.pushed.Load()
	s.Logins = c.logins.Load()
	s.Refusals.QueueFull = c.queueFull.Load()
	s.Refusals.OutboxFull = c.outboxFull.Load()
	return s
}

// do sends one request under its own timeout and reads the answer whole.
func (c *Client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.send(ctx, method, path, body, hdr)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	return resp.StatusCode, b, nil
}

func (c *Client) send(ctx context.Context, method, path string, body []byte, hdr map[string]string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.LAPIURL+path, r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("User-Agent", "sipprot-fleet/1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The *url.Error names the URL, which holds no secret.
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// short quotes the start of an error answer for a log line.
func short(b []byte) string {
	const n = 200
	if len(b) > n {
		b = b[:n]
	}
	return fmt.Sprintf("%q", bytes.TrimSpace(b))
}
