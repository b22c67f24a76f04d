//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/testutil"
)

// testStopAndRules stops the daemon with SIGTERM and checks that the
// namespace's ruleset is exactly as before it started; then that `sipprot
// rules install` changes it, a second install changes nothing more, and
// `sipprot rules remove` restores it exactly.
func testStopAndRules(t *testing.T, s *setup, before string) {
	s.d.stop(t)
	if got := ruleset(t, s.ns); got != before {
		t.Errorf("after SIGTERM the ruleset differs from before sipprot started:\n%s", diffLines(before, got))
	}
	show := cli(t, s.ns, s.cfgPath, "rules", "show")
	if !strings.Contains(show, "NFQUEUE") {
		t.Errorf("`sipprot rules show` prints no NFQUEUE rule:\n%s", show)
	}
	cli(t, s.ns, s.cfgPath, "rules", "install")
	installed := ruleset(t, s.ns)
	if installed == before {
		t.Errorf("`sipprot rules install` left the ruleset unchanged")
	}
	cli(t, s.ns, s.cfgPath, "rules", "install")
	if got := ruleset(t, s.ns); got != installed {
		t.Errorf("a second `sipprot rules install` changed the ruleset:\n%s", diffLines(installed, got))
	}
	cli(t, s.ns, s.cfgPath, "rules", "remove")
	if got := ruleset(t, s.ns); got != before {
		t.Errorf("after `sipprot rules remove` the ruleset differs from before install:\n%s", diffLines(before, got))
	}
	cli(t, s.ns, s.cfgPath, "rules", "remove")
	if got := ruleset(t, s.ns); got != before {
		t.Errorf("a second `sipprot rules remove` changed the ruleset:\n%s", diffLines(before, got))
	}
}

// stopMain stops the test's main daemon if it still runs (when the
// subtest that stops it was not selected with -run), so that another
// daemon can bind the queues.
func (s *setup) stopMain(t *testing.T) {
	t.Helper()
	if s.d.p.running() {
		s.d.stop(t)
	}
}

// stateMentions reports whether a file under dir contains s (how the tests
// see that a block has been saved, whatever the file format). Hidden files
// are skipped: they are the temporary files of an atomic write, not yet
// renamed into place.
func stateMentions(dir, s string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || found || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			found = true
		}
		return nil
	})
	return found
}

// waitSaved waits up to 5 s for a file under the state directory to
// mention ip, so that a crash right after a block does not test how fast
// the daemon saves; it only notes when none does.
func waitSaved(t *testing.T, dir string, ip netip.Addr) {
	t.Helper()
	if !testutil.Poll(5*time.Second, func() bool { return stateMentions(dir, ip.String()) }) {
		t.Logf("note: no file under %s mentions %s 5 s after its block", dir, ip)
	}
}

// testCrash kills the daemon with SIGKILL while an office phone pings the
// PBX and a blocked guesser keeps attacking: SIP keeps flowing (fail-open)
// and the rules stay; the restarted daemon has the guesser's block in
// force at once (nothing from it reaches Kamailio once the daemon is
// ready); after another crash `sipprot rules remove` restores the ruleset.
func testCrash(t *testing.T, s *setup, before string) {
	s.stopMain(t)
	w := s.w
	cfg := s.cfg
	cfg.blockTime = time.Minute // the block must outlive the restart
	path := cfg.write(t, w.dir, "crash")
	d := startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-crash.log"))

	start := time.Now()
	g := startGuess(t, w, w.guess, guessRun{src: guessCrashIP, rate: 20, calls: 200, limit: 9 * time.Second})
	_, ok := d.waitBlock(t, guessCrashIP, 10*time.Second)
	if !ok {
		t.Fatalf("the guesser %s was not blocked; reached Kamailio: %s", guessCrashIP, w.kam.traffic(t).from(guessCrashIP).since(start).summary())
	}
	pingStart := time.Now()
	pg := startPinger(t, newSIPClient(t, w.officeN, office[0].ip, office[0].ua), 20*time.Millisecond)
	if !testutil.Poll(5*time.Second, func() bool { return pg.answeredSince(pingStart) >= 10 }) {
		t.Fatalf("the office's pings get no answers with sipprot running")
	}
	waitSaved(t, cfg.stateDir, guessCrashIP)

	killed := time.Now()
	d.p.kill()
	// Stay down for at least 25 answered pings (half a second).
	if !testutil.Poll(5*time.Second, func() bool { return pg.answeredSince(killed.Add(grace)) >= 25 }) {
		t.Errorf("SIP stopped after kill -9: %d pings answered in 5 s (fail-open should let them through)", pg.answeredSince(killed.Add(grace)))
	}
	crashed := ruleset(t, s.ns)
	if crashed == before {
		t.Errorf("sipprot's rules were gone after kill -9; they must stay (and fail open)")
	}

	restart := time.Now()
	d2 := startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-restart.log"))
	if !testutil.Poll(5*time.Second, func() bool { return pg.answeredSince(d2.ready) >= 10 }) {
		t.Errorf("the office's pings get no answers after the restart")
	}
	if got := ruleset(t, s.ns); got != crashed {
		t.Errorf("the restarted daemon's rules differ from those left by the crash:\n%s", diffLines(crashed, got))
	}
	_ = g.wait(20 * time.Second)
	end := time.Now()
	pg.halt()

	tr := w.kam.traffic(t).from(guessCrashIP)
	dead := tr.since(killed)
	var whileDead int
	for _, r := range dead.reqs {
		if r.At.Before(d2.ready) {
			whileDead++
		}
	}
	afterReady := tr.since(d2.ready.Add(grace))
	ps := pg.stats(killed, restart)
	all := pg.stats(pingStart, end)
	t.Logf("kill -9: daemon down %v (kill to restart), restart to ready %v; office pings while down: %d sent, %d answered, longest gap %v; overall %d/%d answered, longest gap %v",
		restart.Sub(killed).Round(time.Millisecond), d2.ready.Sub(restart).Round(time.Millisecond), ps.sent, ps.answered, ps.longestGap.Round(time.Millisecond),
		all.answered, all.sent, all.longestGap.Round(time.Millisecond))
	t.Logf("kill -9: the blocked guesser %s: %d requests reached Kamailio while sipprot was down (fail-open), %d after the restarted daemon was ready (attack went on for %v)",
		guessCrashIP, whileDead, len(afterReady.reqs), end.Sub(d2.ready).Round(time.Millisecond))
	if len(afterReady.reqs) > 0 {
		t.Errorf("the guesser blocked before the crash reached Kamailio %d times after the restart:\n%s\nrestarted daemon's log:\n%s",
			len(afterReady.reqs), afterReady.summary(), tail(d2.log, 15))
	}
	if ps.longestGap > time.Second {
		t.Errorf("while sipprot was down the office's pings went unanswered for %v (fail-open should let them through)", ps.longestGap.Round(time.Millisecond))
	}
	// The restart itself pauses SIP while the new daemon starts serving
	// (longer on a loaded machine); only a long stall is an error.
	if all.longestGap > 5*time.Second {
		t.Errorf("the office's pings went unanswered for %v around the crash and restart", all.longestGap.Round(time.Millisecond))
	}

	d2.p.kill()
	cli(t, s.ns, path, "rules", "remove")
	if got := ruleset(t, s.ns); got != before {
		t.Errorf("after kill -9 and `sipprot rules remove` the ruleset differs from before install:\n%s", diffLines(before, got))
	}
}

// testRestartFailClosed restarts a daemon with fail_open = false after
// kill -9: while it is down SIP stops (fail-closed), and nothing from a
// source blocked before the crash, nor from a deny-listed one, reaches
// Kamailio at any time: with the queue failing closed, anything of theirs
// that got through would have been judged and accepted by the restarted
// daemon, so its blocks and lists are in force before its first verdict.
func testRestartFailClosed(t *testing.T, s *setup, before string) {
	s.stopMain(t)
	w := s.w
	cfg := s.cfg
	cfg.blockTime = time.Minute
	cfg.failClosed = true
	path := cfg.write(t, w.dir, "failclosed")
	d := startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-failclosed.log"))

	start := time.Now()
	g := startGuess(t, w, w.guess, guessRun{src: guessClosedIP, rate: 20, calls: 160, limit: 7 * time.Second})
	blk, ok := d.waitBlock(t, guessClosedIP, 10*time.Second)
	if !ok {
		t.Fatalf("the guesser %s was not blocked; reached Kamailio: %s", guessClosedIP, w.kam.traffic(t).from(guessClosedIP).since(start).summary())
	}
	denied := startPinger(t, newSIPClient(t, w.scan, deniedIP, ordinaryUA), 5*time.Millisecond)
	pingStart := time.Now()
	pg := startPinger(t, newSIPClient(t, w.officeN, office[1].ip, office[1].ua), 20*time.Millisecond)
	if !testutil.Poll(5*time.Second, func() bool { return pg.answeredSince(pingStart) >= 10 }) {
		t.Fatalf("the office's pings get no answers with sipprot running")
	}
	waitSaved(t, cfg.stateDir, guessClosedIP)

	killed := time.Now()
	d.p.kill()
	// Stay down for 25 pings (half a second).
	testutil.Poll(5*time.Second, func() bool { return pg.stats(killed, time.Now()).sent >= 25 })
	restart := time.Now()
	d2 := startDaemon(t, s.ns, path, filepath.Join(w.dir, "sipprot-failclosed-restart.log"))
	if !testutil.Poll(5*time.Second, func() bool { return pg.answeredSince(d2.ready) >= 10 }) {
		t.Errorf("the office's pings get no answers after the restart")
	}
	_ = g.wait(20 * time.Second)
	end := time.Now()
	denied.halt()
	pg.halt()

	down := pg.stats(killed.Add(grace), restart)
	tr := w.kam.traffic(t)
	fromGuess := tr.from(guessClosedIP).since(blk.At.Add(grace))
	fromDenied := tr.from(deniedIP).since(start)
	dn := denied.stats(start, end)
	t.Logf("fail-closed restart: down %v (kill to restart), restart to ready %v; office pings while down: %d sent, %d answered; blocked guesser %s: %d requests reached Kamailio after its block (attack went on for %v); deny-listed %s: %d OPTIONS sent, %d reached Kamailio",
		restart.Sub(killed).Round(time.Millisecond), d2.ready.Sub(restart).Round(time.Millisecond), down.sent, down.answered, guessClosedIP, len(fromGuess.reqs),
		end.Sub(blk.At).Round(time.Millisecond), deniedIP, dn.sent, len(fromDenied.reqs))
	if down.answered > 0 {
		t.Errorf("with fail_open = false, %d of %d pings were answered while sipprot was down", down.answered, down.sent)
	}
	if len(fromGuess.reqs) > 0 {
		t.Errorf("the guesser blocked before the crash reached Kamailio %d times:\n%s\nrestarted daemon's log:\n%s",
			len(fromGuess.reqs), fromGuess.summary(), tail(d2.log, 15))
	}
	if len(fromDenied.reqs) > 0 {
		t.Errorf("the deny-listed %s reached Kamailio %d times:\n%s", deniedIP, len(fromDenied.reqs), fromDenied.summary())
	}

	d2.stop(t)
	if got := ruleset(t, s.ns); got != before {
		t.Errorf("after SIGTERM the ruleset differs from before install:\n%s", diffLines(before, got))
	}
}

// writeAtomic replaces a file the way editors and config tools do: a new
// file renamed over the old one.
func writeAtomic(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testReload edits the running daemon's files and sends SIGHUP: an
// address added to the deny list stops reaching Kamailio; a bad config is
// refused (an error is logged, the daemon keeps running with the lists in
// force); restoring both and SIGHUP lets the address through again.
func testReload(t *testing.T, s *setup) {
	w := s.w
	src := baseScan
	c := newSIPClient(t, w.scan, src, ordinaryUA)
	if !c.reaches(3, time.Second) {
		t.Fatalf("%s does not reach Kamailio before the reload", src)
	}
	denyPath := filepath.Join(w.dir, "sipprot.deny")
	origDeny, err := os.ReadFile(denyPath)
	if err != nil {
		t.Fatal(err)
	}
	origCfg, err := os.ReadFile(s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	writeAtomic(t, denyPath, string(origDeny)+src.String()+" added while running\n")
	hup := time.Now()
	if err := s.d.p.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testutil.Poll(5*time.Second, func() bool { return c.options(200*time.Millisecond) == 0 }) {
		t.Fatalf("%s still reaches Kamailio 5 s after it was added to the deny list and SIGHUP", src)
	}
	denied := time.Now()
	t.Logf("reload: %s denied %v after SIGHUP", src, denied.Sub(hup).Round(time.Millisecond))

	errs := s.d.errorLines(t)
	bad := strings.Replace(string(origCfg), fmt.Sprintf("failures_per_minute = %d", s.cfg.failures), "failures_per_minute = 0", 1)
	if bad == string(origCfg) {
		t.Fatal("test bug: failures_per_minute not found in the config")
	}
	writeAtomic(t, s.cfgPath, bad) // out of range (1-1000)
	if err := s.d.p.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testutil.Poll(5*time.Second, func() bool { return s.d.errorLines(t) > errs }) {
		t.Errorf("a bad config on SIGHUP logged no error; the daemon's log:\n%s", tail(s.d.log, 5))
	}
	if !s.d.p.running() {
		t.Fatalf("the daemon exited on a bad config at SIGHUP (%v):\n%s", s.d.p.exitErr(), tail(s.d.log, 10))
	}
	if c.reaches(2, 300*time.Millisecond) {
		t.Errorf("after a refused reload %s reaches Kamailio again: the running lists were not kept", src)
	}
	if got := w.kam.traffic(t).from(src).since(denied.Add(grace)); len(got.reqs) > 0 {
		t.Errorf("%d requests from the deny-listed %s reached Kamailio:\n%s", len(got.reqs), src, got.summary())
	}

	writeAtomic(t, s.cfgPath, string(origCfg))
	writeAtomic(t, denyPath, string(origDeny))
	if err := s.d.p.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testutil.Poll(5*time.Second, func() bool { return c.options(200*time.Millisecond) != 0 }) {
		t.Errorf("%s does not reach Kamailio 5 s after it left the deny list and SIGHUP", src)
	}
}
