// Package replay runs packet captures through the decision engine offline,
// with the capture timestamps as its clock, and tallies what sipprot would
// have done.
package replay

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sipprot/sipprot/capture"
	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/policy"
)

// Result is the replay summary; its JSON form is the public contract of
// `sipprot replay --json`.
type Result struct {
	Packets         int            `json:"packets"`
	SIPMessages     int            `json:"sip_messages"`
	Accepted        int            `json:"accepted"`
	Dropped         int            `json:"dropped"`
	DroppedByReason map[string]int `json:"dropped_by_reason"`
	Blocks          []Block        `json:"blocks"`
	// UnboundCredentials and ProvenRefused are the engine's counters of
	// forged-looking traffic that made no failure (see policy.Stats):
	// additions to the contract's keys.
	UnboundCredentials uint64 `json:"unbound_credentials"`
	ProvenRefused      uint64 `json:"failures_refused_proven"`
	// Undecodable counts records that held no decodable IP packet; they
	// are accepted, as the queue accepts them inline.
	Undecodable int `json:"-"`

	events []policy.Event // reused by drain
}

// Block is one block the engine made during the replay.
type Block struct {
	IP        string `json:"ip"`
	Reason    string `json:"reason"`
	UserAgent string `json:"user_agent"`
	Country   string `json:"country"`
	At        string `json:"at"`
	// Packet is the 1-based index, over all captures in order, of the
	// packet that triggered the block.
	Packet int `json:"packet"`
}

// Setup prepares a fresh engine before the first packet (lists, GeoIP).
type Setup func(e *policy.Engine) error

// Run replays the captures in order through one fresh engine built from
// cfg. Setup, when not nil, prepares the engine before the first packet.
func Run(cfg policy.Config, setup Setup, paths ...string) (*Result, error) {
	if len(paths) == 0 {
		return nil, errors.New("no capture given")
	}
	clock := policy.NewManualClock(time.Unix(0, 0))
	e := policy.New(cfg, clock)
	if setup != nil {
		if err := setup(e); err != nil {
			return nil, err
		}
	}
	res := &Result{DroppedByReason: map[string]int{}, Blocks: []Block{}}
	for _, r := range policy.DropReasons() {
		res.DroppedByReason[r.String()] = 0
	}
	var p packet.Parsed
	for _, path := range paths {
		if err := replayFile(e, clock, &p, path, res); err != nil {
			return nil, err
		}
	}
	st := e.Stats()
	res.SIPMessages = int(st.SIPMessages)
	res.UnboundCredentials, res.ProvenRefused = st.Unbound, st.ProvenRefused
	return res, nil
}

func replayFile(e *policy.Engine, clock *policy.ManualClock, p *packet.Parsed, path string, res *Result) error {
	r, err := capture.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		res.Packets++
		clock.Set(rec.Time)
		if err := p.Decode(rec.Data); err != nil {
			res.Undecodable++
			res.Accepted++
			continue
		}
		d := e.Decide(p)
		if d.Verdict == policy.Drop {
			res.Dropped++
			res.DroppedByReason[d.Reason.String()]++
		} else {
			res.Accepted++
		}
		drain(e, res)
	}
}

// drain takes the events of the packet just decided, so each block names
// the packet that made it.
func drain(e *policy.Engine, res *Result) {
	res.events = e.TakeEvents(res.events[:0])
	for _, ev := range res.events {
		if ev.Kind == policy.EventBlock {
			res.Blocks = append(res.Blocks, Block{
				IP: ev.Addr.String(), Reason: ev.Reason.String(), UserAgent: ev.UserAgent,
				Country: ev.Country, At: ev.At.UTC().Format(time.RFC3339Nano), Packet: res.Packets,
			})
		}
	}
}

// Summary writes the human-readable form of r.
func (r *Result) Summary(w io.Writer) error {
	_, err := fmt.Fprintf(w, "packets: %d  sip messages: %d  accepted: %d  dropped: %d\n",
		r.Packets, r.SIPMessages, r.Accepted, r.Dropped)
	if err != nil {
		return err
	}
	for _, reason := range policy.DropReasons() {
		if n := r.DroppedByReason[reason.String()]; n > 0 {
			fmt.Fprintf(w, "  dropped %-10s %d\n", reason.String()+":", n)
		}
	}
	if r.UnboundCredentials > 0 || r.ProvenRefused > 0 {
		fmt.Fprintf(w, "credentials answering no challenge sent to their source: %d; failures refused for a proven source: %d\n",
			r.UnboundCredentials, r.ProvenRefused)
	}
	if r.Undecodable > 0 {
		fmt.Fprintf(w, "undecodable records (accepted): %d\n", r.Undecodable)
	}
	if len(r.Blocks) == 0 {
		_, err = fmt.Fprintln(w, "no source blocked")
		return err
	}
	fmt.Fprintf(w, "blocks: %d\n", len(r.Blocks))
	for _, b := range r.Blocks {
		ua := b.UserAgent
		if ua == "" {
			ua = "-"
		}
		cc := b.Country
		if cc == "" {
			cc = "-"
		}
		fmt.Fprintf(w, "  %s  %-39s %-10s packet %-6d country %s  user-agent %q\n", b.At, b.IP, b.Reason, b.Packet, cc, ua)
	}
	return nil
}
