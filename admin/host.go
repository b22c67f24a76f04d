package admin

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/sipprot/sipprot/conf"
)

// hostCheck decides which Host headers the page answers, against DNS
// rebinding: a page of evil.example whose name an attacker re-points at
// our address reaches our port, but its requests say Host: evil.example.
// A name is accepted only when the attacker cannot point it: the listen
// address's own, "localhost" (browsers resolve it themselves) and IP
// literals, which involve no name at all.
//
//   - Loopback listen (127.0.0.1, ::1, localhost; the default): "localhost"
//     or any loopback address, on any port, since SSH tunnels to the page
//     often use another local port. Nothing else.
//   - Wildcard listen (0.0.0.0, ::): any IP address or "localhost", with
//     the listen port.
//   - Any other address or name: exactly that, with the listen port.
type hostCheck struct {
	port     string
	name     string // lower-case listen host name, if a name
	addr     netip.Addr
	anyAddr  bool // wildcard listen
	loopback bool // loopback listen
}

func newHostCheck(listen string) (*hostCheck, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", listen, err)
	}
	h := &hostCheck{port: port, loopback: conf.LoopbackHost(host)}
	a, err := netip.ParseAddr(host)
	switch {
	case host == "" || err == nil && a.IsUnspecified():
		h.anyAddr = true
	case err == nil:
		h.addr = a.Unmap()
	default:
		h.name = strings.ToLower(host)
	}
	return h, nil
}

// ok reports whether a request's Host header names this page.
func (h *hostCheck) ok(hostHeader string, isTLS bool) bool {
	host, port, err := net.SplitHostPort(hostHeader)
	if err != nil {
		// No port: the scheme's default, which browsers leave out.
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostHeader, "["), "]"), "80"
		if isTLS {
			port = "443"
		}
	}
	if host == "" {
		return false
	}
	a, err := netip.ParseAddr(host)
	isAddr := err == nil && a.Zone() == ""
	if err == nil && a.Zone() != "" {
		return false
	}
	if h.loopback {
		return strings.EqualFold(host, "localhost") || isAddr && a.IsLoopback()
	}
	if port != h.port {
		return false
	}
	switch {
	case isAddr:
		return h.anyAddr || a.Unmap() == h.addr
	case h.anyAddr:
		return strings.EqualFold(host, "localhost")
	case h.name != "":
		return strings.ToLower(host) == h.name
	}
	return false
}
