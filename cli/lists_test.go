package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sipprot/sipprot/internal/testutil"
	"github.com/sipprot/sipprot/lists"
	"github.com/sipprot/sipprot/manage"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/savedblocks"
)

// listFixture is a config whose lists and state live in a temporary
// directory, and a transcript of the commands run against it.
type listFixture struct {
	t     *testing.T
	dir   string
	cfg   string
	stdin string
	// deps are the commands' dependencies: the real ones unless a test
	// sets some.
	deps Deps
	out  strings.Builder
	// filter, if set, rewrites the transcript before it is compared
	// (times and pids of a live daemon).
	filter func(string) string
}

func newListFixture(t *testing.T) *listFixture {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sipprot.conf")
	text := fmt.Sprintf("[lists]\nallow = %q\ndeny = %q\n[state]\ndir = %q\n[admin]\nsocket = %q\n",
		filepath.Join(dir, "allowlist"), filepath.Join(dir, "denylist"), filepath.Join(dir, "state"), filepath.Join(dir, "sipprot.sock"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return &listFixture{t: t, dir: dir, cfg: cfg}
}

func (f *listFixture) path(name string) string { return filepath.Join(f.dir, name) }

func (f *listFixture) write(name, text string) {
	f.t.Helper()
	if err := os.WriteFile(f.path(name), []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// run runs the CLI with the fixture's config, records the command, its
// stdout, stderr and error in the transcript, and returns stdout.
func (f *listFixture) run(args ...string) string {
	f.t.Helper()
	root := NewRoot(f.deps)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(f.stdin))
	root.SetArgs(append(args, "--config", f.cfg))
	err := root.Execute()
	// stderr first: it holds the prompts, which a terminal shows first.
	stderr := errOut.String()
	if stderr != "" && !strings.HasSuffix(stderr, "\n") {
		stderr += "\n"
	}
	fmt.Fprintf(&f.out, "$ sipprot %s\n%s%s", strings.Join(quoteArgs(args), " "), stderr, out.String())
	if err != nil {
		fmt.Fprintf(&f.out, "error: %v\n", err)
	}
	f.out.WriteString("\n")
	return out.String()
}

// cat records a file's contents in the transcript.
func (f *listFixture) cat(name string) {
	f.t.Helper()
	b, err := os.ReadFile(f.path(name))
	if err != nil {
		f.t.Fatal(err)
	}
	fmt.Fprintf(&f.out, "$ cat %s\n%s\n", name, b)
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'\n\t#") {
			a = fmt.Sprintf("%q", a)
		}
		out[i] = a
	}
	return out
}

// golden compares the transcript, with the temporary directory written
// as $DIR, to testdata/lists/NAME.golden (rewritten with -update).
func (f *listFixture) golden(name string) {
	f.t.Helper()
	f.goldenIn("lists", name)
}

// goldenIn is golden with the goldens of testdata/DIR.
func (f *listFixture) goldenIn(dir, name string) {
	f.t.Helper()
	got := strings.ReplaceAll(f.out.String(), f.dir, "$DIR")
	if f.filter != nil {
		got = f.filter(got)
	}
	testutil.Golden(f.t, filepath.Join("testdata", dir, name+".golden"), []byte(got))
}

// entries returns the list's networks and notes as manage reads them,
// "NETWORK NOTE" each.
func (f *listFixture) entries(k manage.Kind) []string {
	f.t.Helper()
	l, err := manage.New(manage.Options{ConfigPath: f.cfg, MustExist: true}).List(k)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range l.Entries {
		out = append(out, strings.TrimSpace(e.Network+" "+e.Note))
	}
	return out
}

// read returns a file's contents, "" when there is none.
func (f *listFixture) read(name string) string {
	b, _ := os.ReadFile(f.path(name))
	return string(b)
}

func (f *listFixture) saveBlocks(blocks ...policy.BlockState) {
	f.t.Helper()
	os.MkdirAll(f.path("state"), 0o750)
	if err := savedblocks.Save(f.path("state"), blocks, time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

var (
	farFuture = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	aWhileAgo = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func TestListAddGolden(t *testing.T) {
	f := newListFixture(t)
	f.write("allowlist", "# Paris office. Keep the trunk first.\n198.51.100.9 trunk provider\n")
	f.saveBlocks(
		policy.BlockState{Addr: netip.MustParseAddr("192.0.2.66"), Reason: policy.ReasonFailures, Active: true, Count: 1, Until: farFuture},
		policy.BlockState{Addr: netip.MustParseAddr("192.0.2.67"), Reason: policy.ReasonFailures, Active: true, Count: 1, Until: aWhileAgo},
		policy.BlockState{Addr: netip.MustParseAddr("2001:db8::66"), Reason: policy.ReasonUserAgent, Active: true, Permanent: true, Count: 5},
	)
	f.run("allow", "add", "192.0.2.0/24", "--note", "office")
	f.run("allow", "add", "192.0.2.0/24")
	f.run("allow", "add", "192.0.2.9/24", "--note", "main office")
	f.run("allow", "add", "2001:db8::66", "--note", "line one\nline two")
	f.run("allow", "add", "192.0.2.300")
	f.run("allow", "add", "fe80::1%eth0")
	f.run("deny", "add", "192.0.2.7")
	f.run("deny", "add", "192.0.0.0/16", "--note", "too wide")
	f.run("deny", "add", "203.0.113.0/24", "--note", "#1 scanners")
	f.run("deny", "add", "::ffff:203.0.113.99")
	f.run("allow", "add", "203.0.113.5", "--note", "partner behind the scanners' range")
	f.run("allow", "add")
	f.cat("allowlist")
	f.cat("denylist")
	f.golden("add")
	// The refused deny entries are not on it; the others are, as written.
	if got, want := f.entries(manage.Deny), []string{"203.0.113.0/24 #1 scanners", "203.0.113.99/32"}; !slices.Equal(got, want) {
		t.Errorf("deny list %q, want %q", got, want)
	}
	if got, want := f.entries(manage.Allow), []string{"198.51.100.9/32 trunk provider", "192.0.2.0/24 main office",
		"2001:db8::66/128 line one line two", "203.0.113.5/32 partner behind the scanners' range"}; !slices.Equal(got, want) {
		t.Errorf("allow list %q, want %q", got, want)
	}
}

func TestListRemoveGolden(t *testing.T) {
	f := newListFixture(t)
	f.write("allowlist", "# office\n192.0.2.0/24 office\n\n# phones\n192.0.2.7 front desk\n198.51.100.9 trunk\n2001:db8::/32\n")
	f.run("allow", "remove", "192.0.2.8", "10.0.0.1", "192.0.2.7")
	f.run("allow", "remove", "192.0.2.7", "x", "10.0.0.0/33")
	f.run("allow", "remove")
	f.run("allow", "remove", "192.0.2.7")
	f.run("allow", "remove", "198.51.100.9", "2001:db8::/32")
	f.cat("allowlist")
	f.run("allow", "remove", "--all", "192.0.2.0/24")
	f.run("allow", "remove", "--all")
	f.run("allow", "remove", "--all", "--yes")
	f.cat("allowlist")
	f.run("allow", "remove", "--all", "--yes")
	f.golden("remove")
	if got := f.entries(manage.Allow); len(got) != 0 || !strings.HasPrefix(f.read("allowlist"), "# office\n") {
		t.Errorf("after remove --all: %q, file %q", got, f.read("allowlist"))
	}
}

// On a terminal, remove --all asks first.
func TestListRemoveAllAsks(t *testing.T) {
	f := newListFixture(t)
	f.deps.StdinIsTerminal = func(io.Reader) bool { return true }
	f.write("denylist", "# scanners\n203.0.113.0/24\n198.51.100.66\n")
	f.stdin = "n\n"
	f.run("deny", "remove", "--all")
	f.stdin = ""
	f.run("deny", "remove", "--all")
	f.cat("denylist")
	if got := f.entries(manage.Deny); len(got) != 2 {
		t.Errorf("a refused remove --all removed entries: %q", got)
	}
	f.stdin = "yes\n"
	f.run("deny", "remove", "--all")
	f.cat("denylist")
	f.golden("remove_all_terminal")
	if got := f.entries(manage.Deny); len(got) != 0 {
		t.Errorf("after yes: %q", got)
	}
}

const listForListing = `# office
192.0.2.0/24 office
192.0.2.7 front desk
2001:db8:1234:5678::/64 v6 office, floor 2
198.51.100.9
`

func TestListListGolden(t *testing.T) {
	f := newListFixture(t)
	f.run("allow", "list")
	f.run("allow", "list", "--json")
	f.write("allowlist", listForListing)
	f.run("allow", "list")
	f.run("allow", "list", "--json")
	f.write("denylist", "203.0.113.0/24\n203.0.113.300 typo\n")
	f.run("deny", "list")
	f.golden("list")
}

func TestListImportGolden(t *testing.T) {
	f := newListFixture(t)
	f.write("allowlist", "# office\n192.0.2.0/24 office\n192.0.2.7 front desk\n")
	f.saveBlocks(policy.BlockState{Addr: netip.MustParseAddr("198.51.100.66"), Reason: policy.ReasonFailures, Active: true, Count: 1, Until: farFuture})
	f.write("good.csv", "address,note\n"+
		"192.0.2.7,front desk\n"+ // unchanged
		"192.0.2.0/24,\"Paris office, 3rd floor\"\n"+ // note updated
		"198.51.100.0/24,'=partner\n"+ // added; guard undone
		"2001:db8::/48,\"two\nlines\"\n"+ // added, flattened
		"198.51.100.0/24,\n") // duplicate: merged, note kept
	f.run("allow", "import", f.path("good.csv"))
	f.cat("allowlist")
	f.write("bad.csv", "192.0.2.1,ok\n192.0.2.300,typo\nphone,\n192.0.2.2,a,b\n,note only\n192.0.2.3,\"never closed\n192.0.2.4\n")
	allow := f.read("allowlist")
	f.run("allow", "import", f.path("bad.csv"))
	if got := f.read("allowlist"); got != allow {
		t.Errorf("a refused import changed the allow list:\n%s", got)
	}
	f.write("deny.csv", "address,note\n203.0.113.0/24,scanners\n192.0.2.128/25,overlaps the office\n198.51.100.77,held by the partner\n10.0.0.0/8,private\n")
	f.run("deny", "import", f.path("deny.csv"))
	if got := f.read("denylist"); got != "" {
		t.Errorf("a deny import overlapping the allow list wrote %q", got)
	}
	f.run("deny", "import", f.path("absent.csv"))
	f.stdin = "203.0.113.0/24,scanners\n"
	f.run("deny", "import", "-")
	f.cat("denylist")
	f.cat("allowlist")
	f.golden("import")
	if got := f.entries(manage.Deny); !slices.Equal(got, []string{"203.0.113.0/24 scanners"}) {
		t.Errorf("deny list %q after the import from stdin", got)
	}
}

func TestListExportGolden(t *testing.T) {
	f := newListFixture(t)
	f.write("allowlist", listForListing+"203.0.113.1 =HYPERLINK(\"http://x\",\"click\")\n203.0.113.2 -tel\n203.0.113.3 \"quoted\", with comma\n")
	f.run("allow", "export")
	f.run("allow", "export", f.path("out.csv"))
	f.cat("out.csv")
	f.run("deny", "export")
	f.golden("export")

	// Importing the export changes nothing, to the byte.
	before, _ := os.ReadFile(f.path("allowlist"))
	if out := f.run("allow", "import", f.path("out.csv")); !strings.Contains(out, "0 added, 0 with a new note, 7 unchanged") {
		t.Errorf("import of the export: %s", out)
	}
	if after, _ := os.ReadFile(f.path("allowlist")); !bytes.Equal(before, after) {
		t.Errorf("import of the export changed the list:\n%s\nwas\n%s", after, before)
	}
}

// Several CLI processes adding to one list at once lose nothing, while a
// watcher (as the daemon runs) reloads the list and never sees a torn or
// bad file.
func TestListConcurrentProcesses(t *testing.T) {
	bin := buildCLI(t)
	f := newListFixture(t)
	f.write("allowlist", "# shared\n")
	var mu sync.Mutex
	var bad []string
	last := make(chan []lists.Entry, 1000)
	go lists.Watch(t.Context(), f.path("allowlist"), f.path("denylist"),
		func(a, _ []lists.Entry) { last <- a },
		func(format string, args ...any) {
			mu.Lock()
			bad = append(bad, fmt.Sprintf(format, args...))
			mu.Unlock()
		})
	const procs, each = 6, 15
	var wg sync.WaitGroup
	for p := range procs {
		wg.Go(func() {
			for i := range each {
				addr := fmt.Sprintf("198.51.%d.%d", p, i)
				out, err := exec.Command(bin, "--config", f.cfg, "allow", "add", addr, "--note", fmt.Sprint("proc ", p)).CombinedOutput()
				if err != nil {
					t.Errorf("add %s: %v\n%s", addr, err, out)
				}
			}
		})
	}
	wg.Wait()
	entries, err := lists.Load(f.path("allowlist"))
	if err != nil || len(entries) != procs*each {
		t.Fatalf("%d entries, want %d: %v", len(entries), procs*each, err)
	}
	deadline := time.After(2 * time.Second)
	for got := 0; got != procs*each; {
		select {
		case a := <-last:
			got = len(a)
		case <-deadline:
			t.Fatalf("the watcher never applied all %d entries", procs*each)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("the watcher saw bad files: %q", bad)
	}
}

var (
	buildOnce sync.Once
	builtCLI  string
	buildErr  error
)

// buildCLI builds the sipprot binary once per test run.
func buildCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sipprot-cli-test")
		if err != nil {
			buildErr = err
			return
		}
		builtCLI = filepath.Join(dir, "sipprot")
		out, err := exec.Command("go", "build", "-o", builtCLI, "..").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtCLI
}

// kill -9 in the middle of importing 100,000 rows leaves the old list or
// the new one: never a mix, never empty, never a file that does not
// parse; and the lock dies with the process.
func TestListImportKilled(t *testing.T) {
	bin := buildCLI(t)
	f := newListFixture(t)
	var old strings.Builder
	old.WriteString("# the list before the import\n")
	for i := range 1000 {
		fmt.Fprintf(&old, "192.0.%d.%d old entry %d\n", i/250, i%250+1, i)
	}
	var csv bytes.Buffer
	csv.WriteString("address,note\n")
	for i := range 100_000 {
		if i%2 == 0 {
			fmt.Fprintf(&csv, "10.%d.%d.%d,imported %d\n", i>>16&255, i>>8&255, i&255, i)
		} else {
			fmt.Fprintf(&csv, "2001:db8:%x::%x,\"imported, v6 %d\"\n", i>>16, i&0xffff, i)
		}
	}
	f.write("big.csv", csv.String())
	const oldN, newN = 1000, 101_000

	// importOnce imports big.csv over the old list and kills the process
	// after killAfter, or, if duringWrite, as soon as its temporary file
	// appears (plus up to 2 ms): the moment a non-atomic write would tear.
	importOnce := func(killAfter time.Duration, duringWrite bool, jitter time.Duration) (killed bool) {
		t.Helper()
		f.write("allowlist", old.String())
		cmd := exec.Command(bin, "--config", f.cfg, "allow", "import", f.path("big.csv"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		kill := time.After(killAfter)
		var poll <-chan time.Time
		if duringWrite {
			kill = nil
			tick := time.NewTicker(100 * time.Microsecond)
			defer tick.Stop()
			poll = tick.C
		}
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("import: %v", err)
				}
				return false
			case <-poll:
				if len(must(filepath.Glob(f.path(".allowlist.*")))) > 0 {
					poll, kill = nil, time.After(jitter)
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return true
			}
		}
	}
	var full time.Duration
	for i := range 3 {
		start := time.Now()
		importOnce(time.Minute, false, 0)
		if d := time.Since(start); i == 0 || d < full {
			full = d
		}
	}
	t.Logf("a full import of 100,000 rows by the binary: %v (fastest of 3)", full)

	r := rand.New(rand.NewPCG(7, 7))
	var sawOld, sawNew, kills int
	for i := range 40 {
		duringWrite := i%2 == 1
		at := time.Duration(float64(full) * 2 * r.Float64())
		if importOnce(at, duringWrite, time.Duration(r.Int64N(int64(2*time.Millisecond)))) {
			kills++
		}
		entries, err := lists.Load(f.path("allowlist"))
		if err != nil {
			t.Fatalf("run %d (kill at %v, during write %v): the list does not parse: %v", i, at, duringWrite, err)
		}
		switch len(entries) {
		case oldN:
			sawOld++
		case newN:
			sawNew++
		default:
			t.Fatalf("run %d (kill at %v, during write %v): %d entries, neither the old %d nor the new %d",
				i, at, duringWrite, len(entries), oldN, newN)
		}
	}
	t.Logf("40 imports, %d killed (half at random times, half while writing): %d times the old list, %d times the new one",
		kills, sawOld, sawNew)
	if kills == 0 {
		t.Error("no import was killed: the test proved nothing")
	}
	// The lock died with the killed process: the next edit proceeds.
	done := make(chan error, 1)
	go func() {
		done <- exec.Command(bin, "--config", f.cfg, "allow", "add", "203.0.113.1").Run()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an edit after the kills is stuck on the lock")
	}
	// ...and it swept the temporary file a kill left behind.
	if leftovers := must(filepath.Glob(f.path(".allowlist.*"))); len(leftovers) > 0 {
		t.Errorf("temporary files left after the next edit: %v", leftovers)
	}
}

func must[T any](v T, _ error) T { return v }

// The JSON outputs are objects with stable lower_snake_case keys.
func TestListJSONKeys(t *testing.T) {
	f := newListFixture(t)
	f.write("allowlist", listForListing)
	var doc map[string]any
	if err := json.Unmarshal([]byte(f.run("allow", "list", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range doc {
			yield(k)
		}
	})
	if fmt.Sprint(keys) != "[entries file list]" {
		t.Errorf("keys %v", keys)
	}
}
