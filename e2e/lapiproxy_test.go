//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// garbledIP is the address in the decisions the garbled answers make up:
// no daemon may ever enforce it.
var garbledIP = netip.MustParseAddr("203.0.113.99")

// garbles are the malformed stream answers the proxy serves, in turn, to
// each bouncer: what a broken LAPI, a cut connection or a captive portal
// in front of it would send.
var garbles = []struct {
	name string
	fn   func(real []byte) (ctype string, body []byte)
}{
	{"truncated JSON", func(real []byte) (string, []byte) {
		if len(real) < 40 { // an empty delta: cut a made-up one
			real = []byte(`{"deleted":null,"new":[{"duration":"1h","id":1,"origin":"cscli","scope":"Ip","type":"ban","value":"` + garbledIP.String() + `"}]}`)
		}
		return "application/json", real[:len(real)/2]
	}},
	{"wrong types", func([]byte) (string, []byte) {
		return "application/json", []byte(`{"deleted":null,"new":[{"duration":3600,"id":"x","origin":"cscli","scope":"Ip","type":"ban","value":["` + garbledIP.String() + `"]}]}`)
	}},
	{"HTML error page", func([]byte) (string, []byte) {
		return "text/html", []byte("<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>\n")
	}},
}

// lapiProxy is a reverse proxy in front of the real LAPI, both inside the
// LAPI's namespace: the daemons reach the LAPI only through it. It passes
// everything through, except that while garbling it replaces each
// bouncer's decision stream answers with the garbles in turn. With the
// LAPI stopped it closes each connection without an answer, as the
// stopped LAPI's closed port would leave the client with no answer.
type lapiProxy struct {
	srv *http.Server

	mu       sync.Mutex
	garbling bool
	served   map[string]int // garbled answers served, by bouncer key
}

// startLAPIProxy listens on listen inside ns and forwards to upstream,
// dialled from inside ns too.
func startLAPIProxy(t *testing.T, ns netnstest.NS, listen, upstream netip.AddrPort) *lapiProxy {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", listen.String()); return err }); err != nil {
		t.Fatalf("LAPI proxy: %v", err)
	}
	p := &lapiProxy{served: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", upstream.String()
		},
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := ns.Do(func() (err error) {
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
		ModifyResponse: p.modify,
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) {
			panic(http.ErrAbortHandler) // no answer at all, the connection closed
		},
	}
	p.srv = &http.Server{Handler: rp}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

// garble turns the garbling on or off.
func (p *lapiProxy) garble(on bool) {
	p.mu.Lock()
	p.garbling = on
	p.mu.Unlock()
}

// servedTo returns how many garbled answers each bouncer key got.
func (p *lapiProxy) servedTo(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[key]
}

func (p *lapiProxy) modify(resp *http.Response) error {
	if !strings.HasPrefix(resp.Request.URL.Path, "/v1/decisions/stream") || resp.StatusCode != http.StatusOK {
		return nil
	}
	key := resp.Request.Header.Get("X-Api-Key")
	p.mu.Lock()
	if !p.garbling {
		p.mu.Unlock()
		return nil
	}
	g := garbles[p.served[key]%len(garbles)]
	p.served[key]++
	p.mu.Unlock()
	real, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the LAPI's answer: %w", err)
	}
	ctype, body := g.fn(real)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Set("Content-Type", ctype)
	resp.Header.Del("Content-Encoding")
	return nil
}
