package policy

import "github.com/sipprot/sipprot/conf"

// Compile turns the TOML config into what the engine runs on. The engine's
// table bounds keep their defaults: they are not operator settings.
func Compile(c *conf.Config) Config {
	pc := DefaultConfig()
	pc.Ports = PortSet{}
	pc.UDP, pc.TCP = false, false
	for _, p := range c.SIP.Protocols {
		switch p {
		case conf.UDP:
			pc.UDP = true
		case conf.TCP:
			pc.TCP = true
		}
	}
	for _, r := range c.SIP.Ports {
		pc.Ports.Add(r.Lo, r.Hi)
	}
	pc.FailuresPerMinute = c.SIP.FailuresPerMinute
	pc.BlockTime = c.SIP.BlockTime.Duration
	pc.BlockThreshold = c.SIP.BlockThreshold
	pc.UserAgents = append([]string(nil), c.SIP.BlockedUserAgents...)
	pc.BlockedCountries = nil
	for _, cc := range c.SIP.BlockedCountries {
		pc.BlockedCountries = append(pc.BlockedCountries, string(cc))
	}
	pc.RequestsPerSecond = float64(c.SIP.RequestsPerSecond)
	pc.DropMalformed = c.SIP.DropMalformed
	pc.BindNonces = c.SIP.BindNonces
	pc.DropUnbound = c.SIP.UnboundNonce == conf.UnboundDrop
	pc.ReportUnbound = c.SIP.UnboundNonce == conf.UnboundCount
	pc.TFTP = c.TFTP.Enabled
	pc.TFTPPerMinute = c.TFTP.PerMinute
	pc.TFTPBurst = c.TFTP.Burst
	return pc
}
