package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipprot/sipprot/internal/testutil"
	"github.com/sipprot/sipprot/replay"
)

// TestReplayGolden replays every recorded capture with the embedded
// defaults and compares the JSON with its golden file. The expectations of
// the product are also asserted directly, so a careless -update cannot
// bless a regression.
func TestReplayGolden(t *testing.T) {
	caps, _ := filepath.Glob("../testdata/captures/*.pcap")
	if len(caps) == 0 {
		t.Fatal("no captures in testdata/captures")
	}
	for _, path := range caps {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			out, _, err := runCLI(t, "replay", "--json", "--config", filepath.Join(t.TempDir(), "none.conf"), path)
			if err == nil || !strings.Contains(err.Error(), "none.conf") {
				t.Fatalf("a missing --config file must be an error naming it, got %v", err)
			}
			out, _, err = runCLI(t, "replay", "--json", "--config", "testdata/defaults.conf", path)
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, strings.TrimSuffix(path, ".pcap")+".golden.json", []byte(out))
			var res replay.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			checkExpectations(t, name, &res)
		})
	}
}

func checkExpectations(t *testing.T, name string, r *replay.Result) {
	t.Helper()
	if r.Packets != r.Accepted+r.Dropped {
		t.Errorf("packets %d != accepted %d + dropped %d", r.Packets, r.Accepted, r.Dropped)
	}
	switch {
	case strings.HasPrefix(name, "office"):
		if len(r.Blocks) != 0 || r.Dropped != 0 {
			t.Errorf("office traffic blocked: %d drops, blocks %+v", r.Dropped, r.Blocks)
		}
	case strings.HasPrefix(name, "sv"):
		// Scanners: blocked for their User-Agent at their first request.
		if len(r.Blocks) != 1 || r.Blocks[0].Reason != "user_agent" || r.Blocks[0].Packet != 1 {
			t.Errorf("scanner not blocked at its first request: %+v", r.Blocks)
		}
	case strings.HasPrefix(name, "sipp-guess"):
		// Each attempt is REGISTER, 401, REGISTER with credentials, and
		// the failure reply: the 11th attempt's first packet is number 41.
		if len(r.Blocks) != 1 || r.Blocks[0].Reason != "failures" || r.Blocks[0].Packet != 41 {
			t.Errorf("guesser not blocked at the first request after the 10th failure: %+v", r.Blocks)
		}
		if r.Blocks[0].UserAgent == "" {
			t.Error("block lost the User-Agent")
		}
	default:
		t.Errorf("capture %s has no stated expectation", name)
	}
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pcap")
	os.WriteFile(bad, []byte("this is not a capture"), 0o644)
	for _, tt := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "missing.pcap"), "missing.pcap"},
		{"corrupt", bad, "bad.pcap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, "replay", "--config", "testdata/defaults.conf", tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v does not name %s", err, tt.want)
			}
		})
	}
}

// TestReplayFailuresAlone: with no User-Agent rule, the scanners are still
// stopped by the failure rule after exactly failures_per_minute failures,
// and the office is still never blocked.
func TestReplayFailuresAlone(t *testing.T) {
	for _, tt := range []struct {
		capture string
		blocks  int
		packet  int // the packet the block happens on
	}{
		{"svwar", 1, 61},   // the request after the 10th 404 (401s to bare REGISTERs are no failures)
		{"svcrack", 1, 23}, // one bare REGISTER and its 401, 10 guesses and their 401s
		{"office", 0, 0},
		{"office-tcp", 0, 0},
	} {
		t.Run(tt.capture, func(t *testing.T) {
			out, _, err := runCLI(t, "replay", "--json", "--config", "testdata/no-user-agents.conf", "../testdata/captures/"+tt.capture+".pcap")
			if err != nil {
				t.Fatal(err)
			}
			var res replay.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Blocks) != tt.blocks {
				t.Fatalf("blocks = %+v, want %d", res.Blocks, tt.blocks)
			}
			if tt.blocks > 0 && (res.Blocks[0].Reason != "failures" || res.Blocks[0].Packet != tt.packet) {
				t.Fatalf("block = %+v, want failures at packet %d", res.Blocks[0], tt.packet)
			}
		})
	}
}
