package savedblocks

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadBlocks: a corrupt blocks.json is an error, never a panic, and
// whatever loads converts back to the same JSON form.
func FuzzLoadBlocks(f *testing.F) {
	f.Add([]byte(`{"version":1,"saved":"2026-03-14T10:00:00Z","blocks":[{"ip":"198.51.100.66","reason":"failures","active":true,"permanent":false,"count":2,"hits":14,"first":"2026-03-14T10:00:00Z","last":"2026-03-14T10:00:00Z","until":"2099-01-01T00:00:00Z","user_agent":"x","country":"FR"}]}`))
	f.Add([]byte(`{"version":1,"blocks":[{"ip":"nope"}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, File), data, 0o600); err != nil {
			t.Fatal(err)
		}
		blocks, err := Load(dir)
		if err != nil {
			return
		}
		for _, b := range blocks {
			if !b.Addr.IsValid() {
				t.Fatalf("loaded an invalid address: %+v", b)
			}
			if _, err := FromJSON(ToJSON(b)); err != nil {
				t.Fatalf("round trip of %+v: %v", b, err)
			}
		}
	})
}
