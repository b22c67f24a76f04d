//go:build e2e

package e2e

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// The test world (after testdata/lib/world.sh), one per test, its
// namespaces named sp-e-<tag>-<role>:
//
//	pbx 203.0.113.10, 2001:db8:0:113::10: Kamailio on UDP+TCP 5060
//	 |
//	rtr 203.0.113.1 / 198.51.100.1 (+ IPv6), a router; its bridge inet0
//	 |  joins the "internet" segment 198.51.100.0/24, 2001:db8:0:100::/64:
//	 +-- scan   198.51.100.66 (svmap), .69, .99 (deny-listed), .53 (DNS
//	 |          server), 2001:db8:0:100::66 (svmap -6), ::99 (deny-listed),
//	 |          ::53 (DNS server)
//	 +-- war    198.51.100.67 (svwar)
//	 +-- crack  198.51.100.68 (svcrack)
//	 +-- guess  198.51.100.77-.87, 2001:db8:0:100::77 (sipp guessers, TFTP,
//	 |          the operator scenarios)
//	 +-- trunk  198.51.100.40 (allow-listed)
//	 +-- nat    198.51.100.20, MASQUERADE for the office behind it
//	      |
//	     office 192.0.2.11-.14 (four sipp phones, two over UDP, two over TCP)
//
// Every attack scenario uses its own source address, so scenarios that
// share a world and a daemon do not disturb each other's counters.
var (
	pbx4 = netip.MustParseAddr("203.0.113.10")
	pbx6 = netip.MustParseAddr("2001:db8:0:113::10")

	rtrPBX4  = netip.MustParseAddr("203.0.113.1")
	rtrPBX6  = netip.MustParseAddr("2001:db8:0:113::1")
	rtrInet4 = netip.MustParseAddr("198.51.100.1")
	rtrInet6 = netip.MustParseAddr("2001:db8:0:100::1")

	// scanners: svmap (which honours -b) in the scan namespace, with a
	// deny-listed address and a DNS server; svwar and svcrack (whose -b
	// sipvicious 0.3.3 ignores) in namespaces of their own
	svmapIP   = netip.MustParseAddr("198.51.100.66")
	svwarIP   = netip.MustParseAddr("198.51.100.67")
	svcrackIP = netip.MustParseAddr("198.51.100.68")
	baseScan  = netip.MustParseAddr("198.51.100.69") // baseline svmap
	deniedIP  = netip.MustParseAddr("198.51.100.99") // in deniedNet
	dnsIP     = netip.MustParseAddr("198.51.100.53")
	dns6IP    = netip.MustParseAddr("2001:db8:0:100::53")
	svmap6IP  = netip.MustParseAddr("2001:db8:0:100::66")
	denied6IP = netip.MustParseAddr("2001:db8:0:100::99")

	// guesser namespace: one address per password-guessing scenario
	guessSlowIP   = netip.MustParseAddr("198.51.100.77") // 10/s
	guessFastIP   = netip.MustParseAddr("198.51.100.78") // 1000/s
	guessCrashIP  = netip.MustParseAddr("198.51.100.79") // kill -9 scenario
	tftpIP        = netip.MustParseAddr("198.51.100.80") // TFTP flood
	baseGuess     = netip.MustParseAddr("198.51.100.81") // baseline, no sipprot
	guessTCPIP    = netip.MustParseAddr("198.51.100.82") // over TCP
	guessClosedIP = netip.MustParseAddr("198.51.100.83") // fail-closed restart
	floodIP       = netip.MustParseAddr("198.51.100.84") // flat-out flood
	guess6IP      = netip.MustParseAddr("2001:db8:0:100::77")

	trunkIP = netip.MustParseAddr("198.51.100.40") // allow-listed
	natIP   = netip.MustParseAddr("198.51.100.20") // the office's public address
	natLAN  = netip.MustParseAddr("192.0.2.1")

	deniedNet  = "198.51.100.96/30"
	denied6Net = "2001:db8:0:100::99/128"
)

// phone is one sipp phone of the office.
type phone struct {
	user  string
	ip    netip.Addr
	ua    string
	typos bool // mistypes the password three times first
	tcp   bool // registers over TCP
}

// office are the phones behind the NAT (as in testdata/record.sh's
// office-tcp: two over UDP, two over TCP, the mistyping one over TCP).
var office = []phone{
	{"1010", netip.MustParseAddr("192.0.2.11"), "Yealink SIP-T46S 66.86.0.15", false, false},
	{"1011", netip.MustParseAddr("192.0.2.12"), "Grandstream GXP2170 1.0.11.23", false, false},
	{"1012", netip.MustParseAddr("192.0.2.13"), "Zoiper rv2.10.20.3", false, true},
	{"1013", netip.MustParseAddr("192.0.2.14"), "Linphone/5.2.0", true, true},
}

// ordinaryUA is the User-Agent of the password guessers: an ordinary
// softphone, nothing a scanner list would match.
const ordinaryUA = "Zoiper rv2.10.20.3"

// sipPort is the registrar's port.
const sipPort = 5060

// world is one test's network of namespaces with Kamailio running in pbx.
type world struct {
	tag               string
	dir               string // logs and files
	rtr, pbx          netnstest.NS
	scan, war, crack  netnstest.NS // sipvicious (svwar and svcrack ignore -b: one address each)
	guess, trunk, nat netnstest.NS
	officeN           netnstest.NS
	kam               *kamailio
}

// newWorld builds the namespaces, links, addresses, routes and the office
// NAT, and starts Kamailio; all of it is removed when the test ends.
func newWorld(t *testing.T, tag string) *world {
	t.Helper()
	w := &world{tag: tag, dir: logDir(t)}
	ns := func(role string) netnstest.NS { return newNetns(t, nsPrefix+tag+"-"+role) }
	w.rtr, w.pbx = ns("rtr"), ns("pbx")
	w.scan, w.war, w.crack = ns("scan"), ns("war"), ns("crack")
	w.guess, w.trunk = ns("guess"), ns("trunk")
	w.nat, w.officeN = ns("nat"), ns("office")

	cidr := func(a netip.Addr) string {
		if a.Is4() {
			return a.String() + "/24"
		}
		return a.String() + "/64"
	}

	w.rtr.Forwarding(t)
	netnstest.Link(t, w.rtr, "eth-pbx", w.pbx, "eth0")
	w.rtr.Addr(t, "eth-pbx", cidr(rtrPBX4), cidr(rtrPBX6))
	w.pbx.Addr(t, "eth0", cidr(pbx4), cidr(pbx6))
	w.pbx.Route(t, "default", rtrPBX4.String())
	w.pbx.Route(t, "default", rtrPBX6.String())

	clients := []struct {
		ns    netnstest.NS
		ifc   string
		addrs []netip.Addr
	}{
		{w.scan, "eth-scan", []netip.Addr{svmapIP, baseScan, deniedIP, dnsIP, svmap6IP, denied6IP, dns6IP}},
		{w.war, "eth-war", []netip.Addr{svwarIP}},
		{w.crack, "eth-crack", []netip.Addr{svcrackIP}},
		{w.guess, "eth-guess", []netip.Addr{guessSlowIP, guessFastIP, guessCrashIP, tftpIP, baseGuess, guessTCPIP, guessClosedIP, floodIP, unblockIP, permIP, tempIP, webIP, guess6IP}},
		{w.trunk, "eth-trunk", []netip.Addr{trunkIP}},
		{w.nat, "eth-nat", []netip.Addr{natIP}},
	}
	var ports []string
	for _, c := range clients {
		netnstest.Link(t, w.rtr, c.ifc, c.ns, "eth0")
		ports = append(ports, c.ifc)
		v6 := false
		for _, a := range c.addrs {
			c.ns.Addr(t, "eth0", cidr(a))
			v6 = v6 || a.Is6()
		}
		c.ns.Route(t, "default", rtrInet4.String())
		if v6 {
			c.ns.Route(t, "default", rtrInet6.String())
		}
	}
	w.rtr.Bridge(t, "inet0", ports...)
	w.rtr.Addr(t, "inet0", cidr(rtrInet4), cidr(rtrInet6))

	// the office: phones behind a NAT router (rules in sp-e-*-nat only)
	w.nat.Forwarding(t)
	netnstest.Link(t, w.nat, "eth1", w.officeN, "eth0")
	w.nat.Addr(t, "eth1", cidr(natLAN))
	for _, p := range office {
		w.officeN.Addr(t, "eth0", cidr(p.ip))
	}
	w.officeN.Route(t, "default", natLAN.String())
	w.nat.Run(t, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.0/24", "-o", "eth0", "-j", "MASQUERADE")

	w.kam = startKamailio(t, w.pbx, filepath.Join(w.dir, "kamailio.log"), filepath.Join(w.dir, "kamailio-run"))
	return w
}

// pbxAddr returns the registrar's SIP address in a's family.
func pbxAddr(a netip.Addr) netip.AddrPort {
	if a.Is4() {
		return netip.AddrPortFrom(pbx4, sipPort)
	}
	return netip.AddrPortFrom(pbx6, sipPort)
}
