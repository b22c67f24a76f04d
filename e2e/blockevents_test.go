//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
	"github.com/sipprot/sipprot/internal/testutil"
)

// TestBlocksUnderDropFlood: a deny-listed source floods the queue as fast
// as it verdicts (no rate guard) while 100 scanners get blocked. Dropped
// packets are counters, not events, so none of the 100 blocks is lost:
// each is in blocks.json with its User-Agent, in the attack log and in the
// per-attack emails, and status counts 0 lost block events.
func TestBlocksUnderDropFlood(t *testing.T) {
	requireEnv(t)
	requireDaemon(t)
	w := newWorld(t, "b")
	const scanners = 100
	var scanIPs []netip.Addr
	for i := range scanners {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)})
		w.scan.Addr(t, "eth0", a.String()+"/24")
		scanIPs = append(scanIPs, a)
	}
	mail := startMailbox(t, w.pbx, netip.AddrPortFrom(pbx4, 2525))
	cfg := daemonConfig{
		mode: "local", failures: 10, blockTime: 10 * time.Minute, threshold: 5,
		queueCount: 1, tftpPerMinute: 60, tftpBurst: 20, guardPPS: 1000000,
		deny:     []string{deniedNet + " flooding network"},
		stateDir: filepath.Join(w.dir, "state"),
		extra: fmt.Sprintf(`
[notify]
recipients = ["noc@example.org"]
daily_summary = false
per_attack = true
per_attack_every = "1s"

[smtp]
host = %q
port = 2525
from = "sipprot@example.org"
tls = "none"
timeout = "5s"
`, pbx4.String()),
	}
	cfgPath := cfg.write(t, w.dir, "sipprot")
	d := startDaemon(t, w.pbx, cfgPath, filepath.Join(w.dir, "sipprot.log"))

	before := daemonJSON(t, w.pbx, cfgPath)
	flood := startDropFlood(t, w.scan, deniedIP, 3)
	began := time.Now()
	time.Sleep(time.Second) // the flood first fills the queue
	// The scanners come one every 20 ms while the flood goes on. Each
	// probes again every 100 ms until blocked: a probe may pass by
	// fail-open while the flood fills the queue, the next one is judged.
	blocked := map[netip.Addr]bool{}
	scan := func(upTo int) {
		for _, b := range d.blocks(t) {
			blocked[b.IP] = true
		}
		for i, a := range scanIPs[:upTo] {
			if !blocked[a] {
				sendProbe(t, w.scan, a, i)
			}
		}
	}
	for i := range scanners {
		scan(i + 1)
		time.Sleep(20 * time.Millisecond)
	}
	testutil.Poll(30*time.Second, func() bool {
		scan(scanners)
		if len(blocked) == scanners {
			return true
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})
	time.Sleep(time.Second) // and goes on after the last block
	took := time.Since(began)
	sent := flood.stop()
	after := daemonJSON(t, w.pbx, cfgPath)
	if len(blocked) != scanners {
		t.Fatalf("%d of %d scanners blocked in %v under the flood", len(blocked), scanners, took)
	}
	judged := after.Daemon.Packets - before.Daemon.Packets
	denied := after.Daemon.Dropped["deny"] - before.Daemon.Dropped["deny"]
	var lostOpen uint64
	for _, q := range after.Daemon.Queues {
		lostOpen += q.Lost
	}
	t.Logf("flood: %d packets sent from %s in %v; the queue judged %d (%.0f/s), %d of them denied, %d passed by fail-open; %d scanners blocked meanwhile",
		sent, deniedIP, took.Round(time.Millisecond), judged, float64(judged)/took.Seconds(), denied, lostOpen, len(blocked))
	if denied < 10*scanners {
		t.Errorf("only %d deny drops during the test: the flood did not load the queue", denied)
	}
	if after.Daemon.EventsLost != 0 {
		t.Errorf("status: %d block events lost", after.Daemon.EventsLost)
	}
	if out := cli(t, w.pbx, cfgPath, "status"); !strings.Contains(out, "\nblock events lost: 0\n") {
		t.Errorf("status does not show 0 block events lost:\n%s", out)
	}

	// status right after the blocks shows their User-Agent: the engine
	// keeps it with the block.
	uaOf := map[netip.Addr]string{}
	for _, b := range after.Dynamic {
		uaOf[b.IP] = b.UserAgent
	}
	for _, a := range scanIPs {
		if uaOf[a] != "friendly-scanner" {
			t.Errorf("status --dynamic: %s has User-Agent %q", a, uaOf[a])
		}
	}

	// blocks.json, saved within a second of each block.
	saved := map[netip.Addr]string{}
	testutil.Poll(10*time.Second, func() bool {
		saved = savedBlocks(t, cfg.stateDir)
		for _, a := range scanIPs {
			if _, ok := saved[a]; !ok {
				return false
			}
		}
		return true
	})
	for _, a := range scanIPs {
		if ua, ok := saved[a]; !ok || ua != "friendly-scanner" {
			t.Errorf("blocks.json: %s saved %v with User-Agent %q", a, ok, ua)
		}
	}

	// The per-attack emails, one a second at most, count every block.
	var emailed map[netip.Addr]bool
	var total int
	testutil.Poll(30*time.Second, func() bool {
		emailed, total = mail.blocked()
		return total >= scanners
	})
	if total != scanners {
		t.Errorf("the per-attack emails count %d blocked sources, want %d (%d emails)", total, scanners, mail.count())
	}
	for a := range emailed {
		if !slicesContains(scanIPs, a) {
			t.Errorf("an email lists %s, which no test scanner used", a)
		}
	}

	// The attack log, complete once the daemon has stopped.
	d.stop(t)
	logged, drops := attackLog(t, cfg.stateDir)
	for _, a := range scanIPs {
		if logged[a] != "friendly-scanner" {
			t.Errorf("attack log: %s logged with User-Agent %q", a, logged[a])
		}
	}
	if drops < denied {
		t.Errorf("attack log drops lines count %d deny drops, status %d", drops, denied)
	}
	t.Logf("attack log: %d blocks, %d deny drops; %d emails for %d blocks", len(logged), drops, mail.count(), total)
}

func slicesContains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

// statusDoc is the part of `sipprot status --dynamic --json` the test reads.
type statusDoc struct {
	Daemon struct {
		Packets    uint64            `json:"packets"`
		Dropped    map[string]uint64 `json:"dropped_by_reason"`
		EventsLost uint64            `json:"events_lost"`
		Queues     []struct {
			Lost uint64 `json:"lost"`
		} `json:"queues"`
	} `json:"daemon"`
	Dynamic []struct {
		IP        netip.Addr `json:"ip"`
		UserAgent string     `json:"user_agent"`
	} `json:"dynamic_list"`
}

func daemonJSON(t *testing.T, ns netnstest.NS, cfg string) statusDoc {
	t.Helper()
	var st statusDoc
	out := cli(t, ns, cfg, "status", "--dynamic", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// savedBlocks reads blocks.json: address -> User-Agent.
func savedBlocks(t *testing.T, dir string) map[netip.Addr]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "blocks.json"))
	if err != nil {
		return nil
	}
	var doc struct {
		Blocks []struct {
			IP        netip.Addr `json:"ip"`
			UserAgent string     `json:"user_agent"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil // being replaced; the next read sees the new file
	}
	out := map[netip.Addr]string{}
	for _, b := range doc.Blocks {
		out[b.IP] = b.UserAgent
	}
	return out
}

// attackLog reads today's attack log: block lines (address -> User-Agent)
// and the deny drops of its drops lines.
func attackLog(t *testing.T, dir string) (map[netip.Addr]string, uint64) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "attacks", time.Now().Format(time.DateOnly)+".jsonl"))
	if err != nil {
		t.Fatalf("attack log: %v", err)
	}
	defer f.Close()
	blocks := map[netip.Addr]string{}
	var drops uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Event     string            `json:"event"`
			IP        netip.Addr        `json:"ip"`
			UserAgent string            `json:"user_agent"`
			ByReason  map[string]uint64 `json:"by_reason"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("attack log line %q: %v", sc.Text(), err)
			continue
		}
		switch l.Event {
		case "block":
			blocks[l.IP] = l.UserAgent
		case "drops":
			drops += l.ByReason["deny"]
		}
	}
	return blocks, drops
}

// sendProbe sends one scanner OPTIONS from src, as svmap does.
func sendProbe(t *testing.T, ns netnstest.NS, src netip.Addr, i int) {
	t.Helper()
	msg := fmt.Sprintf("OPTIONS sip:100@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK-probe%d-%d\r\nMax-Forwards: 70\r\n"+
		"From: \"sipvicious\"<sip:100@%s>;tag=p%d\r\nTo: <sip:100@%s>\r\nCall-ID: probe-%d-%d\r\nCSeq: 1 OPTIONS\r\n"+
		"Contact: <sip:100@%s:5060>\r\nUser-Agent: friendly-scanner\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n",
		pbx4, src, i, time.Now().UnixNano(), src, i, pbx4, i, time.Now().UnixNano(), src)
	if err := ns.Do(func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 5060)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(pbx4, sipPort)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(msg))
		return err
	}); err != nil {
		t.Fatalf("probe from %s: %v", src, err)
	}
}

// dropFlood sends OPTIONS from one address as fast as its senders can.
type dropFlood struct {
	conn *net.UDPConn
	done atomic.Bool
	wg   sync.WaitGroup
	sent atomic.Int64
}

func startDropFlood(t *testing.T, ns netnstest.NS, src netip.Addr, senders int) *dropFlood {
	t.Helper()
	f := &dropFlood{}
	if err := ns.Do(func() (err error) {
		f.conn, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 5099)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(pbx4, sipPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	msg := []byte(fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5099;branch=z9hG4bK-flood\r\nFrom: <sip:f@%s>;tag=f\r\n"+
		"To: <sip:%s>\r\nCall-ID: flood\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", pbx4, src, src, pbx4))
	for range senders {
		f.wg.Go(func() {
			for !f.done.Load() {
				if _, err := f.conn.Write(msg); err == nil {
					f.sent.Add(1)
				}
			}
		})
	}
	t.Cleanup(func() { f.stop() })
	return f
}

// stop ends the flood and returns how many packets it sent.
func (f *dropFlood) stop() int64 {
	if !f.done.Swap(true) {
		f.wg.Wait()
		f.conn.Close()
	}
	return f.sent.Load()
}

// mailbox is an SMTP server (emersion/go-smtp) in a namespace, keeping
// the bodies it receives.
type mailbox struct {
	mu     sync.Mutex
	bodies []string
}

func startMailbox(t *testing.T, ns netnstest.NS, addr netip.AddrPort) *mailbox {
	t.Helper()
	m := &mailbox{}
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.bodies)
}

var (
	// the text part's "blocked 5 sources (6 blocks)" and its address lines
	blockedRE = regexp.MustCompile(`blocked (\d+) sources? \(`)
	listedRE  = regexp.MustCompile(`(?m)^(198\.51\.100\.\d+)\r?$`)
)

// blocked returns the addresses the emails list and the sum of the
// sources they say they blocked.
func (m *mailbox) blocked() (map[netip.Addr]bool, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	listed := map[netip.Addr]bool{}
	total := 0
	for _, b := range m.bodies {
		b = strings.ReplaceAll(b, "=\r\n", "") // quoted-printable soft breaks
		if s := blockedRE.FindStringSubmatch(b); s != nil {
			n, _ := strconv.Atoi(s[1])
			total += n
		}
		for _, s := range listedRE.FindAllStringSubmatch(b, -1) {
			listed[netip.MustParseAddr(s[1])] = true
		}
	}
	return listed, total
}

type mailSession struct{ m *mailbox }

func (s *mailSession) AuthPlain(string, string) error       { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.bodies = append(s.m.bodies, string(b))
	s.m.mu.Unlock()
	return nil
}
