package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sipprot/sipprot/conf"
)

// plan is the content of one family's script, kept in parts so that
// IPTables can put the deletion of an earlier install between the chain
// declarations and the new rules.
type plan struct {
	family Family
	header []string // comment lines
	chains []string // sipprot chains to declare, which flushes existing ones
	body   []string // "-A" rules and the comments that explain them
	hooks  []hook
}

// hook is the one jump from a built-in chain to a sipprot chain.
type hook struct{ builtin, chain string }

// Script returns the iptables-restore script of family f for a host where
// sipprot's rules are not installed yet.
func (r *Rules) Script(f Family) string { return r.plan(f).script(nil) }

// script renders the plan; cleanup lines, if any, come right after the
// chain declarations, when every sipprot chain that stays is already empty.
func (p *plan) script(cleanup []string) string {
	var b strings.Builder
	for _, l := range p.header {
		b.WriteString(l + "\n")
	}
	b.WriteString("*filter\n")
	for _, c := range p.chains {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	if len(cleanup) > 0 {
		b.WriteString("# Delete what an earlier install left that the new rules do not reuse.\n")
		for _, l := range cleanup {
			b.WriteString(l + "\n")
		}
	}
	for _, l := range p.body {
		b.WriteString(l + "\n")
	}
	b.WriteString("# Jumps first in their chains, ahead of any ESTABLISHED,RELATED ACCEPT.\n")
	for _, h := range p.hooks {
		b.WriteString("-I " + h.builtin + " 1 -j " + h.chain + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// plan builds the rules of family f.
func (r *Rules) plan(f Family) *plan {
	p := &plan{family: f}
	restore := "iptables-restore"
	if f == IPv6 {
		restore = "ip6tables-restore"
	}
	p.header = []string{
		fmt.Sprintf("# sipprot firewall rules, %s, mode %s. Apply with: %s --noflush", f, r.mode, restore),
	}
	queue := r.queueTarget()
	guarded := r.guarded(f)
	request, reply := queue, queue
	if guarded {
		request, reply = "-j "+chainRequest, "-j "+chainReply
	}

	if r.mode == conf.ModeLocal {
		p.chains = append(p.chains, chainInput, chainOutput)
		p.hooks = []hook{{"INPUT", chainInput}, {"OUTPUT", chainOutput}}
		if r.dns {
			p.body = append(p.body, dnsRules(f, chainInput)...)
		}
		p.body = append(p.body, "# "+r.requestsNote()+" to this host go to the queue"+guardNote(guarded)+".")
		p.body = append(p.body, r.portRules(chainInput, "d", request)...)
		if guarded {
			p.body = append(p.body, "# The PBX's replies go to the queue, unguarded: their source is this host.")
		} else {
			p.body = append(p.body, "# The PBX's replies go to the queue.")
		}
		p.body = append(p.body, r.sipRules(chainOutput, "s", queue)...)
	} else {
		if r.dns {
			p.chains = append(p.chains, chainInput)
			p.hooks = append(p.hooks, hook{"INPUT", chainInput})
			p.body = append(p.body, dnsRules(f, chainInput)...)
		}
		p.chains = append(p.chains, chainForward)
		p.hooks = append(p.hooks, hook{"FORWARD", chainForward})
		if r.dns {
			p.body = append(p.body, dnsRules(f, chainForward)...)
		}
		p.body = append(p.body, "# "+r.requestsNote()+" to the PBXes behind this host go to the queue"+guardNote(guarded)+".")
		p.body = append(p.body, r.portRules(chainForward, "d", request)...)
		p.body = append(p.body, "# Packets from a SIP port (the PBXes' replies) go to the queue"+guardNote(guarded)+".")
		p.body = append(p.body, r.sipRules(chainForward, "s", reply)...)
	}

	if guarded {
		exempt, _ := r.exemptFor(f)
		p.chains = append(p.chains, chainRequest, chainGuard)
		p.body = append(p.body,
			"-A "+chainRequest+" -j "+chainGuard,
			"-A "+chainRequest+" "+queue)
		p.body = append(p.body, fmt.Sprintf("# Over %d packets/s from one source (guard_pps): drop; guard_exempt returns first.", r.guardPPS))
		for _, n := range exempt {
			p.body = append(p.body, "-A "+chainGuard+" -s "+n.String()+" -j RETURN")
		}
		p.body = append(p.body, "-A "+chainGuard+" "+r.hashlimit(f, "req")+" -j DROP")
		if r.mode == conf.ModeForward {
			p.chains = append(p.chains, chainReply, chainReplyGuard)
			p.body = append(p.body,
				"-A "+chainReply+" -j "+chainReplyGuard,
				"-A "+chainReply+" "+queue)
			p.body = append(p.body, "# Replies: per (source, destination) pair, so a PBX is not limited as a whole.")
			for _, n := range exempt {
				p.body = append(p.body, "-A "+chainReplyGuard+" -s "+n.String()+" -j RETURN")
			}
			for _, n := range exempt {
				p.body = append(p.body, "-A "+chainReplyGuard+" -d "+n.String()+" -j RETURN")
			}
			p.body = append(p.body, "-A "+chainReplyGuard+" "+r.hashlimit(f, "rep")+" -j DROP")
		}
	}

	// IPv4 reassembles locally delivered packets before INPUT anyway.
	if r.dns && (f == IPv6 || r.mode == conf.ModeForward) {
		p.chains = append(p.chains, chainDefrag)
		p.body = append(p.body,
			"# Never jumped to: a socket match makes the kernel reassemble fragments before",
			"# the filter table (nf_defrag, without conntrack), so the DNS guard sees whole datagrams.",
			"-A "+chainDefrag+" -m socket")
	}
	return p
}

func (r *Rules) requestsNote() string {
	if r.tftp && !r.tftpCovered() {
		return "SIP requests and TFTP"
	}
	return "SIP requests"
}

func guardNote(guarded bool) string {
	if guarded {
		return ", through the rate guard"
	}
	return ""
}

// portRules sends the SIP ports, and TFTP when enabled, to target.
func (r *Rules) portRules(chain, dir, target string) []string {
	out := r.sipRules(chain, dir, target)
	if r.tftp && !r.tftpCovered() {
		out = append(out, "-A "+chain+" -p udp -m udp --"+dir+"port "+strconv.Itoa(portTFTP)+" "+target)
	}
	return out
}

// sipRules sends the SIP ports of every configured protocol to target;
// dir is "d" (destination port) or "s" (source port).
func (r *Rules) sipRules(chain, dir, target string) []string {
	var out []string
	for _, proto := range r.protocols {
		for _, m := range portMatches(proto.String(), dir, r.ports) {
			out = append(out, "-A "+chain+" "+m+" "+target)
		}
	}
	return out
}

// portMatches spells the match for ports in the form iptables-save prints:
// the protocol's own match for one port or range, else multiport, split
// into rules of at most 15 ports where a range counts as two.
func portMatches(proto, dir string, ports []conf.PortRange) []string {
	if len(ports) == 1 {
		return []string{"-p " + proto + " -m " + proto + " --" + dir + "port " + ports[0].String()}
	}
	var out, group []string
	size := 0
	flush := func() {
		if len(group) > 0 {
			out = append(out, "-p "+proto+" -m multiport --"+dir+"ports "+strings.Join(group, ","))
		}
		group, size = nil, 0
	}
	for _, p := range ports {
		n := 1
		if p.Lo != p.Hi {
			n = 2
		}
		if size+n > maxMultiportSize {
			flush()
		}
		group = append(group, p.String())
		size += n
	}
	flush()
	return out
}

// queueTarget is the NFQUEUE target. Without --queue-bypass a packet for a
// queue nobody reads is dropped: fail-closed.
func (r *Rules) queueTarget() string {
	var b strings.Builder
	b.WriteString("-j NFQUEUE")
	if r.count == 1 {
		b.WriteString(" --queue-num " + strconv.Itoa(r.queue))
	} else {
		fmt.Fprintf(&b, " --queue-balance %d:%d", r.queue, r.queue+r.count-1)
	}
	if r.failOpen {
		b.WriteString(" --queue-bypass")
	}
	if r.count > 1 {
		b.WriteString(" --queue-cpu-fanout")
	}
	return b.String()
}

// hashlimit is the guard's match; kind is "req" (per source) or "rep" (per
// source and destination). See the package documentation for the name.
func (r *Rules) hashlimit(f Family, kind string) string {
	mode := "srcip"
	if kind == "rep" {
		mode = "srcip,dstip"
	}
	s := fmt.Sprintf("-m hashlimit --hashlimit-above %d/sec --hashlimit-burst %d --hashlimit-mode %s --hashlimit-name %s",
		r.guardPPS, r.guardBurst(), mode, hashlimitName(f, kind, r.guardPPS))
	if f == IPv6 {
		// One site usually holds a whole /64; per address, one attacker
		// would have 2^64 buckets.
		s += " --hashlimit-srcmask 64"
		if kind == "rep" {
			s += " --hashlimit-dstmask 64"
		}
	}
	return s
}

// guardBurst is one second's worth of packets: a source that was quiet may
// send that many at once (an office re-registering after a restart).
func (r *Rules) guardBurst() int { return r.guardPPS }

// hashlimitName names the kernel's table for a guard. It must change when
// any hashlimit setting changes (the kernel keeps the settings of the
// first rule that used a name), so it holds the rate, which also fixes the
// burst; it fits hashlimit's 15 characters up to the 1,000,000 maximum.
func hashlimitName(f Family, kind string, pps int) string {
	return fmt.Sprintf("sp%d-%s-%d", int(f), kind, pps)
}
