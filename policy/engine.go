package policy

import (
	"errors"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipprot/sipprot/packet"
	"github.com/sipprot/sipprot/sipparse"
)

// tftpPort is the TFTP server port the TFTP limit guards.
const tftpPort = 69

// CountryLookup maps an address to its ISO 3166 alpha-2 country code. The
// GeoIP package implements it; it must be safe for concurrent use.
type CountryLookup interface {
	Country(netip.Addr) (string, bool)
}

// rules is the compiled, reloadable part of the configuration. Decide
// loads it once per packet, so a reload never mixes two configs in one
// decision.
type rules struct {
	Config
	ua                                uaMatcher
	countries                         map[string]bool
	floodPerNs, floodBurst, tftpPerNs float64
}

func compile(cfg Config) *rules {
	r := &rules{Config: cfg, ua: newUAMatcher(cfg.UserAgents)}
	if cfg.RequestsPerSecond > 0 {
		r.floodPerNs = cfg.RequestsPerSecond / float64(time.Second)
		r.floodBurst = max(cfg.RequestsPerSecond, 1)
	}
	if cfg.TFTPPerMinute > 0 {
		r.tftpPerNs = float64(cfg.TFTPPerMinute) / float64(time.Minute)
	}
	if cfg.FailuresPerMinute < 1 {
		r.FailuresPerMinute = 1
	}
	if cfg.BlockThreshold < 1 {
		r.BlockThreshold = 1
	}
	for _, cc := range cfg.BlockedCountries {
		if r.countries == nil {
			r.countries = map[string]bool{}
		}
		r.countries[strings.ToUpper(cc)] = true
	}
	return r
}

// Engine decides on packets. It is safe for concurrent use by several
// queue readers. What a reload changes (rules, lists, the country lookup)
// is one immutable snapshot behind one atomic pointer, so a decision
// never sees new rules with old lists.
type Engine struct {
	snap   atomic.Pointer[snapshot]
	pubMu  sync.Mutex // one snapshot change at a time
	clock  Clock
	parser *sipparse.Parser
	tcp    *sipparse.Streams
	seed   maphash.Seed

	shards  [shardCount]shard
	events  *eventQueue
	stats   stats
	sampled [NumReasons]uint64 // drop counters at the last SampleDrops
	// unbound and proven-refused counters at the last SampleDrops
	sampledUnbound, sampledProven uint64
}

// New builds an engine. A nil clock means the system clock.
func New(cfg Config, clock Clock) *Engine {
	if clock == nil {
		clock = SystemClock{}
	}
	if cfg.EventQueue < 1 {
		cfg.EventQueue = 1
	}
	e := &Engine{
		clock:  clock,
		parser: sipparse.NewParser(),
		tcp:    sipparse.NewStreams(cfg.MaxStreams, cfg.MaxStreamBuffer),
		seed:   maphash.MakeSeed(),
		events: newEventQueue(cfg.EventQueue),
	}
	e.snap.Store(&snapshot{rules: compile(cfg)})
	per := func(n int) int { return max(1, (n+shardCount-1)/shardCount) }
	for i := range e.shards {
		e.shards[i].sources = newLRU[addrKey, source](per(cfg.MaxSources))
		e.shards[i].blocks = newLRU[addrKey, block](per(cfg.MaxBlocks))
		e.shards[i].txns = newLRU[uint64, txn](per(cfg.MaxTransactions))
		e.shards[i].nonces = newLRU[uint64, issued](per(cfg.MaxNonces))
		e.shards[i].drops = make(map[addrKey]uint32, dropSourcesPerShard)
	}
	return e
}

// scannerUA returns the first of m's User-Agent values that names a
// blocked scanner: every header counts, not only the first.
func (r *rules) scannerUA(m *sipparse.Message) (string, bool) {
	if r.ua.match(m.UserAgent) != "" {
		return m.UserAgent, true
	}
	for _, ua := range m.MoreUserAgents {
		if r.ua.match(ua) != "" {
			return ua, true
		}
	}
	return "", false
}

// Decide returns the verdict for one decoded packet. It never waits on
// anything but the short lock of the source's shard.
func (e *Engine) Decide(p *packet.Parsed) Decision {
	d := e.decide(e.snap.Load(), p, e.clock.Now().UnixNano())
	e.stats.count(d)
	return d
}

func (e *Engine) decide(sn *snapshot, p *packet.Parsed, now int64) Decision {
	e.stats.packets.Add(1)
	r := sn.rules
	src := p.Src
	// Address rules first: a listed or blocked source costs no parse.
	if sn.allow != nil && sn.allow.Lookup(src) {
		return accept(ReasonAllow)
	}
	k := keyOf(src)
	sh := &e.shards[shardOf(k)]
	if sn.deny != nil && sn.deny.Lookup(src) {
		sh.mu.Lock()
		sh.countDrop(k)
		sh.mu.Unlock()
		return drop(ReasonDeny)
	}
	sh.mu.Lock()
	blocked := e.blockedLocked(r, sh, k, now)
	if blocked {
		sh.countDrop(k)
	}
	sh.mu.Unlock()
	if blocked {
		return drop(ReasonDynamic)
	}
	if sn.fleet != nil {
		if b, ok := sn.fleet.Lookup(src); ok && b.inForce(now) {
			e.countDrop(sh, k)
			return drop(ReasonFleet)
		}
	}
	if sn.geo != nil && r.countries != nil {
		if cc, ok := sn.geo.Country(src); ok && r.countries[cc] {
			e.countDrop(sh, k)
			return drop(ReasonCountry)
		}
	}
	if p.Fragment {
		// No ports, no payload: only address rules can judge it.
		return accept(ReasonNone)
	}
	if r.TFTP && p.Proto == packet.UDP && p.DstPort == tftpPort {
		return e.tftp(r, sh, k, now)
	}
	if !r.isSIP(p) {
		return accept(ReasonNone)
	}
	return e.inspect(r, p, now)
}

// isSIP reports whether p travels on a watched SIP transport and port, in
// either direction (requests in, the PBX's responses out).
func (r *rules) isSIP(p *packet.Parsed) bool {
	switch p.Proto {
	case packet.UDP:
		if !r.UDP {
			return false
		}
	case packet.TCP:
		if !r.TCP {
			return false
		}
	default:
		return false
	}
	return r.Ports.Has(p.DstPort) || r.Ports.Has(p.SrcPort)
}

func (e *Engine) tftp(r *rules, sh *shard, k addrKey, now int64) Decision {
	sh.mu.Lock()
	s, _ := sh.sources.put(k)
	ok := s.tftp.take(now, r.tftpPerNs, float64(r.TFTPBurst))
	sh.mu.Unlock()
	if !ok {
		e.countDrop(sh, k)
		return drop(ReasonTFTP)
	}
	return accept(ReasonNone)
}

// inspect parses the SIP payload and applies the content rules to every
// message it completes. A TCP segment is dropped when any of its messages
// is.
func (e *Engine) inspect(r *rules, p *packet.Parsed, now int64) Decision {
	if p.Proto == packet.UDP {
		var m sipparse.Message
		if err := e.parser.Parse(p.Payload, &m); err != nil {
			return e.malformed(r, p, err, now)
		}
		e.stats.sipMessages.Add(1)
		return e.judge(r, p, &m, now)
	}
	if len(p.Payload) == 0 && p.TCPFlags&(packet.FlagFIN|packet.FlagRST) == 0 {
		return accept(ReasonNone)
	}
	key := sipparse.ConnKey{Src: netip.AddrPortFrom(p.Src, p.SrcPort), Dst: netip.AddrPortFrom(p.Dst, p.DstPort)}
	var buf [4]sipparse.Message
	msgs, err := e.tcp.Feed(e.parser, key, p.Seq, p.TCPFlags, p.Payload, buf[:0])
	d := accept(ReasonNone)
	for i := range msgs {
		e.stats.sipMessages.Add(1)
		if d = e.judge(r, p, &msgs[i], now); d.Verdict == Drop {
			break
		}
	}
	if d.Verdict == Accept && err != nil {
		d = e.malformed(r, p, err, now)
	}
	if d.Verdict == Drop {
		// The sender retransmits a dropped segment: forget the stream so
		// the retransmission is inspected again, not skipped as seen.
		e.tcp.Forget(key)
	}
	return d
}

func (e *Engine) malformed(r *rules, p *packet.Parsed, err error, now int64) Decision {
	if errors.Is(err, sipparse.ErrKeepAlive) {
		return accept(ReasonNone)
	}
	e.stats.malformed.Add(1)
	if r.DropMalformed {
		k := keyOf(p.Src)
		e.countDrop(&e.shards[shardOf(k)], k)
		return drop(ReasonMalformed)
	}
	return accept(ReasonNone)
}

// judge applies the content rules to one message. The source is always the
// packet's IP source, never an address written in SIP headers.
func (e *Engine) judge(r *rules, p *packet.Parsed, m *sipparse.Message, now int64) Decision {
	if !m.Request {
		e.response(r, p.Dst, m, now)
		return accept(ReasonNone)
	}
	if p.Local {
		return accept(ReasonNone)
	}
	k := keyOf(p.Src)
	sh := &e.shards[shardOf(k)]
	if ua, ok := r.scannerUA(m); ok {
		sh.mu.Lock()
		e.blockLocked(r, sh, k, now, ReasonUserAgent, ua)
		sh.mu.Unlock()
		return drop(ReasonUserAgent)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s, ok := sh.sources.peek(k)
	if ok && s.failures(now) >= r.FailuresPerMinute {
		s.fails.reset()
		e.blockLocked(r, sh, k, now, ReasonFailures, m.UserAgent)
		return drop(ReasonFailures)
	}
	if r.floodPerNs > 0 {
		s, _ = sh.sources.put(k)
		if !s.flood.take(now, r.floodPerNs, r.floodBurst) {
			e.blockLocked(r, sh, k, now, ReasonFlood, m.UserAgent)
			return drop(ReasonFlood)
		}
	}
	if m.Method == "ACK" { // ACK gets no response
		return accept(ReasonNone)
	}
	bound := false
	if r.BindNonces && m.Credentials {
		if bound = e.boundLocked(sh, k, m); !bound {
			e.stats.unbound.Add(1)
			if r.DropUnbound {
				// Dropped, never blocked: the source may be forged.
				sh.countDrop(k)
				return drop(ReasonUnboundNonce)
			}
		}
	}
	t, _ := sh.txns.put(e.txnKey(k, m))
	t.credentials = m.Credentials
	t.bound = bound
	return accept(ReasonNone)
}

// boundLocked reports whether one of m's credential nonces was issued to
// k by the PBX. A nonce in use stays in the table: a phone answering the
// same challenge again (nonce count) keeps it fresh.
func (e *Engine) boundLocked(sh *shard, k addrKey, m *sipparse.Message) bool {
	if m.Nonce == "" {
		return false // MoreNonces is nil too
	}
	if _, ok := sh.nonces.get(e.nonceKey(k, m.Nonce)); ok {
		return true
	}
	for _, n := range m.MoreNonces {
		if _, ok := sh.nonces.get(e.nonceKey(k, n)); ok {
			return true
		}
	}
	return false
}

// issueLocked records the challenges of m as issued to k now.
func (e *Engine) issueLocked(sh *shard, k addrKey, m *sipparse.Message, now int64) {
	if m.Nonce == "" {
		return
	}
	n, _ := sh.nonces.put(e.nonceKey(k, m.Nonce))
	n.at = now
	for _, nonce := range m.MoreNonces {
		n, _ = sh.nonces.put(e.nonceKey(k, nonce))
		n.at = now
	}
}

// response counts a failure against the client the response goes to, when
// it ends a request that the engine let through: 403 and 404 always, 401
// and 407 only if the request carried credentials (a phone's first,
// credential-less REGISTER is challenged normally). With BindNonces it
// also records the response's challenges as issued to the client, counts
// 401/407/403 to credentials only for a nonce bound to the client, proves
// the client on a 2xx to such a request, and leaves the 404s and 403s of
// a proven client uncounted.
func (e *Engine) response(r *rules, client netip.Addr, m *sipparse.Message, now int64) {
	if m.Status < 200 {
		return
	}
	k := keyOf(client)
	sh := &e.shards[shardOf(k)]
	tk := e.txnKey(k, m)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t, ok := sh.txns.peek(tk)
	if !ok {
		return
	}
	creds, bound := t.credentials, t.bound
	sh.txns.del(tk) // retransmitted responses count once
	if r.BindNonces {
		// Only challenges answering a request seen from k are recorded:
		// the PBX sent them to k, and a forger elsewhere never sees them.
		e.issueLocked(sh, k, m, now)
	}
	if b, ok := sh.blocks.peek(k); ok && b.active {
		// A late reply to a request let through before the block: the
		// block has already answered those attempts, and counting them
		// would re-block the source the moment the block lifts.
		return
	}
	if !r.BindNonces {
		switch {
		case m.Status == 403, m.Status == 404:
		case (m.Status == 401 || m.Status == 407) && creds:
		default:
			return
		}
		s, _ := sh.sources.put(k)
		s.fails.add(now, r.FailuresPerMinute)
		return
	}
	switch {
	case m.Status < 300 && bound:
		// An authenticated exchange with a nonce issued to k: k is real.
		s, _ := sh.sources.put(k)
		s.proven = now + int64(r.BlockTime)
		return
	case (m.Status == 401 || m.Status == 407 || m.Status == 403) && creds && !bound:
		// Credentials answering no challenge sent to k: anyone can forge
		// them in k's name, but a PBX that checks the password behind a
		// foreign nonce (Asterisk) tells the sender whether it was right.
		// So they are judged as scans are: against an unproven source
		// only (unbound requests were counted when they came in).
		if r.ReportUnbound {
			return
		}
		e.unprovable(r, sh, k, now)
		return
	case (m.Status == 401 || m.Status == 407 || m.Status == 403) && creds:
		// A wrong password with the nonce the PBX sent to k: only k can
		// have sent it.
	case m.Status == 403, m.Status == 404:
		// A scan of users or numbers: anyone can forge it.
		e.unprovable(r, sh, k, now)
		return
	default:
		return
	}
	s, _ := sh.sources.put(k)
	s.fails.add(now, r.FailuresPerMinute)
}

// unprovable counts a failure that anyone could have caused in k's name
// (a scan, credentials answering no challenge sent to k): against k
// unless k has proven itself. Such failures are kept negative, so a
// later proof discounts them. sh is locked.
func (e *Engine) unprovable(r *rules, sh *shard, k addrKey, now int64) {
	s, _ := sh.sources.put(k)
	if now < s.proven {
		e.stats.provenRefused.Add(1)
		return
	}
	s.fails.add(-now, r.FailuresPerMinute)
}

// nonceKey identifies a nonce issued to one address.
func (e *Engine) nonceKey(k addrKey, nonce string) uint64 {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.Write(k[:])
	h.WriteString(nonce)
	return h.Sum64()
}

// txnKey identifies a transaction by client address, Call-ID and CSeq.
func (e *Engine) txnKey(k addrKey, m *sipparse.Message) uint64 {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.Write(k[:])
	h.WriteString(m.CallID)
	var b [4]byte
	b[0], b[1], b[2], b[3] = byte(m.CSeq), byte(m.CSeq>>8), byte(m.CSeq>>16), byte(m.CSeq>>24)
	h.Write(b[:])
	h.WriteString(m.CSeqMethod)
	return h.Sum64()
}

// countDrop tallies a dropped packet of k, taking its shard's lock.
func (e *Engine) countDrop(sh *shard, k addrKey) {
	sh.mu.Lock()
	sh.countDrop(k)
	sh.mu.Unlock()
}
