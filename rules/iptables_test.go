package rules

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// fakeHost stands in for the iptables tools: save commands print canned
// output, restore commands are recorded, and may fail.
type fakeHost struct {
	saves    map[string]string // save command -> output
	saveErr  map[string]error
	version  string // what iptables -V prints
	missing  []string
	failing  map[string]string // restore command -> its error output
	failWhen string            // ...when the script contains this
	restores []restoreCall
}

type restoreCall struct {
	argv   []string
	script string
}

func (h *fakeHost) iptables(backend Backend, prefix ...string) *IPTables {
	t := NewIPTables(backend, prefix...)
	t.run = h.run
	t.lookPath = func(name string) (string, error) {
		if slices.Contains(h.missing, name) {
			return "", exec.ErrNotFound
		}
		return "/usr/sbin/" + name, nil
	}
	t.ipv6 = func() bool { return true }
	return t
}

func (h *fakeHost) run(_ context.Context, stdin string, argv []string) (string, error) {
	i := 0
	for i < len(argv) && !strings.Contains(argv[i], "tables") {
		i++ // skip the prefix
	}
	name := argv[i]
	switch {
	case strings.HasSuffix(name, "-save"):
		if err := h.saveErr[name]; err != nil {
			return "", err
		}
		return h.saves[name], nil
	case strings.HasSuffix(name, "-restore"):
		h.restores = append(h.restores, restoreCall{argv, stdin})
		if msg, ok := h.failing[name]; ok && strings.Contains(stdin, h.failWhen) {
			return "", fmt.Errorf("%s: exit status 1: %s", name, msg)
		}
		return "", nil
	case len(argv) > i+1 && argv[i+1] == "-V":
		if h.version == "" {
			return "", errors.New("no version")
		}
		return strings.Replace(h.version, "iptables", name, 1), nil
	}
	return "", fmt.Errorf("unexpected command %q", argv)
}

func (h *fakeHost) restored() []string {
	var out []string
	for _, c := range h.restores {
		out = append(out, c.argv[len(c.argv)-3])
	}
	return out
}

const (
	hostOnly    = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n"
	sipprotOnly = "*filter\n:INPUT ACCEPT [0:0]\n:SIPPROT-INPUT - [0:0]\n-A INPUT -j SIPPROT-INPUT\nCOMMIT\n"
	emptyFilter = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
)

func TestChooseBackend(t *testing.T) {
	for _, tc := range []struct {
		name        string
		backend     Backend
		nft, legacy string
		version     string
		missing     []string
		want        Backend
		wantErr     bool
	}{
		{name: "version nft", version: "iptables v1.8.9 (nf_tables)", want: NFT},
		{name: "version legacy", version: "iptables v1.8.9 (legacy)", want: Legacy},
		{name: "old version is legacy", version: "iptables v1.6.1", want: Legacy},
		{name: "no version: first", want: NFT},
		{name: "host rules in legacy", legacy: hostOnly, version: "iptables v1.8.9 (nf_tables)", want: Legacy},
		{name: "host rules in both: version", nft: hostOnly, legacy: hostOnly, version: "iptables v1.8.9 (legacy)", want: Legacy},
		{name: "empty table is no host rules", nft: emptyFilter, legacy: hostOnly, version: "iptables v1.8.9 (nf_tables)", want: Legacy},
		{name: "sipprot already in legacy", nft: hostOnly, legacy: sipprotOnly, version: "iptables v1.8.9 (nf_tables)", want: Legacy},
		{name: "asked for", backend: Legacy, nft: sipprotOnly, version: "iptables v1.8.9 (nf_tables)", want: Legacy},
		{name: "only legacy installed", missing: []string{"iptables-nft-save"}, version: "iptables v1.8.9 (nf_tables)", want: Legacy},
		{name: "asked for, not installed", backend: NFT, missing: []string{"ip6tables-nft-restore"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHost{
				saves: map[string]string{
					"iptables-nft-save": tc.nft, "ip6tables-nft-save": tc.nft,
					"iptables-legacy-save": tc.legacy, "ip6tables-legacy-save": tc.legacy,
				},
				version: tc.version,
				missing: tc.missing,
			}
			changes, err := h.iptables(tc.backend).Show(context.Background(), rulesFrom(t, ""))
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range changes {
				if !c.Removal && c.Backend != tc.want {
					t.Errorf("%s: backend %s, want %s", c.Family, c.Backend, tc.want)
				}
			}
			if len(h.restores) != 0 {
				t.Errorf("Show applied something: %v", h.restores)
			}
		})
	}
}

func TestInstallReplacesAndCleansOtherBackend(t *testing.T) {
	h := &fakeHost{
		saves: map[string]string{
			"iptables-nft-save": hostSave, "ip6tables-nft-save": hostOnly,
			"iptables-legacy-save": sipprotOnly, "ip6tables-legacy-save": "",
		},
		version: "iptables v1.8.9 (nf_tables)",
	}
	changes, err := h.iptables(Auto, "ip", "netns", "exec", "sp-r-x").Install(context.Background(), rulesFrom(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	// IPv4: sipprot is in both variants, so the host's version decides; the
	// legacy leftovers are removed.
	want := []string{"iptables-nft-restore", "iptables-legacy-restore", "ip6tables-nft-restore"}
	if got := h.restored(); !slices.Equal(got, want) {
		t.Fatalf("restored with %q, want %q", got, want)
	}
	if len(changes) != 3 || changes[1].Backend != Legacy || !changes[1].Removal {
		t.Errorf("changes: %+v", changes)
	}
	if argv := h.restores[0].argv; !slices.Equal(argv[:5], []string{"ip", "netns", "exec", "sp-r-x", "iptables-nft-restore"}) ||
		!slices.Contains(argv, "--noflush") {
		t.Errorf("restore argv %q", argv)
	}
	v4 := h.restores[0].script
	for _, want := range []string{"-D INPUT -j SIPPROT-INPUT\n-D INPUT -j SIPPROT-INPUT\n", "-X SIPPROT-OLD\n", "-I INPUT 1 -j SIPPROT-INPUT\n"} {
		if !strings.Contains(v4, want) {
			t.Errorf("IPv4 script lacks %q:\n%s", want, v4)
		}
	}
	if strings.Contains(v4, "HOST-SSH") || strings.Contains(v4, "conntrack") {
		t.Errorf("IPv4 script touches the host's rules:\n%s", v4)
	}
	if v6 := h.restores[2].script; strings.Contains(v6, "-D ") {
		t.Errorf("IPv6 had nothing to delete:\n%s", v6)
	}
}

func TestInstallFailureRemovesAll(t *testing.T) {
	h := &fakeHost{
		saves:    map[string]string{"iptables-nft-save": sipprotOnly, "ip6tables-nft-save": sipprotOnly},
		version:  "iptables v1.8.9 (nf_tables)",
		failing:  map[string]string{"ip6tables-nft-restore": "ip6tables-nft-restore v1.8.9 (nf_tables): line 3 failed"},
		failWhen: "-I INPUT 1",
	}
	_, err := h.iptables(Auto).Install(context.Background(), rulesFrom(t, ""))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"IPv6 (nft)", "line 3 failed", "script line 3: :SIPPROT-INPUT - [0:0]", "removed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	// Install IPv4, fail IPv6, then Remove: IPv4 and IPv6 (legacy holds
	// nothing).
	want := []string{"iptables-nft-restore", "ip6tables-nft-restore", "iptables-nft-restore", "ip6tables-nft-restore"}
	if got := h.restored(); !slices.Equal(got, want) {
		t.Fatalf("restored with %q, want %q", got, want)
	}
	if s := h.restores[2].script; !strings.Contains(s, "-X SIPPROT-INPUT") || strings.Contains(s, "-A ") {
		t.Errorf("rollback is not a removal:\n%s", s)
	}
}

func TestRemove(t *testing.T) {
	t.Run("nothing installed", func(t *testing.T) {
		h := &fakeHost{saves: map[string]string{"iptables-nft-save": hostOnly, "iptables-legacy-save": emptyFilter}}
		changes, err := h.iptables(Auto).Remove(context.Background())
		if err != nil || len(changes) != 0 || len(h.restores) != 0 {
			t.Fatalf("changes %v, restores %v, err %v", changes, h.restores, err)
		}
	})
	t.Run("both variants", func(t *testing.T) {
		h := &fakeHost{saves: map[string]string{
			"iptables-nft-save": hostSave, "iptables-legacy-save": sipprotOnly, "ip6tables-legacy-save": sipprotOnly,
		}}
		changes, err := h.iptables(NFT).Remove(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"iptables-nft-restore", "iptables-legacy-restore", "ip6tables-legacy-restore"}
		if got := h.restored(); !slices.Equal(got, want) || len(changes) != 3 {
			t.Fatalf("restored with %q, want %q", got, want)
		}
		if s := h.restores[0].script; strings.Contains(s, "HOST-SSH") || strings.Contains(s, "SIPPROT-NAT") {
			t.Errorf("removal touches what is not sipprot's:\n%s", s)
		}
	})
	t.Run("one variant unreadable", func(t *testing.T) {
		h := &fakeHost{
			saves:   map[string]string{"iptables-nft-save": sipprotOnly},
			saveErr: map[string]error{"iptables-legacy-save": errors.New("no legacy"), "ip6tables-legacy-save": errors.New("no legacy")},
		}
		if _, err := h.iptables(Auto).Remove(context.Background()); err != nil {
			t.Fatalf("err %v", err)
		}
		if got := h.restored(); !slices.Equal(got, []string{"iptables-nft-restore"}) {
			t.Errorf("restored %q", got)
		}
	})
	t.Run("none readable", func(t *testing.T) {
		denied := errors.New("Permission denied (you must be root)")
		h := &fakeHost{saveErr: map[string]error{
			"iptables-nft-save": denied, "iptables-legacy-save": denied, "ip6tables-nft-save": denied, "ip6tables-legacy-save": denied,
		}}
		_, err := h.iptables(Auto).Remove(context.Background())
		if err == nil || !strings.Contains(err.Error(), "must be root") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no iptables", func(t *testing.T) {
		h := &fakeHost{missing: []string{"iptables-nft-save", "iptables-legacy-save"}}
		if _, err := h.iptables(Auto).Remove(context.Background()); !errors.Is(err, ErrNoIPTables) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestNoIPv6(t *testing.T) {
	h := &fakeHost{saves: map[string]string{}, version: "iptables v1.8.9 (nf_tables)"}
	ipt := h.iptables(Auto)
	ipt.ipv6 = func() bool { return false }
	changes, err := ipt.Install(context.Background(), rulesFrom(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Family != IPv4 {
		t.Errorf("changes %+v, want IPv4 only", changes)
	}
}

func TestDryRun(t *testing.T) {
	ctx := context.Background()
	d := &DryRun{}
	if c, err := d.Remove(ctx); err != nil || c != nil {
		t.Fatalf("remove with nothing installed: %v %v", c, err)
	}
	r := rulesFrom(t, "")
	first, err := d.Install(ctx, r)
	if err != nil || len(first) != 2 {
		t.Fatalf("install: %v %v", first, err)
	}
	v4, v6 := r.Scripts()
	if first[0].Script != v4 || first[1].Script != v6 {
		t.Error("first install is not the fresh scripts")
	}
	fwd := rulesFrom(t, "[queue]\nmode = \"forward\"\n")
	again, _ := d.Install(ctx, fwd)
	for _, want := range []string{"-D INPUT -j SIPPROT-INPUT", "-D OUTPUT -j SIPPROT-OUTPUT", "-F SIPPROT-OUTPUT", "-X SIPPROT-OUTPUT"} {
		if !strings.Contains(again[0].Script, want) {
			t.Errorf("switch to forward lacks %q:\n%s", want, again[0].Script)
		}
	}
	if d.Installed() != fwd {
		t.Error("Installed is not the last install")
	}
	removed, _ := d.Remove(ctx)
	if len(removed) != 2 || !removed[0].Removal || !strings.Contains(removed[0].Script, "-X SIPPROT-FORWARD") {
		t.Errorf("remove: %+v", removed)
	}
	if n := len(d.Applied()); n != 6 {
		t.Errorf("applied %d changes, want 6", n)
	}
	var _ Firewall = d
	var _ Firewall = &IPTables{}
}

func TestParseBackend(t *testing.T) {
	for in, want := range map[string]Backend{"": Auto, "auto": Auto, "nft": NFT, "NF_TABLES": NFT, "legacy": Legacy} {
		if got, err := ParseBackend(in); err != nil || got != want {
			t.Errorf("ParseBackend(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseBackend("iptables"); err == nil {
		t.Error("no error for an unknown variant")
	}
}
