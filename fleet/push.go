package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// pushBatch bounds the alerts sent in one POST.
const pushBatch = 50

// Retry delays after a failed exchange with the LAPI.
const (
	retryMin = time.Second
	retryMax = 10 * time.Second
)

type wireMeta struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireEvent struct {
	Timestamp string     `json:"timestamp"`
	Meta      []wireMeta `json:"meta"`
}

type wireSource struct {
	Scope string `json:"scope"`
	Value string `json:"value"`
	IP    string `json:"ip,omitempty"`
	Cn    string `json:"cn,omitempty"`
}

// wireAlert is models.Alert with the fields a machine must send.
type wireAlert struct {
	Scenario        string         `json:"scenario"`
	ScenarioHash    string         `json:"scenario_hash"`
	ScenarioVersion string         `json:"scenario_version"`
	Message         string         `json:"message"`
	EventsCount     int32          `json:"events_count"`
	Capacity        int32          `json:"capacity"`
	Leakspeed       string         `json:"leakspeed"`
	Simulated       bool           `json:"simulated"`
	StartAt         string         `json:"start_at"`
	StopAt          string         `json:"stop_at"`
	Events          []wireEvent    `json:"events"`
	Meta            []wireMeta     `json:"meta,omitempty"`
	Source          wireSource     `json:"source"`
	Decisions       []wireDecision `json:"decisions"`
	MachineID       string         `json:"machine_id,omitempty"`
}

// metaID is the alert meta key holding the outbox entry's ID.
const metaID = "sipprot_id"

// alertFor builds the alert for a block entry; false when the block has
// already expired.
func (c *Client) alertFor(e *outboxEntry, now time.Time) (wireAlert, bool) {
	dur := PermanentDuration
	if !e.Until.IsZero() {
		dur = e.Until.Sub(now).Round(time.Second)
		if dur < time.Second {
			return wireAlert{}, false
		}
	}
	addr := e.Addr.String()
	scenario := ScenarioPrefix + e.Reason
	nowS := now.UTC().Format(time.RFC3339)
	meta := []wireMeta{{metaID, e.ID}, {"sipprot_host", c.cfg.MachineID}, {"source_ip", addr}}
	if e.UserAgent != "" {
		meta = append(meta, wireMeta{"user_agent", e.UserAgent})
	}
	if e.Country != "" {
		meta = append(meta, wireMeta{"country", e.Country})
	}
	return wireAlert{
		Scenario:    scenario,
		Message:     fmt.Sprintf("sipprot %s blocked %s (%s)", c.cfg.MachineID, addr, e.Reason),
		EventsCount: 1,
		Leakspeed:   "0",
		StartAt:     e.Start.UTC().Format(time.RFC3339),
		// The LAPI counts the ban from stop_at: the send time, so the
		// remaining duration ends at Until however long the outbox held it.
		StopAt:    nowS,
		Events:    []wireEvent{{Timestamp: e.Start.UTC().Format(time.RFC3339), Meta: meta}},
		Meta:      meta,
		Source:    wireSource{Scope: "Ip", Value: addr, IP: addr, Cn: e.Country},
		Decisions: []wireDecision{{Duration: fmt.Sprintf("%ds", int64(dur/time.Second)), Origin: c.ownOrigin, Scenario: scenario, Scope: "Ip", Type: "ban", Value: addr}},
	}, true
}

// pushLoop moves queued pushes into the outbox and sends the outbox in
// order, retrying with a growing delay while the LAPI fails.
func (c *Client) pushLoop(ctx context.Context) {
	var tok jwt
	delay := retryMin
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			// What was queued before the stop goes to the outbox, for the
			// next start: a block made just before stopping is shared.
			c.drainQueue()
			return
		case e := <-c.queue:
			c.store(e)
			c.drainQueue()
		case <-retry.C:
		case <-c.lapiBack:
			// The puller got an answer: the LAPI is back, the outbox
			// need not wait out its backoff.
		}
		if c.outbox.len() == 0 {
			continue
		}
		err := c.flush(ctx, &tok)
		c.setPushStatus(err)
		if err == nil {
			delay = retryMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("LAPI push failed, kept in the outbox", "outbox", c.outbox.len(), "retry_in", delay, "err", err)
		retry.Reset(delay)
		delay = min(delay*2, retryMax)
	}
}

func (c *Client) drainQueue() {
	for {
		select {
		case e := <-c.queue:
			c.store(e)
		default:
			return
		}
	}
}

func (c *Client) store(e outboxEntry) {
	if c.outbox.len() >= c.cfg.OutboxMax {
		if c.outboxFull.Add(1) == 1 {
			c.log.Error("fleet outbox full, pushes refused (counted in status)", "max", c.cfg.OutboxMax)
		}
		return
	}
	if err := c.outbox.add(e); err != nil {
		c.outboxFull.Add(1)
		c.log.Error("fleet outbox write failed, push refused", "addr", e.Addr, "err", err)
		return
	}
	c.outboxLen.Store(int64(c.outbox.len()))
}

func (c *Client) setPushStatus(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	record(&c.status.PushConnected, &c.status.LastPush, &c.status.LastPushErr, err)
}

// record sets one half's connected flag, time and error text.
func record(ok *bool, at *time.Time, msg *string, err error) {
	*ok, *at, *msg = err == nil, time.Now(), ""
	if err != nil {
		*msg = err.Error()
	}
}

// flush sends the outbox from its head until it is empty or an exchange
// fails. Consecutive blocks share one POST; an unblock is one DELETE.
func (c *Client) flush(ctx context.Context, tok *jwt) error {
	for c.outbox.len() > 0 {
		c.drainQueue()
		head := c.outbox.entries
		n := 1
		var err error
		if head[0].Kind == kindUnblock {
			err = c.sendUnblock(ctx, tok, &head[0])
		} else {
			for n < len(head) && n < pushBatch && head[n].Kind == kindBlock {
				n++
			}
			err = c.sendBlocks(ctx, tok, head[:n])
		}
		if err != nil {
			return err
		}
		c.outbox.done(n)
		c.pushed.Add(uint64(n))
		c.outboxLen.Store(int64(c.outbox.len()))
	}
	return nil
}

func (c *Client) sendBlocks(ctx context.Context, tok *jwt, es []outboxEntry) error {
	now := time.Now()
	alerts := make([]wireAlert, 0, len(es))
	for i := range es {
		e := &es[i]
		if e.uncertain {
			sent, err := c.alreadySent(ctx, tok, e)
			if err != nil {
				return err
			}
			if sent {
				c.log.Info("outbox entry already at the LAPI, not sent again", "id", e.ID, "addr", e.Addr)
				continue
			}
		}
		if a, ok := c.alertFor(e, now); ok {
			alerts = append(alerts, a)
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	code, ans, err := c.machineDo(ctx, tok, http.MethodPost, "/v1/alerts", body)
	switch {
	case err != nil:
		markUncertain(es, err)
		return fmt.Errorf("push %d alerts: %w", len(alerts), err)
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		// Never accepted however often sent: drop, or the outbox jams.
		c.log.Error("LAPI rejected alerts, dropped", "count", len(alerts), "status", code, "answer", short(ans))
		return nil
	case code/100 != 2:
		markUncertain(es, nil)
		return fmt.Errorf("push %d alerts: HTTP %d %s", len(alerts), code, short(ans))
	}
	return nil
}

// markUncertain flags entries whose send may have reached the LAPI: any
// failure but a refused connection.
func markUncertain(es []outboxEntry, err error) {
	if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
		return
	}
	for i := range es {
		es[i].uncertain = true
	}
}

// alreadySent asks the LAPI for this host's alerts on the entry's address
// and looks for the entry's ID in their meta.
func (c *Client) alreadySent(ctx context.Context, tok *jwt, e *outboxEntry) (bool, error) {
	q := url.Values{
		"ip":       {e.Addr.String()},
		"scenario": {ScenarioPrefix + e.Reason},
		"origin":   {c.ownOrigin},
		"limit":    {"1000"},
	}
	code, ans, err := c.machineDo(ctx, tok, http.MethodGet, "/v1/alerts?"+q.Encode(), nil)
	if err != nil {
		return false, fmt.Errorf("duplicate check: %w", err)
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("duplicate check: HTTP %d %s", code, short(ans))
	}
	var alerts []struct {
		Meta []wireMeta `json:"meta"`
	}
	if err := json.Unmarshal(ans, &alerts); err != nil {
		return false, fmt.Errorf("duplicate check: %w: %v", ErrMalformed, err)
	}
	e.uncertain = false
	for _, a := range alerts {
		for _, m := range a.Meta {
			if m.Key == metaID && m.Value == e.ID {
				return true, nil
			}
		}
	}
	return false, nil
}

func (c *Client) sendUnblock(ctx context.Context, tok *jwt, e *outboxEntry) error {
	q := url.Values{"ip": {e.Addr.String()}, "origin": {c.ownOrigin}}
	code, ans, err := c.machineDo(ctx, tok, http.MethodDelete, "/v1/decisions?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("unblock %s: %w", e.Addr, err)
	}
	if code/100 != 2 {
		return fmt.Errorf("unblock %s: HTTP %d %s", e.Addr, code, short(ans))
	}
	return nil
}
