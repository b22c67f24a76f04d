//go:build e2e

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/netns/netnstest"
)

// sippDir holds the sipp scenarios and injection files shared with the
// capture recorder (testdata/record.sh).
const sippDir = "../testdata/sipp"

// absPath returns the absolute path of a file relative to this package.
func absPath(rel string) (string, error) {
	return filepath.Abs(rel)
}

// mustAbs is absPath for the test's own files; the test fails if it is
// missing.
func mustAbs(t *testing.T, rel string) string {
	t.Helper()
	p, err := absPath(rel)
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sipTarget formats a SIP address for sipp ("[v6]:port" for IPv6).
func sipTarget(a netip.AddrPort) string { return a.String() }

// guessRun is one sipp password-guessing run (testdata/sipp/guess.xml):
// every call is REGISTER -> 401 -> REGISTER with a wrong password for user
// 1002 -> 401, with an ordinary User-Agent.
type guessRun struct {
	src   netip.Addr    // the guesser's address (bound)
	rate  int           // calls per second
	calls int           // calls in all
	limit time.Duration // sipp quits after this long (-timeout)
	tcp   bool          // over TCP (one connection) instead of UDP
}

// startGuess starts a guessing run inside ns in the background.
func startGuess(t *testing.T, w *world, ns netnstest.NS, g guessRun) *proc {
	t.Helper()
	name := fmt.Sprintf("sipp-guess-%s-%d", g.src, g.rate)
	transport := "u1"
	if g.tcp {
		name, transport = name+"-tcp", "t1"
	}
	dir := filepath.Join(w.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := pbxAddr(g.src)
	return startProc(t, ns, name, filepath.Join(dir, "sipp.log"), procOpts{dir: dir},
		"sipp", "-sf", mustAbs(t, sippDir+"/guess.xml"), "-inf", mustAbs(t, sippDir+"/guess-1002.csv"),
		"-set", "ua", ordinaryUA, "-auth_uri", dst.Addr().String(),
		"-i", g.src.String(), "-p", strconv.Itoa(sipPort), "-bind_local", "-t", transport,
		"-r", strconv.Itoa(g.rate), "-m", strconv.Itoa(g.calls), "-l", strconv.Itoa(max(g.calls, 1)),
		"-recv_timeout", "2000", "-timeout", fmt.Sprintf("%ds", int(g.limit.Seconds())),
		"-nostdin", sipTarget(dst))
}

// startPhone starts one office phone inside the office namespace: it
// registers (with three wrong passwords first when p.typos), waits 3 s and
// re-registers; sipp exits 0 only if every registration got its 200.
func startPhone(t *testing.T, w *world, p phone, delay time.Duration) *proc {
	t.Helper()
	name := "phone-" + p.user
	dir := filepath.Join(w.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"sipp", "-sf", mustAbs(t, sippDir+"/register-phone.xml")}
	if p.typos {
		args = []string{"sipp", "-sf", mustAbs(t, sippDir+"/register-phone-typos.xml"),
			"-inf", mustAbs(t, sippDir+"/typos-"+p.user+".csv")}
	}
	transport := "u1"
	if p.tcp {
		transport = "t1"
	}
	args = append(args, "-s", p.user, "-ap", "pw-"+p.user, "-auth_uri", pbx4.String(),
		"-set", "ua", p.ua, "-set", "expires", "3600", "-set", "rereg_ms", "3000",
		"-i", p.ip.String(), "-p", strconv.Itoa(sipPort), "-bind_local", "-t", transport, "-m", "1", "-l", "1",
		"-sleep", fmt.Sprintf("%dms", delay.Milliseconds()), "-timeout", "30s", "-timeout_error",
		"-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		sipTarget(pbxAddr(pbx4)))
	return startProc(t, w.officeN, name, filepath.Join(dir, "sipp.log"), procOpts{dir: dir}, args...)
}

// startOffice starts every office phone, 300 ms apart.
func startOffice(t *testing.T, w *world) []*proc {
	t.Helper()
	var ps []*proc
	for i, p := range office {
		ps = append(ps, startPhone(t, w, p, time.Duration(i)*300*time.Millisecond))
	}
	return ps
}

// waitOffice waits for the phones to finish and fails the test for each
// one whose registrations did not all succeed.
func waitOffice(t *testing.T, ps []*proc) {
	t.Helper()
	for i, p := range ps {
		if err := p.wait(40 * time.Second); err != nil {
			t.Errorf("office phone %s (%s): a registration failed: %v\n%s\nerrors:\n%s", office[i].user, office[i].ip,
				err, tail(p.log, 15), tail(filepath.Join(dirOf(p.log), "errors.log"), 15))
		}
	}
}

// startSV starts a sipvicious tool (svmap, svwar, svcrack) inside ns in the
// background, bound to src (sipvicious binds every address otherwise),
// with its session files in a private HOME.
func startSV(t *testing.T, w *world, ns netnstest.NS, tool string, src netip.Addr, args ...string) *proc {
	t.Helper()
	name := fmt.Sprintf("%s-%s", tool, src)
	dir := filepath.Join(w.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	full := []string{tool, "-b", src.String()}
	if src.Is6() {
		full = append(full, "-6")
	}
	full = append(full, args...)
	return startProc(t, ns, name, filepath.Join(dir, tool+".log"), procOpts{dir: dir, env: []string{"HOME=" + dir}}, full...)
}
