package rules

import (
	"context"
	"fmt"
	"strings"
)

// Firewall installs and removes sipprot's rules. IPTables is the real one;
// DryRun only records.
type Firewall interface {
	// Install replaces whatever of sipprot is installed with r, one atomic
	// change per family. On failure nothing of sipprot stays installed.
	Install(ctx context.Context, r *Rules) ([]Change, error)
	// Remove deletes everything of sipprot, and nothing else; with nothing
	// installed it changes nothing and returns no Change.
	Remove(ctx context.Context) ([]Change, error)
	// Show returns the changes Install would apply now, applying nothing.
	Show(ctx context.Context, r *Rules) ([]Change, error)
}

// Backend is an iptables variant.
type Backend string

// The iptables variants. Auto picks one; see the package documentation.
const (
	Auto   Backend = "auto"
	NFT    Backend = "nft"    // iptables-nft: nf_tables in the kernel
	Legacy Backend = "legacy" // iptables-legacy: x_tables in the kernel
)

// ParseBackend accepts "auto" (or ""), "nft" (or "nf_tables") and "legacy".
func ParseBackend(s string) (Backend, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, nil
	case "nft", "nf_tables":
		return NFT, nil
	case "legacy":
		return Legacy, nil
	}
	return "", fmt.Errorf("unknown iptables variant %q (want auto, nft or legacy)", s)
}

// Change is one restore script for one family and iptables variant.
type Change struct {
	Family  Family
	Backend Backend
	// Command is the restore command, script on its standard input.
	Command []string
	Script  string
	// Removal is set when the script only deletes sipprot's rules: from
	// Remove, or what an install with the other variant left behind.
	Removal bool
}
