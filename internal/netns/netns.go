// Package netns runs code inside Linux network namespaces: sipprot reads
// the queue stats of the namespace it filters, and the kernel tests build
// their networks from namespaces (see netnstest).
package netns

import (
	"errors"
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
// Errors of the switch name the namespace; fn's own come back as they are.
func DoNamed(name string, fn func() error) error {
	f, err := Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var ferr error
	if err := Do(int(f.Fd()), func() error { ferr = fn(); return nil }); err != nil {
		return errors.Join(ferr, fmt.Errorf("network namespace %s: %w", name, err))
	}
	return ferr
}
