// Package manage is every operation an operator makes on sipprot, as
// typed Go methods: the lists, the dynamic blocks, the recipients, the
// config and the country database. The CLI and the web page both call
// it, so the rules (a deny entry never overlaps the allow list, an
// import is all or nothing, newly allowed addresses lose their blocks)
// live in one place, and both print a result through the same Text.
//
// A Service works on the files and tells the running daemon (Daemon) to
// put each change in force at once; with no daemon (control.ErrNoDaemon)
// the files are the change and the results say so.
package manage

import (
	"context"
	"fmt"
	"time"

	"github.com/sipprot/sipprot/attacks"
	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/geoip"
	"github.com/sipprot/sipprot/savedblocks"
)

// Daemon is the running daemon as the Service needs it. The control API
// client (*control.Client, for the CLI) and the daemon itself (in
// process, for the web page) implement it. Every method returns
// control.ErrNoDaemon when no daemon runs.
type Daemon interface {
	Status(ctx context.Context) (*control.Status, error)
	Blocks(ctx context.Context) ([]savedblocks.JSON, error)
	Unblock(ctx context.Context, ips []string) ([]control.UnblockResult, error)
	ReloadLists(ctx context.Context) (control.ListsReply, error)
	ReloadConfig(ctx context.Context) error
	Report(ctx context.Context, date string) (attacks.Report, error)
	ReloadGeoIP(ctx context.Context) (geoip.Status, error)
	Fleet(ctx context.Context, ip string, limit int) (control.FleetBlocks, error)
}

// Options configure a Service.
type Options struct {
	// ConfigPath is the config file that recipient and settings edits
	// write.
	ConfigPath string
	// Config returns the config to work with (list files, state
	// directory, socket); nil means conf.Load(ConfigPath, MustExist) at
	// each call.
	Config func() (*conf.Config, error)
	// MustExist makes a missing ConfigPath an error for the default
	// Config, as when the user named the file.
	MustExist bool
	// Daemon is the running daemon; nil means the control API client on
	// the config's socket.
	Daemon Daemon
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Location cuts reports into days; nil means time.Local.
	Location *time.Location
}

// Service runs the operations. It keeps no state between calls: every
// call reads the files it needs, so it is safe from any goroutine.
type Service struct {
	opts Options
}

// New returns a Service with the defaults of opts filled in.
func New(opts Options) *Service {
	if opts.Config == nil {
		path, must := opts.ConfigPath, opts.MustExist
		opts.Config = func() (*conf.Config, error) { return conf.Load(path, must) }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	return &Service{opts: opts}
}

// ConfigPath is the config file the Service edits.
func (s *Service) ConfigPath() string { return s.opts.ConfigPath }

// Config is the config the Service works with.
func (s *Service) Config() (*conf.Config, error) { return s.opts.Config() }

// Location is the time zone of reports.
func (s *Service) Location() *time.Location { return s.opts.Location }

// Now is the Service's clock.
func (s *Service) Now() time.Time { return s.opts.Now() }

// daemon is the running daemon for c.
func (s *Service) daemon(c *conf.Config) Daemon {
	if s.opts.Daemon != nil {
		return s.opts.Daemon
	}
	return control.NewClient(c.Admin.Socket)
}

// NotRunning is the line that says a command works on the files because
// no daemon answers on socket.
func NotRunning(socket, what string) string {
	return fmt.Sprintf("sipprot is not running (no daemon on %s): %s", socket, what)
}
