//go:build e2e

package queue

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The two ends of the added-latency benchmark (latency_e2e_test.go), each
// a process of its own, as a PBX and its phones are: a SIP responder in
// the PBX's namespace and an open-loop client in the phones'. Both move
// datagrams with recvmmsg/sendmmsg, so that at 100,000 requests/s the
// ends cost as little CPU as they can on a small machine.

// latClientSpec is what the client process is told, as JSON in
// SP_Q_LAT_CLIENT.
type latClientSpec struct {
	Dst      netip.AddrPort `json:"dst"`
	Srcs     []netip.Addr   `json:"srcs"` // one socket each, used in turn
	Rate     int            `json:"rate"` // requests/s
	Duration time.Duration  `json:"duration"`
	Grace    time.Duration  `json:"grace"` // wait for late answers after the last request
	Out      string         `json:"out"`   // file for the round-trip times
}

// latClientResult is what it prints back; the round-trip times of the
// answered requests are in spec.Out, little-endian int64 nanoseconds.
type latClientResult struct {
	Sent     uint64        `json:"sent"`
	Answered uint64        `json:"answered"`
	SendTime time.Duration `json:"send_time"` // first request to last
	Err      string        `json:"err,omitempty"`
}

const (
	latClientMarker = "LAT-CLIENT-RESULT "
	latBatch        = 64
	latSlot         = 2048 // larger than any message either end sends
	latSeqDigits    = 9
)

// TestHelperLatencyClient is not a test: TestAddedLatency runs the test
// binary again inside the client namespace to send requests from a
// process of its own.
func TestHelperLatencyClient(t *testing.T) {
	js := os.Getenv("SP_Q_LAT_CLIENT")
	if js == "" {
		t.Skip("latency client helper: run by TestAddedLatency")
	}
	var spec latClientSpec
	var res latClientResult
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		res.Err = err.Error()
	} else if res, err = latClient(spec); err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", latClientMarker, b)
}

// TestHelperLatencyResponder is not a test: TestAddedLatency runs it in
// the PBX namespace, where it answers every SIP request on the address in
// SP_Q_LAT_RESPOND at once, until it is signalled.
func TestHelperLatencyResponder(t *testing.T) {
	addr := os.Getenv("SP_Q_LAT_RESPOND")
	if addr == "" {
		t.Skip("latency responder helper: run by TestAddedLatency")
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; c.Close() }()
	if err := latRespond(c); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
}

// mmsgBatch is a set of datagram slots for recvmmsg/sendmmsg.
type mmsgBatch struct {
	bufs  [][]byte
	iovs  []unix.Iovec
	hdrs  []mmsghdr
	names []unix.RawSockaddrInet4 // nil on a connected socket
}

func newMmsgBatch(named bool) *mmsgBatch {
	b := &mmsgBatch{bufs: make([][]byte, latBatch), iovs: make([]unix.Iovec, latBatch), hdrs: make([]mmsghdr, latBatch)}
	if named {
		b.names = make([]unix.RawSockaddrInet4, latBatch)
	}
	mem := make([]byte, latBatch*latSlot)
	for i := range b.bufs {
		b.bufs[i] = mem[i*latSlot : (i+1)*latSlot : (i+1)*latSlot]
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(latSlot)
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.SetIovlen(1)
		if named {
			b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		}
	}
	return b
}

// recv waits for datagrams and reads those pending, up to the batch; slot
// i then holds b.bufs[i][:b.hdrs[i].len].
func (b *mmsgBatch) recv(raw syscall.RawConn) (int, error) {
	for i := range b.hdrs {
		b.iovs[i].SetLen(latSlot)
		if b.names != nil {
			b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4 // the kernel overwrites it
		}
	}
	var got int
	var rerr error
	err := raw.Read(func(fd uintptr) bool {
		for {
			n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)),
				unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				got = int(n)
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			default:
				rerr = e
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return got, rerr
}

// send sends slots 0..n-1, slot i being b.bufs[i][:lens[i]], all of them
// even if the kernel takes them in several calls.
func (b *mmsgBatch) send(raw syscall.RawConn, n int, lens []int) error {
	for i := range n {
		b.iovs[i].SetLen(lens[i])
	}
	done := 0
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for done < n {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[done])), uintptr(n-done), 0, 0, 0)
			switch e {
			case 0:
				done += int(r)
			case unix.EINTR:
			case unix.EAGAIN:
				return false
			default:
				werr = e
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// latRespond answers each request read from c: a REGISTER with a 401
// digest challenge (a registrar's answer to a first, credential-less
// REGISTER), anything else with 200. It returns when c is closed.
func latRespond(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("responder socket: %w", err)
	}
	setRcvBuf(raw, 8<<20)
	in, out := newMmsgBatch(true), newMmsgBatch(true)
	lens := make([]int, latBatch)
	for {
		n, err := in.recv(raw)
		if err != nil {
			return err
		}
		m := 0
		for i := range n {
			resp := sipAnswer(out.bufs[m][:0], in.bufs[i][:in.hdrs[i].len])
			if resp == nil {
				continue
			}
			lens[m] = len(resp)
			out.names[m] = in.names[i]
			m++
		}
		if m > 0 {
			if err := out.send(raw, m, lens); err != nil {
				return err
			}
		}
	}
}

// The response's fixed parts.
var (
	sip401        = []byte("SIP/2.0 401 Unauthorized\r\n")
	sip200        = []byte("SIP/2.0 200 OK\r\n")
	sipChalAndEnd = []byte("WWW-Authenticate: Digest realm=\"203.0.113.1\", nonce=\"5f0c1d2e3a4b\", algorithm=MD5\r\n" +
		"Server: sp-q-lat responder\r\nContent-Length: 0\r\n\r\n")
	sipEnd = []byte("Server: sp-q-lat responder\r\nContent-Length: 0\r\n\r\n")
	crlf   = []byte("\r\n")
	toTag  = []byte(";tag=sp-q-lat")
)

// sipAnswer appends the response to req to dst, copying the headers that
// tie it to the request (Via, From, To with a tag added, Call-ID, CSeq);
// nil when req is not a request.
func sipAnswer(dst, req []byte) []byte {
	sp := bytes.IndexByte(req, ' ')
	if sp <= 0 || bytes.HasPrefix(req, []byte("SIP/")) {
		return nil
	}
	register := string(req[:sp]) == "REGISTER"
	if register {
		dst = append(dst, sip401...)
	} else {
		dst = append(dst, sip200...)
	}
	rest := req
	for {
		line, after, ok := bytes.Cut(rest, crlf)
		if !ok || len(line) == 0 {
			break
		}
		rest = after
		switch {
		case hasHeader(line, "Via"), hasHeader(line, "From"), hasHeader(line, "Call-ID"), hasHeader(line, "CSeq"):
			dst = append(append(dst, line...), crlf...)
		case hasHeader(line, "To"):
			dst = append(append(append(dst, line...), toTag...), crlf...)
		}
	}
	if register {
		return append(dst, sipChalAndEnd...)
	}
	return append(dst, sipEnd...)
}

func hasHeader(line []byte, name string) bool {
	return len(line) > len(name) && line[len(name)] == ':' && string(line[:len(name)]) == name
}

// latRequest is the REGISTER the client sends, a phone's first one (no
// credentials); its Call-ID, branch and From tag carry the request's
// number in latSeqDigits digits, written in place for each request.
func latRequest(src netip.Addr) []byte {
	z := "000000000"
	return []byte("REGISTER sip:203.0.113.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + src.String() + ":5060;branch=z9hG4bK-" + z + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:1001@203.0.113.1>;tag=" + z + "\r\nTo: <sip:1001@203.0.113.1>\r\n" +
		"Call-ID: lat-" + z + "@" + src.String() + "\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@" + src.String() + ":5060>\r\n" +
		"User-Agent: Yealink SIP-T46S 66.86.0.15\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n")
}

var callIDPrefix = []byte("Call-ID: lat-")

// seqOffsets are where latRequest's number fields start.
func seqOffsets(msg []byte) []int {
	var offs []int
	for _, marker := range []string{"branch=z9hG4bK-", ";tag=", "Call-ID: lat-"} {
		i := bytes.Index(msg, []byte(marker))
		offs = append(offs, i+len(marker))
	}
	return offs
}

func putSeq(b []byte, seq uint64) {
	for i := latSeqDigits - 1; i >= 0; i-- {
		b[i] = byte('0' + seq%10)
		seq /= 10
	}
}

// answerSeq reads the request number back from a response's Call-ID.
func answerSeq(resp []byte) (uint64, bool) {
	i := bytes.Index(resp, callIDPrefix)
	if i < 0 || len(resp) < i+len(callIDPrefix)+latSeqDigits {
		return 0, false
	}
	var seq uint64
	for _, c := range resp[i+len(callIDPrefix) : i+len(callIDPrefix)+latSeqDigits] {
		if c < '0' || c > '9' {
			return 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	return seq, true
}

// setRcvBuf sets a socket's receive buffer past rmem_max (we are root):
// a burst must wait in the socket, not be lost and counted as latency.
func setRcvBuf(raw syscall.RawConn, size int) {
	raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	})
}

// latClient sends spec.Rate requests/s for spec.Duration, open loop: each
// request leaves at its time whether or not earlier ones were answered.
// A sender on a thread of its own sleeps about 0.1 ms between sends (the
// kernel's high-resolution nanosleep, not the Go scheduler's timers) and
// then sends every request due, in turn from each socket, so at
// 1,000/s and 10,000/s requests go out one by one and at 100,000/s in
// bursts of about ten. Each request's send time is kept by its number;
// a receiver per socket takes the time an answer is read, so the round
// trip is measured on this process's monotonic clock.
func latClient(spec latClientSpec) (latClientResult, error) {
	type sock struct {
		c    *net.UDPConn
		raw  syscall.RawConn
		out  *mmsgBatch
		offs []int
	}
	socks := make([]*sock, 0, len(spec.Srcs))
	for _, src := range spec.Srcs {
		c, err := dialUDP(src, spec.Dst)
		if err != nil {
			return latClientResult{}, fmt.Errorf("client socket from %s: %w", src, err)
		}
		defer c.Close()
		raw, err := c.SyscallConn()
		if err != nil {
			return latClientResult{}, fmt.Errorf("client socket from %s: %w", src, err)
		}
		setRcvBuf(raw, 8<<20)
		s := &sock{c: c, raw: raw, out: newMmsgBatch(false)}
		tmpl := latRequest(src)
		s.offs = seqOffsets(tmpl)
		for i := range s.out.bufs {
			copy(s.out.bufs[i], tmpl)
		}
		socks = append(socks, s)
	}
	tmplLen := len(latRequest(spec.Srcs[0]))

	// sendAt[seq] is the request's send time (ns since start), then -1
	// once answered, so a duplicate answer is not counted twice.
	capacity := int(float64(spec.Rate)*spec.Duration.Seconds()*1.05) + latBatch
	sendAt := make([]atomic.Int64, capacity)
	var answered atomic.Uint64
	rtts := make([][]int64, len(socks))
	start := time.Now()

	var wg sync.WaitGroup
	for i, s := range socks {
		rtts[i] = make([]int64, 0, capacity/len(socks)+latBatch)
		in := newMmsgBatch(false)
		wg.Go(func() {
			for {
				n, err := in.recv(s.raw)
				if err != nil {
					return // closed at the end
				}
				now := int64(time.Since(start))
				for j := range n {
					seq, ok := answerSeq(in.bufs[j][:in.hdrs[j].len])
					if !ok || seq >= uint64(len(sendAt)) {
						continue
					}
					if at := sendAt[seq].Swap(-1); at > 0 {
						rtts[i] = append(rtts[i], now-at)
						answered.Add(1)
					}
				}
			}
		})
	}

	var sent uint64
	var sendErr error
	var lastSend time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		lens := make([]int, latBatch)
		for i := range lens {
			lens[i] = tmplLen
		}
		pause := unix.Timespec{Nsec: 100_000}
		rr := 0
		for {
			el := time.Since(start)
			if el >= spec.Duration || sent >= uint64(capacity) {
				return
			}
			due := min(uint64(float64(spec.Rate)*el.Seconds()), uint64(capacity)) - min(sent, uint64(capacity))
			if due == 0 {
				_ = unix.Nanosleep(&pause, nil)
				continue
			}
			// Spread a burst over the sockets, a few requests each.
			n := int(min(due, 8))
			s := socks[rr%len(socks)]
			rr++
			at := int64(time.Since(start))
			if at <= 0 {
				at = 1 // 0 and -1 are taken
			}
			for j := range n {
				seq := sent + uint64(j)
				for _, off := range s.offs {
					putSeq(s.out.bufs[j][off:], seq)
				}
				sendAt[seq].Store(at)
			}
			if err := s.out.send(s.raw, n, lens); err != nil {
				sendErr = fmt.Errorf("send: %w", err)
				return
			}
			sent += uint64(n)
			lastSend = time.Since(start)
		}
	}()
	<-done
	if sendErr != nil {
		return latClientResult{}, sendErr
	}
	// Late answers: wait until all are in or the grace period ends.
	for end := time.Now().Add(spec.Grace); answered.Load() < sent && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	for _, s := range socks {
		s.c.Close()
	}
	wg.Wait()

	f, err := os.Create(spec.Out)
	if err != nil {
		return latClientResult{}, fmt.Errorf("round-trip times: %w", err)
	}
	buf := make([]byte, 0, 8*answered.Load())
	for _, r := range rtts {
		for _, v := range r {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
	}
	_, err = f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return latClientResult{}, fmt.Errorf("round-trip times: %w", err)
	}
	return latClientResult{Sent: sent, Answered: answered.Load(), SendTime: lastSend}, nil
}
