//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// hostFirewall gives the namespace where sipprot will run a firewall of
// its own, as an operator's host has one: a conntrack
// ESTABLISHED,RELATED accept first (so an attacker's UDP "connection"
// would slip past a queue rule placed after it), then accepts for SIP,
// TFTP and ICMP, and a user chain. chain is "INPUT" (local mode) or
// "FORWARD" (forward mode). sipprot must leave all of it as it was.
func hostFirewall(t *testing.T, ns netnstest.NS, chain string) {
	t.Helper()
	for _, ipt := range []string{"iptables", "ip6tables"} {
		icmp := "icmp"
		if ipt == "ip6tables" {
			icmp = "ipv6-icmp"
		}
		for _, rule := range [][]string{
			{"-N", "HOST-SIP"},
			{"-A", "HOST-SIP", "-p", "udp", "--dport", "5060", "-j", "ACCEPT"},
			{"-A", "HOST-SIP", "-p", "tcp", "--dport", "5060", "-j", "ACCEPT"},
			{"-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
			{"-A", chain, "-p", icmp, "-j", "ACCEPT"},
			{"-A", chain, "-j", "HOST-SIP"},
			{"-A", chain, "-p", "udp", "--dport", "69", "-j", "ACCEPT"},
			{"-A", "OUTPUT", "-p", "udp", "--sport", "5060", "-j", "ACCEPT"},
		} {
			ns.Run(t, append([]string{ipt, "-w"}, rule...)...)
		}
	}
}

var (
	saveCounters = regexp.MustCompile(`\[\d+:\d+\]`)
	nftCounters  = regexp.MustCompile(`counter packets \d+ bytes \d+`)
)

// ruleset returns the namespace's firewall as iptables-save and
// ip6tables-save print it, without comment lines and packet counters, and
// as `nft list ruleset` prints it, counters zeroed and no-op leftovers of
// iptables-nft dropped (see nftNoops): the text that must be identical
// before sipprot installs its rules and after it removes them.
func ruleset(t *testing.T, ns netnstest.NS) string {
	t.Helper()
	var b strings.Builder
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		fmt.Fprintf(&b, "### %s\n", cmd)
		for _, line := range strings.Split(ns.Run(t, cmd), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			b.WriteString(saveCounters.ReplaceAllString(line, "[0:0]"))
			b.WriteByte('\n')
		}
	}
	b.WriteString("### nft list ruleset\n")
	b.WriteString(nftNoops(nftCounters.ReplaceAllString(ns.Run(t, "nft", "list", "ruleset"), "counter packets 0 bytes 0")))
	return b.String()
}

// nftNoops drops from `nft list ruleset` output the base chains that hold
// no rule and accept by policy, and tables left empty: iptables-nft
// creates a base chain the first time a rule is added to it (sipprot's
// jump into INPUT of a host that had no INPUT rule) and never deletes it,
// while iptables-save prints every built-in chain anyway. Such a chain
// changes nothing; anything else sipprot leaves behind still shows.
func nftNoops(s string) string {
	lines := strings.Split(s, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "\tchain ") && strings.HasSuffix(l, " {") {
			j := i + 1
			var body []string
			for ; j < len(lines) && lines[j] != "\t}"; j++ {
				if strings.TrimSpace(lines[j]) != "" {
					body = append(body, strings.TrimSpace(lines[j]))
				}
			}
			if len(body) == 1 && strings.HasPrefix(body[0], "type ") && strings.HasSuffix(body[0], "policy accept;") {
				i = j // skip the chain and its closing brace
				continue
			}
		}
		out = append(out, l)
	}
	// tables left with no chain, and blank lines between chains
	var res []string
	for i := 0; i < len(out); i++ {
		if strings.HasPrefix(out[i], "table ") && strings.HasSuffix(out[i], " {") {
			j := i + 1
			for j < len(out) && strings.TrimSpace(out[j]) == "" {
				j++
			}
			if j < len(out) && out[j] == "}" {
				i = j
				continue
			}
		}
		if strings.TrimSpace(out[i]) == "" {
			continue
		}
		res = append(res, out[i])
	}
	return strings.Join(res, "\n") + "\n"
}

// diffLines returns the lines only in want ("-") and only in got ("+"),
// for failure messages.
func diffLines(want, got string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := count(want), count(got)
	var out []string
	for l, n := range w {
		for range n - g[l] {
			out = append(out, "\t- "+l)
		}
	}
	for l, n := range g {
		for range n - w[l] {
			out = append(out, "\t+ "+l)
		}
	}
	if len(out) == 0 && want != got {
		return "\t(same lines, another order)\n--- want\n" + want + "--- got\n" + got
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
