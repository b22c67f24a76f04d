package admin

import (
	"net"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/internal/tlslisten"
)

// ErrNeedTLS is returned by Listen for a listen address other hosts can
// reach while tls_cert and tls_key are not set; it is conf's, since
// conf.Load runs the same check.
var ErrNeedTLS = conf.ErrNeedTLS

// Listen opens the page's listener on c.Listen: plain TCP on a loopback
// address, TLS with c.TLSCert and c.TLSKey when they are set. Any other
// address without them is refused with ErrNeedTLS.
func Listen(c conf.Admin) (net.Listener, error) {
	return tlslisten.Listen("admin", c.Listen, c.TLSCert, c.TLSKey)
}
