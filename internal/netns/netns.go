// Package netns runs code inside Linux network namespaces: sipprot reads
// the queue stats of the namespace it filters, and the kernel tests build
// their networks from namespaces (see netnstest).
package netns

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dir is where iproute2 keeps its named namespaces (ip netns add NAME).
const Dir = "/run/netns"

// Path returns the file of the namespace iproute2 calls name.
func Path(name string) string { return filepath.Join(Dir, name) }

// Open opens the namespace iproute2 calls name; its Fd is what Do takes.
func Open(name string) (*os.File, error) {
	f, err := os.Open(Path(name))
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	return f, nil
}

// DoNamed runs fn inside the namespace iproute2 calls name, like Do.
func DoNamed(name string, fn func() error) error {
	f, err := Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := Do(int(f.Fd()), fn); err != nil {
		return fmt.Errorf("in %s: %w", name, err)
	}
	return nil
}
