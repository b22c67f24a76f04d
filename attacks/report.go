package attacks

import "net/netip"

// Report is one day of the attack log, as `sipprot report` prints it and
// the daily summary email sends it. Times are local: the day and its hours
// are the operator's.
type Report struct {
	// Date is the day, YYYY-MM-DD, local time.
	Date string `json:"date"`
	// Attacks is the number of blocks made that day (each block is one
	// attack stopped); AttacksByReason splits them by reason name
	// (user_agent, failures, flood, tftp, country, …).
	Attacks         int            `json:"attacks"`
	AttacksByReason map[string]int `json:"attacks_by_reason"`
	// BlocksMade counts blocks made (equal to Attacks), MadePermanent those
	// of them that made the source permanent, BlocksLifted the blocks that
	// ended (expired, unblocked by hand, or lifted by the allow list).
	BlocksMade    int `json:"blocks_made"`
	MadePermanent int `json:"made_permanent"`
	BlocksLifted  int `json:"blocks_lifted"`
	// Dropped is every packet dropped that day, DroppedByReason by reason
	// name (allow never appears; deny, dynamic, country, …).
	Dropped         uint64            `json:"dropped"`
	DroppedByReason map[string]uint64 `json:"dropped_by_reason"`
	// UnboundCredentials counts requests whose credentials answered no
	// challenge the PBX sent to their source, and ProvenRefused the 404s
	// and 403s not counted against a source that had authenticated: what
	// forged source addresses tried, and could not get blocked.
	UnboundCredentials uint64 `json:"unbound_credentials"`
	ProvenRefused      uint64 `json:"failures_refused_proven"`
	// TopSources are the sources with the most blocks, then the most
	// dropped packets, at most ReportTopSources of them.
	TopSources []Source `json:"top_sources"`
	// Hours is the day hour by hour, always 24 entries (hour 0 to 23).
	Hours []Hour `json:"hours"`
}

// TopSources is how many sources a report lists.
const TopSources = 10

// Source is one source in a report.
type Source struct {
	IP        string `json:"ip"`
	Country   string `json:"country"`
	UserAgent string `json:"user_agent"`
	// Reason is the reason of the source's latest block that day.
	Reason    string `json:"reason"`
	Blocks    int    `json:"blocks"`
	Dropped   uint64 `json:"dropped"`
	Permanent bool   `json:"permanent"`
}

// Hour is one hour of a report.
type Hour struct {
	Hour         int    `json:"hour"`
	Attacks      int    `json:"attacks"`
	BlocksLifted int    `json:"blocks_lifted"`
	Dropped      uint64 `json:"dropped"`
}

// Quiet reports whether the day saw no attack and no dropped packet.
func (r *Report) Quiet() bool { return r.Attacks == 0 && r.Dropped == 0 }

// FillCountries sets the country of the top sources that have none (those
// only dropped, never blocked, such as deny-listed or country-blocked
// sources) from lookup.
func (r *Report) FillCountries(lookup func(netip.Addr) (string, bool)) {
	for i := range r.TopSources {
		s := &r.TopSources[i]
		if s.Country != "" {
			continue
		}
		if a, err := netip.ParseAddr(s.IP); err == nil {
			if cc, ok := lookup(a); ok {
				s.Country = cc
			}
		}
	}
}
