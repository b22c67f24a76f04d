// Package sipparse extracts from SIP messages, through sipgo, the few fields
// sipprot decides on, and reassembles SIP messages from TCP segments.
package sipparse

// Message holds what policy needs of one SIP message. Strings are copies and
// stay valid after the packet buffer is reused.
type Message struct {
	// Request is true for a request, false for a response.
	Request bool
	// Method is the request method (requests only), upper-cased.
	Method string
	// Status is the status code (responses only).
	Status int
	// CallID is the Call-ID header value.
	CallID string
	// CSeq is the CSeq sequence number and CSeqMethod its method,
	// upper-cased like Method.
	CSeq       uint32
	CSeqMethod string
	// UserAgent is the first User-Agent header value, trimmed ("" when
	// absent).
	UserAgent string
	// MoreUserAgents holds the values of any further User-Agent headers, so
	// a scanner cannot hide its name behind an innocent first one. Nil for
	// the usual single header.
	MoreUserAgents []string
	// Credentials is true when the message carries an Authorization or
	// Proxy-Authorization header.
	Credentials bool
	// Nonce is, in a request, the first nonce of its Authorization and
	// Proxy-Authorization headers (the nonce its credentials answer); in a
	// response, the first nonce of its WWW-Authenticate and
	// Proxy-Authenticate challenges. "" when there is none.
	Nonce string
	// MoreNonces holds any further nonces of the same headers: a request
	// may answer several challenges (one per realm) and a response may
	// offer several (one per algorithm). Nil for the usual single one.
	MoreNonces []string
}

// Nonces calls fn with every nonce of m, Nonce first.
func (m *Message) Nonces(fn func(string)) {
	if m.Nonce != "" {
		fn(m.Nonce)
	}
	for _, n := range m.MoreNonces {
		fn(n)
	}
}
