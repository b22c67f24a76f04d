package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// credReg is register with credentials answering nonce.
func credReg(src, callID string, cseq int, nonce string) string {
	return strings.Replace(register(src, callID, cseq, "", true), `nonce="abc"`, `nonce="`+nonce+`"`, 1)
}

// exchange sends req from src and, if it got through, the PBX's answer
// resp (built for the same Call-ID and CSeq). It returns the request's
// decision.
func (w *world) exchange(src, req, resp string) Decision {
	w.t.Helper()
	d := w.send(udp(src, 5062, pbx, 5060, req))
	if d.Verdict == Accept && resp != "" {
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5062, resp))
	}
	return d
}

// issue has the PBX challenge src with nonce (a fresh credential-less
// REGISTER answered by 401).
func (w *world) issue(src, nonce string) {
	w.t.Helper()
	w.seq++
	id := fmt.Sprint("ch-", w.seq)
	w.exchange(src, register(src, id, 1, "", false), challenge(id, 1, nonce))
}

// guess sends a REGISTER with credentials for nonce from src, answered by
// status.
func (w *world) guess(src, nonce string, status int) Decision {
	w.t.Helper()
	w.seq++
	id := fmt.Sprint("g-", w.seq)
	return w.exchange(src, credReg(src, id, 2, nonce), response(status, id, 2, "REGISTER"))
}

// scan sends a credential-less REGISTER from src answered by status (404
// for an unknown user, 403 for a forbidden one).
func (w *world) scan(src string, status int) Decision {
	w.t.Helper()
	w.seq++
	id := fmt.Sprint("s-", w.seq)
	return w.exchange(src, register(src, id, 1, "", false), response(status, id, 1, "REGISTER"))
}

// login has src authenticate with a nonce the PBX issued to it.
func (w *world) login(src string) {
	w.t.Helper()
	w.seq++
	n := fmt.Sprint("login-", w.seq)
	w.issue(src, n)
	w.guess(src, n, 200)
}

// TestNonceBinding: what counts as a failure, and what is counted instead,
// with bind_nonces on (and off, where nothing changed).
func TestNonceBinding(t *testing.T) {
	const (
		victim = "198.51.100.20" // an office's NAT address, forged
		forger = "198.51.100.66"
		limit  = 3
	)
	tests := []struct {
		name string
		mod  func(*Config)
		// play runs the traffic; it returns the decision to check: the
		// request after the traffic, from checkSrc.
		play          func(w *world)
		checkSrc      string
		wantV         Verdict
		wantR         Reason
		wantUnbound   uint64
		wantRefused   uint64
		wantBlockedBy Reason // ReasonNone: no block event
	}{
		{
			name: "bound failures count: blocked at exactly the limit",
			play: func(w *world) {
				for range limit {
					w.issue(forger, "n1")
					want(w.t.(*testing.T), w.guess(forger, "n1", 401), Accept, ReasonNone)
				}
			},
			checkSrc: forger, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
		{
			name: "403 to bound credentials counts",
			play: func(w *world) {
				w.issue(forger, "n1")
				for range limit {
					w.guess(forger, "n1", 403)
				}
			},
			checkSrc: forger, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
		{
			name: "count mode: forged credentials, nonce never issued to the source",
			mod:  func(c *Config) { c.ReportUnbound = true },
			play: func(w *world) {
				for range 100 {
					w.guess(victim, "made-up", 401)
					w.guess(victim, "made-up", 403)
					w.guess(victim, "made-up", 407)
				}
			},
			checkSrc: victim, wantV: Accept, wantUnbound: 300,
		},
		{
			name: "default: made-up nonces from an unproven source block at exactly the limit",
			play: func(w *world) {
				// Asterisk checks the password behind any nonce and
				// answers a right one with stale=true: a guesser that
				// never answers its challenges must still be stopped.
				for range limit {
					want(w.t.(*testing.T), w.guess(forger, "made-up", 401), Accept, ReasonNone)
				}
			},
			checkSrc: forger, wantV: Drop, wantR: ReasonFailures, wantUnbound: limit, wantBlockedBy: ReasonFailures,
		},
		{
			name: "default: forged credentials never block a proven source",
			play: func(w *world) {
				w.login(victim)
				for range 100 {
					w.guess(victim, "made-up", 401)
					w.guess(victim, "made-up", 403)
				}
			},
			checkSrc: victim, wantV: Accept, wantUnbound: 200, wantRefused: 200,
		},
		{
			name: "default: a proof discounts the forged credentials before it",
			play: func(w *world) {
				for range limit - 1 {
					w.guess(victim, "made-up", 401)
				}
				w.login(victim)
				w.issue(victim, "typo")
				w.guess(victim, "typo", 401) // one mistyped password
			},
			checkSrc: victim, wantV: Accept, wantUnbound: limit - 1,
		},
		{
			name: "count mode: forged credentials with a nonce the forger got for itself",
			mod:  func(c *Config) { c.ReportUnbound = true },
			play: func(w *world) {
				w.issue(forger, "mine")
				for range 100 {
					w.guess(victim, "mine", 401)
				}
			},
			checkSrc: victim, wantV: Accept, wantUnbound: 100,
		},
		{
			name: "count mode: credentials without a nonce are unbound",
			mod:  func(c *Config) { c.ReportUnbound = true },
			play: func(w *world) {
				for range 10 {
					w.seq++
					id := fmt.Sprint("x", w.seq)
					req := strings.Replace(register(victim, id, 1, "", true), `nonce="abc", `, "", 1)
					w.exchange(victim, req, response(401, id, 1, "REGISTER"))
				}
			},
			checkSrc: victim, wantV: Accept, wantUnbound: 10,
		},
		{
			name: "count mode: a challenge answering no request seen is not recorded",
			mod:  func(c *Config) { c.ReportUnbound = true },
			play: func(w *world) {
				w.send(udp(pbx.String(), 5060, netip.MustParseAddr(victim), 5062, challenge("ghost", 1, "n-ghost")))
				for range limit {
					w.guess(victim, "n-ghost", 401)
				}
			},
			checkSrc: victim, wantV: Accept, wantUnbound: limit,
		},
		{
			name: "one bound nonce among several is enough",
			play: func(w *world) {
				w.issue(forger, "real")
				for range limit {
					w.seq++
					id := fmt.Sprint("m", w.seq)
					req := strings.Replace(credReg(forger, id, 2, "fake"), "Expires:",
						`Proxy-Authorization: Digest realm="b", nonce="real", response="00"`+"\r\nExpires:", 1)
					w.exchange(forger, req, response(401, id, 2, "REGISTER"))
				}
			},
			checkSrc: forger, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
		{
			name: "drop mode: unbound credentials dropped, never a block",
			mod:  func(c *Config) { c.DropUnbound = true },
			play: func(w *world) {
				for range 50 {
					want(w.t.(*testing.T), w.guess(victim, "made-up", 401), Drop, ReasonUnboundNonce)
				}
				w.issue(victim, "n1")
				want(w.t.(*testing.T), w.guess(victim, "n1", 200), Accept, ReasonNone)
			},
			checkSrc: victim, wantV: Accept, wantUnbound: 50,
		},
		{
			name: "unproven source: scans block as before",
			play: func(w *world) {
				for range limit {
					w.scan(victim, 404)
				}
			},
			checkSrc: victim, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
		{
			name: "proven source: 404 and 403 scans refused",
			play: func(w *world) {
				w.login(victim)
				for range 100 {
					w.scan(victim, 404)
					w.scan(victim, 403)
				}
			},
			checkSrc: victim, wantV: Accept, wantRefused: 200,
		},
		{
			name: "proven source: scans with made-up credentials refused too",
			play: func(w *world) {
				w.login(victim)
				for range 100 {
					w.guess(victim, "made-up", 404)
				}
			},
			checkSrc: victim, wantV: Accept, wantUnbound: 100, wantRefused: 100,
		},
		{
			name: "proven source: bound failures still block",
			play: func(w *world) {
				w.login(forger)
				w.issue(forger, "n2")
				for range limit {
					w.guess(forger, "n2", 401)
				}
			},
			checkSrc: forger, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
		{
			name: "scans before the proof do not add to a proven source's failures",
			play: func(w *world) {
				for range limit - 1 {
					w.scan(victim, 404)
				}
				w.login(victim)
				w.issue(victim, "typo")
				w.guess(victim, "typo", 401) // one mistyped password
			},
			checkSrc: victim, wantV: Accept,
		},
		{
			name: "proof lapses after block_time",
			play: func(w *world) {
				w.login(victim)
				w.clock.Advance(10*time.Minute + time.Second)
				for range limit {
					w.scan(victim, 404)
				}
			},
			checkSrc: victim, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
		{
			name: "a 200 to unbound credentials proves nothing",
			play: func(w *world) {
				w.guess(victim, "made-up", 200)
				for range limit {
					w.scan(victim, 404)
				}
			},
			checkSrc: victim, wantV: Drop, wantR: ReasonFailures, wantUnbound: 1, wantBlockedBy: ReasonFailures,
		},
		{
			name: "bind_nonces off: unbound credentials count as today",
			mod:  func(c *Config) { c.BindNonces = false },
			play: func(w *world) {
				for range limit {
					w.guess(victim, "made-up", 401)
				}
			},
			checkSrc: victim, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
		{
			name: "bind_nonces off: a login proves nothing",
			mod:  func(c *Config) { c.BindNonces = false },
			play: func(w *world) {
				w.login(victim)
				for range limit {
					w.scan(victim, 404)
				}
			},
			checkSrc: victim, wantV: Drop, wantR: ReasonFailures, wantBlockedBy: ReasonFailures,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, func(c *Config) {
				c.FailuresPerMinute = limit
				if tt.mod != nil {
					tt.mod(c)
				}
			})
			tt.play(w)
			d := w.send(udp(tt.checkSrc, 5062, pbx, 5060, register(tt.checkSrc, "check", 1, "", false)))
			if tt.wantV == Accept {
				want(t, d, Accept, ReasonNone)
			} else {
				want(t, d, tt.wantV, tt.wantR)
			}
			st := w.e.Stats()
			if st.Unbound != tt.wantUnbound || st.ProvenRefused != tt.wantRefused {
				t.Errorf("unbound %d, proven refused %d; want %d, %d", st.Unbound, st.ProvenRefused, tt.wantUnbound, tt.wantRefused)
			}
			ev := w.blockEvents()
			switch {
			case tt.wantBlockedBy == ReasonNone && len(ev) != 0:
				t.Errorf("blocks %+v, want none", ev)
			case tt.wantBlockedBy != ReasonNone && (len(ev) != 1 || ev[0].Reason != tt.wantBlockedBy || ev[0].Addr.String() != tt.checkSrc):
				t.Errorf("blocks %+v, want one of %s for %s", ev, tt.checkSrc, tt.wantBlockedBy)
			}
		})
	}
}

// TestNonceTableBound: the nonce table keeps at most MaxNonces entries and
// forgets the oldest first; a nonce in use stays.
func TestNonceTableBound(t *testing.T) {
	const src = "198.51.100.77"
	w := newWorld(t, func(c *Config) { c.MaxNonces = shardCount * 4; c.FailuresPerMinute = 1 })
	w.issue(src, "old")
	w.issue(src, "kept")
	for i := range 3 {
		w.issue(src, fmt.Sprint("n", i))
	}
	w.guess(src, "kept", 200) // used: now the most recent
	w.issue(src, "newest")    // the 6th in a shard of 4: "old" and "n0" go
	if n := totalLen(w.e, func(s *shard) int { return s.nonces.Len() }); n > shardCount*4 {
		t.Fatalf("%d nonces kept, bound %d", n, shardCount*4)
	}
	w.guess(src, "old", 401)
	if st := w.e.Stats(); st.Unbound != 1 {
		t.Fatalf("the evicted nonce: unbound %d, want 1", st.Unbound)
	}
	w.guess(src, "kept", 401)
	want(t, w.send(udp(src, 5062, pbx, 5060, register(src, "after", 1, "", false))), Drop, ReasonFailures)
}

// TestNonceAddressNotPort: a phone behind NAT may answer its challenge
// from another port; the nonce is bound to the address.
func TestNonceAddressNotPort(t *testing.T) {
	const src = "198.51.100.20"
	w := newWorld(t, func(c *Config) { c.FailuresPerMinute = 1 })
	w.send(udp(src, 5060, pbx, 5060, register(src, "p", 1, "", false)))
	w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5060, challenge("p", 1, "abc")))
	w.send(udp(src, 20842, pbx, 5060, register(src, "p", 2, "", true)))
	w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 20842, response(401, "p", 2, "REGISTER")))
	want(t, w.send(udp(src, 5060, pbx, 5060, register(src, "q", 1, "", false))), Drop, ReasonFailures)
	if st := w.e.Stats(); st.Unbound != 0 {
		t.Fatalf("unbound %d, want 0", st.Unbound)
	}
}
