package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/control"
)

// result is one CLI command's run.
type result struct {
	args   []string
	stdout string
	stderr string
	err    error
}

// run runs one sipprot command and returns what it printed.
func (s *server) run(ctx context.Context, timeout time.Duration, stdin io.Reader, args ...string) result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, errOut, err := s.opts.RunCLI(ctx, args, stdin)
	return result{args: args, stdout: out, stderr: errOut, err: err}
}

// change runs a command that changes something, logs it and keeps its
// result for the next page.
func (s *server) change(r *http.Request, se *session, stdin io.Reader, args ...string) result {
	timeout := cliTimeout
	if len(args) >= 2 && args[0] == "geoip" && args[1] == "update" {
		timeout = updateTimeout
	}
	res := s.run(r.Context(), timeout, stdin, args...)
	if res.err != nil {
		s.opts.Log.Warn("admin page change failed", "command", shellLine(args), "err", res.err, "remote", r.RemoteAddr)
	} else {
		s.opts.Log.Info("admin page change", "command", shellLine(args), "remote", r.RemoteAddr)
	}
	s.sessions.setFlash(se, res.flash())
	return res
}

// flash shows the command and everything it printed, error last.
func (res result) flash() *flash {
	var b strings.Builder
	b.WriteString(res.stderr)
	if res.stderr != "" && !strings.HasSuffix(res.stderr, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString(res.stdout)
	if res.err != nil {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
		b.WriteString("error: " + res.err.Error())
	}
	return &flash{OK: res.err == nil, Command: shellLine(res.args), Text: strings.TrimRight(b.String(), "\n")}
}

// runJSON runs a read-only command with --json output into v.
func (s *server) runJSON(ctx context.Context, v any, args ...string) error {
	res := s.run(ctx, cliTimeout, nil, args...)
	if res.err != nil {
		msg := strings.TrimSpace(res.stderr)
		if msg != "" {
			return fmt.Errorf("sipprot %s: %s: %w", strings.Join(args, " "), msg, res.err)
		}
		return fmt.Errorf("sipprot %s: %w", strings.Join(args, " "), res.err)
	}
	if err := json.Unmarshal([]byte(res.stdout), v); err != nil {
		return fmt.Errorf("sipprot %s: unexpected output: %w", strings.Join(args, " "), err)
	}
	return nil
}

// shellLine writes a command as a user would type it, quoting what a
// shell would split or expand.
func shellLine(args []string) string {
	parts := []string{"sipprot"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// reloadConfig asks the running daemon to apply the config file now and
// says what happened, for the page.
func (s *server) reloadConfig(ctx context.Context) (string, error) {
	c := control.NewClient(s.opts.Config().Admin.Socket)
	err := c.Post(ctx, control.PathConfigReload, nil, nil)
	switch {
	case err == nil:
		return "in force in the running daemon", nil
	case errors.Is(err, control.ErrNoDaemon):
		return "sipprot is not running: the file is changed and applies when it starts", nil
	}
	return "", fmt.Errorf("the file is changed but the daemon refused it: %w", err)
}

// loadConfigFile reads the config file as the CLI does; a missing file
// is the defaults.
func (s *server) loadConfigFile() (*conf.Config, error) {
	return conf.Load(s.opts.ConfigPath, false)
}
