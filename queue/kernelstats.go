package queue

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// KernelStatsPath is where the kernel lists the NFQUEUE queues bound in the
// reading process's network namespace.
const KernelStatsPath = "/proc/net/netfilter/nfnetlink_queue"

// KernelStats is the kernel's view of one bound queue, one line of
// KernelStatsPath.
type KernelStats struct {
	Queue uint16 `json:"queue"`
	// PortID is the netlink port of the socket bound to the queue.
	PortID uint32 `json:"port_id"`
	// Waiting is how many packets the kernel holds for a verdict
	// (queue_total).
	Waiting   uint32 `json:"waiting"`
	CopyMode  uint8  `json:"copy_mode"`
	CopyRange uint32 `json:"copy_range"`
	// QueueDropped counts packets dropped because the queue was full;
	// UserDropped those the kernel could not hand to the socket (its
	// buffer was full). Both stay 0 under fail-open, which lets such
	// packets through instead.
	QueueDropped uint32 `json:"queue_dropped"`
	UserDropped  uint32 `json:"user_dropped"`
	// IDSequence is the last packet id the kernel assigned.
	IDSequence uint32 `json:"id_sequence"`
}

// ReadKernelStats reads KernelStatsPath: the queues bound in this
// process's network namespace, by queue number.
func ReadKernelStats() (map[uint16]KernelStats, error) {
	return readKernelStatsFile(KernelStatsPath)
}

// readKernelStatsFile reads and parses a copy of KernelStatsPath.
func readKernelStatsFile(path string) (map[uint16]KernelStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kernel queue stats: %w", err)
	}
	defer f.Close()
	return parseKernelStats(f)
}

// parseKernelStats parses the lines the kernel prints as
// "%5u %6u %5u %1u %5u %5u %5u %8u %2d": queue_number peer_portid
// queue_total copy_mode copy_range queue_dropped user_dropped
// id_sequence 1. Columns past the ninth are ignored, so a kernel that adds
// some still parses.
func parseKernelStats(r io.Reader) (map[uint16]KernelStats, error) {
	out := map[uint16]KernelStats{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("kernel queue stats line %d: %d fields, want at least 8", line, len(f))
		}
		var v [8]uint64
		bits := [8]int{16, 32, 32, 8, 32, 32, 32, 32}
		for i := range v {
			n, err := strconv.ParseUint(f[i], 10, bits[i])
			if err != nil {
				return nil, fmt.Errorf("kernel queue stats line %d field %d: %w", line, i+1, err)
			}
			v[i] = n
		}
		out[uint16(v[0])] = KernelStats{
			Queue: uint16(v[0]), PortID: uint32(v[1]), Waiting: uint32(v[2]),
			CopyMode: uint8(v[3]), CopyRange: uint32(v[4]),
			QueueDropped: uint32(v[5]), UserDropped: uint32(v[6]), IDSequence: uint32(v[7]),
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kernel queue stats: %w", err)
	}
	return out, nil
}
