// Package tlslisten opens the daemon's TCP listeners for HTTP (the web
// page, the metrics): plain on a loopback address, TLS when a certificate
// and key are given, and refused on any other address without them.
package tlslisten

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/sipprot/sipprot/conf"
)

// Listen opens addr for section ("admin", "metrics"), whose tls_cert and
// tls_key are cert and key. The errors name the section's keys.
func Listen(section, addr, cert, key string) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%s listen %q: %w", section, addr, err)
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("%s listen %s: set both %s.tls_cert and %s.tls_key, or neither", section, addr, section, section)
	}
	if err := conf.CheckListenTLS(section, addr, cert, key); err != nil {
		return nil, fmt.Errorf("%s listen: %w", section, err)
	}
	var pair tls.Certificate
	if cert != "" {
		var err error
		if pair, err = tls.LoadX509KeyPair(cert, key); err != nil {
			return nil, fmt.Errorf("%s TLS: %w", section, err)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", section, err)
	}
	if cert == "" {
		return l, nil
	}
	return tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}), nil
}
