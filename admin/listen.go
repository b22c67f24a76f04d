package admin

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/sipprot/sipprot/conf"
)

// ErrNeedTLS is returned by Listen for a listen address other hosts can
// reach while tls_cert and tls_key are not set; it is conf's, since
// conf.Load runs the same check.
var ErrNeedTLS = conf.ErrNeedTLS

// Listen opens the page's listener on c.Listen: plain TCP on a loopback
// address, TLS with c.TLSCert and c.TLSKey when they are set. Any other
// address without them is refused with ErrNeedTLS.
func Listen(c conf.Admin) (net.Listener, error) {
	_, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listen %q: %w", c.Listen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("admin listen %s: set both admin.tls_cert and admin.tls_key, or neither", c.Listen)
	}
	useTLS := c.TLSCert != ""
	if err := conf.CheckListenTLS(c.Listen, c.TLSCert, c.TLSKey); err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
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
