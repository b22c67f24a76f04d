package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/store"
)

// StatusFile is the name, in the state directory, of the daemon's status:
// rewritten every few seconds, so `sipprot status` can tell a running, a
// stopped and a dead daemon apart without talking to it.
const StatusFile = "status.json"

// statusEvery is how often the status file is rewritten.
const statusEvery = control.StatusEvery

// Status is the content of the status file.
type Status = control.Status

// ReadStatus reads the status file of the state directory; (nil, nil)
// when the daemon never ran.
func ReadStatus(dir string) (*Status, error) {
	data, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read status: %s: %w", filepath.Join(dir, StatusFile), err)
	}
	return &s, nil
}

// status is the daemon's status now.
func (d *Daemon) status(running bool) Status {
	s := d.engine.Stats()
	st := Status{PID: os.Getpid(), Running: running, Started: d.started, Updated: time.Now(), Config: d.config().Source(),
		Queues: d.queues.Health(), Packets: s.Packets, Dropped: map[string]int64{}, Malformed: s.Malformed, EventsLost: s.EventsLost}
	for r, n := range s.Dropped {
		st.Dropped[r.String()] = int64(n)
	}
	if d.sup != nil {
		st.Failed = d.sup.Failed()
	}
	return st
}

func (d *Daemon) writeStatus(running bool) {
	data, err := json.MarshalIndent(d.status(running), "", "  ")
	if err == nil {
		err = store.WriteFileAtomic(filepath.Join(d.cfg.State.Dir, StatusFile), data, 0o644)
	}
	if err != nil {
		d.log.Error("writing status failed", "err", err)
	}
}
