package sipparse

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

var (
	// ErrNotSIP is returned, wrapped with the reason, for anything that is
	// not a well-formed SIP message. Every malformed input satisfies
	// errors.Is(err, ErrNotSIP).
	ErrNotSIP = errors.New("not a SIP message")

	// ErrMissingHeader is returned, wrapped with the header's name, when a
	// request or response lacks Call-ID or CSeq (or, on a TCP stream,
	// Content-Length). It wraps ErrNotSIP.
	ErrMissingHeader = fmt.Errorf("%w: missing header", ErrNotSIP)

	// ErrKeepAlive is returned for a CRLF keep-alive ("\r\n\r\n" ping or
	// "\r\n" pong, RFC 5626 section 4.4.1). It is not malformed: it does not
	// satisfy errors.Is(err, ErrNotSIP).
	ErrKeepAlive = errors.New("CRLF keep-alive")
)

// Prebuilt so that the common malformed cases do not allocate.
var (
	errEmpty         = fmt.Errorf("%w: empty payload", ErrNotSIP)
	errTruncated     = fmt.Errorf("%w: header section not terminated", ErrNotSIP)
	errMissingCallID = fmt.Errorf("%w: Call-ID", ErrMissingHeader)
	errMissingCSeq   = fmt.Errorf("%w: CSeq", ErrMissingHeader)
	errMissingLength = fmt.Errorf("%w: Content-Length", ErrMissingHeader)
	errDupLength     = fmt.Errorf("%w: more than one Content-Length", ErrNotSIP)
	errDupCallID     = fmt.Errorf("%w: more than one Call-ID", ErrNotSIP)
	errDupCSeq       = fmt.Errorf("%w: more than one CSeq", ErrNotSIP)
	errShortBody     = fmt.Errorf("%w: body shorter than Content-Length", ErrNotSIP)
	errVersion       = fmt.Errorf("%w: SIP version is not SIP/2.0", ErrNotSIP)
	errMethod        = fmt.Errorf("%w: method is not a token", ErrNotSIP)
	errStatus        = fmt.Errorf("%w: status code out of 100-699", ErrNotSIP)
	errNotReqOrResp  = fmt.Errorf("%w: neither request nor response", ErrNotSIP)
)

// Parser parses SIP messages into Message values. It holds no per-message
// state, so one Parser is safe for concurrent use by several queue readers.
type Parser struct {
	sp *sip.Parser
}

// headerParsers is the minimal sipgo table: only the headers sipprot reads
// by type (and Content-Length, which frames messages) are parsed; every other
// header stays a generic name/value pair, which is cheaper than sipgo's
// default table (that one parses Via, From, To, Contact and their URIs).
var headerParsers = map[string]sip.HeaderParser{
	"call-id":        sip.DefaultHeadersParser()["call-id"],
	"i":              sip.DefaultHeadersParser()["i"],
	"cseq":           sip.DefaultHeadersParser()["cseq"],
	"content-length": sip.DefaultHeadersParser()["content-length"],
	"l":              sip.DefaultHeadersParser()["l"],
}

// NewParser returns a Parser backed by a sipgo parser with a minimal header
// table.
func NewParser() *Parser {
	return &Parser{sp: sip.NewParser(sip.WithHeadersParsers(headerParsers))}
}

// Parse parses b, one complete SIP message as carried by a UDP datagram, and
// overwrites m with its fields. Leading CRLFs are skipped. A payload of only
// CR and LF bytes returns ErrKeepAlive; anything malformed returns an error
// satisfying errors.Is(err, ErrNotSIP). On error m is left zero.
//
// The body is not copied: only its length is checked against
// Content-Length (RFC 3261 section 18.3: a shorter body is an error; a longer
// one is truncated). Without Content-Length the rest of the datagram is the
// body.
func (p *Parser) Parse(b []byte, m *Message) error {
	*m = Message{}
	if len(b) == 0 {
		return errEmpty
	}
	b = trimCRLF(b)
	if onlyCRLF(b) {
		return ErrKeepAlive
	}
	n, cl, hasCL, err := p.parseHead(b, m)
	if err != nil {
		return err
	}
	if hasCL && cl > len(b)-n {
		*m = Message{}
		return errShortBody
	}
	return nil
}

// parseHead parses the start line and header section at the start of b
// (which must not begin with CRLF) into m. It returns the length of the
// header section including the empty line, and the Content-Length value if
// the header is present.
//
// sipgo is a general SIP stack, not a parser written for hostile input, and
// a panic here would kill a queue reader (with a fail-closed queue, all SIP
// traffic). So a panic is recovered and reported as ErrNotSIP.
func (p *Parser) parseHead(b []byte, m *Message) (n, cl int, hasCL bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			*m = Message{}
			n, cl, hasCL = 0, 0, false
			err = fmt.Errorf("%w: sipgo panic: %s", ErrNotSIP, reason(r))
		}
	}()
	sm, n, err := p.sp.ParseHeaders(b, false)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, false, errTruncated
		}
		return 0, 0, false, fmt.Errorf("%w: %s", ErrNotSIP, reason(err))
	}
	cl, hasCL, err = fill(sm, m)
	if err != nil {
		*m = Message{}
		return 0, 0, false, err
	}
	return n, cl, hasCL, nil
}

// fill copies what policy needs from a sipgo message into m, in one pass
// over the headers. It does not use sipgo's CallID()/CSeq() accessors: when
// the header is absent they rescan all headers, lower-casing each name, which
// allocates.
func fill(sm sip.Message, m *Message) (cl int, hasCL bool, err error) {
	var hs []sip.Header
	switch v := sm.(type) {
	case *sip.Request:
		if !isSIP20(v.SipVersion) {
			return 0, false, errVersion
		}
		if !isToken(string(v.Method)) {
			return 0, false, errMethod
		}
		m.Request = true
		m.Method = string(v.Method) // sipgo upper-cases it
		hs = v.Headers()
	case *sip.Response:
		if !isSIP20(v.SipVersion) {
			return 0, false, errVersion
		}
		if v.StatusCode < 100 || v.StatusCode > 699 {
			return 0, false, errStatus
		}
		m.Status = v.StatusCode
		hs = v.Headers()
	default:
		return 0, false, errNotReqOrResp
	}

	var haveCallID, haveCSeq, haveUA bool
	for _, h := range hs {
		switch h := h.(type) {
		case *sip.CallIDHeader:
			// Duplicates are refused: which one a PBX uses is unknown, so
			// a dialog could be tracked under the wrong Call-ID.
			if haveCallID {
				return 0, false, errDupCallID
			}
			haveCallID = true
			m.CallID = string(*h)
		case *sip.CSeqHeader:
			if haveCSeq {
				return 0, false, errDupCSeq
			}
			haveCSeq = true
			m.CSeq = h.SeqNo
			// sipgo keeps everything after the first blank, so trim, and
			// upper-case like sipgo does for the request method so that
			// policy can compare the two.
			m.CSeqMethod = strings.ToUpper(strings.TrimSpace(string(h.MethodName)))
		case *sip.ContentLengthHeader:
			// Two lengths frame a stream two ways (request smuggling).
			if hasCL {
				return 0, false, errDupLength
			}
			hasCL = true
			cl = int(*h)
		default:
			name := h.Name()
			switch len(name) {
			case len("user-agent"):
				if strings.EqualFold(name, "user-agent") {
					if !haveUA {
						haveUA = true
						m.UserAgent = strings.TrimSpace(h.Value())
					} else {
						m.MoreUserAgents = append(m.MoreUserAgents, strings.TrimSpace(h.Value()))
					}
				}
			case len("authorization"):
				if strings.EqualFold(name, "authorization") {
					m.Credentials = true
					if m.Request {
						addNonces(m, h.Value())
					}
				}
			case len("proxy-authorization"):
				if strings.EqualFold(name, "proxy-authorization") {
					m.Credentials = true
					if m.Request {
						addNonces(m, h.Value())
					}
				}
			case len("www-authenticate"):
				if !m.Request && strings.EqualFold(name, "www-authenticate") {
					addNonces(m, h.Value())
				}
			case len("proxy-authenticate"):
				if !m.Request && strings.EqualFold(name, "proxy-authenticate") {
					addNonces(m, h.Value())
				}
			}
		}
	}
	if !haveCallID {
		return 0, false, errMissingCallID
	}
	if !haveCSeq {
		return 0, false, errMissingCSeq
	}
	return cl, hasCL, nil
}

// maxNonces bounds the nonces kept of one message: real ones carry one or
// two, and a message stuffed with thousands must not cost thousands of
// lookups in the policy's nonce table.
const maxNonces = 8

// addNonces records the nonces of one credentials or challenge header
// value. The values are substrings of sipgo's header string, already a copy
// of the packet, so they cost no allocation (only a second nonce does).
func addNonces(m *Message, v string) {
	eachNonce(v, func(n string) {
		if n == "" || len(m.MoreNonces)+1 >= maxNonces {
			return
		}
		if m.Nonce == "" {
			m.Nonce = n
			return
		}
		m.MoreNonces = append(m.MoreNonces, n)
	})
}

// reason formats a sipgo error or panic value for wrapping. sipgo quotes
// input (a whole start line) in its errors, so the text is cut short and
// quoted: it is peer-controlled and may end up in logs.
func reason(v any) string {
	const maxReason = 100
	s := fmt.Sprint(v)
	if len(s) > maxReason {
		s = s[:maxReason] + "..."
	}
	return strconv.Quote(s)
}

// isSIP20 reports whether v is "SIP/2.0"; sipgo only checks the "SIP" prefix.
func isSIP20(v string) bool {
	return strings.EqualFold(v, "SIP/2.0")
}

// isToken reports whether s is a non-empty RFC 3261 token, as a method must
// be; sipgo accepts any bytes.
func isToken[S string | []byte](s S) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// trimCRLF drops leading CRLF pairs: RFC 3261 section 7.5 has stream
// receivers ignore them, and accepting them on UDP too costs nothing.
func trimCRLF(b []byte) []byte {
	for len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		b = b[2:]
	}
	return b
}

// onlyCRLF reports whether b holds nothing but CR and LF bytes. Phones vary
// ("\r\n\r\n", "\r\n", sometimes a bare "\n"), so any such run counts as a
// keep-alive.
func onlyCRLF(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
