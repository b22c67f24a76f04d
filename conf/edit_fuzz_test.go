package conf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSetKey: on any config file, an edit either is refused and leaves
// the file byte for byte as it was, or writes a file that loads and holds
// the new value.
func FuzzSetKey(f *testing.F) {
	f.Add([]byte("# mine\n[sip]\nblock_time = \"5m\" # short\n"), "20m")
	f.Add([]byte("[sip]\nblocked_user_agents = [\n  \"a\",\n  \"b\",\n]\n[sip.x]\n"), "1h")
	f.Add([]byte("\xef\xbb\xbf[sip]\r\nblock_time = '1m'\r\n"), "bad")
	f.Add([]byte("block_time = 3\n[sip"), "10m")
	f.Fuzz(func(t *testing.T, file []byte, value string) {
		// A hang is a bug too: report the input instead of stalling.
		stop := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("SetKey hangs on %q with %q", file, value)) })
		defer stop.Stop()
		path := filepath.Join(t.TempDir(), "sipprot.conf")
		if err := os.WriteFile(path, file, 0o640); err != nil {
			t.Fatal(err)
		}
		err := SetKey(path, "sip", "block_time", value)
		got, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			if !bytes.Equal(got, file) {
				t.Fatalf("a refused edit (%v) changed the file:\n%q\nto\n%q", err, file, got)
			}
			return
		}
		c, err := Load(path, true)
		if err != nil {
			t.Fatalf("an accepted edit wrote a file that does not load: %v\n%q", err, got)
		}
		var want Duration
		if want.UnmarshalText([]byte(value)) == nil && c.SIP.BlockTime != want {
			t.Fatalf("block_time = %v after setting %q", c.SIP.BlockTime, value)
		}
	})
}
