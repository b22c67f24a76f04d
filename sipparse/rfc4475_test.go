package sipparse

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// rfc4475Row is one RFC 4475 torture message and what Parse makes of it.
type rfc4475Row struct {
	file    string  // under testdata/rfc4475, "valid/wsinv.dat"
	section string  // RFC 4475 section and title
	rfc     string  // what the RFC expects of a receiving element
	want    Message // the result when parsed
	wantErr error   // what the error must match; nil when parsed
	errHas  string  // text the error must hold, for errors sipgo words
}

// rfc4475 holds one row per file in testdata/rfc4475, which are sipgo's
// copies of the RFC's messages (sipgo/sip/testdata/torture). sipgo's split
// is kept: invalid/ holds the syntax errors of section 3.1.2 but also the
// well-formed messages of sections 3.2 to 3.4 that are wrong in meaning, and
// test.dat, which is not from the RFC.
//
// sipprot reads only the start line, Call-ID, CSeq, Content-Length,
// User-Agent and Authorization, so it accepts much the RFC calls malformed.
// That is fine: the PBX still judges the message, and its answers to bad
// syntax or semantics (400, 415, 416, 420, 483, 501, 505) never count as
// failures; only 401/407 to a request with credentials, 403 and 404 do.
// Being stricter than the PBX is what would matter: a message Parse refuses
// is accepted unexamined unless drop_malformed is set, so its User-Agent is
// not checked and the PBX's answer to it is not counted (rows marked
// "Stricter than a liberal PBX").
//
// Failures count against the packet's source address, never a user named in
// From, To or Contact, which Message does not carry. The facts a count
// relies on are the transaction key (Call-ID, CSeq number and method), which
// ties the PBX's answer to the request, and Credentials, which decides
// whether a 401/407 counts.
var rfc4475 = []rfc4475Row{
	// 3.1.1 Valid messages.
	{
		file: "valid/wsinv.dat", section: "3.1.1.1 A Short Tortuous INVITE", rfc: "valid",
		want: Message{Request: true, Method: "INVITE", CallID: "wsinv.ndaksdj@192.0.2.1", CSeq: 9, CSeqMethod: "INVITE"},
	},
	{
		// Methods are case-sensitive (RFC 3261 section 7.1) but Method is
		// upper-cased (sipgo does it), and CSeqMethod with it, so the
		// transaction key still matches the PBX's answer, which echoes the
		// CSeq. Only "ACK" is looked at, and an "ack" the PBX does not take
		// for ACK gets a 501 or 400, which is not counted anyway.
		file: "valid/intmeth.dat", section: "3.1.1.2 Wide Range of Valid Characters", rfc: "valid",
		want: Message{Request: true, Method: "!INTERESTING-METHOD0123456789_*+`.%INDEED'~",
			CallID: "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{", CSeq: 139122385,
			CSeqMethod: "!INTERESTING-METHOD0123456789_*+`.%INDEED'~"},
	},
	{
		file: "valid/esc01.dat", section: "3.1.1.3 Valid Use of the % Escaping Mechanism", rfc: "valid",
		want: Message{Request: true, Method: "INVITE", CallID: "esc01.239409asdfakjkn23onasd0-3234", CSeq: 234234, CSeqMethod: "INVITE"},
	},
	{
		file: "valid/escnull.dat", section: "3.1.1.4 Escaped Nulls in URIs", rfc: "valid",
		want: Message{Request: true, Method: "REGISTER", CallID: "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd", CSeq: 14398234, CSeqMethod: "REGISTER"},
	},
	{
		// Not a REGISTER: % escapes nothing in a method, and the PBX
		// answers an unknown method with 501.
		file: "valid/esc02.dat", section: "3.1.1.5 Use of % When It Is Not an Escape", rfc: "valid, unknown method",
		want: Message{Request: true, Method: "RE%47IST%45R", CallID: "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf", CSeq: 29344, CSeqMethod: "RE%47IST%45R"},
	},
	{
		file: "valid/lwsdisp.dat", section: "3.1.1.6 Message with No LWS between Display Name and <", rfc: "valid",
		want: Message{Request: true, Method: "OPTIONS", CallID: "lwsdisp.1234abcd@funky.example.com", CSeq: 60, CSeqMethod: "OPTIONS"},
	},
	{
		file: "valid/longreq.dat", section: "3.1.1.7 Long Values in Header Fields", rfc: "valid",
		want: Message{Request: true, Method: "INVITE", CallID: "longreq.one" + strings.Repeat("really", 20) + "longcallid", CSeq: 3882340, CSeqMethod: "INVITE"},
	},
	{
		// Only the REGISTER counts; the INVITE after its Content-Length is
		// trailing octets of the datagram, as the RFC wants.
		file: "valid/dblreq.dat", section: "3.1.1.8 Extra Trailing Octets in a UDP Datagram", rfc: "valid, INVITE ignored",
		want: Message{Request: true, Method: "REGISTER", CallID: "dblreq.0ha0isndaksdj99sdfafnl3lk233412", CSeq: 8, CSeqMethod: "REGISTER"},
	},
	{
		file: "valid/semiuri.dat", section: "3.1.1.9 Semicolon-Separated Parameters in URI User Part", rfc: "valid",
		want: Message{Request: true, Method: "OPTIONS", CallID: "semiuri.0ha0isndaksdj", CSeq: 8, CSeqMethod: "OPTIONS"},
	},
	{
		file: "valid/transports.dat", section: "3.1.1.10 Varied and Unknown Transport Types", rfc: "valid",
		want: Message{Request: true, Method: "OPTIONS", CallID: "transports.kijh4akdnaqjkwendsasfdj", CSeq: 60, CSeqMethod: "OPTIONS"},
	},
	{
		file: "valid/mpart01.dat", section: "3.1.1.11 Multipart MIME Message", rfc: "valid",
		want: Message{Request: true, Method: "MESSAGE", CallID: "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..", CSeq: 1, CSeqMethod: "MESSAGE",
			UserAgent: "SIPimp.org/0.2.5 (curses)"},
	},
	{
		file: "valid/unreason.dat", section: "3.1.1.12 Unusual Reason Phrase", rfc: "valid",
		want: Message{Status: 200, CallID: "unreason.1234ksdfak3j2erwedfsASdf", CSeq: 35, CSeqMethod: "INVITE"},
	},
	{
		file: "valid/noreason.dat", section: "3.1.1.13 Empty Reason Phrase", rfc: "valid",
		want: Message{Status: 100, CallID: "noreason.asndj203insdf99223ndf", CSeq: 35, CSeqMethod: "INVITE"},
	},

	// 3.1.2 Invalid messages.
	{
		// Via and Contact are not read.
		file: "invalid/badinv01.dat", section: "3.1.2.1 Extraneous Header Field Separators", rfc: "400",
		want: Message{Request: true, Method: "INVITE", CallID: "badinv01.0ha0isndaksdjasdf3234nas", CSeq: 8, CSeqMethod: "INVITE"},
	},
	{
		file: "invalid/clerr.dat", section: "3.1.2.2 Content Length Larger Than Message", rfc: "400 over UDP",
		wantErr: errShortBody,
	},
	{
		file: "invalid/ncl.dat", section: "3.1.2.3 Negative Content-Length", rfc: "400",
		wantErr: ErrNotSIP, errHas: "invalid syntax",
	},
	{
		// Refused for the CSeq. A PBX must answer 400, and its answer
		// echoes the same CSeq, which Parse refuses too; a PBX that wrapped
		// the number and went on to check credentials would not be counted
		// (stricter than a liberal PBX).
		file: "invalid/scalar02.dat", section: "3.1.2.4 Request Scalar Fields with Overlarge Values", rfc: "400",
		wantErr: ErrNotSIP, errHas: "36893488147419103232",
	},
	{
		file: "invalid/scalarlg.dat", section: "3.1.2.5 Response Scalar Fields with Overlarge Values", rfc: "discard",
		wantErr: ErrNotSIP, errHas: "9292394834772304023312",
	},
	{
		// To is not read.
		file: "invalid/quotbal.dat", section: "3.1.2.6 Unterminated Quoted String in Display Name", rfc: "400",
		want: Message{Request: true, Method: "INVITE", CallID: "quotbal.aksdj", CSeq: 8, CSeqMethod: "INVITE"},
	},
	{
		file: "invalid/ltgtruri.dat", section: "3.1.2.7 <> Enclosing Request-URI", rfc: "400",
		wantErr: ErrNotSIP, errHas: "invalid uri scheme",
	},
	{
		file: "invalid/lwsruri.dat", section: "3.1.2.8 Malformed SIP Request-URI (embedded LWS)", rfc: "400",
		wantErr: ErrNotSIP, errHas: "transmission beginning",
	},
	{
		// Stricter than a liberal PBX: the RFC lets an element ignore the
		// extra SP, and one that does answers a request sipprot never
		// examined.
		file: "invalid/lwsstart.dat", section: "3.1.2.9 Multiple SP Separating Request-Line Elements", rfc: "400, or ignore the SP",
		wantErr: ErrNotSIP, errHas: "transmission beginning",
	},
	{
		// Stricter than a liberal PBX, as for lwsstart.
		file: "invalid/trws.dat", section: "3.1.2.10 SP Characters at End of Request-Line", rfc: "400, or ignore the SP",
		wantErr: ErrNotSIP, errHas: "transmission beginning",
	},
	{
		// The Request-URI's headers are not read.
		file: "invalid/escruri.dat", section: "3.1.2.11 Escaped Headers in SIP Request-URI", rfc: "400, or ignore the headers",
		want: Message{Request: true, Method: "INVITE", CallID: "escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5", CSeq: 149209342, CSeqMethod: "INVITE"},
	},
	{
		file: "invalid/baddate.dat", section: "3.1.2.12 Invalid Time Zone in Date Header Field", rfc: "400, or accept",
		want: Message{Request: true, Method: "INVITE", CallID: "baddate.239423mnsadf3j23lj42--sedfnm234", CSeq: 1392934, CSeqMethod: "INVITE"},
	},
	{
		file: "invalid/regbadct.dat", section: "3.1.2.13 Failure to Enclose name-addr URI in <>", rfc: "400, or take ? as ending the URI",
		want: Message{Request: true, Method: "REGISTER", CallID: "regbadct.k345asrl3fdbv@10.0.0.1", CSeq: 1, CSeqMethod: "REGISTER"},
	},
	{
		file: "invalid/badaspec.dat", section: "3.1.2.14 Spaces within addr-spec", rfc: "400, or ignore the spaces",
		want: Message{Request: true, Method: "OPTIONS", CallID: "badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3", CSeq: 3923239, CSeqMethod: "OPTIONS"},
	},
	{
		// Refused, but not for the display names (From and To are not
		// read): this copy, like others of the RFC's archive, ends after
		// "l: 0" without the empty line that ends the header section.
		// Stricter than a PBX that takes the datagram's end as that line.
		file: "invalid/baddn.dat", section: "3.1.2.15 Non-token Characters in Display Name", rfc: "400, or infer the quotes",
		wantErr: errTruncated,
	},
	{
		file: "invalid/badvers.dat", section: "3.1.2.16 Unknown Protocol Version", rfc: "505",
		wantErr: errVersion,
	},
	{
		// The transaction key takes CSeq's method, as the PBX's answer
		// echoes it, so the mismatch does not unpair request and answer.
		file: "invalid/mismatch01.dat", section: "3.1.2.17 Start Line and CSeq Method Mismatch", rfc: "400",
		want: Message{Request: true, Method: "OPTIONS", CallID: "mismatch01.dj0234sxdfl3", CSeq: 8, CSeqMethod: "INVITE"},
	},
	{
		file: "invalid/mismatch02.dat", section: "3.1.2.18 Unknown Method with CSeq Method Mismatch", rfc: "501 (or 400)",
		want: Message{Request: true, Method: "NEWMETHOD", CallID: "mismatch02.dj0234sxdfl3", CSeq: 8, CSeqMethod: "INVITE"},
	},
	{
		file: "invalid/bigcode.dat", section: "3.1.2.19 Overlarge Response Code", rfc: "drop",
		wantErr: ErrNotSIP, errHas: "4294967301",
	},

	// 3.2 Transaction layer semantics.
	{
		// Via is not read.
		file: "invalid/badbranch.dat", section: "3.2.1 Missing Transaction Identifier", rfc: "valid syntax; 400, or RFC 2543 matching",
		want: Message{Request: true, Method: "OPTIONS", CallID: "badbranch.sadonfo23i420jv0as0derf3j3n", CSeq: 8, CSeqMethod: "OPTIONS"},
	},

	// 3.3 Application-layer semantics.
	{
		file: "invalid/insuf.dat", section: "3.3.1 Missing Required Header Fields", rfc: "400",
		wantErr: errMissingCallID,
	},
	{
		file: "invalid/unkscm.dat", section: "3.3.2 Request-URI with Unknown Scheme", rfc: "valid syntax; 416",
		want: Message{Request: true, Method: "OPTIONS", CallID: "unkscm.nasdfasser0q239nwsdfasdkl34", CSeq: 3923423, CSeqMethod: "OPTIONS"},
	},
	{
		// Stricter than the RFC, which has parsers accept it: sipgo
		// refuses the "soap.beep" scheme, though it takes unkscm's. The PBX
		// answers 416 (nothing counted) or 404 (counted, had sipprot seen
		// the request), and the User-Agent goes unchecked.
		file: "invalid/novelsc.dat", section: "3.3.3 Request-URI with Known but Atypical Scheme", rfc: "valid syntax; 416 or 404",
		wantErr: ErrNotSIP, errHas: "invalid uri scheme",
	},
	{
		file: "invalid/unksm2.dat", section: "3.3.4 Unknown URI Schemes in Header Fields", rfc: "valid syntax; registrar refuses",
		want: Message{Request: true, Method: "REGISTER", CallID: "unksm2.daksdj@hyphenated-host.example.com", CSeq: 234902, CSeqMethod: "REGISTER"},
	},
	{
		file: "invalid/bext01.dat", section: "3.3.5 Proxy-Require and Require", rfc: "valid syntax; 420",
		want: Message{Request: true, Method: "OPTIONS", CallID: "bext01.0ha0isndaksdj", CSeq: 8, CSeqMethod: "OPTIONS"},
	},
	{
		file: "invalid/invut.dat", section: "3.3.6 Unknown Content-Type", rfc: "valid syntax; 415",
		want: Message{Request: true, Method: "INVITE", CallID: "invut.0ha0isndaksdjadsfij34n23d", CSeq: 235448, CSeqMethod: "INVITE"},
	},
	{
		// Credentials in any scheme make the PBX's 401 a counted failure
		// when nonces are not bound ([sip] bind_nonces = false), which is
		// what a guesser sending junk Authorization deserves. With binding
		// (the default) it has no nonce, so it answers no challenge the PBX
		// issued and cannot be a password guess: it is counted as unbound.
		file: "invalid/regaut01.dat", section: "3.3.7 Unknown Authorization Scheme", rfc: "valid syntax; 401",
		want: Message{Request: true, Method: "REGISTER", CallID: "regaut01.0ha0isndaksdj", CSeq: 9338, CSeqMethod: "REGISTER", Credentials: true},
	},
	{
		// Both CSeq and Call-ID are doubled; CSeq comes first.
		file: "invalid/multi01.dat", section: "3.3.8 Multiple Values in Single Value Required Fields", rfc: "400",
		wantErr: errDupCSeq,
	},
	{
		file: "invalid/mcl01.dat", section: "3.3.9 Multiple Content-Length Values", rfc: "400",
		wantErr: errDupLength,
	},
	{
		// Via is not read, and sipprot forwards nothing.
		file: "invalid/bcast.dat", section: "3.3.10 200 OK Response with Broadcast Via Header Field Value", rfc: "valid syntax; do not forward",
		want: Message{Status: 200, CallID: "bcast.0384840201234ksdfak3j2erwedfsASdf", CSeq: 35, CSeqMethod: "INVITE"},
	},
	{
		file: "invalid/zeromf.dat", section: "3.3.11 Max-Forwards of Zero", rfc: "valid; 483 from a proxy",
		want: Message{Request: true, Method: "OPTIONS", CallID: "zeromf.jfasdlfnm2o2l43r5u0asdfas", CSeq: 39234321, CSeqMethod: "OPTIONS"},
	},
	{
		file: "invalid/cparam01.dat", section: "3.3.12 REGISTER with a Contact Header Parameter", rfc: "valid",
		want: Message{Request: true, Method: "REGISTER", CallID: "cparam01.70710@saturn.example.com", CSeq: 2, CSeqMethod: "REGISTER"},
	},
	{
		file: "invalid/cparam02.dat", section: "3.3.13 REGISTER with a url-parameter", rfc: "valid",
		want: Message{Request: true, Method: "REGISTER", CallID: "cparam02.70710@saturn.example.com", CSeq: 3, CSeqMethod: "REGISTER"},
	},
	{
		file: "invalid/regescrt.dat", section: "3.3.14 REGISTER with a URL Escaped Header", rfc: "valid",
		want: Message{Request: true, Method: "REGISTER", CallID: "regescrt.k345asrl3fdbv@192.0.2.1", CSeq: 14398234, CSeqMethod: "REGISTER"},
	},
	{
		file: "invalid/sdp01.dat", section: "3.3.15 Unacceptable Accept Offering", rfc: "valid syntax; 406 or 400",
		want: Message{Request: true, Method: "INVITE", CallID: "sdp01.ndaksdj9342dasdd", CSeq: 8, CSeqMethod: "INVITE"},
	},

	// 3.4 Backward compatibility.
	{
		// No Content-Length: the rest of the datagram is the body.
		file: "invalid/inv2543.dat", section: "3.4.1 INVITE with RFC 2543 Syntax", rfc: "valid",
		want: Message{Request: true, Method: "INVITE", CallID: "inv2543.1717@ift.client.example.com", CSeq: 56, CSeqMethod: "INVITE"},
	},

	// Not from RFC 4475.
	{
		// A request line without SIP version.
		file: "invalid/test.dat", section: "none: sipgo's own", rfc: "-",
		wantErr: ErrNotSIP, errHas: "transmission beginning",
	},
}

func TestRFC4475(t *testing.T) {
	dir := filepath.Join("testdata", "rfc4475")
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.dat"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no messages in %s: %v", dir, err)
	}
	onDisk := make(map[string]bool, len(files))
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		onDisk[filepath.ToSlash(rel)] = true
	}
	rows := make(map[string]bool, len(rfc4475))
	for _, tt := range rfc4475 {
		if rows[tt.file] {
			t.Errorf("%s: two rows", tt.file)
		}
		rows[tt.file] = true
		if !onDisk[tt.file] {
			t.Errorf("%s: row without a file", tt.file)
		}
	}
	for f := range onDisk {
		if !rows[f] {
			t.Errorf("%s: file without a row", f)
		}
	}

	p := NewParser()
	for _, tt := range rfc4475 {
		t.Run(strings.TrimSuffix(tt.file, ".dat"), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Skip(err) // reported above as a row without a file
			}
			var got Message
			err = p.Parse(b, &got)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(errString(err), tt.errHas) {
					t.Fatalf("%s (RFC: %s): Parse error = %v, want %v containing %q", tt.section, tt.rfc, err, tt.wantErr, tt.errHas)
				}
				if !reflect.DeepEqual(got, Message{}) {
					t.Errorf("on error Message = %+v, want zero", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s (RFC: %s): Parse: %v", tt.section, tt.rfc, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s (RFC: %s): Parse =\n %+v\nwant\n %+v", tt.section, tt.rfc, got, tt.want)
			}
		})
	}
}

// errString is err's text, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
