package attacks

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzAttackLogDay: whatever a day file holds (torn lines, garbage, a
// newer version's fields), reading it and building its report never
// panics, and the report keeps its shape.
func FuzzAttackLogDay(f *testing.F) {
	f.Add([]byte(`{"at":"2026-03-14T10:00:00Z","event":"block","ip":"198.51.100.66","reason":"user_agent","user_agent":"friendly-scanner","country":"FR","permanent":false,"count":1}` + "\n" +
		`{"at":"2026-03-14T10:01:00Z","event":"drops","by_reason":{"dynamic":5},"by_source":{"198.51.100.66":5}}` + "\n" +
		`{"at":"2026-03-14T10:02:00Z","event":"lift","ip":"198.51.100.66","reason":"user_agent"}` + "\n"))
	f.Add([]byte(`{"at":"2026-03-14T10:00:00Z","event":"block","ip":"198.51.100.66","rea`))
	f.Add([]byte("\x00\xff{}\n[]\n{\"event\":\"drops\",\"by_reason\":{\"x\":18446744073709551615}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, Dir), 0o750)
		if err := os.WriteFile(Path(dir, "2026-03-14"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ReadDay(dir, "2026-03-14"); err != nil {
			t.Fatalf("ReadDay: %v", err)
		}
		r, _, err := BuildReport(dir, time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC), time.UTC)
		if err != nil {
			t.Fatalf("BuildReport: %v", err)
		}
		if len(r.Hours) != 24 || r.AttacksByReason == nil || r.DroppedByReason == nil || len(r.TopSources) > TopSources {
			t.Fatalf("report shape: %d hours, %d top sources", len(r.Hours), len(r.TopSources))
		}
	})
}
