package rules

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
)

// ruleset is the filter table of one iptables-save output, as far as
// install and remove need it.
type ruleset struct {
	hasFilter bool
	chains    []string            // every chain, built-in and user, in save order
	policies  map[string]string   // chain -> policy ("-" for user chains)
	rules     map[string][]string // chain -> its "-A" lines, verbatim
}

// parseSave reads iptables-save output; only the filter table counts.
func parseSave(out string) (*ruleset, error) {
	rs := &ruleset{policies: map[string]string{}, rules: map[string][]string{}}
	table := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			if table == "filter" {
				rs.hasFilter = true
			}
		case line == "COMMIT":
			table = ""
		case table != "filter":
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, fmt.Errorf("save output line %d: bad chain line %q", n, line)
			}
			rs.chains = append(rs.chains, f[0])
			rs.policies[f[0]] = f[1]
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if len(f) < 2 {
				return nil, fmt.Errorf("save output line %d: bad rule %q", n, line)
			}
			rs.rules[f[1]] = append(rs.rules[f[1]], line)
		default:
			return nil, fmt.Errorf("save output line %d: unexpected %q", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read save output: %w", err)
	}
	return rs, nil
}

// ours reports whether a chain is one of sipprot's.
func ours(chain string) bool { return strings.HasPrefix(chain, ChainPrefix) }

// sipprotChains returns sipprot's chains.
func (rs *ruleset) sipprotChains() []string {
	var out []string
	for _, c := range rs.chains {
		if ours(c) {
			out = append(out, c)
		}
	}
	return out
}

// jumps returns the rules outside sipprot's chains that jump to one of
// them, verbatim: install's hooks, and any a crash or an admin added.
func (rs *ruleset) jumps() []string {
	var out []string
	for _, c := range rs.chains {
		if ours(c) {
			continue
		}
		for _, l := range rs.rules[c] {
			if t := ruleTarget(l); t != "" && ours(t) {
				out = append(out, l)
			}
		}
	}
	return out
}

// installed reports whether anything of sipprot is in the table.
func (rs *ruleset) installed() bool { return len(rs.sipprotChains()) > 0 || len(rs.jumps()) > 0 }

// hostRules reports whether the table holds anything besides sipprot's:
// a rule, a user chain, or a policy other than ACCEPT. That is where the
// host's own firewall lives.
func (rs *ruleset) hostRules() bool {
	for _, c := range rs.chains {
		if ours(c) {
			continue
		}
		if p := rs.policies[c]; p != "ACCEPT" {
			return true
		}
		for _, l := range rs.rules[c] {
			if t := ruleTarget(l); t == "" || !ours(t) {
				return true
			}
		}
	}
	return false
}

// cleanup returns the restore lines that delete sipprot's jumps, and its
// chains that keep are not among. They run after keep's declarations,
// which flush those chains, so every chain deleted here is unreferenced.
func (rs *ruleset) cleanup(keep []string) []string {
	var stale []string
	for _, c := range rs.sipprotChains() {
		if !slices.Contains(keep, c) {
			stale = append(stale, c)
		}
	}
	var out []string
	for _, c := range stale {
		out = append(out, "-F "+c)
	}
	for _, j := range rs.jumps() {
		out = append(out, "-D"+strings.TrimPrefix(j, "-A"))
	}
	for _, c := range stale {
		out = append(out, "-X "+c)
	}
	return out
}

// removal returns the restore script that deletes everything of sipprot in
// the table, or "" when there is nothing to delete.
func (rs *ruleset) removal(f Family) string {
	if !rs.installed() {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Remove sipprot's firewall rules, %s.\n*filter\n", f)
	for _, l := range rs.cleanup(nil) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// ruleTarget returns the chain or target a saved rule jumps (-j) or goes
// (-g) to, or "" if it has none. Quoted arguments, such as a comment that
// mentions "-j SIPPROT", are skipped whole.
func ruleTarget(line string) string {
	args := splitArgs(line)
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-j", "--jump", "-g", "--goto":
			return args[i+1]
		}
	}
	return ""
}

// splitArgs splits a saved rule into arguments the way iptables-restore
// does: on spaces, except inside double quotes, where \" and \\ escape.
func splitArgs(line string) []string {
	var (
		args    []string
		cur     strings.Builder
		inQuote bool
		started bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote = !inQuote
			started = true
		case !inQuote && (c == ' ' || c == '\t'):
			if started {
				args = append(args, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if started {
		args = append(args, cur.String())
	}
	return args
}
