//go:build e2e

package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// TestLocal protects Kamailio with sipprot running on the PBX host itself
// (namespace sp-e-l-pbx, mode local: INPUT/OUTPUT).
func TestLocal(t *testing.T) { testMode(t, "local") }

// TestForward protects Kamailio with sipprot running on the router in
// front of it (namespace sp-e-f-rtr, mode forward: FORWARD), with two
// queues.
func TestForward(t *testing.T) { testMode(t, "forward") }

// testMode builds a world, shows the attacks reach an unprotected
// Kamailio, then runs every scenario against one sipprot daemon, and ends
// with the stop/rules and kill -9 scenarios.
func testMode(t *testing.T, mode string) {
	requireEnv(t)
	tag, chain := "l", "INPUT"
	if mode == "forward" {
		tag, chain = "f", "FORWARD"
	}
	began := time.Now()
	w := newWorld(t, tag)
	ns := w.pbx
	if mode == "forward" {
		ns = w.rtr
	}
	hostFirewall(t, ns, chain)
	cfg := daemonConfig{
		mode: mode, failures: 10, blockTime: 3 * time.Second, threshold: 20,
		queueCount: 1, tftpPerMinute: 60, tftpBurst: 20,
		allow:    []string{trunkIP.String() + " trunk provider"},
		deny:     []string{deniedNet + " known bad network", denied6IP.String() + "/128"},
		stateDir: filepath.Join(w.dir, "state"),
	}
	if mode == "forward" {
		cfg.queueNumber, cfg.queueCount = 7, 2
	}
	t.Logf("world %s built and Kamailio started in %v (logs in %s)", tag, time.Since(began).Round(time.Millisecond), w.dir)

	t.Run("baseline-without-sipprot", func(t *testing.T) { testBaseline(t, w, cfg.failures) })

	requireDaemon(t)
	before := ruleset(t, ns)
	s := &setup{w: w, ns: ns, cfg: cfg}
	s.cfgPath = cfg.write(t, w.dir, "sipprot")
	s.d = startDaemon(t, ns, s.cfgPath, filepath.Join(w.dir, "sipprot.log"))
	t.Logf("sipprot ready in %s (mode %s, queues %d..%d)", ns, mode, cfg.queueNumber, cfg.queueNumber+cfg.queueCount-1)

	t.Run("guess-10-per-s", func(t *testing.T) {
		testGuessing(t, s, w.guess, guessRun{src: guessSlowIP, rate: 10, calls: 60})
	})
	t.Run("guess-1000-per-s-with-office", func(t *testing.T) { testOfficeUnderAttack(t, s) })
	t.Run("flood-one-source-with-office", func(t *testing.T) { testFlood(t, s) })
	t.Run("sipvicious", func(t *testing.T) { testScanners(t, s) })
	t.Run("ipv6-guess", func(t *testing.T) { testIPv6(t, s) })
	t.Run("tcp-guess", func(t *testing.T) {
		testGuessing(t, s, w.guess, guessRun{src: guessTCPIP, rate: 10, calls: 60, tcp: true})
	})
	t.Run("allow-and-deny-lists", func(t *testing.T) { testLists(t, s) })
	t.Run("tftp-flood", func(t *testing.T) { testTFTP(t, s) })
	t.Run("dns-oversized-response", func(t *testing.T) { testDNS(t, s) })
	t.Run("sighup-reload", func(t *testing.T) { testReload(t, s) })
	t.Run("status-and-unblock", func(t *testing.T) { testUnblock(t, s) })
	t.Run("web-page-unblock", func(t *testing.T) { testWebUnblock(t, s) })
	t.Run("metrics-scrape", func(t *testing.T) { testMetrics(t, s) })
	checkNoStrayBlocks(t, s.d, unblockIP, webIP, floodIP, guessSlowIP, guessFastIP, guessTCPIP, svmapIP, svwarIP, svcrackIP, svmap6IP, guess6IP)

	t.Run("stop-and-rules-remove", func(t *testing.T) { testStopAndRules(t, s, before) })
	t.Run("kill-9-under-traffic", func(t *testing.T) { testCrash(t, s, before) })
	t.Run("kill-9-fail-closed-restart", func(t *testing.T) { testRestartFailClosed(t, s, before) })
	t.Run("country-blocking", func(t *testing.T) { testCountry(t, s) })
	t.Run("restart-keeps-blocks", func(t *testing.T) { testRestartKeepsBlocks(t, s) })
	t.Logf("%s mode: %v in all", mode, time.Since(began).Round(time.Second))
}
