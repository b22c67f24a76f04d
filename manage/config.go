package manage

import (
	"context"

	"github.com/sipprot/sipprot/conf"
)

// SetKeys writes the keys to the config file and has the running daemon
// apply it. conf.SetKeys rewrites only those keys, keeps the operator's
// other lines and comments, validates the result as `config check` does
// and writes atomically or not at all, so a refused value changes
// nothing; its error names the key.
func (s *Service) SetKeys(ctx context.Context, edits ...conf.Edit) (*ConfigApplied, error) {
	if err := conf.SetKeys(s.opts.ConfigPath, edits...); err != nil {
		return nil, err
	}
	// Loaded after the write: the socket of the config now in the file.
	c, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	return s.applyConfig(ctx, c), nil
}
