package lists

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCSVString(t *testing.T, text string) ([]Entry, error) {
	t.Helper()
	return ReadCSV(strings.NewReader(text), "in.csv", nil)
}

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // entries as "prefix=note;"
	}{
		{"header", "address,note\n192.0.2.1,phone\n", "192.0.2.1/32=phone;"},
		{"other header words", "IP Address,Comment\r\n192.0.2.1,phone\r\n", "192.0.2.1/32=phone;"},
		{"no header", "192.0.2.1,phone\n198.51.100.0/24,trunk\n", "192.0.2.1/32=phone;198.51.100.0/24=trunk;"},
		{"excel byte order mark", "\ufeffaddress,note\n192.0.2.1,phone\n", "192.0.2.1/32=phone;"},
		{"address only", "192.0.2.1\n192.0.2.2,\n", "192.0.2.1/32=;192.0.2.2/32=;"},
		{"blank rows and trailing empty columns", "\n192.0.2.1,phone,,\n,\n", "192.0.2.1/32=phone;"},
		{"spaces around the address", " 192.0.2.1 , phone \n", "192.0.2.1/32=phone;"},
		{"ipv6", "2001:db8::1,v6 phone\n2001:db8:1::/48,v6 office\n::ffff:192.0.2.9,mapped\n",
			"2001:db8::1/128=v6 phone;2001:db8:1::/48=v6 office;192.0.2.9/32=mapped;"},
		{"quoting", "192.0.2.1,\"Smith, John \"\"JJ\"\"\"\n", `192.0.2.1/32=Smith, John "JJ";`},
		{"newlines in a note are flattened", "192.0.2.1,\"line one\r\nline two\"\n192.0.2.2,x\n",
			"192.0.2.1/32=line one line two;192.0.2.2/32=x;"},
		{"guards are undone", "192.0.2.1,'=1+2\n192.0.2.2,'-- old\n192.0.2.3,'''@x\n192.0.2.4,'plain\n",
			"192.0.2.1/32==1+2;192.0.2.2/32=-- old;192.0.2.3/32=''@x;192.0.2.4/32='plain;"},
		{"duplicates are kept for Add to merge", "192.0.2.1,a\n192.0.2.1,b\n", "192.0.2.1/32=a;192.0.2.1/32=b;"},
		{"empty", "", ""},
		{"header only", "address,note\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readCSVString(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, e := range got {
				fmt.Fprintf(&b, "%s=%s;", e.Prefix, e.Note)
			}
			if b.String() != tt.want {
				t.Errorf("got  %s\nwant %s", b.String(), tt.want)
			}
		})
	}
}

// Every bad row is reported, with the line it starts on, and no entry
// comes back.
func TestReadCSVBadRows(t *testing.T) {
	in := "address,note\n" + // 1
		"192.0.2.1,good\n" + // 2
		"192.0.2.300,typo\n" + // 3
		"192.0.2.2,\"multi\nline note\"\n" + // 4-5
		"not-an-ip,x\n" + // 6
		"192.0.2.3,a,b\n" + // 7
		",orphan note\n" + // 8
		"192.0.2.4,bare \"quote\n" + // 9
		"10.0.0.0/33,x\n" + // 10
		"fe80::1%eth0,zone\n" + // 11
		"192.0.2.5," + strings.Repeat("n", MaxNoteLen+1) + "\n" + // 12
		"192.0.2.6,fine\n" // 13
	got, err := readCSVString(t, in)
	var bad *BadRowsError
	if !errors.As(err, &bad) || got != nil {
		t.Fatalf("got %v, %v; want a *BadRowsError and no entries", got, err)
	}
	want := []string{
		`in.csv:3: bad address "192.0.2.300"`,
		`in.csv:6: bad address "not-an-ip"`,
		`in.csv:7: 3 columns, want address,note`,
		`in.csv:8: no address`,
		`in.csv:9: bare " in non-quoted-field`,
		`in.csv:10: bad network "10.0.0.0/33"`,
		`in.csv:11: bad address "fe80::1%eth0": zones are not allowed`,
		fmt.Sprintf(`in.csv:12: note too long (%d bytes, at most %d)`, MaxNoteLen+1, MaxNoteLen),
	}
	var rows []string
	for _, r := range bad.Rows {
		rows = append(rows, r.Error())
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "in.csv: 8 bad row(s), nothing imported:\nin.csv:3: ") {
		t.Errorf("error text %q", err)
	}
}

// A typo in the first row is a bad row, not a header to skip.
func TestReadCSVFirstRowTypoIsNotAHeader(t *testing.T) {
	for _, first := range []string{"192.0.2.300", "fe80::zz", "10.0.0.0/40"} {
		_, err := readCSVString(t, first+",x\n192.0.2.1,y\n")
		if err == nil || !strings.Contains(err.Error(), "in.csv:1:") {
			t.Errorf("first row %q: %v", first, err)
		}
	}
}

func TestReadCSVCheck(t *testing.T) {
	no := func(e Entry) error {
		if e.Prefix.Addr().Is6() {
			return fmt.Errorf("%s: no IPv6 here", e.Prefix)
		}
		return nil
	}
	_, err := ReadCSV(strings.NewReader("192.0.2.1\n2001:db8::1\n"), "in.csv", no)
	if err == nil || !strings.Contains(err.Error(), "in.csv:2: 2001:db8::1/128: no IPv6 here") {
		t.Errorf("error %v", err)
	}
}

func TestWriteCSV(t *testing.T) {
	entries := []Entry{
		{Prefix: mustPrefix("192.0.2.1"), Note: "plain"},
		{Prefix: mustPrefix("198.51.100.0/24"), Note: `Smith, John "JJ"`},
		{Prefix: mustPrefix("2001:db8::/32")},
		{Prefix: mustPrefix("203.0.113.1"), Note: "=HYPERLINK(\"http://x\")"},
		{Prefix: mustPrefix("203.0.113.2"), Note: "+33 1 23 45"},
		{Prefix: mustPrefix("203.0.113.3"), Note: "-- old"},
		{Prefix: mustPrefix("203.0.113.4"), Note: "@SUM(A1)"},
		{Prefix: mustPrefix("203.0.113.5"), Note: "'=already guarded?"},
		{Prefix: mustPrefix("203.0.113.6"), Note: "'quoted'"},
		{Prefix: mustPrefix("203.0.113.7"), Note: "a=b"},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, entries); err != nil {
		t.Fatal(err)
	}
	want := `address,note
192.0.2.1,plain
198.51.100.0/24,"Smith, John ""JJ"""
2001:db8::/32,
203.0.113.1,"'=HYPERLINK(""http://x"")"
203.0.113.2,'+33 1 23 45
203.0.113.3,'-- old
203.0.113.4,'@SUM(A1)
203.0.113.5,''=already guarded?
203.0.113.6,'quoted'
203.0.113.7,a=b
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	back, err := ReadCSV(&b, "export.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(entries) {
		t.Errorf("round trip\n got %q\nwant %q", back, entries)
	}
}

func TestGuardIsInvertible(t *testing.T) {
	for _, s := range []string{"", "x", "=", "'", "'=", "''=", "'''", "'x", "-1", "\t", "'\r", "@@", "a'="} {
		if g := guard(s); unguard(g) != s {
			t.Errorf("unguard(guard(%q)) = %q (guarded %q)", s, unguard(g), g)
		}
		if g := guard(s); g != s && !strings.HasPrefix(g, "'") {
			t.Errorf("guard(%q) = %q", s, g)
		}
	}
}

// Importing an export changes nothing: not a byte of the list file.
func TestCSVRoundTripThroughTheListFile(t *testing.T) {
	list := strings.Replace(handEdited, "198.51.100.9 trunk (again)\n", "", 1) +
		"203.0.113.9 =cmd|' /C calc'!A0\n203.0.113.10 # #1 priority\n2001:db8:5::1 -tel\n" +
		"203.0.113.11\n203.0.113.12 a, \"quoted\" note\n"
	path := writeList(t, list)
	d, err := ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, d.Entries()); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadCSV(&b, "export.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != d.Len() {
		t.Fatalf("%d rows back, want %d", len(entries), d.Len())
	}
	if err := Edit(path, func(d *Doc) error {
		for _, e := range entries {
			if r := d.Add(e); r != Unchanged {
				t.Errorf("%v: %v", e, r)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != list {
		t.Errorf("the round trip changed the list:\n%s\nwant\n%s", got, list)
	}
}

// FuzzCSVNote: any note a list line can hold comes back from an export
// unchanged.
func FuzzCSVNote(f *testing.F) {
	for _, s := range []string{"", "office", "=1+1", "'=x", "a,b", `"q"`, "\tx", "x\ny", "#1", "'''-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, note string) {
		note, err := CleanNote(note)
		if err != nil {
			return
		}
		d, _ := parseListDoc("l", nil)
		d.Add(Entry{Prefix: mustPrefix("192.0.2.1"), Note: note})
		listed, err := Read(bytes.NewReader(d.Bytes()), "l")
		if err != nil || len(listed) != 1 {
			t.Fatalf("list line for %q: %v %v", note, listed, err)
		}
		var b bytes.Buffer
		if err := WriteCSV(&b, listed); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&b, "x.csv", nil)
		if err != nil || len(back) != 1 || back[0] != listed[0] {
			t.Fatalf("note %q (listed %q): csv %q came back as %q, %v", note, listed[0].Note, b.String(), back, err)
		}
	})
}

func bigCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("address,note\n")
	for i, p := range randomPrefixes(n) {
		fmt.Fprintf(&b, "%s,\"imported host %d, batch 7\"\n", FormatPrefix(p), i)
	}
	return b.Bytes()
}

// A 100,000-row import, parse to file, keeps every row and the
// operator's lines; its time is BenchmarkImport100k's figure.
func TestImport100k(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	data := bigCSV(100_000)
	path := writeList(t, handEdited)
	start := time.Now()
	entries, err := ReadCSV(bytes.NewReader(data), "big.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed := time.Since(start)
	if err := Edit(path, func(d *Doc) error {
		for _, e := range entries {
			d.Add(e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	t.Logf("import of 100,000 rows: %v (csv parse %v), file %d bytes", total, parsed, len(readFile(t, path)))
	got, err := Load(path)
	if err != nil || len(got) != 100_000+4 {
		t.Fatalf("%d entries, %v", len(got), err)
	}
}

func BenchmarkImport100k(b *testing.B) {
	data := bigCSV(100_000)
	dir := b.TempDir()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, fmt.Sprint("list", i))
		entries, err := ReadCSV(bytes.NewReader(data), "big.csv", nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := Edit(path, func(d *Doc) error {
			for _, e := range entries {
				d.Add(e)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		os.Remove(path)
	}
}
