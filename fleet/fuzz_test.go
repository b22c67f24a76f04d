package fleet

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testPuller(maxN int, onChange ChangeFunc) *puller {
	if onChange == nil {
		onChange = func([]Decision, []netip.Prefix) {}
	}
	c := &Client{cfg: Config{MaxDecisions: maxN}.withDefaults(), onChange: onChange, ownOrigin: "sipprot/pbx1"}
	p := &puller{c: c}
	p.set = newSet(maxN, 0, &p.in)
	p.f = filter{origins: c.cfg.Origins, ownOrigin: c.ownOrigin, in: &p.in, refusals: &p.refusals}
	return p
}

// FuzzStream feeds arbitrary answers to both stream paths: no panic, the
// bound holds, and a failed answer changes nothing.
func FuzzStream(f *testing.F) {
	f.Add([]byte(goodStream))
	f.Add([]byte(`{"new":null,"deleted":null}`))
	f.Add([]byte(`{"new":[{"id":9,"duration":"-3s","origin":"sipprot/pbx1","scenario":"sipprot/flood","scope":"range","type":"ban","value":"::ffff:192.0.2.0/120"}]}`))
	f.Add([]byte(`{"deleted":[{"id":1,"scope":"Ip","value":"192.0.2.1"}],"new":[{"id":1,"duration":"1h","origin":"cscli","scope":"Ip","type":"ban","value":"192.0.2.1"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		now := time.Unix(1_800_000_000, 0)
		p := testPuller(3, nil)
		if err := p.applyStartup(bytes.NewReader([]byte(goodStream)), now); err != nil {
			t.Fatal(err)
		}
		before := len(p.set.m)
		err := p.applyStartup(bytes.NewReader(b), now)
		if err != nil && len(p.set.m) != before {
			t.Fatalf("failed startup changed the set: %d -> %d", before, len(p.set.m))
		}
		before = len(p.set.m)
		if err := p.applyDelta(bytes.NewReader(b), now); err != nil && len(p.set.m) != before {
			t.Fatalf("failed delta changed the set: %d -> %d", before, len(p.set.m))
		}
		if len(p.set.m) > 3 {
			t.Fatalf("set holds %d, bound 3", len(p.set.m))
		}
		total := 0
		for _, n := range p.set.inForce() {
			total += n
		}
		if total != len(p.set.m) {
			t.Fatalf("in force by origin sums to %d, set holds %d", total, len(p.set.m))
		}
	})
}

// FuzzOutboxEntry: whatever an outbox file holds, reading it back either
// fails or gives an entry that builds a valid alert.
func FuzzOutboxEntry(f *testing.F) {
	e := outboxEntry{V: 1, ID: "abc", Kind: kindBlock, Addr: netip.MustParseAddr("192.0.2.1"), Reason: "failures", Queued: time.Unix(1, 0).UTC()}
	b, _ := json.Marshal(e)
	f.Add(b)
	f.Add([]byte(`{"v":1,"id":"x","kind":"unblock","addr":"2001:db8::1"}`))
	dir := f.TempDir()
	c := &Client{cfg: Config{MachineID: "pbx1"}, ownOrigin: "sipprot/pbx1"}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "e.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := readEntry(path)
		if err != nil || e.Kind != kindBlock {
			return
		}
		if a, ok := c.alertFor(&e, time.Now()); ok {
			if _, err := json.Marshal([]wireAlert{a}); err != nil || a.Decisions[0].Value != e.Addr.String() {
				t.Fatalf("alert for %+v: %+v, %v", e, a, err)
			}
		}
	})
}
