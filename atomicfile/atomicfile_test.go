package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "f")
	if err := Write(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("%q %v %v", b, fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".f.*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// A write that cannot rename (the target is a directory) leaves no
	// temporary file and the target as it was.
	os.Mkdir(filepath.Join(dir, "d"), 0o750)
	if err := Write(filepath.Join(dir, "d"), []byte("x"), 0o600); err == nil {
		t.Fatal("renamed over a directory")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".d.*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
