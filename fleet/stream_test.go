package fleet

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/testutil"
)

const goodStream = `{"new":[{"id":1,"duration":"1h","origin":"cscli","scenario":"manual","scope":"Ip","type":"ban","value":"192.0.2.1"},` +
	`{"id":2,"duration":"1h","origin":"crowdsec","scenario":"x/y","scope":"Range","type":"ban","value":"198.51.100.0/24"}],"deleted":null}`

// Garbage the real LAPI does not produce, from a tiny server: each
// malformed answer is a logged error, the last good set stays, and the
// next pull takes the whole set again.
func TestMalformedKeepsLastGood(t *testing.T) {
	bad := []string{
		`{"new":[{"id":3,"duration":"1h","origin":"cscli","scope":"Ip","type":"ban","value":"192.0.2.3"}`, // truncated
		`[]`,
		`<html>502 Bad Gateway</html>`,
		`{"new":{"id":4},"deleted":null}`,
		`{"new":[],"deleted":null}{"new":[]}`,
		`{"new":[{"id":"five"}]}`,
	}
	var n, startups atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		startup := r.URL.Query().Get("startup") == "true"
		if startup {
			startups.Add(1)
		}
		i := int(n.Add(1)) - 1
		switch {
		case i == 0 || (i > len(bad) && startup):
			fmt.Fprint(w, goodStream)
		case i <= len(bad):
			fmt.Fprint(w, bad[i-1])
		default:
			fmt.Fprint(w, `{"new":null,"deleted":[{"id":1,"duration":"-1s","origin":"cscli","scenario":"manual","scope":"Ip","type":"ban","value":"192.0.2.1"}]}`)
		}
	}))
	defer srv.Close()

	var logs testutil.LogBuffer
	rec := newRecorder()
	var dels atomic.Int32
	c, err := New(Config{LAPIURL: srv.URL, APIKey: testAPIKey, PollEvery: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))},
		func(add []Decision, del []netip.Prefix) {
			if int(n.Load()) <= len(bad)+1 {
				dels.Add(int32(len(del)))
			}
			rec.change(add, del)
		})
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	testutil.WaitFor(t, 30*time.Second, "every bad answer served", func() bool { return int(n.Load()) > len(bad) })
	if rec.len() != 2 || dels.Load() != 0 {
		t.Errorf("during the bad answers: held %d, %d deleted; want 2 held, none deleted", rec.len(), dels.Load())
	}
	if got := strings.Count(logs.String(), "malformed LAPI answer"); got != len(bad) {
		t.Errorf("%d malformed-answer log lines, want %d:\n%s", got, len(bad), logs.String())
	}
	testutil.WaitFor(t, 30*time.Second, "the good delta", func() bool { _, ok := rec.get("192.0.2.1/32"); return !ok })
	if _, ok := rec.get("198.51.100.0/24"); !ok {
		t.Error("198.51.100.0/24 lost")
	}
	if got := startups.Load(); got != int32(len(bad)+1) {
		t.Errorf("%d startup pulls, want %d (the first, then one after each failure)", got, len(bad)+1)
	}
}
