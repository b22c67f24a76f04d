//go:build linux

package queue

import (
	"fmt"

	"github.com/sipprot/sipprot/internal/netns"
)

// readKernelStatsIn reads the kernel's queue stats of the network
// namespace fd ns (0: this process's). The proc file shows the namespace
// of the thread reading it, so the read runs on a thread moved into ns.
func readKernelStatsIn(ns int) (map[uint16]KernelStats, error) {
	if ns == 0 {
		return ReadKernelStats()
	}
	var m map[uint16]KernelStats
	var rerr error
	err := netns.Do(ns, func() error {
		m, rerr = readKernelStatsFile("/proc/thread-self/net/netfilter/nfnetlink_queue")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kernel queue stats: %w", err)
	}
	return m, rerr
}
