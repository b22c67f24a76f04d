//go:build linux

package queue

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// readKernelStatsIn reads the kernel's queue stats of the network
// namespace netns (0: this process's). The proc file shows the namespace
// of the thread reading it, so the read runs on a locked thread moved
// into netns.
func readKernelStatsIn(netns int) (map[uint16]KernelStats, error) {
	if netns == 0 {
		return ReadKernelStats()
	}
	type result struct {
		m   map[uint16]KernelStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread unless the thread is back in its own
		// namespace: a locked goroutine's exit retires its thread.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{err: fmt.Errorf("kernel queue stats: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("kernel queue stats: enter namespace: %w", err)}
			return
		}
		f, err := os.Open("/proc/thread-self/net/netfilter/nfnetlink_queue")
		var m map[uint16]KernelStats
		if err == nil {
			m, err = parseKernelStats(f)
			f.Close()
		} else {
			err = fmt.Errorf("kernel queue stats: %w", err)
		}
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{m, err}
	}()
	res := <-done
	return res.m, res.err
}
