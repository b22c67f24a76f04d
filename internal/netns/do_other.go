//go:build !linux

package netns

import (
	"errors"
	"fmt"
)

// Do fails: network namespaces are Linux's.
func Do(fd int, fn func() error) error {
	return fmt.Errorf("network namespace: %w", errors.ErrUnsupported)
}
