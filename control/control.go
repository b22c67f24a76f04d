// Package control is the daemon's local API: HTTP and JSON over a Unix
// socket that only root can open. The daemon serves it; the CLI and the web
// page are its clients, so a change made through either is in force in the
// running daemon at once instead of when a file watcher notices.
//
// This package holds the transport only (the socket, the client, the
// error shape); the handlers live with the daemon, which owns the state
// they touch.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sipprot/sipprot/savedblocks"
)

// ErrNoDaemon is returned by the client when no daemon listens on the
// socket: the caller works on the files directly and says so.
var ErrNoDaemon = errors.New("sipprot is not running")

// Listen binds the control socket at path, mode 0600. A socket left by a
// crashed daemon is replaced; a live one (another daemon answering) is an
// error. The socket is created under a temporary name and renamed into
// place once its mode is set, so it is never reachable by others.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another sipprot daemon is answering on it", path)
	}
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The listener must not unlink the final path on Close under its old
	// name; we remove it ourselves.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &listener{Listener: l, path: path}, nil
}

// listener removes its socket file when closed.
type listener struct {
	net.Listener
	path string
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	os.Remove(l.path)
	return err
}

// Error is the body of every failed request.
type Error struct {
	Error string `json:"error"`
}

// WriteJSON writes v as the response, or err as an Error with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// WriteError writes err as an Error with status.
func WriteError(w http.ResponseWriter, status int, err error) {
	WriteJSON(w, status, Error{Error: err.Error()})
}

// Client talks to the daemon over its socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client of the socket at path. It does not connect
// until the first request.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{path: path, http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Path is the socket the client talks to.
func (c *Client) Path() string { return c.path }

// Get fetches path (with query, if any) into out.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) error {
	u := "http://sipprot" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return c.do(ctx, http.MethodGet, u, nil, out)
}

// Post sends in as JSON to path and decodes the answer into out (either
// may be nil).
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("control %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	return c.do(ctx, http.MethodPost, "http://sipprot"+path, body, out)
}

func (c *Client) do(ctx context.Context, method, u string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return ErrNoDaemon
		}
		if errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("control socket %s: permission denied (the daemon's API is root only)", c.path)
		}
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("control %s: %w", req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("control %s: %s", req.URL.Path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("control %s: %w", req.URL.Path, err)
	}
	return nil
}

// UnblockRequest is the body of POST /v1/unblock.
type UnblockRequest struct {
	IPs []string `json:"ips"`
}

// UnblockResult says, for one address, whether a dynamic block was lifted.
type UnblockResult struct {
	IP string `json:"ip"`
	// Lifted is false when the address had no block in force.
	Lifted bool `json:"lifted"`
	// Block is the block that was lifted.
	Block *savedblocks.JSON `json:"block,omitempty"`
}

// ListsReply is the answer of POST /v1/lists/reload: the lists now in
// force, and the dynamic blocks the allow list lifted.
type ListsReply struct {
	Allow  int      `json:"allow"`
	Deny   int      `json:"deny"`
	Lifted []string `json:"lifted"`
}

// The API's paths.
const (
	PathStatus       = "/v1/status"        // GET: daemon.Status, live
	PathBlocks       = "/v1/blocks"        // GET: []savedblocks.JSON in force
	PathUnblock      = "/v1/unblock"       // POST UnblockRequest: []UnblockResult
	PathListsReload  = "/v1/lists/reload"  // POST: ListsReply
	PathConfigReload = "/v1/config/reload" // POST: as SIGHUP, but the error comes back
	PathReport       = "/v1/report"        // GET ?date=YYYY-MM-DD: attacks.Report
	PathGeoIPReload  = "/v1/geoip/reload"  // POST: load the database file now
	PathFleet        = "/v1/fleet"         // GET ?ip=A or ?limit=N: FleetBlocks enforced
)
