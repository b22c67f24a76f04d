//go:build linux

package queue

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// slotSize holds the largest message the kernel sends: a 65535-byte packet
// (the copy range is capped just below) plus the other attributes.
const slotSize = 64<<10 + 4<<10

// mmsghdr is struct mmsghdr for recvmmsg(2); Go pads it like C does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// conn is one queue's netlink socket. mdlayher/netlink opens it (network
// namespace, buffer size, the runtime poller); the packet path then reads
// and writes the descriptor directly, several messages per system call,
// into buffers allocated once.
type conn struct {
	nl     *netlink.Conn
	raw    syscall.RawConn
	portID uint32

	slots [][]byte
	iovs  []unix.Iovec
	hdrs  []mmsghdr
	got   int
	rerr  error
	// nowait makes recv return at once when nothing is pending, for
	// the drain before close.
	nowait bool
	recvFn func(fd uintptr) bool

	out    []byte
	werr   error
	sendFn func(fd uintptr) bool
}

// dial opens a netfilter netlink socket in netns (0: the current one)
// with a receive buffer of rcvbuf bytes, able to take batch messages per
// read.
func dial(netns, rcvbuf, batch int) (*conn, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	// SO_RCVBUFFORCE as root, so bursts wait in the socket instead of
	// failing over to fail-open (or being dropped).
	if err := nl.SetReadBuffer(rcvbuf); err != nil {
		nl.Close()
		return nil, fmt.Errorf("netlink receive buffer: %w", err)
	}
	// Error answers carry only the header of the failed request: all we
	// read of them.
	_ = nl.SetOption(netlink.CapAcknowledge, true)
	raw, err := nl.SyscallConn()
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	c := &conn{nl: nl, raw: raw}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		if sa, serr = unix.Getsockname(int(fd)); serr == nil {
			if s, ok := sa.(*unix.SockaddrNetlink); ok {
				c.portID = s.Pid
			}
		}
	}); err != nil || serr != nil {
		nl.Close()
		return nil, fmt.Errorf("netlink socket name: %w", errors.Join(err, serr))
	}
	c.slots = make([][]byte, batch)
	c.iovs = make([]unix.Iovec, batch)
	c.hdrs = make([]mmsghdr, batch)
	// One allocation for all slots; pages never written stay unbacked.
	mem := make([]byte, batch*slotSize)
	for i := range c.slots {
		c.slots[i] = mem[i*slotSize : (i+1)*slotSize : (i+1)*slotSize]
		c.iovs[i].Base = &c.slots[i][0]
		c.iovs[i].SetLen(slotSize)
		c.hdrs[i].hdr.Iov = &c.iovs[i]
		c.hdrs[i].hdr.SetIovlen(1)
	}
	c.recvFn = c.doRecv
	c.sendFn = c.doSend
	return c, nil
}

// recv waits for messages and reads as many datagrams as are pending, up
// to the batch size. It returns how many it read.
func (c *conn) recv() (int, error) {
	c.got, c.rerr = 0, nil
	if err := c.raw.Read(c.recvFn); err != nil {
		return 0, err
	}
	return c.got, c.rerr
}

// doRecv is the RawConn callback: false means "nothing yet, wait".
func (c *conn) doRecv(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.hdrs[0])), uintptr(len(c.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			c.got = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return c.nowait
		default:
			c.rerr = e
			return true
		}
	}
}

// datagram returns the i-th datagram of the last recv, and whether the
// kernel cut it to fit the slot.
func (c *conn) datagram(i int) ([]byte, bool) {
	h := &c.hdrs[i]
	return c.slots[i][:min(int(h.len), slotSize)], h.hdr.Flags&unix.MSG_TRUNC != 0
}

// send writes b, one or more netlink messages, to the kernel in one
// system call.
func (c *conn) send(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	c.out, c.werr = b, nil
	if err := c.raw.Write(c.sendFn); err != nil {
		return err
	}
	return c.werr
}

func (c *conn) doSend(fd uintptr) bool {
	for {
		// write(2) on an unconnected netlink socket goes to the kernel.
		_, _, e := unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.out[0])), uintptr(len(c.out)))
		switch e {
		case 0:
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
}

// setReadDeadline interrupts a waiting recv when t is in the past.
func (c *conn) setReadDeadline(t time.Time) error { return c.nl.SetReadDeadline(t) }

func (c *conn) close() error { return c.nl.Close() }

// isClosed reports whether err means the socket is gone, not a hiccup.
func isClosed(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, unix.EBADF) || errors.Is(err, unix.ENOTSOCK)
}

// isENOBUFS reports the kernel's "no room in your socket" error.
func isENOBUFS(err error) bool { return errors.Is(err, unix.ENOBUFS) }

// isInUse reports a bind refused because another socket holds the queue
// (EBUSY, or EPERM when the holder is another process) or for lack of
// CAP_NET_ADMIN (EPERM).
func isInUse(err error) bool { return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EPERM) }
