package daemon

import (
	"fmt"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/store"
)

// Compile compiles the TOML config into what the engine runs on.
func Compile(c *conf.Config) policy.Config {
	pc := policy.DefaultConfig()
	pc.Ports = policy.PortSet{}
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
	pc.TFTP = c.TFTP.Enabled
	pc.TFTPPerMinute = c.TFTP.PerMinute
	pc.TFTPBurst = c.TFTP.Burst
	return pc
}

// LoadLists reads the allow and deny list files of the config and
// publishes them in e. A missing file is an empty list; a bad line is an
// error naming FILE:LINE and publishes nothing.
func LoadLists(c *conf.Config, e *policy.Engine) error {
	allow, deny, err := readLists(c)
	if err != nil {
		return err
	}
	e.SetLists(store.PrefixSet(allow), store.PrefixSet(deny))
	return nil
}

func readLists(c *conf.Config) (allow, deny []store.Entry, err error) {
	if allow, err = store.LoadList(c.Lists.Allow); err != nil {
		return nil, nil, fmt.Errorf("allow list: %w", err)
	}
	if deny, err = store.LoadList(c.Lists.Deny); err != nil {
		return nil, nil, fmt.Errorf("deny list: %w", err)
	}
	return allow, deny, nil
}
