package savedblocks

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/policy"
)

func TestBlocksRoundTrip(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	in := []policy.BlockState{
		{Addr: netip.MustParseAddr("198.51.100.66"), Reason: policy.ReasonUserAgent, Active: true, Count: 1, Hits: 7,
			First: now, Last: now, Until: now.Add(10 * time.Minute)},
		{Addr: netip.MustParseAddr("2001:db8::77"), Reason: policy.ReasonFailures, Active: true, Permanent: true, Count: 5,
			First: now.Add(-time.Hour), Last: now},
	}
	if got, err := Load(dir); err != nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	if err := Save(dir, in, now); err != nil {
		t.Fatal(err)
	}
	out, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("got %d blocks", len(out))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.Addr != b.Addr || a.Reason != b.Reason || a.Active != b.Active || a.Permanent != b.Permanent ||
			a.Count != b.Count || a.Hits != b.Hits || !a.First.Equal(b.First) || !a.Until.Equal(b.Until) {
			t.Errorf("block %d: saved %+v, loaded %+v", i, a, b)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestBlocksCorrupt(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, File), []byte(`{"blocks":[{"ip":"198.51.100.1","reason":"nonsense"}]}`), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "block 1") {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, File), []byte(`{"blocks":[`), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), File) {
		t.Fatalf("err = %v", err)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".blocks.json.12345", ".status.json.9", File, ".blocks.json.swp", "notes"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600)
	}
	RemoveStaleTemp(dir)
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, ",") != ".blocks.json.swp,blocks.json,notes" {
		t.Fatalf("left %v", left)
	}
}
