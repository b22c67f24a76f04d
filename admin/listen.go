package admin

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/sipprot/sipprot/conf"
)

// ErrNeedTLS is returned by Listen for a listen address other hosts can
// reach while tls_cert and tls_key are not set: the login secret and the
// session cookie must not cross a network in clear.
var ErrNeedTLS = errors.New("needs TLS")

// Listen opens the page's listener on c.Listen: plain TCP on a loopback
// address, TLS with c.TLSCert and c.TLSKey when they are set. Any other
// address without them is refused with ErrNeedTLS.
func Listen(c conf.Admin) (net.Listener, error) {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listen %q: %w", c.Listen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("admin listen %s: set both admin.tls_cert and admin.tls_key, or neither", c.Listen)
	}
	useTLS := c.TLSCert != ""
	if !useTLS && !isLoopbackHost(host) {
		return nil, fmt.Errorf("admin listen %s is not a loopback address and %w: set admin.tls_cert and admin.tls_key, or listen on 127.0.0.1", c.Listen, ErrNeedTLS)
	}
	var cert tls.Certificate
	if useTLS {
		cert, err = tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("admin TLS: %w", err)
		}
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if !useTLS {
		return l, nil
	}
	return tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// isLoopbackHost reports whether a listen host is reachable from this
// host only. An empty host or 0.0.0.0 is every address, so not.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
