package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"net/netip"

	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

func TestStatusTable(t *testing.T) {
	var b bytes.Buffer
	writeStatusTable(&b, []statusRow{{"Allow", 0}, {"Deny", 0}, {"Dynamic (permanent)", 0}, {"Dynamic (temporary)", 0}})
	want := `+---------------------+------------+
|        LIST         | NUM OF IPS |
+---------------------+------------+
| Allow               |          0 |
+---------------------+------------+
| Deny                |          0 |
+---------------------+------------+
| Dynamic (permanent) |          0 |
+---------------------+------------+
| Dynamic (temporary) |          0 |
+---------------------+------------+
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	writeStatusTable(&b, []statusRow{{"Allow", 123456789012}})
	if !strings.Contains(b.String(), "| Allow               | 123456789012 |") {
		t.Fatalf("column does not grow:\n%s", b.String())
	}
}

func TestStatusCounts(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sipprot.conf")
	os.WriteFile(cfg, []byte(`[state]
dir = "`+dir+`"
[lists]
allow = "`+dir+`/allow"
deny = "`+dir+`/deny"
[admin]
socket = "`+dir+`/sipprot.sock"
`), 0o600)
	os.WriteFile(filepath.Join(dir, "allow"), []byte("192.0.2.0/24 office\n198.51.100.9 trunk\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "deny"), []byte("# none\n203.0.113.66\n"), 0o600)
	now := time.Now()
	savedblocks.Save(dir, []policy.BlockState{
		{Addr: netip.MustParseAddr("198.51.100.66"), Reason: policy.ReasonUserAgent, Active: true, Count: 1, Until: now.Add(time.Hour)},
		{Addr: netip.MustParseAddr("198.51.100.67"), Reason: policy.ReasonFailures, Active: true, Count: 1, Until: now.Add(-time.Hour)},
		{Addr: netip.MustParseAddr("2001:db8::66"), Reason: policy.ReasonFailures, Active: true, Permanent: true, Count: 5},
	}, now)
	out, _, err := runCLI(t, "status", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| Allow               |          2 |", "| Deny                |          1 |",
		"| Dynamic (permanent) |          1 |", "| Dynamic (temporary) |          1 |", "daemon: never ran"} {
		if !strings.Contains(out, row) {
			t.Errorf("missing %q in\n%s", row, out)
		}
	}
	out, _, err = runCLI(t, "status", "--config", cfg, "--json", "--dynamic")
	if err != nil || !strings.Contains(out, `"dynamic_temporary": 1`) || !strings.Contains(out, `"ip": "2001:db8::66"`) {
		t.Fatalf("json: %v\n%s", err, out)
	}
}

func TestStatusGolden(t *testing.T) {
	f := checkFixture(t)
	f.filter = stable // the block times print in local time
	f.run("status")
	f.run("status", "--all")
	f.run("status", "--deny", "--json")
	f.run("status", "--dynamic", "--json")
	f.golden("status")
}

// A running daemon's status names its lost block events (0 included) and
// every service that failed, sorted, so a dead web page is seen.
func TestDaemonLineLostAndFailed(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st := &control.Status{Running: true, PID: 42, Started: now.Add(-time.Hour), Updated: now, Packets: 9, EventsLost: 3,
		UnboundCredentials: 2000, ProvenRefused: 1000,
		Failed: map[string]string{"web": "listen tcp 127.0.0.1:8088: bind: address already in use", "control": "not a directory"}}
	var b bytes.Buffer
	writeDaemonLine(&b, st, now)
	want := "daemon: running (pid 42, since 2026-05-01T11:00:00Z), 9 packets judged\n" +
		"block events lost: 3\n" +
		"credentials answering no challenge sent to their source: 2000; failures refused for a proven source: 1000\n" +
		"service control: FAILED: not a directory (the rest runs; restart sipprot to retry it)\n" +
		"service web: FAILED: listen tcp 127.0.0.1:8088: bind: address already in use (the rest runs; restart sipprot to retry it)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// The fleet line names the link, what is enforced by origin and what
// waits; errors get their own lines.
func TestFleetLine(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	writeFleetLine(&b, &control.FleetStatus{LAPI: "http://192.0.2.5:8080", PullConnected: true, LastPull: now.Add(-300 * time.Millisecond),
		InForce: map[string]int{"sipprot/pbx2": 3, "cscli": 1}, Enforced: 4, Pushed: 7, Outbox: 0}, now)
	writeFleetLine(&b, &control.FleetStatus{LAPI: "http://192.0.2.5:8080", LastPullErr: "dial tcp 192.0.2.5:8080: connection refused",
		Outbox: 2, NotShared: 1}, now)
	want := "fleet: connected to http://192.0.2.5:8080, last pull 300ms ago; 4 blocks enforced (decisions by origin: cscli 1, sipprot/pbx2 3); 7 blocks shared, 0 waiting in the outbox\n" +
		"fleet: NOT CONNECTED to http://192.0.2.5:8080; 0 blocks enforced; 0 blocks shared, 2 waiting in the outbox; 0 decisions refused, 1 blocks not shared\n" +
		"fleet pull: dial tcp 192.0.2.5:8080: connection refused\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
