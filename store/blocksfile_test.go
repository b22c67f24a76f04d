package store

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
	if got, err := LoadBlocks(dir); err != nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	if err := SaveBlocks(dir, in, now); err != nil {
		t.Fatal(err)
	}
	out, err := LoadBlocks(dir)
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
	os.WriteFile(filepath.Join(dir, BlocksFile), []byte(`{"blocks":[{"ip":"198.51.100.1","reason":"nonsense"}]}`), 0o600)
	if _, err := LoadBlocks(dir); err == nil || !strings.Contains(err.Error(), "block 1") {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, BlocksFile), []byte(`{"blocks":[`), 0o600)
	if _, err := LoadBlocks(dir); err == nil || !strings.Contains(err.Error(), BlocksFile) {
		t.Fatalf("err = %v", err)
	}
}

func TestReadList(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // prefix|note
		err        string
	}{
		{"empty", "", nil, ""},
		{"comments and notes", "# office\n192.0.2.10 front desk\n\n198.51.100.0/24\ttrunk provider\n2001:db8::/32 # lab\n",
			[]string{"192.0.2.10/32|front desk", "198.51.100.0/24|trunk provider", "2001:db8::/32|lab"}, ""},
		{"host bits cleared", "192.0.2.77/24\n", []string{"192.0.2.0/24|"}, ""},
		{"mapped v4", "::ffff:192.0.2.1\n", []string{"192.0.2.1/32|"}, ""},
		{"bad line names file and line", "192.0.2.1\nnot-an-ip\n", nil, "list:2: bad address"},
		{"bad cidr", "192.0.2.0/33\n", nil, "list:1: bad network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadList(strings.NewReader(tt.text), "list")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, e := range got {
				s = append(s, e.Prefix.String()+"|"+e.Note)
			}
			if strings.Join(s, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", s, tt.want)
			}
		})
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".blocks.json.12345", ".status.json.9", BlocksFile, ".blocks.json.swp", "notes"} {
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
