package notify

import "time"

// Clock tells the notifier the time and wakes it at a time, so tests can
// run hours of schedule (alert periods, daily summaries, retry backoff) by
// moving a fake clock.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reads t or later.
	At(t time.Time) <-chan time.Time
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }
