package fleet

import (
	"bytes"
	"context"
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

// The tests run a real CrowdSec LAPI: .ci/crowdsec.sh unpacks Debian's
// package to /opt/crowdsec-extracted (or $CROWDSEC_DIR); a crowdsec on
// PATH also does. Without one they skip.

const (
	testMachine  = "pbx1"
	testPassword = "pbx1-S3cret-pw-0123456789"
	testAPIKey   = "bouncer-K3y-0123456789abcdef"
)

func findCrowdsec() (crowdsec, cscli string, ok bool) {
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

// lapi is one LAPI process with its own config, SQLite database (WAL) and
// loopback port, and the cscli that manages it.
type lapi struct {
	t        testing.TB
	bin, cli string
	dir      string
	config   string
	url      string

	mu      sync.Mutex
	cmd     *exec.Cmd
	waitCh  chan error
	logPath string
}

func startLAPI(t testing.TB) *lapi {
	t.Helper()
	cs, cli, ok := findCrowdsec()
	if !ok {
		t.Skip("crowdsec not found (run .ci/crowdsec.sh, or set CROWDSEC_DIR): LAPI tests skipped")
	}
	dir := t.TempDir()
	l := &lapi{t: t, bin: cs, cli: cli, dir: dir, config: filepath.Join(dir, "config.yaml")}
	port := freePort(t)
	l.url = "http://127.0.0.1:" + strconv.Itoa(port)
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
    listen_uri: 127.0.0.1:%[2]d
    profiles_path: %[1]s/etc/profiles.yaml
    trusted_ips:
      - 127.0.0.1
prometheus:
  enabled: false
`, dir, port),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	l.cscli("machines", "add", "cscli-local", "--auto", "-f", filepath.Join(dir, "etc/local_api_credentials.yaml"), "--url", l.url)
	l.addMachine(testMachine, testPassword)
	l.cscli("bouncers", "add", "sipprot-test", "-k", testAPIKey)
	l.start()
	t.Cleanup(l.stop)
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

func (l *lapi) addMachine(id, password string) {
	l.cscli("machines", "add", id, "--password", password, "-f", os.DevNull, "--force")
}

// cscli runs cscli on this LAPI's config and returns its standard output.
func (l *lapi) cscli(args ...string) []byte {
	l.t.Helper()
	cmd := exec.Command(l.cli, append([]string{"-c", l.config, "--error"}, args...)...)
	cmd.Dir = l.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("cscli %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// start runs the LAPI alone (-no-cs: no agent; -no-capi: no Central API)
// and waits until /health answers.
func (l *lapi) start() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	cmd := exec.Command(l.bin, "-no-cs", "-no-capi", "-c", l.config)
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
			l.t.Fatalf("crowdsec exited: %v\n%s", err, l.lapiLog())
		default:
		}
		resp, err := http.Get(l.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				l.waitCh = exited
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatalf("crowdsec did not answer on %s within 60s\n%s", l.url, l.lapiLog())
}

func (l *lapi) lapiLog() string {
	b, _ := os.ReadFile(l.logPath)
	return string(b)
}

// stop ends the LAPI and waits for it; stopping a stopped one is a no-op.
func (l *lapi) stop() {
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

// csAlert is one element of "cscli decisions list -o json": alerts with
// their decisions.
type csAlert struct {
	Scenario  string `json:"scenario"`
	MachineID string `json:"machine_id"`
	Meta      []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"meta"`
	Decisions []wireDecision `json:"decisions"`
}

// decisions lists the active decisions of every origin (-a: cscli 1.4
// shows only crowdsec and cscli ones by default).
func (l *lapi) decisions(args ...string) []csAlert {
	l.t.Helper()
	out := l.cscli(append([]string{"decisions", "list", "-a", "-o", "json"}, args...)...)
	var as []csAlert
	if err := json.Unmarshal(bytes.TrimSpace(out), &as); err != nil && string(bytes.TrimSpace(out)) != "null" {
		l.t.Fatalf("cscli decisions list: %v\n%s", err, out)
	}
	return as
}

// runClient starts c.Run and stops it at cleanup.
func runClient(t testing.TB, c *Client) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
