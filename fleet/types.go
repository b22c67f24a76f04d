package fleet

import (
	"net/netip"
	"time"
)

// OriginPrefix starts the origin of every decision sipprot pushes:
// "sipprot/<machine id>". ScenarioPrefix starts its scenario:
// "sipprot/<reason>".
const (
	OriginPrefix   = "sipprot"
	ScenarioPrefix = "sipprot/"
)

// PermanentDuration is the ban pushed for a permanent block (zero
// Block.Until). The LAPI has no "forever"; ten years outlives any host.
const PermanentDuration = 87600 * time.Hour

// Block is one block this host decided, as pushed to the LAPI.
type Block struct {
	Addr      netip.Addr
	Reason    string    // sipprot's reason, e.g. "failures"; becomes the scenario
	Start     time.Time // first attack packet; zero means now
	Until     time.Time // zero means permanent
	UserAgent string
	Country   string // ISO code, if known
}

// Decision is one ban in force from the LAPI.
type Decision struct {
	Prefix   netip.Prefix // a single address is a /32 or /128
	Origin   string       // "crowdsec", "cscli", "sipprot/pbx2", ...
	Scenario string
	Until    time.Time
	ID       int64 // the LAPI's decision id
	// Own is true for the decisions this host pushed: the caller already
	// enforces them and must not count them twice.
	Own bool
}

// Refusals counts the decisions and pushes not taken, by cause.
type Refusals struct {
	RangeTooWide uint64 // Range wider than /16 (IPv4) or /32 (IPv6)
	Full         uint64 // set already holds MaxDecisions prefixes
	Scope        uint64 // scope other than Ip and Range (Country, AS, ...)
	Type         uint64 // type other than ban (captcha, ...)
	Malformed    uint64 // unparsable value or duration
	Origin       uint64 // origin not in Config.Origins
	QueueFull    uint64 // Push/Unblock found the queue full
	OutboxFull   uint64 // the outbox held OutboxMax entries
}

// Status is a snapshot of the client for status pages and checks.
type Status struct {
	PullConnected bool // the last pull succeeded
	LastPull      time.Time
	LastPullErr   string
	PushConnected bool // the last push exchange succeeded
	LastPush      time.Time
	LastPushErr   string
	InForce       map[string]int // decisions held, by origin
	Outbox        int            // entries waiting for the LAPI
	Pushed        uint64         // entries the LAPI accepted
	Logins        uint64         // machine logins, the first included
	Refusals      Refusals
}
