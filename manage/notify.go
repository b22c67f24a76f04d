package manage

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/sipprot/sipprot/conf"
	"github.com/sipprot/sipprot/notify"
)

// The recipients are notify.recipients in the config file, edited in
// place (conf.Update: one locked read-modify-write, comments kept). They
// are stored as bare addresses: "Night Shift <night@example.com>" is
// accepted and stored as night@example.com, so the list reads the same
// in the config, in `notify list` and in the SMTP envelope.

// Confirm asks question before a removal; what names the removal in a
// refusal. false or an error removes nothing.
type Confirm func(question, what string) (bool, error)

// RecipientAdded is what AddRecipient did.
type RecipientAdded struct {
	Path    string
	Addr    string
	Already bool
	// Count is the number of recipients now.
	Count int
	// Applied is nil when nothing changed.
	Applied *ConfigApplied
}

// Text is what the CLI prints on stdout.
func (r *RecipientAdded) Text() string {
	if r.Already {
		return fmt.Sprintf("%s is already a recipient in %s\n", r.Addr, r.Path)
	}
	return fmt.Sprintf("added %s to the recipients in %s (%s now)\n", r.Addr, r.Path, Plural(r.Count, "recipient", "recipients")) +
		r.Applied.Text()
}

// AddRecipient adds an email address to notify.recipients in the config
// file; an address already there (in any case) is not added again. A
// missing default config file is created with just this setting.
func (s *Service) AddRecipient(ctx context.Context, addr string) (*RecipientAdded, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	bareAddr, err := ParseRecipient(addr)
	if err != nil {
		return nil, fmt.Errorf("refused: %w", err)
	}
	r := &RecipientAdded{Path: s.opts.ConfigPath, Addr: bareAddr}
	err = conf.Update(s.opts.ConfigPath, func(cur *conf.Config) ([]conf.Edit, error) {
		now := cur.Notify.Recipients
		r.Count = len(now)
		if indexRecipient(now, bareAddr) >= 0 {
			r.Already = true
			return nil, nil
		}
		now = append(slices.Clone(now), bareAddr)
		r.Count = len(now)
		return []conf.Edit{{Section: "notify", Key: "recipients", Value: now}}, nil
	})
	if err != nil {
		return nil, err
	}
	if !r.Already {
		r.Applied = s.applyConfig(ctx, c)
	}
	return r, nil
}

// RecipientsRemoved is what RemoveRecipients did.
type RecipientsRemoved struct {
	Path    string
	Removed []string
	// Left is the number of recipients left.
	Left    int
	Applied *ConfigApplied
}

// Text is what the CLI prints on stdout.
func (r *RecipientsRemoved) Text() string {
	return fmt.Sprintf("removed %s from the recipients in %s (%s left)\n", strings.Join(r.Removed, ", "), r.Path,
		Plural(r.Left, "recipient", "recipients")) + r.Applied.Text()
}

// RemoveRecipients removes email addresses from notify.recipients. Each
// must be a recipient, otherwise nothing is removed. confirm, if not
// nil, is asked first.
func (s *Service) RemoveRecipients(ctx context.Context, addrs []string, confirm Confirm) (*RecipientsRemoved, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	var bares []string
	var bad []error
	for _, a := range addrs {
		b, err := ParseRecipient(a)
		if err != nil {
			bad = append(bad, err)
		}
		bares = append(bares, b)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("nothing removed: %w", errors.Join(bad...))
	}
	path := s.opts.ConfigPath
	if err := checkRecipients(c, bares, path); err != nil {
		return nil, err
	}
	if confirm != nil {
		ok, err := confirm(fmt.Sprintf("Remove %s from the recipients in %s?", strings.Join(bares, ", "), path),
			"remove "+Plural(len(bares), "recipient", "recipients"))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New("nothing removed")
		}
	}
	r := &RecipientsRemoved{Path: path}
	err = conf.Update(path, func(cur *conf.Config) ([]conf.Edit, error) {
		if err := checkRecipients(cur, bares, path); err != nil {
			return nil, err // changed since the question
		}
		var left []string
		r.Removed = nil
		for _, rc := range cur.Notify.Recipients {
			if indexRecipient(bares, bare(rc)) >= 0 {
				r.Removed = append(r.Removed, bare(rc))
			} else {
				left = append(left, rc)
			}
		}
		r.Left = len(left)
		return []conf.Edit{{Section: "notify", Key: "recipients", Value: left}}, nil
	})
	if err != nil {
		return nil, err
	}
	r.Applied = s.applyConfig(ctx, c)
	return r, nil
}

// Recipients is `notify list --json`.
type Recipients struct {
	Config     string   `json:"config"`
	Recipients []string `json:"recipients"`
}

// Recipients reads notify.recipients, as written.
func (s *Service) Recipients() (*Recipients, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	return &Recipients{Config: c.Source(), Recipients: append([]string{}, c.Notify.Recipients...)}, nil
}

// TestSent is what SendTest did.
type TestSent struct {
	To     []string
	Server string
	TLS    string
	// Reply is the SMTP server's answer.
	Reply string
}

// Text is what the CLI prints on stdout.
func (r *TestSent) Text() string {
	return fmt.Sprintf("sent a test email to %s through %s (tls = %q)\nserver answered: %s\n",
		strings.Join(r.To, ", "), r.Server, r.TLS, r.Reply)
}

// SendTest sends a test email through [smtp] now, to addrs or else to
// notify.recipients, waiting at most smtp.timeout; the daemon's outbox
// is not involved.
func (s *Service) SendTest(ctx context.Context, addrs []string) (*TestSent, error) {
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	var to []string
	for _, a := range addrs {
		b, err := ParseRecipient(a)
		if err != nil {
			return nil, err
		}
		to = append(to, b)
	}
	if len(to) == 0 {
		for _, rc := range c.Notify.Recipients {
			to = append(to, bare(rc))
		}
	}
	reply, err := notify.SendTest(ctx, notify.SettingsOf(c), to)
	switch {
	case errors.Is(err, notify.ErrNoSMTPHost):
		return nil, fmt.Errorf("%w; set [smtp] host in %s", err, c.Source())
	case errors.Is(err, notify.ErrNoRecipients):
		return nil, fmt.Errorf("%w, or give an address: sipprot notify test ADDR", err)
	case err != nil:
		return nil, fmt.Errorf("test email not sent: %w", err)
	}
	return &TestSent{To: to, Server: c.SMTP.Addr(), TLS: string(c.SMTP.TLS), Reply: reply}, nil
}

// ParseRecipient validates an address with net/mail and returns it bare.
func ParseRecipient(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), "mail: ")
		return "", fmt.Errorf("%q is not an email address: %s", s, reason)
	}
	return a.Address, nil
}

// indexRecipient finds addr in the list by bare address, ignoring case
// (the domain's case never matters, and no mail system in use tells
// Ops@ from ops@).
func indexRecipient(list []string, addr string) int {
	return slices.IndexFunc(list, func(r string) bool { return strings.EqualFold(bare(r), addr) })
}

// bare returns the address of a recipient written "Name <addr>".
func bare(r string) string {
	if a, err := mail.ParseAddress(r); err == nil {
		return a.Address
	}
	return r
}

// checkRecipients fails, naming them, if some addresses are not recipients.
func checkRecipients(c *conf.Config, addrs []string, path string) error {
	var absent []string
	for _, a := range addrs {
		if indexRecipient(c.Notify.Recipients, a) < 0 {
			absent = append(absent, a)
		}
	}
	if len(absent) > 0 {
		return fmt.Errorf("nothing removed: not a recipient in %s: %s", path, strings.Join(absent, ", "))
	}
	return nil
}
