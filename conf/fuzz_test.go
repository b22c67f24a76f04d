package conf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary files to Load. It must never panic; every error
// line must name the file; and a config it accepts must survive WriteTOML
// and a second Load unchanged.
func FuzzLoad(f *testing.F) {
	f.Add(DefaultsTOML())
	for _, name := range []string{"full.toml", "many_errors.toml", "inline.toml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"[sip]\nports = [5060, \"5062:5064\"]\nprotocols = [\"TCP\"]\n",
		"sip = { block_time = \"1h\" }\nqueue.guard_exempt = [\"::ffff:192.0.2.1\"]\n",
		"[sip]\nblocked_user_agents = [\"\"\"\nx\"\"\", '''y''', \"\\u00e9\\t\"]\n",
		"[[sip]]\n[sip.x]\n\"a.b\" = { c = [1, [2]] }\n",
		"[notify]\nrecipients = [\"a@b\"]\ndaily_at = 0700\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.conf")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, true)
		if err != nil {
			if cfg != nil {
				t.Fatal("Load returned both a config and an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, path+":") {
					t.Fatalf("error line %q does not start with the file name", line)
				}
			}
			return
		}
		var b bytes.Buffer
		if err := cfg.WriteTOML(&b); err != nil {
			t.Fatalf("WriteTOML of a loaded config: %v", err)
		}
		again, err := Parse("again", b.Bytes())
		if err != nil {
			t.Fatalf("WriteTOML output does not load: %v\n%s", err, b.String())
		}
		if !same(cfg, again) {
			t.Fatalf("round trip changed the config\n%s", b.String())
		}
	})
}
