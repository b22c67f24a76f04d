package testutil

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update is the one -update flag of the repository: every package's
// golden files are rewritten by `go test ./... -update`.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Updating reports whether the test run was asked to rewrite golden files.
func Updating() bool { return *update }

// Golden compares got with the file at path (rewriting it first, and its
// directory if missing, when -update is set). A difference fails the test
// and shows both.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run '%s' -update)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
