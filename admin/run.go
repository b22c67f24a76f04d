package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/manage"
)

// Every action is an operation of package manage, the one the CLI runs.
// The page shows it as the sipprot command that does the same from a
// shell, with what that command would print.

// result is one operation's run.
type result struct {
	args   []string // the command that does the same
	stdout string
	stderr string
	err    error
}

// op runs one operation and returns what the CLI prints for it.
type op func(ctx context.Context) (stdout, stderr string, err error)

// change runs an operation that changes something, logs it and keeps its
// result for the next page. args is the command that does the same.
func (s *server) change(r *http.Request, se *session, run op, args ...string) result {
	timeout := cliTimeout
	if len(args) >= 2 && args[0] == "geoip" && args[1] == "update" {
		timeout = updateTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res := result{args: args}
	res.stdout, res.stderr, res.err = run(ctx)
	if res.err != nil {
		s.opts.Log.Warn("admin page change failed", "command", shellLine(args), "err", res.err, "remote", r.RemoteAddr)
	} else {
		s.opts.Log.Info("admin page change", "command", shellLine(args), "remote", r.RemoteAddr)
	}
	s.sessions.setFlash(se, res.flash())
	return res
}

// output is what the CLI prints for a result of package manage: its
// Text on stdout, its Warnings, if it has any, on stderr.
func output[T any, P interface {
	*T
	Text() string
}](r P, err error) (stdout, stderr string, _ error) {
	if r == nil {
		return "", "", err
	}
	if w, ok := any(r).(interface{ Warnings() []string }); ok {
		for _, l := range w.Warnings() {
			stderr += l + "\n"
		}
	}
	return r.Text(), stderr, err
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

// readErr names, in a read's error, the command that reads the same.
func readErr(err error, args ...string) error {
	return fmt.Errorf("sipprot %s: %w", strings.Join(args, " "), err)
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

// appliedText says what the daemon did with a config edit; an error
// means it refused the file, which stays changed.
func appliedText(a *manage.ConfigApplied) (string, error) {
	switch {
	case a.Live:
		return "in force in the running daemon", nil
	case a.NoDaemon:
		return "sipprot is not running: the file is changed and applies when it starts", nil
	}
	return "", fmt.Errorf("the file is changed but the daemon refused it: %w", a.Err)
}

// loadConfigFile reads the config file as the CLI does; a missing file
// is the defaults.
func (s *server) loadConfigFile() (*conf.Config, error) {
	return conf.Load(s.opts.ConfigPath, false)
}
