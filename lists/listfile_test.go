package lists

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const handEdited = `# Allow list of the Paris office.
# Keep the trunk first.

198.51.100.9 trunk provider
192.0.2.0/24   office   # main building
   # old VPN, gone:
2001:db8::/48 v6 office
198.51.100.9 trunk (again)
`

func writeList(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "allowlist")
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustPrefix(s string) netip.Prefix {
	p, err := ParsePrefix(s)
	if err != nil {
		panic(err)
	}
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Edits touch only their lines: comments, blank lines, spacing and the
// order of the other lines stay as the operator wrote them.
func TestEditListKeepsTheOperatorsLines(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Doc)
		want string
	}{
		{"add new", func(d *Doc) { d.Add(Entry{Prefix: mustPrefix("203.0.113.5"), Note: "new phone"}) },
			handEdited + "203.0.113.5 new phone\n"},
		{"add twice merges into the first line", func(d *Doc) {
			d.Add(Entry{Prefix: mustPrefix("198.51.100.9"), Note: "trunk, renamed"})
		}, strings.Replace(strings.Replace(handEdited, "198.51.100.9 trunk provider", "198.51.100.9 trunk, renamed", 1),
			"198.51.100.9 trunk (again)\n", "", 1)},
		{"add a network written differently", func(d *Doc) {
			if r := d.Add(Entry{Prefix: mustPrefix("192.0.2.77/24"), Note: "office"}); r != Updated {
				t.Errorf("got %v, want Updated", r)
			}
		}, strings.Replace(handEdited, "192.0.2.0/24   office   # main building", "192.0.2.0/24 office", 1)},
		{"remove", func(d *Doc) { d.Remove(mustPrefix("2001:db8::/48")) },
			strings.Replace(handEdited, "2001:db8::/48 v6 office\n", "", 1)},
		{"remove every line of a network", func(d *Doc) { d.Remove(mustPrefix("198.51.100.9")) },
			strings.NewReplacer("198.51.100.9 trunk provider\n", "", "198.51.100.9 trunk (again)\n", "").Replace(handEdited)},
		{"remove all keeps comments", func(d *Doc) {
			if n := d.RemoveAll(); n != 4 {
				t.Errorf("removed %d, want 4", n)
			}
		}, "# Allow list of the Paris office.\n# Keep the trunk first.\n\n   # old VPN, gone:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeList(t, handEdited)
			if err := Edit(path, func(d *Doc) error { tt.edit(d); return nil }); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want the operator's 0640", fi.Mode().Perm())
			}
		})
	}
}

func TestAddResults(t *testing.T) {
	d, err := parseListDoc("l", []byte("192.0.2.1 phone\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := mustPrefix("192.0.2.1")
	for _, tt := range []struct {
		note string
		want AddResult
	}{{"phone", Unchanged}, {"", Unchanged}, {"desk phone", Updated}, {"x", Updated}} {
		if got := d.Add(Entry{Prefix: p, Note: tt.note}); got != tt.want {
			t.Errorf("add note %q: %v, want %v", tt.note, got, tt.want)
		}
	}
	if e := d.Entries(); len(e) != 1 || e[0].Note != "x" {
		t.Errorf("entries %v", e)
	}
}

// Whatever the note, the written line reads back as the same entry.
func TestNotesSurviveTheFile(t *testing.T) {
	notes := []string{"", "office", "#1 trunk", "#", "# two", "a  b\tc", "ünïcödé", "100% = sure", "'quoted'"}
	d, _ := parseListDoc("l", nil)
	var want []Entry
	for i, n := range notes {
		e := Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32), Note: n}
		want = append(want, e)
		d.Add(e)
	}
	got, err := Read(bytes.NewReader(d.Bytes()), "l")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q\nfile:\n%s", got, want, d.Bytes())
	}
}

func TestCleanNote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"  trimmed \t", "trimmed"},
		{"two\nlines", "two lines"},
		{"crlf\r\n\r\nlines", "crlf lines"},
		{"tab\tinside", "tab\tinside"},
	} {
		if got, err := CleanNote(tt.in); err != nil || got != tt.want {
			t.Errorf("CleanNote(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := CleanNote(strings.Repeat("x", MaxNoteLen+1)); err == nil {
		t.Error("an over-long note is accepted")
	}
}

// A file that does not parse is never edited: the error names the line,
// and the file stays as it was.
func TestEditListRefusesABadFile(t *testing.T) {
	bad := "192.0.2.1\n# fine\n192.0.2.300 typo\n"
	path := writeList(t, bad)
	called := false
	err := Edit(path, func(d *Doc) error { called = true; return nil })
	if err == nil || !strings.Contains(err.Error(), path+`:3: bad address "192.0.2.300"`) {
		t.Fatalf("error %v, want one naming %s:3", err, path)
	}
	if called || readFile(t, path) != bad {
		t.Error("a bad file was edited")
	}
}

// An edit that fails writes nothing, even what it changed before failing.
func TestEditListErrorWritesNothing(t *testing.T) {
	path := writeList(t, handEdited)
	err := Edit(path, func(d *Doc) error {
		d.RemoveAll()
		return fmt.Errorf("changed my mind")
	})
	if err == nil || err.Error() != "changed my mind" {
		t.Fatalf("error %v", err)
	}
	if readFile(t, path) != handEdited {
		t.Error("file changed")
	}
}

func TestEditListCreatesAMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "denylist")
	if err := Edit(path, func(d *Doc) error { d.Add(Entry{Prefix: mustPrefix("2001:db8::1")}); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "2001:db8::1\n" {
		t.Errorf("got %q", got)
	}
}

// A symlinked list stays a symlink: the edit lands in its target.
func TestEditListFollowsSymlinks(t *testing.T) {
	target := writeList(t, "192.0.2.1\n")
	link := filepath.Join(t.TempDir(), "allowlist")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Edit(link, func(d *Doc) error { d.Add(Entry{Prefix: mustPrefix("192.0.2.2")}); return nil }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v", err)
	}
	if got := readFile(t, target); got != "192.0.2.1\n192.0.2.2\n" {
		t.Errorf("target %q", got)
	}
}

// Concurrent edits never lose one another: the lock serialises the
// read-modify-write of each.
func TestEditListConcurrent(t *testing.T) {
	path := writeList(t, "# shared\n")
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(w), byte(i)}), 32), Note: fmt.Sprint("worker ", w)}
				if err := Edit(path, func(d *Doc) error { d.Add(e); return nil }); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != workers*each {
		t.Errorf("%d entries, want %d: updates were lost", len(got), workers*each)
	}
}

func TestHoldingAndOverlaps(t *testing.T) {
	d, err := parseListDoc("allow", []byte("# office\n192.0.2.0/24 office\n192.0.2.7 front desk\n198.51.100.0/25\n2001:db8::/32 v6\n"))
	if err != nil {
		t.Fatal(err)
	}
	lines := func(ms []Match) string {
		var s []string
		for _, m := range ms {
			s = append(s, fmt.Sprintf("%s:%d", FormatPrefix(m.Prefix), m.Line))
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7:3 192.0.2.0/24:2"},
		{"192.0.2.8", "192.0.2.0/24:2"},
		{"::ffff:192.0.2.8", "192.0.2.0/24:2"},
		{"198.51.100.200", ""},
		{"2001:db8::5", "2001:db8::/32:5"},
	} {
		if got := lines(d.Holding(netip.MustParseAddr(tt.addr))); got != tt.want {
			t.Errorf("Holding(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	for _, tt := range []struct{ net, want string }{
		{"192.0.2.0/16", "192.0.2.0/24:2 192.0.2.7:3"},
		{"192.0.2.7/32", "192.0.2.0/24:2 192.0.2.7:3"},
		{"192.0.2.128/25", "192.0.2.0/24:2"},
		{"198.51.100.128/25", ""},
		{"::/0", "2001:db8::/32:5"},
	} {
		if got := lines(d.Overlaps(mustPrefix(tt.net))); got != tt.want {
			t.Errorf("Overlaps(%s) = %q, want %q", tt.net, got, tt.want)
		}
	}
	d.Remove(mustPrefix("192.0.2.0/24"))
	if got := lines(d.Holding(netip.MustParseAddr("192.0.2.8"))); got != "" {
		t.Errorf("a removed network still holds: %s", got)
	}
}

// randomPrefixes returns n distinct prefixes from a fixed seed, shaped
// like real lists: half IPv4 (mostly hosts and /24s, some /16../31), half
// IPv6 (mostly /128 hosts and /64s, some /32../63).
func randomPrefixes(n int) []netip.Prefix {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(choices ...int) int { return choices[r.IntN(len(choices))] }
	seen := make(map[netip.Prefix]bool, n)
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		var p netip.Prefix
		if len(out)%2 == 0 {
			var b [4]byte
			for i := range b {
				b[i] = byte(r.UintN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom4(b), pick(32, 32, 32, 32, 32, 32, 32, 24, 24, 16+r.IntN(16))).Masked()
		} else {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.UintN(256))
			}
			b[0], b[1] = 0x20, 0x01
			p = netip.PrefixFrom(netip.AddrFrom16(b), pick(128, 128, 128, 128, 128, 64, 64, 64, 48, 32+r.IntN(32))).Masked()
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// BenchmarkPrefixSetLookup is the per-packet cost of a list: one lookup
// in a set of 100,000 mixed IPv4/IPv6 prefixes, half the addresses inside
// a listed prefix, half random (mostly misses, which walk the trie as deep).
func BenchmarkPrefixSetLookup(b *testing.B) {
	ps := randomPrefixes(100_000)
	entries := make([]Entry, len(ps))
	for i, p := range ps {
		entries[i] = Entry{Prefix: p}
	}
	set := PrefixSet(entries)
	r := rand.New(rand.NewPCG(3, 4))
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		switch i % 4 {
		case 0, 2: // inside a listed prefix
			addrs[i] = ps[r.IntN(len(ps))].Addr()
		case 1: // random IPv4, mostly a miss
			addrs[i] = netip.AddrFrom4([4]byte{byte(r.UintN(256)), byte(r.UintN(256)), byte(r.UintN(256)), byte(r.UintN(256))})
		case 3: // random 2001::/16 IPv6, mostly a miss
			var bs [16]byte
			for j := range bs {
				bs[j] = byte(r.UintN(256))
			}
			bs[0], bs[1] = 0x20, 0x01
			addrs[i] = netip.AddrFrom16(bs)
		}
	}
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if set.Contains(addrs[i&(len(addrs)-1)]) {
			hits++
		}
	}
	b.ReportMetric(float64(hits)/float64(b.N), "hit/op")
}

// BenchmarkReload100k is what the watcher does for a list of 100,000
// lines: parse the file and build its prefix set.
func BenchmarkReload100k(b *testing.B) {
	ps := randomPrefixes(100_000)
	var buf bytes.Buffer
	for i, p := range ps {
		fmt.Fprintf(&buf, "%s host %d\n", FormatPrefix(p), i)
	}
	path := filepath.Join(b.TempDir(), "allowlist")
	os.WriteFile(path, buf.Bytes(), 0o644)
	b.ReportAllocs()
	for b.Loop() {
		e, err := Load(path)
		if err != nil || len(e) != len(ps) {
			b.Fatal(err, len(e))
		}
		PrefixSet(e)
	}
}

// A temporary file left by an edit killed mid-write is swept by the next
// edit; an editor's swap file next to the list is not touched.
func TestEditListSweepsStaleTemps(t *testing.T) {
	path := writeList(t, "192.0.2.1\n")
	dir := filepath.Dir(path)
	for _, name := range []string{".allowlist.123456", ".allowlist.swp", ".allowlist.", "allowlist.lock.1"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600)
	}
	if err := Edit(path, func(d *Doc) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if got := strings.Join(left, " "); got != ".allowlist. .allowlist.swp allowlist allowlist.lock allowlist.lock.1" {
		t.Errorf("left %s", got)
	}
}

// FuzzListDoc: any file Read accepts is read as a doc with the same
// entries, and written back unchanged (bar a missing final newline).
func FuzzListDoc(f *testing.F) {
	for _, s := range []string{"", "\n", handEdited, "192.0.2.1", "192.0.2.1\r\n# c\r\n", "  # x\n\t192.0.2.0/24\tnote\n", "::1 #"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := Read(bytes.NewReader(data), "l")
		if err != nil {
			return
		}
		d, err := parseListDoc("l", data)
		if err != nil {
			t.Fatalf("ReadList accepts %q, the doc does not: %v", data, err)
		}
		if fmt.Sprint(d.Entries()) != fmt.Sprint(want) {
			t.Fatalf("entries %v, want %v", d.Entries(), want)
		}
		exp := string(data)
		if exp != "" && !strings.HasSuffix(exp, "\n") {
			exp += "\n"
		}
		if string(d.Bytes()) != exp {
			t.Fatalf("written back as %q, want %q", d.Bytes(), exp)
		}
	})
}
