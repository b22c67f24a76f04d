// Command sipprot is an inline SIP firewall: it decides on every SIP packet
// that netfilter queues to it, and manages its lists, rules and state.
package main

import (
	"os"

	"github.com/sipprot/sipprot/cli"
)

func main() {
	os.Exit(cli.Execute())
}
