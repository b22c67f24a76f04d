package cli

import "github.com/spf13/cobra"

// Placeholders until their owners land them.
func newConfigCmd(*options) *cobra.Command { return &cobra.Command{Use: "config"} }
func newReplayCmd(*options) *cobra.Command { return &cobra.Command{Use: "replay"} }
