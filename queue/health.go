package queue

import (
	"fmt"
	"time"
)

// QueueHealth is one queue's counters and state.
type QueueHealth struct {
	Number  uint16 `json:"number"`
	Healthy bool   `json:"healthy"`
	// Problem says why the queue is not healthy; empty when it is.
	Problem string `json:"problem,omitempty"`
	// Running is false while the reader re-opens a failed socket.
	Running bool `json:"running"`
	// Packets judged, and of them accepted and dropped.
	Packets  uint64 `json:"packets"`
	Accepted uint64 `json:"accepted"`
	Dropped  uint64 `json:"dropped"`
	// Undecodable packets were not valid IP; they were judged by source
	// address alone, or accepted when even that was missing.
	Undecodable uint64 `json:"undecodable"`
	// Errors counts the netlink errors survived, ENOBUFS (the kernel had
	// no room in the socket for a packet) among them.
	Errors  uint64 `json:"errors"`
	ENOBUFS uint64 `json:"enobufs"`
	// Lost counts packets the kernel numbered but never delivered to us
	// (its socket was full): passed by fail-open, or dropped without it.
	Lost uint64 `json:"lost"`
	// Reopens counts the times the socket failed and was bound again.
	Reopens uint64 `json:"reopens"`
	// VerdictMessages and Reads count the netlink messages and system
	// calls that carried the verdicts: how well batching works.
	VerdictMessages uint64    `json:"verdict_messages"`
	Reads           uint64    `json:"reads"`
	LastVerdict     time.Time `json:"last_verdict,omitzero"`
	// KernelDropped (queue full) and UserDropped (socket full) are the
	// kernel's counters of packets it dropped without fail-open; with
	// fail-open, such packets pass and these stay 0. Waiting is how many
	// packets it holds for a verdict now.
	KernelDropped uint64 `json:"kernel_dropped"`
	UserDropped   uint64 `json:"user_dropped"`
	Waiting       uint32 `json:"waiting"`
	// Kernel is the kernel's whole line for the queue, when it could be
	// read.
	Kernel *KernelStats `json:"kernel,omitempty"`
}

// Health reports every queue, first to last. It reads the kernel's queue
// stats, so call it every few seconds, not per packet.
//
// A queue is unhealthy when its reader is not running, the kernel does
// not list it as bound to our socket, or it is wedged: the kernel holds
// packets for it (or has numbered packets it never delivered) while it
// has not answered for Config.StallAfter.
func (q *Queue) Health() []QueueHealth {
	ks, kerr := q.kernel()
	now := q.now()
	q.healthMu.Lock()
	defer q.healthMu.Unlock()
	out := make([]QueueHealth, 0, len(q.readers))
	for _, r := range q.readers {
		h := r.snapshot()
		var k KernelStats
		inKernel := false
		if kerr == nil {
			k, inKernel = ks[r.num]
			if inKernel {
				kc := k
				h.Kernel = &kc
				h.KernelDropped, h.UserDropped, h.Waiting = uint64(k.QueueDropped), uint64(k.UserDropped), k.Waiting
			}
		}
		st := &r.st
		h.Problem = assess(sample{
			running:     h.Running,
			portID:      st.portID.Load(),
			boundAt:     unixTime(st.boundAt.Load()),
			lastVerdict: h.LastVerdict,
			lastRecv:    unixTime(st.lastRecv.Load()),
			lastID:      st.lastID.Load(),
			enobufs:     h.ENOBUFS,
			kernelOK:    kerr == nil,
			inKernel:    inKernel,
			kernel:      k,
			prevValid:   st.prevValid,
			prevIDSeq:   st.prevIDSeq,
			prevENOBUFS: st.prevENOBUFS,
		}, now, q.cfg.StallAfter)
		h.Healthy = h.Problem == ""
		if inKernel {
			st.prevIDSeq, st.prevENOBUFS, st.prevValid = k.IDSequence, h.ENOBUFS, true
		} else {
			st.prevValid = false
		}
		out = append(out, h)
	}
	return out
}

// Alive reports whether every queue is bound and healthy. The daemon feeds
// the systemd watchdog only while it is, so a wedged queue gets the
// daemon restarted.
func (q *Queue) Alive() bool {
	select {
	case <-q.ready:
	default:
		return false
	}
	for _, h := range q.Health() {
		if !h.Healthy {
			return false
		}
	}
	return true
}

func (r *reader) snapshot() QueueHealth {
	st := &r.st
	return QueueHealth{
		Number:          r.num,
		Running:         st.running.Load(),
		Packets:         st.packets.Load(),
		Accepted:        st.accepted.Load(),
		Dropped:         st.dropped.Load(),
		Undecodable:     st.undecodable.Load(),
		Errors:          st.errors.Load(),
		ENOBUFS:         st.enobufs.Load(),
		Lost:            st.lost.Load(),
		Reopens:         st.reopens.Load(),
		VerdictMessages: st.verdictMsgs.Load(),
		Reads:           st.reads.Load(),
		LastVerdict:     unixTime(st.lastVerdict.Load()),
	}
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// sample is what assess judges one queue on.
type sample struct {
	running                        bool
	portID                         uint32
	boundAt, lastVerdict, lastRecv time.Time
	lastID                         uint32
	enobufs                        uint64

	kernelOK, inKernel bool // the stats file was read; it lists the queue
	kernel             KernelStats

	prevValid   bool // the previous Health call saw the queue in the kernel
	prevIDSeq   uint32
	prevENOBUFS uint64
}

// assess returns why the queue is unhealthy, or "".
func assess(s sample, now time.Time, stall time.Duration) string {
	if !s.running {
		return "reader not running (re-opening its socket)"
	}
	if !s.kernelOK {
		// Without the kernel's view (no /proc), a running reader is
		// all that can be checked.
		return ""
	}
	if !s.inKernel {
		return "the kernel lists no socket bound to the queue"
	}
	k := s.kernel
	if k.PortID != s.portID {
		return fmt.Sprintf("the queue is bound to another socket (port %d, ours %d)", k.PortID, s.portID)
	}
	since := func(t time.Time) time.Duration {
		if t.Before(s.boundAt) {
			t = s.boundAt
		}
		return now.Sub(t)
	}
	if d := since(s.lastVerdict); k.Waiting > 0 && d > stall {
		return fmt.Sprintf("wedged: the kernel holds %d packets, no verdict for %v", k.Waiting, d.Round(100*time.Millisecond))
	}
	// Numbered since the last look, never received, and no ENOBUFS to
	// explain the gap: messages are stuck on their way to us.
	if d := since(s.lastRecv); s.prevValid && k.IDSequence != s.prevIDSeq && k.IDSequence != s.lastID &&
		s.enobufs == s.prevENOBUFS && d > stall {
		return fmt.Sprintf("wedged: the kernel numbered packets up to %d, the last received is %d, nothing received for %v",
			k.IDSequence, s.lastID, d.Round(100*time.Millisecond))
	}
	return ""
}
