package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/sipprot/sipprot/atomicfile"
	"github.com/sipprot/sipprot/control"
)

// StatusFile is the name, in the state directory, of the daemon's status.
const StatusFile = control.StatusFile

// statusEvery is how often the status file is rewritten.
const statusEvery = control.StatusEvery

// Status is the content of the status file.
type Status = control.Status

// ReadStatus reads the status file of the state directory; (nil, nil)
// when the daemon never ran.
func ReadStatus(dir string) (*Status, error) { return control.ReadStatus(dir) }

// status is the daemon's status now.
func (d *Daemon) status(running bool) Status {
	s := d.engine.Stats()
	st := Status{PID: os.Getpid(), Running: running, Started: d.started, Updated: time.Now(), Config: d.config().Source(),
		Queues: d.queues.Health(), Packets: s.Packets, Dropped: map[string]int64{}, Malformed: s.Malformed, EventsLost: s.EventsLost,
		UnboundCredentials: s.Unbound, ProvenRefused: s.ProvenRefused}
	for r, n := range s.Dropped {
		st.Dropped[r.String()] = int64(n)
	}
	if d.sup != nil {
		st.Failed = d.sup.Failed()
	}
	st.Fleet = d.fleetStatus()
	return st
}

func (d *Daemon) writeStatus(running bool) {
	data, err := json.MarshalIndent(d.status(running), "", "  ")
	if err == nil {
		err = atomicfile.Write(filepath.Join(d.cfg.State.Dir, StatusFile), data, 0o644)
	}
	if err != nil {
		d.log.Error("writing status failed", "err", err)
	}
}
