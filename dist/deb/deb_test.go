//go:build e2e

// Package deb tests the Debian package that dist/deb/build.sh makes, the
// way an operator meets it: installed, upgraded, removed and purged by
// Debian's own dpkg inside a minimal bookworm made by debootstrap, with
// every command of that system run in a network namespace the test owns,
// so the daemon and the firewall rules it is tested with never touch the
// host's. Run as root:
//
//	go test -tags e2e -count=1 -v ./dist/deb/
//
// The first run debootstraps bookworm from deb.debian.org (a few minutes)
// and keeps the tree as a tarball in /var/cache/sipprot-test/; later runs
// unpack it.
package deb

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// netnsName is the namespace every command of the chroot runs in.
	netnsName = "sp-d-deb"
	// cacheDir keeps the debootstrapped tree between runs.
	cacheDir = "/var/cache/sipprot-test"
	mirror   = "http://deb.debian.org/debian"
	suite    = "bookworm"
	// include is what the chroot has beside minbase: the package's
	// dependency (iptables), and nftables to list the ruleset with nft too.
	include = "iptables,nftables"
	// chrootPath is PATH inside the chroot, as dpkg wants it.
	chrootPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// chroot is a debootstrapped bookworm and the namespace its commands run in.
type chroot struct {
	root string
}

func TestDebianPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the package test needs root (chroot, network namespace, dpkg): sudo make e2e")
	}
	for _, tool := range []string{"debootstrap", "dpkg-deb", "lintian", "ip", "mount", "umount", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: %s is not installed (Debian: apt-get install debootstrap dpkg-dev lintian iproute2)", tool)
		}
	}
	start := time.Now()
	debs := t.TempDir()
	v10 := buildDeb(t, "1.0", debs)
	v11 := buildDeb(t, "1.1", debs)
	// 1.1 ships a changed config and lists, so the upgrade meets dpkg's
	// conffile question for the files the operator edited.
	v11 = changeConffiles(t, v11, "# changed in 1.1\n")
	t.Logf("built %s and %s in %s", filepath.Base(v10), filepath.Base(v11), time.Since(start).Round(time.Second))
	// Clean, or overridden with a reason in dist/deb/lintian-overrides.
	if out, err := exec.Command("lintian", "--fail-on", "error,warning", v10).CombinedOutput(); err != nil {
		t.Errorf("lintian %s: %v\n%s", filepath.Base(v10), err, out)
	}

	c := newChroot(t)
	for _, d := range []string{v10, v11} {
		copyFile(t, d, c.path("/tmp", filepath.Base(d)))
	}
	pkg10 := "/tmp/" + filepath.Base(v10)
	pkg11 := "/tmp/" + filepath.Base(v11)

	// Phase 1: services managed as on a real host. A chroot has no init
	// system, and invoke-rc.d then asks policy-rc.d, Debian's switch for
	// that; this one allows every action.
	c.policy(t, 0)

	// Install 1.0: postinst starts the daemon, which installs its rules.
	c.run(t, "dpkg", "-i", pkg10)
	c.checkInstalled(t, "1.0")
	pid10 := c.waitDaemon(t)
	c.run(t, "sipprot", "config", "check")

	// The operator's edits: a key of the config by hand, an allow-list
	// entry through the CLI (and the running daemon).
	conf := c.path("/etc/sipprot/sipprot.conf")
	orig := readFile(t, conf)
	edited := strings.Replace(orig, "failures_per_minute = 10", "failures_per_minute = 7", 1)
	if edited == orig {
		t.Fatalf("the packaged config has no `failures_per_minute = 10` line to edit:\n%s", orig)
	}
	writeFile(t, conf, edited)
	c.run(t, "sipprot", "allow", "add", "198.51.100.40", "--note", "trunk provider")
	allow := readFile(t, c.path("/etc/sipprot/allowlist"))
	if !strings.Contains(allow, "198.51.100.40") {
		t.Fatalf("allowlist after `sipprot allow add`:\n%s", allow)
	}
	deny := readFile(t, c.path("/etc/sipprot/denylist"))

	// Upgrade to 1.1 as an unattended upgrade does: keep what the
	// operator changed, take the new version of what they did not.
	c.run(t, "dpkg", "-i", "--force-confdef", "--force-confold", pkg11)
	c.checkInstalled(t, "1.1")
	if got := readFile(t, conf); got != edited {
		t.Errorf("the upgrade changed the operator's sipprot.conf:\n%s", got)
	}
	if got := readFile(t, c.path("/etc/sipprot/allowlist")); got != allow {
		t.Errorf("the upgrade changed the operator's allowlist:\n%s", got)
	}
	// dpkg saw 1.1's new versions and kept the operator's: the new ones
	// wait beside them as .dpkg-dist.
	for _, f := range []string{"sipprot.conf", "allowlist"} {
		dist := c.path("/etc/sipprot", f+".dpkg-dist")
		if got := readFile(t, dist); !strings.HasSuffix(got, "# changed in 1.1\n") {
			t.Errorf("%s.dpkg-dist is not 1.1's version:\n%s", f, got)
		}
	}
	// The denylist the operator left alone is 1.1's.
	if got := readFile(t, c.path("/etc/sipprot/denylist")); got != deny+"# changed in 1.1\n" {
		t.Errorf("the untouched denylist is not 1.1's after the upgrade:\n%s", got)
	}
	if out := c.run(t, "sipprot", "config", "show"); !strings.Contains(out, "failures_per_minute = 7") {
		t.Errorf("`sipprot config show` after the upgrade does not have the operator's failures_per_minute = 7:\n%s", out)
	}
	if out := c.run(t, "sipprot", "check", "198.51.100.40"); !strings.Contains(strings.ToLower(out), "allow") {
		t.Errorf("`sipprot check 198.51.100.40` after the upgrade does not name the allow list:\n%s", out)
	}
	// The upgrade restarted the daemon: 1.0's is gone, 1.1's runs.
	if alive(pid10) {
		t.Errorf("1.0's daemon (pid %d) still runs after the upgrade", pid10)
	}
	pid11 := c.waitDaemon(t)
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid11)); err != nil || exe != c.path("/usr/sbin/sipprot") {
		t.Errorf("the daemon after the upgrade runs %q (%v), want the installed %s", exe, err, c.path("/usr/sbin/sipprot"))
	}

	// Removing the package stops the daemon, and its rules are gone.
	out := c.run(t, "dpkg", "-r", "sipprot")
	if alive(pid11) {
		t.Errorf("the daemon (pid %d) still runs after dpkg -r:\n%s%s", pid11, out, c.daemonLog())
	}
	c.checkNoRules(t, "after dpkg -r stopped the daemon")
	if got := readFile(t, conf); got != edited {
		t.Errorf("dpkg -r changed the operator's sipprot.conf:\n%s", got)
	}
	for _, p := range []string{"/usr/sbin/sipprot", "/lib/systemd/system/sipprot.service"} {
		if _, err := os.Lstat(c.path(p)); err == nil {
			t.Errorf("%s is still there after dpkg -r", p)
		}
	}
	if _, err := os.Stat(c.path("/var/lib/sipprot")); err != nil {
		t.Errorf("dpkg -r removed the state directory (only purge should): %v", err)
	}

	// Phase 2: rules left by a crashed daemon, with no service for dpkg to
	// stop (policy-rc.d denies every action, as in a container): prerm's
	// own `sipprot rules remove` is all that can remove them.
	c.policy(t, 101)
	c.run(t, "dpkg", "-i", "--force-confdef", "--force-confold", pkg11)
	if _, err := os.Stat(c.path("/run/sipprotd.pid")); err == nil {
		t.Fatalf("the daemon was started although policy-rc.d denies it")
	}
	c.run(t, "sipprot", "rules", "install")
	if n := c.sipprotRules(t); n == "" {
		t.Fatalf("`sipprot rules install` made no SIPPROT rule in the namespace")
	}
	c.run(t, "dpkg", "-r", "sipprot")
	c.checkNoRules(t, "after dpkg -r with rules left by a crashed daemon")

	// Purge: state, config and the service's links are gone.
	c.run(t, "dpkg", "--purge", "sipprot")
	for _, p := range []string{"/var/lib/sipprot", "/etc/sipprot", "/etc/init.d/sipprotd",
		"/etc/systemd/system/multi-user.target.wants/sipprot.service", "/etc/systemd/system/sipprot.service",
		"/var/lib/systemd/deb-systemd-helper-enabled/sipprot.service.dsh-also",
		"/var/lib/systemd/deb-systemd-helper-masked/sipprot.service", "/var/log/sipprot.log"} {
		if _, err := os.Lstat(c.path(p)); err == nil {
			t.Errorf("%s is still there after dpkg --purge", p)
		}
	}
	if links, _ := filepath.Glob(c.path("/etc/rc?.d/*sipprotd")); len(links) > 0 {
		t.Errorf("init script links left after purge: %v", links)
	}
	if out, err := c.cmd("dpkg-query", "-W", "-f", "${Status}", "sipprot").CombinedOutput(); err == nil && !strings.Contains(string(out), "not-installed") {
		t.Errorf("dpkg still knows sipprot after purge: %s", out)
	}
	t.Logf("install, upgrade, remove and purge checked in %s", time.Since(start).Round(time.Second))
}

// buildDeb runs dist/deb/build.sh for version into dir and returns the
// package's path.
func buildDeb(t *testing.T, version, dir string) string {
	t.Helper()
	cmd := exec.Command("dist/deb/build.sh", version, dir)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dist/deb/build.sh %s: %v\n%s", version, err, out)
	}
	lines := strings.Fields(string(out))
	deb := lines[len(lines)-1]
	if !strings.HasSuffix(deb, ".deb") || !strings.Contains(filepath.Base(deb), "sipprot_"+version+"_") {
		t.Fatalf("dist/deb/build.sh %s printed no package name:\n%s", version, out)
	}
	return deb
}

// changeConffiles repacks deb with suffix appended to the config and both
// lists, their md5sums updated, as a new version's changed defaults.
func changeConffiles(t *testing.T, deb, suffix string) string {
	t.Helper()
	tree := t.TempDir()
	mustRun(t, "dpkg-deb", "-R", deb, tree)
	sums := readFile(t, filepath.Join(tree, "DEBIAN/md5sums"))
	for _, f := range []string{"etc/sipprot/sipprot.conf", "etc/sipprot/allowlist", "etc/sipprot/denylist"} {
		p := filepath.Join(tree, f)
		writeFile(t, p, readFile(t, p)+suffix)
		sum := strings.Fields(mustRun(t, "md5sum", p))[0]
		re := regexp.MustCompile(`(?m)^[0-9a-f]{32}  ` + regexp.QuoteMeta(f) + `$`)
		if !re.MatchString(sums) {
			t.Fatalf("%s has no md5sums line", f)
		}
		sums = re.ReplaceAllString(sums, sum+"  "+f)
	}
	writeFile(t, filepath.Join(tree, "DEBIAN/md5sums"), sums)
	out := filepath.Join(t.TempDir(), filepath.Base(deb))
	mustRun(t, "dpkg-deb", "--root-owner-group", "-b", tree, out)
	return out
}

// newChroot unpacks the cached bookworm (debootstrapping it first when
// there is none), mounts /proc in it and makes the namespace; all of it is
// undone when the test ends.
func newChroot(t *testing.T) *chroot {
	t.Helper()
	tarball := filepath.Join(cacheDir, suite+"-minbase-"+strings.ReplaceAll(include, ",", "-")+".tar.gz")
	if _, err := os.Stat(tarball); err != nil {
		bootstrap(t, tarball)
	}
	dir, err := os.MkdirTemp("/var/tmp", "sipprot-deb-chroot-")
	if err != nil {
		t.Fatal(err)
	}
	c := &chroot{root: dir}
	t.Cleanup(func() { c.remove(t) })
	mustRun(t, "tar", "-C", dir, "--numeric-owner", "-xzpf", tarball)
	if err := os.WriteFile(c.path("/etc/resolv.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mount", "-t", "proc", "proc", c.path("/proc"))

	// A namespace left by a killed run goes first.
	_ = exec.Command("ip", "netns", "del", netnsName).Run()
	mustRun(t, "ip", "netns", "add", netnsName)
	mustRun(t, "ip", "-n", netnsName, "link", "set", "lo", "up")
	return c
}

// bootstrap debootstraps a minimal bookworm and keeps it as tarball. No
// mirror (no network) skips the test: it cannot run here.
func bootstrap(t *testing.T, tarball string) {
	t.Helper()
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "sipprot-debootstrap-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	t.Logf("debootstrap %s into %s (first run only; a few minutes)", suite, dir)
	start := time.Now()
	out, err := exec.Command("debootstrap", "--variant=minbase", "--include="+include, suite, dir, mirror).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("Failed getting release file")) || bytes.Contains(out, []byte("Couldn't download")) {
			t.Skipf("SKIPPED: debootstrap cannot reach %s (no network?): %v\n%s", mirror, err, tail(out, 20))
		}
		t.Fatalf("debootstrap: %v\n%s", err, tail(out, 40))
	}
	// Written beside, renamed into place: a killed run leaves no torn cache.
	tmp := tarball + ".tmp"
	mustRun(t, "tar", "-C", dir, "--numeric-owner", "-czf", tmp, ".")
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrapped and cached %s in %s", tarball, time.Since(start).Round(time.Second))
}

// remove stops what still runs in the namespace (only the test's own
// processes are there), deletes it, unmounts /proc and removes the tree;
// the tree stays if anything is still mounted in it.
func (c *chroot) remove(t *testing.T) {
	if out, err := exec.Command("ip", "netns", "pids", netnsName).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "del", netnsName).CombinedOutput(); err != nil {
		t.Errorf("ip netns del %s: %v\n%s", netnsName, err, out)
	}
	proc := c.path("/proc")
	if mounted(proc) {
		if out, err := exec.Command("umount", proc).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", proc, err, out)
			_ = exec.Command("umount", "-l", proc).Run()
		}
	}
	if mountedUnder(c.root) {
		t.Errorf("something is still mounted under %s: left in place", c.root)
		return
	}
	if err := os.RemoveAll(c.root); err != nil {
		t.Errorf("removing the chroot: %v", err)
	}
}

// path is p inside the chroot, seen from the host.
func (c *chroot) path(p ...string) string {
	return filepath.Join(append([]string{c.root}, p...)...)
}

// cmd is argv run inside the chroot and the namespace, with a clean
// environment.
func (c *chroot) cmd(argv ...string) *exec.Cmd {
	args := append([]string{"netns", "exec", netnsName, "chroot", c.root,
		"env", "-i", "PATH=" + chrootPath, "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}, argv...)
	return exec.Command("ip", args...)
}

// run runs argv in the chroot and fails the test if it fails.
func (c *chroot) run(t *testing.T, argv ...string) string {
	t.Helper()
	cmd := c.cmd(argv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The init script's daemon keeps the pipe open: wait for the command
	// only, not for everything it left running.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("in the chroot: %s: %v\n%s%s", strings.Join(argv, " "), err, out.String(), c.daemonLog())
	}
	return out.String()
}

// policy installs a policy-rc.d that answers every invoke-rc.d action
// with status (0 allow, 101 deny).
func (c *chroot) policy(t *testing.T, status int) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\n# sipprot's package test: invoke-rc.d's answer in this chroot.\nexit %d\n", status)
	if err := os.WriteFile(c.path("/usr/sbin/policy-rc.d"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// daemonLog is the init script's log of the daemon, for failure messages.
func (c *chroot) daemonLog() string {
	b, err := os.ReadFile(c.path("/var/log/sipprot.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\n/var/log/sipprot.log:\n" + string(tail(b, 30))
}

// checkInstalled checks what version's package put on the system.
func (c *chroot) checkInstalled(t *testing.T, version string) {
	t.Helper()
	if out := c.run(t, "sipprot", "version"); !strings.HasPrefix(out, "sipprot "+version+" ") {
		t.Errorf("sipprot version = %q, want sipprot %s", out, version)
	}
	if out := c.run(t, "dpkg-query", "-W", "-f", "${Status} ${Version}", "sipprot"); out != "install ok installed "+version {
		t.Errorf("dpkg-query: %q, want installed %s", out, version)
	}
	modes := map[string]os.FileMode{
		"/usr/sbin/sipprot":                              0o755,
		"/etc/init.d/sipprotd":                           0o755,
		"/lib/systemd/system/sipprot.service":            0o644,
		"/etc/sipprot/sipprot.conf":                      0o644,
		"/etc/sipprot/allowlist":                         0o644,
		"/etc/sipprot/denylist":                          0o644,
		"/usr/share/bash-completion/completions/sipprot": 0o644,
		"/usr/share/doc/sipprot/copyright":               0o644,
		"/usr/share/doc/sipprot/changelog.gz":            0o644,
		"/etc/sipprot":                                   os.ModeDir | 0o750,
		"/var/lib/sipprot":                               os.ModeDir | 0o750,
	}
	for p, want := range modes {
		fi, err := os.Stat(c.path(p))
		if err != nil {
			t.Errorf("installed %s: %v", version, err)
			continue
		}
		if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	unit := readFile(t, c.path("/lib/systemd/system/sipprot.service"))
	if !strings.Contains(unit, "ExecStart=/usr/sbin/sipprot run") || strings.Contains(unit, "/usr/local") {
		t.Errorf("the unit does not run /usr/sbin/sipprot:\n%s", unit)
	}
	if l, err := os.Readlink(c.path("/lib/systemd/system/sipprotd.service")); err != nil || l != "sipprot.service" {
		t.Errorf("sipprotd.service is not an alias of sipprot.service: %q, %v", l, err)
	}
	if s := readFile(t, c.path("/etc/init.d/sipprotd")); !strings.Contains(s, "DAEMON=/usr/sbin/sipprot") {
		t.Errorf("the init script does not run /usr/sbin/sipprot")
	}
	// Enabled for systemd (deb-systemd-helper) and for sysvinit (update-rc.d).
	if _, err := os.Lstat(c.path("/etc/systemd/system/multi-user.target.wants/sipprot.service")); err != nil {
		t.Errorf("the unit is not enabled: %v", err)
	}
	if links, _ := filepath.Glob(c.path("/etc/rc2.d/S*sipprotd")); len(links) != 1 {
		t.Errorf("init script start links in rc2.d: %v, want one", links)
	}
	conffiles := c.run(t, "dpkg-query", "-W", "-f", "${Conffiles}", "sipprot")
	for _, f := range []string{"/etc/sipprot/sipprot.conf", "/etc/sipprot/allowlist", "/etc/sipprot/denylist", "/etc/init.d/sipprotd"} {
		if !regexp.MustCompile(`(?m)^ ` + regexp.QuoteMeta(f) + ` [0-9a-f]{32}$`).MatchString(conffiles) {
			t.Errorf("%s is not a conffile:\n%s", f, conffiles)
		}
	}
	// A man page per command, section 8, gzipped.
	pages, _ := filepath.Glob(c.path("/usr/share/man/man8/sipprot*.8.gz"))
	if len(pages) < 20 {
		t.Errorf("%d man pages, want one per command", len(pages))
	}
	for _, name := range []string{"sipprot", "sipprot-run", "sipprot-rules-remove", "sipprot-allow-add", "sipprot-completion-bash"} {
		page := gunzip(t, c.path("/usr/share/man/man8", name+".8.gz"))
		if !strings.Contains(page, `.TH "`+strings.ToUpper(name)+`" "8"`) {
			t.Errorf("%s.8.gz has no section 8 header:\n%.300s", name, page)
		}
	}
	comp := readFile(t, c.path("/usr/share/bash-completion/completions/sipprot"))
	if !strings.Contains(comp, "__start_sipprot") {
		t.Errorf("the bash completion has no __start_sipprot:\n%.300s", comp)
	}
}

// waitDaemon waits for the daemon the init script started (postinst, through
// invoke-rc.d) to have its rules in the namespace and returns its pid.
func (c *chroot) waitDaemon(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pid := 0
		if b, err := os.ReadFile(c.path("/run/sipprotd.pid")); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		rules := c.sipprotRules(t)
		if pid > 0 && alive(pid) && strings.Contains(rules, "NFQUEUE") {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon (pid %d) did not install its rules within 20s; SIPPROT rules:\n%s%s", pid, rules, c.daemonLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sipprotRules is every line naming SIPPROT in the namespace's rulesets,
// both iptables flavours and both families, and nft's view.
func (c *chroot) sipprotRules(t *testing.T) string {
	t.Helper()
	var found []string
	for _, argv := range [][]string{
		{"iptables-nft-save"}, {"ip6tables-nft-save"},
		{"iptables-legacy-save"}, {"ip6tables-legacy-save"},
		{"nft", "list", "ruleset"},
	} {
		for _, line := range strings.Split(c.run(t, argv...), "\n") {
			if strings.Contains(strings.ToUpper(line), "SIPPROT") {
				found = append(found, argv[0]+": "+line)
			}
		}
	}
	return strings.Join(found, "\n")
}

// checkNoRules fails the test if any SIPPROT chain or rule remains.
func (c *chroot) checkNoRules(t *testing.T, when string) {
	t.Helper()
	if rules := c.sipprotRules(t); rules != "" {
		t.Errorf("SIPPROT rules remain %s:\n%s", when, rules)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// mounted reports whether p is a mount point.
func mounted(p string) bool {
	return mountedWhere(func(m string) bool { return m == p })
}

// mountedUnder reports whether anything is mounted at or under dir.
func mountedUnder(dir string) bool {
	return mountedWhere(func(m string) bool { return m == dir || strings.HasPrefix(m, dir+"/") })
}

func mountedWhere(match func(string) bool) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return true // cannot tell: assume the worst
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && match(f[4]) {
			return true
		}
	}
	return false
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gunzip(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return string(b)
}

// tail is the last n lines of b.
func tail(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append(bytes.Join(lines, []byte("\n")), '\n')
}
