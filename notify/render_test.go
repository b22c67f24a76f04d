package notify

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden emails in testdata")

// golden compares got with testdata/NAME (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./notify -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	var b batch
	first := blockEvent(1, t0)
	b.add(first, 3)
	again := blockEvent(1, t0.Add(20*time.Minute))
	again.Count, again.Permanent, again.Until = 5, true, time.Time{}
	b.add(again, 3)
	odd := blockEvent(2, t0.Add(time.Minute))
	odd.UserAgent, odd.Country, odd.Reason = "<script>\r\nBcc: x@example.org", "", 7
	b.add(odd, 3)
	b.add(blockEvent(300, t0.Add(2*time.Minute)), 3)
	b.add(blockEvent(4, t0.Add(3*time.Minute)), 3)
	b.add(blockEvent(5, t0.Add(4*time.Minute)), 3)
	subject, text, html := renderAlert("pbx1.test", &b, time.Hour, paris)
	golden(t, "alert.txt", subject+"\n\n"+text)
	golden(t, "alert.html", html)

	subject, text, html = renderDaily("pbx1.test", dayReport)
	golden(t, "daily.txt", subject+"\n\n"+text)
	golden(t, "daily.html", html)

	quiet := dayReport
	quiet.Attacks, quiet.Dropped = 0, 0
	subject, text, _ = renderDaily("pbx1.test", quiet)
	golden(t, "daily_quiet.txt", subject+"\n\n"+text)
}
