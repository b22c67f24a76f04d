//go:build e2e

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// capture is tcpdump on an attacker's interface: the attacker's own view
// of when it sent each request and received each reply.
type capture struct {
	p    *proc
	file string
	src  netip.Addr
}

// startCapture starts tcpdump inside ns on eth0 for SIP to and from src,
// with a 64 MiB buffer (a busy machine starves it otherwise), and waits
// until it listens.
func startCapture(t *testing.T, w *world, ns netnstest.NS, src netip.Addr) *capture {
	t.Helper()
	name := fmt.Sprintf("tcpdump-%s", src)
	file := filepath.Join(w.dir, name+".pcap")
	p := startProc(t, ns, name, filepath.Join(w.dir, name+".log"), procOpts{},
		"tcpdump", "-i", "eth0", "-n", "-s", "0", "-B", "65536", "-U", "--immediate-mode", "-Z", "root", "-w", file,
		fmt.Sprintf("host %s and port %d", src, sipPort))
	if !testutil.Poll(10*time.Second, func() bool { return strings.Contains(tail(p.log, 5), "listening on") || !p.running() }) || !p.running() {
		t.Fatalf("tcpdump did not start:\n%s", tail(p.log, 10))
	}
	return &capture{p: p, file: file, src: src}
}

// stop ends the capture (SIGINT flushes the file) and notes packets that
// tcpdump lost.
func (c *capture) stop(t *testing.T) {
	t.Helper()
	if c.p.running() {
		_ = c.p.signal(syscall.SIGINT)
	}
	if err := c.p.wait(10 * time.Second); err != nil {
		t.Logf("tcpdump: %v\n%s", err, tail(c.p.log, 5))
	}
	if b, err := os.ReadFile(c.p.log); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(line, "dropped by kernel") && !strings.HasPrefix(line, "0 ") {
				t.Logf("note: tcpdump on %s: %s", c.src, line)
			}
		}
	}
}

// capMsg is one packet of a capture, with its SIP fields when it holds
// (the start of) a SIP message.
type capMsg struct {
	At     time.Time
	Sent   bool   // sent by the attacker (else received)
	Method string // SIP request method, or ""
	Status int    // SIP status code, or 0
	CallID string
	CSeq   int
	Cred   bool
}

// messages reads every packet of the capture with tshark.
func (c *capture) messages(t *testing.T) []capMsg {
	t.Helper()
	out, err := exec.Command("tshark", "-r", c.file, "-n", "-T", "fields", "-E", "separator=/t",
		"-E", "occurrence=f", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "sip.Method",
		"-e", "sip.Status-Code", "-e", "sip.Call-ID", "-e", "sip.CSeq.seq", "-e", "sip.Authorization").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", c.file, err)
	}
	var msgs []capMsg
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 8 || (f[1] == "" && f[2] == "") {
			continue
		}
		src := f[1]
		if src == "" {
			src = f[2]
		}
		msgs = append(msgs, capMsg{
			At: parseTV(f[0]), Sent: parseAddr(src) == c.src, Method: f[3], Status: atoi(f[4]),
			CallID: f[5], CSeq: atoi(f[6]), Cred: f[7] != "",
		})
	}
	return msgs
}

// attackerInFlight returns how many failed attempts beyond the limit the
// attacker had already sent when it received the limit-th failure reply
// (counted in the order it received them: Kamailio's two processes log
// replies slightly out of wire order). sipprot judges each reply on its
// way, before the attacker gets it, so no firewall that learns failures
// from replies can have stopped those attempts. An attempt whose sending
// the capture lacks (tcpdump drops packets when starved) counts as in
// flight. It also returns that moment (zero if the capture lacks the
// replies).
func attackerInFlight(msgs []capMsg, fails []failure, limit int) (int, time.Time) {
	if len(fails) <= limit {
		return 0, time.Time{}
	}
	type key struct {
		callID string
		cseq   int
	}
	sent := map[key]time.Time{}
	recv := map[key]time.Time{}
	for _, m := range msgs {
		k := key{m.CallID, m.CSeq}
		switch {
		case m.Sent && m.Method != "":
			if _, ok := sent[k]; !ok {
				sent[k] = m.At
			}
		case !m.Sent && m.Status >= 200:
			if _, ok := recv[k]; !ok {
				recv[k] = m.At
			}
		}
	}
	var got []time.Time
	for _, f := range fails {
		if at, ok := recv[key{f.req.CallID, f.req.CSeq}]; ok {
			got = append(got, at)
		}
	}
	if len(got) < limit {
		return len(fails) - limit, time.Time{}
	}
	slices.SortFunc(got, time.Time.Compare)
	seen := got[limit-1]
	n := 0
	for _, f := range fails {
		if at, ok := sent[key{f.req.CallID, f.req.CSeq}]; !ok || at.Before(seen) {
			n++
		}
	}
	return max(n-limit, 0), seen
}

// blockLifts returns when a block made at blockAt lifts, judging from the
// attacker's packets: every packet restarts block_time, so the block ends
// block_time after the last packet that follows the previous one by less
// than block_time. A gap within tolerance of block_time counts as lifting
// it already (the earlier, safer end for "nothing gets through before").
// It also reports whether the block lifted while the attack went on.
func blockLifts(msgs []capMsg, blockAt time.Time, blockTime time.Duration) (time.Time, bool) {
	const tolerance = 100 * time.Millisecond
	last := blockAt
	for _, m := range msgs {
		if !m.Sent || !m.At.After(last) {
			continue
		}
		if m.At.Sub(last) >= blockTime-tolerance {
			return last.Add(blockTime - tolerance), true
		}
		last = m.At
	}
	return last.Add(blockTime - tolerance), false
}
