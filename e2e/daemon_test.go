//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// daemonConfig is what a test sets in sipprot's config; the rest keeps its
// default.
type daemonConfig struct {
	mode          string // "local" or "forward"
	failures      int    // [sip] failures_per_minute
	blockTime     time.Duration
	threshold     int // [sip] block_threshold
	queueNumber   int
	queueCount    int
	tftpPerMinute int
	tftpBurst     int
	failClosed    bool     // [queue] fail_open = false
	allow, deny   []string // list file lines
	stateDir      string
	countries     []string      // [sip] blocked_countries
	geoipURL      string        // [geoip] update_url ("" = none)
	geoipEvery    time.Duration // [geoip] update_every (0 = default)
	guardPPS      int           // [queue] guard_pps (0 = default)
	extra         string        // more tables, appended as they are
	noBindNonces  bool          // [sip] bind_nonces = false
}

// write writes the config file and its list files into dir and returns
// the config's path.
func (c daemonConfig) write(t *testing.T, dir, name string) string {
	t.Helper()
	allow := filepath.Join(dir, name+".allow")
	deny := filepath.Join(dir, name+".deny")
	for path, lines := range map[string][]string{allow: c.allow, deny: c.deny} {
		body := "# written by the end-to-end test\n" + strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var countries, geoip string
	if len(c.countries) > 0 {
		countries = fmt.Sprintf("blocked_countries = [\"%s\"]\n", strings.Join(c.countries, `", "`))
	}
	if c.noBindNonces {
		countries += "bind_nonces = false\n"
	}
	if c.geoipURL != "" {
		geoip += fmt.Sprintf("update_url = %q\n", c.geoipURL)
	}
	if c.geoipEvery > 0 {
		geoip += fmt.Sprintf("update_every = %q\n", c.geoipEvery.String())
	}
	var guard string
	if c.guardPPS > 0 {
		guard = fmt.Sprintf("guard_pps = %d\n", c.guardPPS)
	}
	cfg := fmt.Sprintf(`# sipprot end-to-end test config (%s)
[sip]
protocols = ["udp", "tcp"]
ports = ["5060"]
failures_per_minute = %d
block_time = %q
block_threshold = %d
%s
[tftp]
enabled = true
per_minute = %d
burst = %d

[dns]
enabled = true

[queue]
number = %d
count = %d
fail_open = %t
mode = %q
%s
[lists]
allow = %q
deny = %q

[state]
dir = %q

[geoip]
database = %q
%s
[admin]
socket = %q

[log]
format = "json"
level = "info"
`, name, c.failures, c.blockTime.String(), c.threshold, countries, c.tftpPerMinute, c.tftpBurst,
		c.queueNumber, c.queueCount, !c.failClosed, c.mode, guard, allow, deny, c.stateDir, filepath.Join(c.stateDir, "country.mmdb"), geoip, filepath.Join(c.stateDir, "sipprot.sock"))
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(cfg+c.extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// daemon is one `sipprot run` process inside a namespace.
type daemon struct {
	ns    netnstest.NS
	cfg   string
	p     *proc
	log   string
	ready time.Time // time of its "sipprot ready" line
}

// startDaemon starts `sipprot run --config cfg` inside ns and waits for
// its "sipprot ready" line (queues bound, rules installed); the test fails
// if it exits first or takes over 20 s.
func startDaemon(t *testing.T, ns netnstest.NS, cfg, logPath string) *daemon {
	t.Helper()
	p := startProc(t, ns, "sipprot", logPath, procOpts{}, sipprotBin, "run", "--config", cfg)
	d := &daemon{ns: ns, cfg: cfg, p: p, log: logPath}
	var ready logLine
	ok := testutil.Poll(20*time.Second, func() bool {
		for _, l := range d.lines(t) {
			if l.msg() == "sipprot ready" {
				ready = l
				return true
			}
		}
		return !p.running()
	})
	switch {
	case !p.running():
		t.Fatalf("sipprot run exited before it was ready (%v); its log:\n%s", p.exitErr(), tail(logPath, 30))
	case !ok || ready == nil:
		t.Fatalf("sipprot run not ready after 20 s; its log:\n%s", tail(logPath, 30))
	}
	d.ready = ready.time()
	return d
}

// logLine is one JSON log line of the daemon.
type logLine map[string]any

func (l logLine) str(k string) string {
	s, _ := l[k].(string)
	return s
}

func (l logLine) msg() string { return l.str("msg") }

func (l logLine) time() time.Time {
	ts, _ := time.Parse(time.RFC3339Nano, l.str("time"))
	return ts
}

// lines parses the daemon's log so far (lines that are not JSON are
// skipped).
func (d *daemon) lines(t *testing.T) []logLine {
	t.Helper()
	f, err := os.Open(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// errorLines counts the daemon's log lines at level ERROR.
func (d *daemon) errorLines(t *testing.T) int {
	t.Helper()
	n := 0
	for _, l := range d.lines(t) {
		if l.str("level") == "ERROR" {
			n++
		}
	}
	return n
}

// blockLine is one msg="blocked" line of the daemon.
type blockLine struct {
	At        time.Time
	IP        netip.Addr
	Reason    string
	UA        string
	Country   string
	Permanent bool
}

// blocks returns the daemon's block lines so far.
func (d *daemon) blocks(t *testing.T) []blockLine {
	t.Helper()
	var out []blockLine
	for _, l := range d.lines(t) {
		if l.msg() != "blocked" {
			continue
		}
		perm, _ := l["permanent"].(bool)
		out = append(out, blockLine{At: l.time(), IP: parseAddr(l.str("ip")), Reason: l.str("reason"),
			UA: l.str("user_agent"), Country: l.str("country"), Permanent: perm})
	}
	return out
}

// blocksOf returns the block lines for ip.
func (d *daemon) blocksOf(t *testing.T, ip netip.Addr) []blockLine {
	t.Helper()
	var out []blockLine
	for _, b := range d.blocks(t) {
		if b.IP == ip {
			out = append(out, b)
		}
	}
	return out
}

// waitBlock waits up to timeout for the first block line of ip.
func (d *daemon) waitBlock(t *testing.T, ip netip.Addr, timeout time.Duration) (blockLine, bool) {
	t.Helper()
	var b blockLine
	ok := testutil.Poll(timeout, func() bool {
		if bs := d.blocksOf(t, ip); len(bs) > 0 {
			b = bs[0]
			return true
		}
		return false
	})
	return b, ok
}

// stop sends SIGTERM and fails the test unless the daemon exits with
// status 0 within 15 s.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.p.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to sipprot: %v", err)
	}
	select {
	case <-d.p.done:
	case <-time.After(15 * time.Second):
		d.p.kill()
		t.Fatalf("sipprot did not exit within 15 s of SIGTERM; its log:\n%s", tail(d.log, 20))
	}
	if err := d.p.exitErr(); err != nil {
		t.Errorf("sipprot exited with %v after SIGTERM (want status 0); its log:\n%s", err, tail(d.log, 20))
	}
}

// cli runs `sipprot ARGS --config cfg` inside ns and returns its output;
// the test fails on a non-zero exit.
func cli(t *testing.T, ns netnstest.NS, cfg string, args ...string) string {
	t.Helper()
	return ns.Run(t, append(append([]string{sipprotBin}, args...), "--config", cfg)...)
}
