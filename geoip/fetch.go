package geoip

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// download streams the response body, unpacked, into a synced temp file
// next to the database (so the final rename is atomic) and returns its
// path and the bytes received. The format is sniffed from the content, not
// the URL: MaxMind's URLs end in "download?suffix=tar.gz".
func (s *Store) download(resp *http.Response, stall func(error)) (tmp string, received int64, err error) {
	// A server that stops sending cancels the request, which fails the
	// pending read.
	t := time.AfterFunc(s.lim.StallTimeout, func() { stall(ErrStalled) })
	defer t.Stop()
	body := &meter{r: resp.Body, stall: t, every: s.lim.StallTimeout,
		total: resp.ContentLength, out: s.progress, name: resp.Request.URL.Host}
	defer body.done()
	raw := newCapped(body, s.lim.MaxSize, "download")

	mmdb, err := unpack(raw, s.lim.MaxSize)
	if err != nil {
		return "", body.n, err
	}
	dir := filepath.Dir(s.cfg.Database)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", body.n, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(s.cfg.Database)+".*.tmp")
	if err != nil {
		return "", body.n, err
	}
	_, err = io.Copy(f, mmdb)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", body.n, err
	}
	return f.Name(), body.n, nil
}

// unpack returns the database inside r: r itself, the content of a gzip
// stream, or the first .mmdb file of a tar archive (gzipped or not), each
// capped at max bytes.
func unpack(r io.Reader, max int64) (io.Reader, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		// A gzip bomb stops at max instead of filling the disk.
		br = bufio.NewReader(newCapped(prefixErr{gz, "gzip"}, max, "unpacked download"))
	}
	if hdr, _ := br.Peek(262); len(hdr) == 262 && string(hdr[257:262]) == "ustar" {
		return fromTar(tar.NewReader(br), max)
	}
	return br, nil
}

func fromTar(tr *tar.Reader, max int64) (io.Reader, error) {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the archive holds no .mmdb file")
		}
		if err != nil {
			return nil, fmt.Errorf("tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".mmdb") {
			continue
		}
		if h.Size > max {
			return nil, fmt.Errorf("%s in the archive is %s: %w (limit %s)", h.Name, mib(h.Size), ErrTooLarge, mib(max))
		}
		return tr, nil
	}
}

// prefixErr names the format whose reader failed; io.EOF passes as is.
type prefixErr struct {
	r    io.Reader
	what string
}

func (p prefixErr) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	var bo *brokeOff
	if err != nil && err != io.EOF && !errors.Is(err, ErrTooLarge) && !errors.As(err, &bo) {
		err = fmt.Errorf("%s: %w", p.what, err)
	}
	return n, err
}

// brokeOff is a failed read of the response body, said as such rather
// than as an error of the format being unpacked.
type brokeOff struct {
	n   int64
	err error
}

func (b *brokeOff) Error() string {
	return fmt.Sprintf("download broke off after %s: %v", mib(b.n), b.err)
}

func (b *brokeOff) Unwrap() error { return b.err }

// capped fails a read once more than left bytes came through, rather than
// truncating silently as io.LimitReader would.
type capped struct {
	r         io.Reader
	left, max int64
	what      string
}

func newCapped(r io.Reader, max int64, what string) *capped {
	return &capped{r: r, left: max, max: max, what: what}
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left >= 0 && int64(len(p)) > c.left+1 {
		p = p[:c.left+1] // one byte past the cap tells "over" from "exactly"
	}
	n := 0
	var err error
	if c.left >= 0 {
		n, err = c.r.Read(p)
		c.left -= int64(n)
	}
	if c.left < 0 {
		return 0, fmt.Errorf("%s %w: over %s", c.what, ErrTooLarge, mib(c.max))
	}
	return n, err
}

// meter counts received bytes, keeps the stall timer from firing while
// they flow, and shows progress when out is set.
type meter struct {
	r      io.Reader
	n      int64
	stall  *time.Timer
	every  time.Duration
	total  int64 // -1 when unknown
	out    io.Writer
	name   string
	shown  time.Time // when progress was last shown
	shownN int64     // and at how many bytes
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF {
		err = &brokeOff{m.n + int64(n), err}
	}
	if n > 0 {
		m.n += int64(n)
		m.stall.Reset(m.every)
		if m.out != nil && time.Since(m.shown) >= 200*time.Millisecond {
			m.shown = time.Now()
			m.show()
		}
	}
	return n, err
}

func (m *meter) show() {
	m.shownN = m.n
	if m.total > 0 {
		fmt.Fprintf(m.out, "\rdownloading from %s: %s of %s (%d%%)  ", m.name, mib(m.n), mib(m.total), m.n*100/m.total)
		return
	}
	fmt.Fprintf(m.out, "\rdownloading from %s: %s  ", m.name, mib(m.n))
}

// done ends the progress line.
func (m *meter) done() {
	if m.out != nil && !m.shown.IsZero() {
		if m.n != m.shownN {
			m.show()
		}
		fmt.Fprintln(m.out)
	}
}

func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
