//go:build !linux

package queue

import (
	"errors"
	"time"
)

// errNotLinux: NFQUEUE exists only on Linux. The rest of sipprot (replay,
// the CLI) builds elsewhere.
var errNotLinux = errors.New("NFQUEUE needs Linux")

type conn struct {
	portID uint32
	nowait bool
}

func dial(netns, rcvbuf, batch int) (*conn, error)          { return nil, errNotLinux }
func (c *conn) recv() (int, error)                          { return 0, errNotLinux }
func (c *conn) datagram(i int) ([]byte, bool)               { return nil, false }
func (c *conn) send(b []byte) error                         { return errNotLinux }
func (c *conn) setReadDeadline(t time.Time) error           { return errNotLinux }
func (c *conn) close() error                                { return nil }
func isClosed(err error) bool                               { return true }
func isENOBUFS(err error) bool                              { return false }
func isInUse(err error) bool                                { return false }
func readKernelStatsIn(int) (map[uint16]KernelStats, error) { return nil, errNotLinux }
