package admin

import (
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/store"
)

// statusDoc is `sipprot status --all --json`.
type statusDoc struct {
	Allow            int               `json:"allow"`
	Deny             int               `json:"deny"`
	DynamicPermanent int               `json:"dynamic_permanent"`
	DynamicTemporary int               `json:"dynamic_temporary"`
	DaemonRunning    bool              `json:"daemon_running"`
	Daemon           *control.Status   `json:"daemon"`
	DynamicList      []store.BlockJSON `json:"dynamic_list"`
}

// entryJSON is a list entry of `allow list --json`.
type entryJSON struct {
	Network string `json:"network"`
	Note    string `json:"note"`
}

// listDoc is `allow list --json`.
type listDoc struct {
	List    string      `json:"list"`
	File    string      `json:"file"`
	Entries []entryJSON `json:"entries"`
}
