// Package lapitest runs a real CrowdSec Local API for tests: Debian's
// crowdsec binary (unpacked by .ci/crowdsec.sh to /opt/crowdsec-extracted,
// or $CROWDSEC_DIR, or on PATH) with its own config, SQLite database in WAL
// mode and loopback port, and the cscli that manages it. Without the
// binaries, New skips the test.
package lapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Find returns the crowdsec and cscli binaries, ok false when absent.
func Find() (crowdsec, cscli string, ok bool) {
	dirs := []string{os.Getenv("CROWDSEC_DIR"), "/opt/crowdsec-extracted"}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		cs, cl := filepath.Join(d, "usr/bin/crowdsec"), filepath.Join(d, "usr/bin/cscli")
		if isExec(cs) && isExec(cl) {
			return cs, cl, true
		}
	}
	cs, err1 := exec.LookPath("crowdsec")
	cl, err2 := exec.LookPath("cscli")
	return cs, cl, err1 == nil && err2 == nil
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

// LAPI is one LAPI process with its own config, SQLite database (WAL)
// and loopback port, and the cscli that manages it.
type LAPI struct {
	// URL is the API's base, http://127.0.0.1:PORT.
	URL string

	opts Options

	t        testing.TB
	bin, cli string
	dir      string
	config   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	waitCh  chan error
	logPath string
}

// New writes the LAPI's config in a temporary directory and registers
// cscli's own machine; add machines and bouncers, then Start it. It is
// stopped at cleanup.
func New(t testing.TB) *LAPI { return NewWith(t, Options{}) }

// Options place the LAPI elsewhere than on this namespace's loopback.
type Options struct {
	// Wrap prefixes the crowdsec and cscli command lines, e.g.
	// "ip netns exec NS" to run them in a network namespace.
	Wrap []string
	// Host and Port are where the API listens (default 127.0.0.1 and a
	// free port).
	Host string
	Port int
	// Ready reports that the API answers (default: GET /health from this
	// process, which only works when it can reach Host).
	Ready func() bool
}

// NewWith is New with opts.
func NewWith(t testing.TB, opts Options) *LAPI {
	t.Helper()
	cs, cli, ok := Find()
	if !ok {
		t.Skip("crowdsec not found (run .ci/crowdsec.sh, or set CROWDSEC_DIR): LAPI tests skipped")
	}
	dir := t.TempDir()
	l := &LAPI{t: t, bin: cs, cli: cli, dir: dir, config: filepath.Join(dir, "config.yaml"), opts: opts}
	host, port := opts.Host, opts.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = freePort(t)
	}
	l.URL = "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	for _, d := range []string{"etc", "data", "hub"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"hub/.index.json":     "{}\n",
		"etc/simulation.yaml": "simulation: false\n",
		"etc/profiles.yaml": `name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
`,
		"config.yaml": fmt.Sprintf(`common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: .
config_paths:
  config_dir: %[1]s/etc/
  data_dir: %[1]s/data/
  simulation_path: %[1]s/etc/simulation.yaml
  hub_dir: %[1]s/hub/
  index_path: %[1]s/hub/.index.json
  notification_dir: %[1]s/etc/notifications/
  plugin_dir: %[1]s/plugins/
crowdsec_service:
  acquisition_path: %[1]s/etc/acquis.yaml
cscli:
  output: json
db_config:
  log_level: warning
  type: sqlite
  db_path: %[1]s/data/crowdsec.db
  use_wal: true
  flush:
    max_items: 100000
    max_age: 7d
api:
  client:
    insecure_skip_verify: false
    credentials_path: %[1]s/etc/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: %[3]s
    profiles_path: %[1]s/etc/profiles.yaml
    trusted_ips:
      - 127.0.0.1
prometheus:
  enabled: false
`, dir, port, net.JoinHostPort(host, strconv.Itoa(port))),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	l.Cscli("machines", "add", "cscli-local", "--auto", "-f", filepath.Join(dir, "etc/local_api_credentials.yaml"), "--url", l.URL)
	t.Cleanup(l.Stop)
	return l
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// AddMachine registers a machine (a sipprot that pushes its blocks).
func (l *LAPI) AddMachine(id, password string) {
	l.Cscli("machines", "add", id, "--password", password, "-f", os.DevNull, "--force")
}

// AddBouncer registers a bouncer key (a sipprot that enforces).
func (l *LAPI) AddBouncer(name, key string) { l.Cscli("bouncers", "add", name, "-k", key) }

// Cscli runs cscli on this LAPI's config and returns its standard output.
func (l *LAPI) Cscli(args ...string) []byte {
	l.t.Helper()
	out, err := l.TryCscli(args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// TryCscli is Cscli returning its failure (with cscli's output) instead of
// failing the test.
func (l *LAPI) TryCscli(args ...string) ([]byte, error) {
	cmd := l.command(l.cli, append([]string{"-c", l.config, "--error"}, args...)...)
	cmd.Dir = l.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("cscli %v: %w\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// Start runs the LAPI alone (-no-cs: no agent; -no-capi: no Central API)
// and waits until /health answers.
func (l *LAPI) Start() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	cmd := l.command(l.bin, "-no-cs", "-no-capi", "-c", l.config)
	cmd.Dir = l.dir
	l.logPath = filepath.Join(l.dir, "lapi.log")
	logf, err := os.OpenFile(l.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		l.t.Fatal(err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("starting crowdsec: %v", err)
	}
	l.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			l.cmd = nil
			l.t.Fatalf("crowdsec exited: %v\n%s", err, l.Log())
		default:
		}
		if l.ready() {
			l.waitCh = exited
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatalf("crowdsec did not answer on %s within 60s\n%s", l.URL, l.Log())
}

// DBPath is the LAPI's SQLite database.
func (l *LAPI) DBPath() string { return filepath.Join(l.dir, "data", "crowdsec.db") }

// Log is what the LAPI printed.
func (l *LAPI) Log() string {
	b, _ := os.ReadFile(l.logPath)
	return string(b)
}

// Stop ends the LAPI and waits for it; stopping a stopped one is a no-op.
func (l *LAPI) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd == nil {
		return
	}
	_ = l.cmd.Process.Signal(os.Interrupt)
	select {
	case <-l.waitCh:
	case <-time.After(20 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.waitCh
	}
	l.cmd = nil
}

// Decision is a decision as cscli lists it.
type Decision struct {
	ID       int64  `json:"id"`
	Duration string `json:"duration"`
	Origin   string `json:"origin"`
	Scenario string `json:"scenario"`
	Scope    string `json:"scope"`
	Type     string `json:"type"`
	Value    string `json:"value"`
}

// Alert is one element of "cscli decisions list -o json": an alert with
// its decisions.
type Alert struct {
	Scenario  string `json:"scenario"`
	MachineID string `json:"machine_id"`
	Meta      []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"meta"`
	Decisions []Decision `json:"decisions"`
}

// Decisions lists the active decisions of every origin (-a: cscli 1.4
// shows only crowdsec and cscli ones by default).
func (l *LAPI) Decisions(args ...string) []Alert {
	l.t.Helper()
	out := l.Cscli(append([]string{"decisions", "list", "-a", "-o", "json"}, args...)...)
	var as []Alert
	if err := json.Unmarshal(bytes.TrimSpace(out), &as); err != nil && string(bytes.TrimSpace(out)) != "null" {
		l.t.Fatalf("cscli decisions list: %v\n%s", err, out)
	}
	return as
}

// command is bin args, wrapped by Options.Wrap.
func (l *LAPI) command(bin string, args ...string) *exec.Cmd {
	if len(l.opts.Wrap) == 0 {
		return exec.Command(bin, args...)
	}
	w := l.opts.Wrap
	return exec.Command(w[0], append(append(w[1:len(w):len(w)], bin), args...)...)
}

// ready reports that the API answers.
func (l *LAPI) ready() bool {
	if l.opts.Ready != nil {
		return l.opts.Ready()
	}
	resp, err := http.Get(l.URL + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// ImportFile writes a `cscli decisions import -i` file banning each of
// addrs (scope Ip) for duration, reason "bulk", and returns its path.
func ImportFile(t testing.TB, path, duration string, addrs []string) string {
	t.Helper()
	type line struct {
		Duration string `json:"duration"`
		Reason   string `json:"reason"`
		Scope    string `json:"scope"`
		Type     string `json:"type"`
		Value    string `json:"value"`
	}
	lines := make([]line, len(addrs))
	for i, a := range addrs {
		lines[i] = line{duration, "bulk", "Ip", "ban", a}
	}
	b, err := json.Marshal(lines)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}
