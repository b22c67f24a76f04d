package notify

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/testutil"
	"github.com/sipprot/sipprot/policy"
)

// golden compares got with testdata/NAME (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", name), []byte(got))
}

func TestRenderGolden(t *testing.T) {
	var b batch
	first := blockEvent(1, t0)
	b.add(first, 3)
	again := blockEvent(1, t0.Add(20*time.Minute))
	again.Count, again.Permanent, again.Until = 5, true, time.Time{}
	b.add(again, 3)
	odd := blockEvent(2, t0.Add(time.Minute))
	odd.UserAgent, odd.Country, odd.Reason = "<script>\r\nBcc: x@example.org", "", policy.ReasonFailures
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
