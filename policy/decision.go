// Package policy holds every rule of sipprot and the one decision function
// that applies them to a packet: verdict plus the reason behind it.
package policy

// Verdict is what happens to the packet.
type Verdict uint8

// Verdicts.
const (
	Accept Verdict = iota
	Drop
)

// String returns "accept" or "drop".
func (v Verdict) String() string {
	if v == Drop {
		return "drop"
	}
	return "accept"
}

// Reason says which rule decided. Its String is the one spelling used by
// logs, JSON outputs and metrics.
type Reason uint8

// Reasons, in the order the rules run.
const (
	ReasonNone Reason = iota
	ReasonAllow
	ReasonDeny
	ReasonDynamic
	ReasonFleet
	ReasonCountry
	ReasonTFTP
	ReasonUserAgent
	ReasonFailures
	ReasonFlood
	ReasonMalformed
	ReasonUnboundNonce
	numReasons
)

// NumReasons is the number of reasons; arrays indexed by Reason have it
// as their length.
const NumReasons = int(numReasons)

var reasonNames = [numReasons]string{
	ReasonNone:      "none",
	ReasonAllow:     "allow",
	ReasonDeny:      "deny",
	ReasonDynamic:   "dynamic",
	ReasonFleet:     "fleet",
	ReasonCountry:   "country",
	ReasonTFTP:      "tftp",
	ReasonUserAgent: "user_agent",
	ReasonFailures:  "failures",
	ReasonFlood:     "flood",
	ReasonMalformed: "malformed",
	// ReasonUnboundNonce: credentials answering no challenge the PBX sent
	// to the source, dropped only with [sip] unbound_nonce = "drop".
	ReasonUnboundNonce: "unbound_nonce",
}

// String returns the reason's stable lower_snake_case name.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// DropReasons lists the reasons a packet can be dropped for, in the order
// reports print them.
func DropReasons() []Reason {
	return []Reason{ReasonAllow, ReasonDeny, ReasonDynamic, ReasonFleet, ReasonCountry, ReasonUserAgent, ReasonFailures, ReasonFlood, ReasonTFTP, ReasonMalformed, ReasonUnboundNonce}
}

// ParseReason maps a reason name back to its value.
func ParseReason(s string) (Reason, bool) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), true
		}
	}
	return ReasonNone, false
}

// Decision is the outcome for one packet.
type Decision struct {
	Verdict Verdict
	Reason  Reason
}

func accept(r Reason) Decision { return Decision{Accept, r} }
func drop(r Reason) Decision   { return Decision{Drop, r} }

// addressRules are the rules that judge a packet by its source address
// alone, in the order Decide runs them.
var addressRules = [...]Reason{ReasonAllow, ReasonDeny, ReasonDynamic, ReasonFleet, ReasonCountry}

// AddressWinner returns the first address rule, in Decide's order, that
// holds for a source (allow > deny > dynamic > fleet > country), or ReasonNone when
// none does and the content rules judge it. `sipprot check` asks this
// rather than repeating the order; TestAddressWinnerIsDecide binds it to
// Decide.
func AddressWinner(holds func(Reason) bool) Reason {
	for _, r := range addressRules {
		if holds(r) {
			return r
		}
	}
	return ReasonNone
}
