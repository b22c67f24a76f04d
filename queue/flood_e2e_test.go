//go:build e2e

package queue

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// floodSpec is what the flood helper process is told, as JSON in
// SP_Q_FLOOD.
type floodSpec struct {
	Dst      netip.AddrPort `json:"dst"`
	Srcs     []netip.Addr   `json:"srcs"`
	Rate     int            `json:"rate"` // packets/s over all sources; 0 = as fast as possible
	Duration time.Duration  `json:"duration"`
	Workers  int            `json:"workers"`
	CPU      int            `json:"cpu"` // pin the sender to this CPU; -1: no pinning
}

// floodResult is what it prints back.
type floodResult struct {
	Sent    uint64        `json:"sent"`
	Elapsed time.Duration `json:"elapsed"`
	Err     string        `json:"err,omitempty"`
}

const floodMarker = "FLOOD-RESULT "

// TestHelperFlood is not a test: the throughput test runs the test binary
// again, inside the sender namespace, to flood from a process of its own
// (so the reader's CPU time is the test process's alone).
func TestHelperFlood(t *testing.T) {
	js := os.Getenv("SP_Q_FLOOD")
	if js == "" {
		t.Skip("flood helper: run by TestThroughput")
	}
	var spec floodSpec
	res := floodResult{}
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		res.Err = err.Error()
	} else if err := pinProcess(spec.CPU); err != nil {
		res.Err = err.Error()
	} else {
		res = flood(spec)
	}
	b, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", floodMarker, b)
}

// flood sends REGISTERs round-robin from spec.Srcs with sendmmsg, paced
// to spec.Rate in 1 ms steps when Rate > 0.
func flood(spec floodSpec) floodResult {
	const batch = 64
	if spec.Workers < 1 {
		spec.Workers = 1
	}
	type sock struct {
		raw  syscall.RawConn
		hdrs []mmsghdr
	}
	var socks []sock
	for _, src := range spec.Srcs {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: src.AsSlice()}, net.UDPAddrFromAddrPort(spec.Dst))
		if err != nil {
			return floodResult{Err: err.Error()}
		}
		defer c.Close()
		c.SetWriteBuffer(4 << 20)
		raw, err := c.SyscallConn()
		if err != nil {
			return floodResult{Err: err.Error()}
		}
		s := sock{raw: raw, hdrs: make([]mmsghdr, batch)}
		for i := range s.hdrs {
			// Distinct Call-IDs, as a scanner's are.
			msg := register(src, i, "Yealink SIP-T46S 66.86.0.15")
			iov := &unix.Iovec{Base: &msg[0]}
			iov.SetLen(len(msg))
			s.hdrs[i].hdr.Iov = iov
			s.hdrs[i].hdr.SetIovlen(1)
		}
		socks = append(socks, s)
	}
	var sent atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(spec.Duration)
	perWorker := float64(spec.Rate) / float64(spec.Workers)
	for w := range spec.Workers {
		wg.Go(func() {
			var mine uint64
			for i := w; time.Now().Before(end); i++ {
				n := batch
				if spec.Rate > 0 {
					due := int64(perWorker*time.Since(start).Seconds()) - int64(mine)
					if due <= 0 {
						time.Sleep(200 * time.Microsecond)
						continue
					}
					n = int(min(due, batch))
				}
				s := &socks[i%len(socks)]
				var got int
				s.raw.Write(func(fd uintptr) bool {
					r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(n), 0, 0, 0)
					if e == unix.EAGAIN {
						return false
					}
					if e == 0 {
						got = int(r)
					}
					return true
				})
				mine += uint64(got)
			}
			sent.Add(mine)
		})
	}
	wg.Wait()
	return floodResult{Sent: sent.Load(), Elapsed: time.Since(start)}
}

// pinProcess pins every thread of this process to cpu (new threads
// inherit it); a negative cpu does nothing.
func pinProcess(cpu int) error {
	if cpu < 0 {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d to CPU %d: %w", tid, cpu, err)
		}
	}
	return nil
}
