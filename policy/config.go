package policy

import "time"

// Config is the compiled configuration the engine runs on: ports as a
// bitmap, durations as durations, names lower-cased. The cli builds it from
// the TOML config.
type Config struct {
	// UDP and TCP select the SIP transports watched.
	UDP, TCP bool
	// Ports are the SIP ports, by either end of the packet.
	Ports PortSet
	// FailuresPerMinute is N: the request after N failures within the last
	// minute is dropped and its source blocked.
	FailuresPerMinute int
	// BlockTime is how long a dynamic block lasts after the source's last
	// packet.
	BlockTime time.Duration
	// BlockThreshold is the block count that makes a block permanent.
	BlockThreshold int
	// UserAgents are scanner names matched anywhere in User-Agent,
	// ignoring case.
	UserAgents []string
	// BlockedCountries are ISO 3166 alpha-2 codes whose traffic is dropped.
	BlockedCountries []string
	// RequestsPerSecond caps SIP requests per source; 0 turns the cap off.
	RequestsPerSecond float64
	// DropMalformed drops payloads on SIP ports that are not SIP.
	DropMalformed bool
	// BindNonces counts a 401/407/403 to a request with credentials as a
	// failure only when the request answers a nonce the PBX issued to the
	// request's own source address, and makes a source that authenticated
	// with such a nonce proven for BlockTime: scans (404, 403 without
	// credentials) never block a proven source. Forged source addresses
	// then cannot get a victim blocked. Off, failures count as before.
	BindNonces bool
	// DropUnbound drops (reason unbound_nonce) a request whose credentials
	// answer no nonce the PBX issued to its source. It has no effect
	// without BindNonces.
	DropUnbound bool
	// ReportUnbound only counts the failures of such requests (401/407/403)
	// instead of judging them as failures whose origin cannot be proven
	// (counted against an unproven source, never against a proven one).
	// Safe only for PBXes that check a nonce before the password:
	// Asterisk checks the password behind any nonce and answers a right
	// one with stale=true, a guessing oracle a guesser could use
	// uncounted.
	ReportUnbound bool
	// TFTP turns on the per-source TFTP rate limit (UDP 69).
	TFTP                     bool
	TFTPPerMinute, TFTPBurst int

	// Bounds of the state tables; each evicts its oldest entry when full.
	MaxSources      int // per-source counters (failures, flood, TFTP)
	MaxBlocks       int // dynamic blocks, including remembered block counts
	MaxTransactions int // requests awaiting their final response
	MaxNonces       int // nonces the PBX issued, with the address they went to
	MaxStreams      int // TCP connections being reassembled
	MaxStreamBuffer int // bytes buffered per TCP connection
	// EventQueue bounds the block and unblock events waiting for their
	// consumer; beyond it they are counted lost.
	EventQueue int
}

// DefaultConfig returns the engine configuration of the embedded defaults.
func DefaultConfig() Config {
	c := Config{
		UDP:               true,
		TCP:               true,
		FailuresPerMinute: 10,
		BlockTime:         10 * time.Minute,
		BlockThreshold:    5,
		TFTP:              true,
		TFTPPerMinute:     10,
		TFTPBurst:         100,
		MaxSources:        1 << 20,
		MaxBlocks:         1 << 20,
		MaxTransactions:   1 << 18,
		MaxNonces:         1 << 18,
		BindNonces:        true,
		MaxStreams:        1024,
		MaxStreamBuffer:   64 << 10,
		EventQueue:        DefaultEventQueue,
	}
	c.Ports.Add(5060, 5060)
	return c
}

// PortSet is a bitmap of the 65536 ports: one load and a mask per lookup.
type PortSet [1024]uint64

// Add puts the ports lo..hi (inclusive) in the set.
func (s *PortSet) Add(lo, hi uint16) {
	for p := int(lo); p <= int(hi); p++ {
		s[p>>6] |= 1 << (p & 63)
	}
}

// Has reports whether port is in the set.
func (s *PortSet) Has(port uint16) bool {
	return s[port>>6]&(1<<(port&63)) != 0
}
