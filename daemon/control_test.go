package daemon

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/internal/testutil"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

func TestControlUnblock(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, baseConfig)
	defer h.stop()
	c := control.NewClient(filepath.Join(dir, "sipprot.sock"))
	ctx := context.Background()
	if fi, err := os.Stat(c.Path()); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v, %v", fi, err)
	}
	h.send("198.51.100.66", "friendly-scanner")
	h.waitLog(`"msg":"blocked","ip":"198.51.100.66"`)
	var blocks []savedblocks.JSON
	if err := c.Get(ctx, control.PathBlocks, nil, &blocks); err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 || blocks[0].UserAgent != "friendly-scanner" || blocks[0].Reason != "user_agent" {
		t.Fatalf("blocks = %+v", blocks)
	}
	// The report has the block the moment it is asked for.
	var rep attacks.Report
	if err := c.Get(ctx, control.PathReport, url.Values{"date": {time.Now().Format(time.DateOnly)}}, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Attacks != 1 || rep.AttacksByReason["user_agent"] != 1 || len(rep.TopSources) != 1 || rep.TopSources[0].UserAgent != "friendly-scanner" {
		t.Fatalf("report = %+v", rep)
	}
	if err := c.Get(ctx, control.PathReport, url.Values{"date": {"yesterday"}}, &rep); err == nil || !strings.Contains(err.Error(), "want YYYY-MM-DD") {
		t.Fatalf("bad date: %v", err)
	}
	// A bad address refuses the whole request.
	var res []control.UnblockResult
	err := c.Post(ctx, control.PathUnblock, control.UnblockRequest{IPs: []string{"198.51.100.66", "nope"}}, &res)
	if err == nil || !strings.Contains(err.Error(), `"nope" is not an IP address`) {
		t.Fatalf("bad address: %v", err)
	}
	if d := h.send("198.51.100.66", "Yealink"); d.Reason != policy.ReasonDynamic {
		t.Fatalf("half-applied unblock: %v", d)
	}
	if err := c.Post(ctx, control.PathUnblock, control.UnblockRequest{IPs: []string{"198.51.100.66", "198.51.100.7"}}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || !res[0].Lifted || res[0].Block == nil || res[0].Block.UserAgent != "friendly-scanner" || res[1].Lifted {
		t.Fatalf("unblock = %+v", res)
	}
	// In force at once, and saved within a second.
	if d := h.send("198.51.100.66", "Yealink"); d.Verdict != policy.Accept {
		t.Fatalf("after unblock: %v", d)
	}
	testutil.WaitFor(t, 5*time.Second, "the unblock saved", func() bool {
		saved, _ := savedblocks.Load(filepath.Join(dir, "state"))
		return len(saved) == 0 || !saved[0].Active
	})
}

func TestControlReloads(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, baseConfig)
	defer h.stop()
	c := control.NewClient(filepath.Join(dir, "sipprot.sock"))
	ctx := context.Background()
	h.send("198.51.100.66", "sipcli")
	h.waitLog(`"msg":"blocked","ip":"198.51.100.66"`)

	// Lists: a bad file is refused with its line, a good one applies at once
	// and the allow list lifts the block.
	os.WriteFile(filepath.Join(dir, "deny"), []byte("198.51.100.5\nbad line\n"), 0o600)
	var lr control.ListsReply
	if err := c.Post(ctx, control.PathListsReload, nil, &lr); err == nil || !strings.Contains(err.Error(), "deny:2") {
		t.Fatalf("bad list: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "deny"), []byte("198.51.100.5\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "allow"), []byte("198.51.100.66 test box\n"), 0o600)
	if err := c.Post(ctx, control.PathListsReload, nil, &lr); err != nil {
		t.Fatal(err)
	}
	if lr.Allow != 1 || lr.Deny != 1 || len(lr.Lifted) != 1 || lr.Lifted[0] != "198.51.100.66" {
		t.Fatalf("lists = %+v", lr)
	}
	if d := h.send("198.51.100.5", "Yealink"); d.Reason != policy.ReasonDeny {
		t.Fatalf("deny list not in force: %v", d)
	}

	// Config: the refusal comes back to the caller.
	os.WriteFile(h.cfg, []byte(strings.ReplaceAll(baseConfig, "DIR", dir)+"[sip]\nblock_threshold = 99\n"), 0o600)
	err := c.Post(ctx, control.PathConfigReload, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "sip.block_threshold") {
		t.Fatalf("bad config: %v", err)
	}
	os.WriteFile(h.cfg, []byte(strings.ReplaceAll(baseConfig, "DIR", dir)+"[sip]\nblocked_user_agents = [\"zoiper\"]\n"), 0o600)
	if err := c.Post(ctx, control.PathConfigReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	if d := h.send("198.51.100.8", "Zoiper 5"); d.Reason != policy.ReasonUserAgent {
		t.Fatalf("config not reloaded: %v", d)
	}
	var st Status
	if err := c.Get(ctx, control.PathStatus, nil, &st); err != nil || !st.Running || st.Packets == 0 {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

func TestControlNoDaemon(t *testing.T) {
	c := control.NewClient(filepath.Join(t.TempDir(), "sipprot.sock"))
	if err := c.Get(context.Background(), control.PathStatus, nil, nil); !errors.Is(err, control.ErrNoDaemon) {
		t.Fatalf("err = %v", err)
	}
	// A live socket is not taken over; one left by a crash is replaced.
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := control.Listen(path); err == nil || !strings.Contains(err.Error(), "another sipprot daemon") {
		t.Fatalf("a second daemon on a live socket: %v", err)
	}
	dead, err := net.Listen("unix", path+".dead")
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	dead.Close()
	l2, err := control.Listen(path + ".dead")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	l.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after close: %v", err)
	}
}
