package sipparse

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// sample returns testdata/name.
func sample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// crlf turns a readable message with \n line ends into wire form.
func wire(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

const minimal = `OPTIONS sip:pbx.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
Call-ID: abc@192.0.2.1
CSeq: 7 OPTIONS
Content-Length: 0

`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Message
		wantErr error
	}{
		{
			name: "register with authorization",
			in:   sample(t, "register.sip"),
			want: Message{Request: true, Method: "REGISTER", CallID: "1402758723@192.168.1.23", CSeq: 2, CSeqMethod: "REGISTER",
				UserAgent: "Yealink SIP-T46S 66.86.0.15", Credentials: true, Nonce: "1700000000/6d3b1a4c8e2f4f7a9c0d1e2f3a4b5c6d"},
		},
		{
			name: "every User-Agent header, any casing",
			in: []byte("OPTIONS sip:100@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.5:5060;branch=z9hG4bK-1\r\n" +
				"From: <sip:a@198.51.100.5>;tag=1\r\nTo: <sip:100@203.0.113.10>\r\nCall-ID: ua2\r\nCSeq: 1 OPTIONS\r\n" +
				"User-Agent: Yealink\r\nuser-agent: friendly-scanner\r\nUSER-AGENT:  sipcli \r\nContent-Length: 0\r\n\r\n"),
			want: Message{Request: true, Method: "OPTIONS", CallID: "ua2", CSeq: 1, CSeqMethod: "OPTIONS",
				UserAgent: "Yealink", MoreUserAgents: []string{"friendly-scanner", "sipcli"}},
		},
		{
			name: "register from scanner",
			in:   sample(t, "register_noauth.sip"),
			want: Message{Request: true, Method: "REGISTER", CallID: "882917404528812297108036", CSeq: 1, CSeqMethod: "REGISTER",
				UserAgent: "friendly-scanner"},
		},
		{
			name: "401 with WWW-Authenticate",
			in:   sample(t, "401.sip"),
			want: Message{Status: 401, CallID: "1402758723@192.168.1.23", CSeq: 1, CSeqMethod: "REGISTER", Nonce: "1700000000/6d3b1a4c8e2f4f7a9c0d1e2f3a4b5c6d"},
		},
		{
			name: "invite with sdp",
			in:   sample(t, "invite.sip"),
			want: Message{Request: true, Method: "INVITE", CallID: "2143196377@192.168.1.23", CSeq: 1, CSeqMethod: "INVITE",
				UserAgent: "Yealink SIP-T46S 66.86.0.15"},
		},
		{
			name: "invite with lower-case proxy-authorization",
			in:   sample(t, "invite_proxyauth.sip"),
			want: Message{Request: true, Method: "INVITE", CallID: "Hh3k8wDqYb", CSeq: 21, CSeqMethod: "INVITE",
				UserAgent: "Linphone Desktop/5.2.0 (Ubuntu 22.04.3 LTS, Qt 5.15.2) LinphoneCore/5.3.0", Credentials: true, Nonce: "QmFzZTY0Tm9uY2U="},
		},
		{
			name: "compact headers and mixed-case user-agent",
			in:   sample(t, "options_compact.sip"),
			want: Message{Request: true, Method: "OPTIONS", CallID: "597314429470102823843826", CSeq: 1, CSeqMethod: "OPTIONS",
				UserAgent: "sipvicious"},
		},
		{
			name: "200 to options",
			in:   sample(t, "200_options.sip"),
			want: Message{Status: 200, CallID: "597314429470102823843826", CSeq: 1, CSeqMethod: "OPTIONS"},
		},
		{
			name: "minimal, no user-agent",
			in:   wire(minimal),
			want: Message{Request: true, Method: "OPTIONS", CallID: "abc@192.0.2.1", CSeq: 7, CSeqMethod: "OPTIONS"},
		},
		{
			name: "leading CRLFs skipped",
			in:   append([]byte("\r\n\r\n"), wire(minimal)...),
			want: Message{Request: true, Method: "OPTIONS", CallID: "abc@192.0.2.1", CSeq: 7, CSeqMethod: "OPTIONS"},
		},
		{
			name: "upper-case compact call-id, odd spacing",
			in:   wire("BYE sip:a@192.0.2.1 SIP/2.0\nI :  xyz \nCSeq:   9   BYE\nUSER-AGENT:\tPolycom/5.9\nAUTHORIZATION: Digest x\nL: 0\n\n"),
			want: Message{Request: true, Method: "BYE", CallID: "xyz", CSeq: 9, CSeqMethod: "BYE", UserAgent: "Polycom/5.9", Credentials: true},
		},
		{
			name: "two challenges, several headers and casings",
			in: wire("SIP/2.0 407 Proxy Authentication Required\nCall-ID: a\nCSeq: 1 INVITE\n" +
				"Proxy-Authenticate: Digest realm=\"x\", NONCE=\"n1\", algorithm=SHA-256, Digest realm=\"x\", nonce=n2\n" +
				"www-authenticate: Digest nextnonce=\"no\", cnonce=\"no\", qop=\"auth,nonce=no\", Nonce = \"n3\"\n\n"),
			want: Message{Status: 407, CallID: "a", CSeq: 1, CSeqMethod: "INVITE", Nonce: "n1", MoreNonces: []string{"n2", "n3"}},
		},
		{
			name: "credentials in a response and challenges in a request are not nonces",
			in:   wire("REGISTER sip:x SIP/2.0\nCall-ID: a\nCSeq: 1 REGISTER\nWWW-Authenticate: Digest nonce=\"c\"\n\n"),
			want: Message{Request: true, Method: "REGISTER", CallID: "a", CSeq: 1, CSeqMethod: "REGISTER"},
		},
		{
			name: "response with authorization",
			in:   wire("SIP/2.0 200 OK\nCall-ID: a\nCSeq: 1 REGISTER\nAuthorization: Digest nonce=\"c\"\n\n"),
			want: Message{Status: 200, CallID: "a", CSeq: 1, CSeqMethod: "REGISTER", Credentials: true},
		},
		{
			name: "request answering two realms",
			in: wire("INVITE sip:x SIP/2.0\nCall-ID: a\nCSeq: 2 INVITE\nAuthorization: Digest realm=\"a\", nonce=\"fake\"\n" +
				"Proxy-Authorization: Digest username=\"u\", realm=\"b\", nonce=\"real\\\"q\", response=\"r\"\n\n"),
			want: Message{Request: true, Method: "INVITE", CallID: "a", CSeq: 2, CSeqMethod: "INVITE", Credentials: true,
				Nonce: "fake", MoreNonces: []string{`real\"q`}},
		},
		{
			name: "lower-case method and cseq method",
			in:   wire("register sip:pbx.example.com SIP/2.0\nCall-ID: a\nCSeq: 1 register\n\n"),
			want: Message{Request: true, Method: "REGISTER", CallID: "a", CSeq: 1, CSeqMethod: "REGISTER"},
		},
		{
			name: "folded user-agent",
			in:   wire("OPTIONS sip:x@192.0.2.1 SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\nUser-Agent: Foo\n  Bar/1.0\n\n"),
			want: Message{Request: true, Method: "OPTIONS", CallID: "a", CSeq: 1, CSeqMethod: "OPTIONS", UserAgent: "Foo Bar/1.0"},
		},
		{
			name: "empty user-agent first, the second kept too",
			in:   wire("OPTIONS sip:x@192.0.2.1 SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\nUser-Agent:\nUser-Agent: second\n\n"),
			want: Message{Request: true, Method: "OPTIONS", CallID: "a", CSeq: 1, CSeqMethod: "OPTIONS", MoreUserAgents: []string{"second"}},
		},
		{
			name: "body longer than content-length is truncated",
			in:   wire("MESSAGE sip:x@192.0.2.1 SIP/2.0\nCall-ID: a\nCSeq: 1 MESSAGE\nContent-Length: 2\n\nhello"),
			want: Message{Request: true, Method: "MESSAGE", CallID: "a", CSeq: 1, CSeqMethod: "MESSAGE"},
		},
		{
			name: "no content-length on UDP",
			in:   wire("MESSAGE sip:x@192.0.2.1 SIP/2.0\nCall-ID: a\nCSeq: 1 MESSAGE\n\nhello"),
			want: Message{Request: true, Method: "MESSAGE", CallID: "a", CSeq: 1, CSeqMethod: "MESSAGE"},
		},
		{name: "keep-alive ping", in: []byte("\r\n\r\n"), wantErr: ErrKeepAlive},
		{name: "keep-alive pong", in: []byte("\r\n"), wantErr: ErrKeepAlive},
		{name: "keep-alive bare LF", in: []byte("\n"), wantErr: ErrKeepAlive},
		{name: "empty", in: nil, wantErr: ErrNotSIP},
		{name: "missing call-id", in: wire("REGISTER sip:x SIP/2.0\nCSeq: 1 REGISTER\nUser-Agent: x\n\n"), wantErr: ErrMissingHeader},
		{name: "missing cseq", in: wire("SIP/2.0 401 Unauthorized\nCall-ID: a\n\n"), wantErr: ErrMissingHeader},
		{name: "empty call-id", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: \nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "bad cseq number", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: one OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "cseq without method", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: 1\n\n"), wantErr: ErrNotSIP},
		{name: "two call-ids", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: a\ni: b\nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "two content-lengths", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\nl: 0\nContent-Length: 0\n\n"), wantErr: ErrNotSIP},
		{name: "body shorter than content-length", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\nContent-Length: 10\n\nabc"), wantErr: ErrNotSIP},
		{name: "huge content-length", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\nContent-Length: 4294967295\n\n"), wantErr: ErrNotSIP},
		{name: "no empty line", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\n"), wantErr: ErrNotSIP},
		{name: "LF line ends", in: []byte("OPTIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "header without colon", in: wire("OPTIONS sip:x SIP/2.0\nCall-ID a\nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "status too low", in: wire("SIP/2.0 99 Odd\nCall-ID: a\nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "status too high", in: wire("SIP/2.0 700 Odd\nCall-ID: a\nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "version 3.0", in: wire("OPTIONS sip:x SIP/3.0\nCall-ID: a\nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "method not a token", in: wire("OP<TIONS sip:x SIP/2.0\nCall-ID: a\nCSeq: 1 OPTIONS\n\n"), wantErr: ErrNotSIP},
		{name: "http", in: wire("GET / HTTP/1.1\nHost: example.com\n\n"), wantErr: ErrNotSIP},
		{name: "garbage text", in: []byte("hello world"), wantErr: ErrNotSIP},
		{name: "binary junk", in: []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, '\r', '\n', 0xff, 0x00}, wantErr: ErrNotSIP},
		{name: "nul bytes", in: make([]byte, 64), wantErr: ErrNotSIP},
		{name: "STUN binding request", in: []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, wantErr: ErrNotSIP},
	}
	p := NewParser()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Prefill so that a stale field shows up.
			got := Message{Request: true, Method: "stale", Status: 1, CallID: "stale", CSeq: 1, CSeqMethod: "stale", UserAgent: "stale", Credentials: true}
			err := p.Parse(tt.in, &got)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
				}
				if errors.Is(tt.wantErr, ErrNotSIP) != errors.Is(err, ErrNotSIP) {
					t.Errorf("errors.Is(%v, ErrNotSIP) = %v", err, !errors.Is(tt.wantErr, ErrNotSIP))
				}
				if !reflect.DeepEqual(got, Message{}) {
					t.Errorf("on error Message = %+v, want zero", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestEachNonce(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`Digest realm="asterisk",nonce="1700/6d3b",opaque="4a5b",algorithm=MD5,qop="auth"`, []string{"1700/6d3b"}},
		{`Digest username="1001", realm="r", nonce="abc", uri="sip:x", response="00", cnonce="zz", nc=00000001`, []string{"abc"}},
		{`Digest nonce=tok123,realm=r`, []string{"tok123"}},
		{`Digest  NoNcE = "spaced"  , realm="r"`, []string{"spaced"}},
		{`Digest realm="has, commas and nonce=\"fake\" inside", nonce="real"`, []string{"real"}},
		{`Digest nonce="a,b=c"`, []string{"a,b=c"}},
		{`Digest nonce="esc\"aped"`, []string{`esc\"aped`}},
		{`Digest nonce="unterminated`, []string{"unterminated"}},
		{`Digest realm="a", nonce="1", Digest realm="b", nonce="2"`, []string{"1", "2"}},
		{`Digest cnonce="x", nextnonce="y", xnonce=z, nonces="w"`, nil},
		{`NoOneKnowsThisScheme opaque-data=here`, nil},
		{`Digest "quoted, nonce=x" nonce=""`, []string{""}},
		{``, nil},
		{`=,=,"`, nil},
	}
	for _, tt := range tests {
		var got []string
		eachNonce(tt.in, func(n string) { got = append(got, n) })
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("eachNonce(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseNonceBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("SIP/2.0 401 Unauthorized\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n")
	for i := range 100 {
		fmt.Fprintf(&b, "WWW-Authenticate: Digest realm=\"r\", nonce=\"n%d\"\r\n", i)
	}
	b.WriteString("\r\n")
	var m Message
	if err := NewParser().Parse([]byte(b.String()), &m); err != nil {
		t.Fatal(err)
	}
	if m.Nonce != "n0" || len(m.MoreNonces) != maxNonces-1 {
		t.Fatalf("Nonce %q, %d more; want n0 and %d more", m.Nonce, len(m.MoreNonces), maxNonces-1)
	}
}

func TestParseCopiesStrings(t *testing.T) {
	b := sample(t, "register.sip")
	var m Message
	if err := NewParser().Parse(b, &m); err != nil {
		t.Fatal(err)
	}
	want := m
	for i := range b {
		b[i] = 'x'
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Message changed with the buffer: %+v", m)
	}
}

func TestParseConcurrent(t *testing.T) {
	p := NewParser()
	inputs := [][]byte{sample(t, "register.sip"), sample(t, "401.sip"), sample(t, "invite.sip"), []byte("junk")}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var m Message
			for i := range 200 {
				in := inputs[(g+i)%len(inputs)]
				err := p.Parse(in, &m)
				if (err == nil) == (string(in) == "junk") {
					t.Errorf("Parse(%.20q) error = %v", in, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkSipgoParseMessage is the baseline: sipgo's default parser on the
// same REGISTER as BenchmarkParse.
func BenchmarkSipgoParseMessage(b *testing.B) {
	msg := sample(b, "register.sip")
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := sip.ParseMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	msg := sample(b, "register.sip")
	p := NewParser()
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := p.Parse(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseParallel(b *testing.B) {
	msg := sample(b, "register.sip")
	p := NewParser()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.RunParallel(func(pb *testing.PB) {
		var m Message
		for pb.Next() {
			if err := p.Parse(msg, &m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEachNonce is the cost the nonce adds to a REGISTER's parse:
// one scan of its Authorization value.
func BenchmarkEachNonce(b *testing.B) {
	v := `Digest username="201", realm="asterisk", nonce="1700000000/6d3b1a4c8e2f4f7a9c0d1e2f3a4b5c6d", uri="sip:pbx.example.com:5060", response="5f1c2e3d4a5b6c7d8e9f0a1b2c3d4e5f", algorithm=MD5`
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		eachNonce(v, func(string) { n++ })
	}
	if n == 0 {
		b.Fatal("no nonce")
	}
}
