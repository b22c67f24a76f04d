package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gaissmai/bart"
	"github.com/sipprot/sipprot/packet"
)

var (
	pbx   = netip.MustParseAddr("203.0.113.10")
	t0    = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pbxV6 = netip.MustParseAddr("2001:db8::10")
)

// world is an engine on a manual clock plus helpers to speak SIP to it.
type world struct {
	t     testing.TB
	e     *Engine
	clock *ManualClock
	seq   int
}

func newWorld(t *testing.T, mod func(*Config)) *world {
	t.Helper()
	cfg := DefaultConfig()
	cfg.UserAgents = []string{"friendly-scanner", "sipvicious", "sipcli"}
	if mod != nil {
		mod(&cfg)
	}
	clock := NewManualClock(t0)
	return &world{t: t, e: New(cfg, clock), clock: clock}
}

func (w *world) lists(allow, deny []string) {
	w.t.Helper()
	mk := func(ss []string) *bart.Lite {
		l := new(bart.Lite)
		for _, s := range ss {
			l.Insert(netip.MustParsePrefix(s))
		}
		return l
	}
	w.e.SetLists(mk(allow), mk(deny))
}

// udp builds a UDP packet between src:sport and dst:dport.
func udp(src string, sport uint16, dst netip.Addr, dport uint16, payload string) *packet.Parsed {
	return &packet.Parsed{Src: netip.MustParseAddr(src), Dst: dst, SrcPort: sport, DstPort: dport,
		Proto: packet.UDP, Payload: []byte(payload), Length: 28 + len(payload)}
}

// register returns a REGISTER from src; creds adds an Authorization header.
func register(src string, callID string, cseq int, ua string, creds bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", pbx)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%s-%d;rport\r\n", src, callID, cseq)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:1001@%s>;tag=abc\r\nTo: <sip:1001@%s>\r\n", pbx, pbx)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\nContact: <sip:1001@%s:5060>\r\n", callID, cseq, src)
	if ua != "" {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", ua)
	}
	if creds {
		b.WriteString(`Authorization: Digest username="1001", realm="sipprot.test", nonce="abc", uri="sip:203.0.113.10", response="0123456789abcdef0123456789abcdef"` + "\r\n")
	}
	b.WriteString("Expires: 3600\r\nContent-Length: 0\r\n\r\n")
	return b.String()
}

// response returns a final response to the request (callID, cseq).
func response(status int, callID string, cseq int, method string) string {
	return fmt.Sprintf("SIP/2.0 %d Whatever\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-x\r\n"+
		"From: <sip:1001@203.0.113.10>;tag=abc\r\nTo: <sip:1001@203.0.113.10>;tag=srv\r\n"+
		"Call-ID: %s\r\nCSeq: %d %s\r\nServer: kamailio\r\nContent-Length: 0\r\n\r\n", status, callID, cseq, method)
}

// challenge returns the PBX's 401 to (callID, cseq) with a challenge of
// nonce.
func challenge(callID string, cseq int, nonce string) string {
	return strings.Replace(response(401, callID, cseq, "REGISTER"), "Server: kamailio\r\n",
		`WWW-Authenticate: Digest realm="sipprot.test", nonce="`+nonce+`", qop="auth"`+"\r\nServer: kamailio\r\n", 1)
}

// challenged plays a phone's (or a real attacker's) first REGISTER from
// src and the PBX's 401, so that the nonce "abc" of register's credentials
// is one the PBX issued to src. It returns the decision on the REGISTER.
func (w *world) challenged(src string) Decision {
	w.t.Helper()
	return w.challengedAs(src, "")
}

// challengedAs is challenged with a User-Agent.
func (w *world) challengedAs(src, ua string) Decision {
	w.t.Helper()
	w.seq++
	id := fmt.Sprintf("challenge-%d", w.seq)
	d := w.send(udp(src, 5062, pbx, 5060, register(src, id, 1, ua, false)))
	if d.Verdict == Accept {
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5062, challenge(id, 1, "abc")))
	}
	return d
}

// send decides a packet and returns the decision.
func (w *world) send(p *packet.Parsed) Decision {
	w.t.Helper()
	return w.e.Decide(p)
}

// attempt sends an authenticated REGISTER from src and, if it got through,
// the PBX's reply with status. It returns the request's decision. Like a
// real guesser it answers a challenge it received (see challenged).
func (w *world) attempt(src string, status int, ua string) Decision {
	w.t.Helper()
	if d := w.challengedAs(src, ua); d.Verdict == Drop {
		return d
	}
	w.seq++
	id := fmt.Sprintf("call-%d", w.seq)
	d := w.send(udp(src, 5062, pbx, 5060, register(src, id, 1, ua, true)))
	if d.Verdict == Accept {
		w.send(udp(pbx.String(), 5060, netip.MustParseAddr(src), 5062, response(status, id, 1, "REGISTER")))
	}
	return d
}

func (w *world) events() []Event { return w.e.TakeEvents(nil) }

func (w *world) blockEvents() []Event {
	var out []Event
	for _, ev := range w.events() {
		if ev.Kind == EventBlock {
			out = append(out, ev)
		}
	}
	return out
}

func want(t *testing.T, got Decision, v Verdict, r Reason) {
	t.Helper()
	if got.Verdict != v || got.Reason != r {
		t.Fatalf("decision = %v/%v, want %v/%v", got.Verdict, got.Reason, v, r)
	}
}
