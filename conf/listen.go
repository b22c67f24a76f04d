package conf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrNeedTLS means a listen address that other hosts can reach is set
// without TLS: a login secret and a session cookie must not cross a
// network in clear.
var ErrNeedTLS = errors.New("needs TLS")

// LoopbackHost reports whether a listen host is reachable from this host
// only. An empty host or 0.0.0.0 is every address, so not.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// CheckListenTLS is the one rule for a web listener (the management page,
// the metrics) of section: a non-loopback listen address needs a
// certificate and a key. Load runs it, so `config check` refuses what
// `run` would refuse.
func CheckListenTLS(section, listen, cert, key string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", listen, err)
	}
	if !LoopbackHost(host) && (cert == "" || key == "") {
		return fmt.Errorf("%s is not a loopback address and %w: set %s.tls_cert and %s.tls_key, or listen on 127.0.0.1", listen, ErrNeedTLS, section, section)
	}
	return nil
}
