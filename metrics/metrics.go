// Package metrics serves sipprot's figures to Prometheus. Everything is
// read at scrape time from the counters the engine, the queues and the
// services already keep: the verdict path pays nothing for a scrape and
// holds no metric of its own.
package metrics

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sipprot/sipprot/control"
	"github.com/sipprot/sipprot/policy"
	"github.com/sipprot/sipprot/queue"
)

// Snapshot is what one scrape reports, gathered by the daemon.
type Snapshot struct {
	Engine    policy.Stats
	Blocks    policy.BlockCounts
	Fleet     *control.FleetStatus // nil when [fleet] is off
	Queues    []queue.QueueHealth
	Latency   queue.Latency
	Allow     int // prefixes in the allow list
	Deny      int
	GeoIPAge  time.Duration // 0 without a usable database
	GeoIPDate time.Time     // the database's build date; zero without one
	// Mail: emails waiting and the last delivery tried.
	MailPending  int
	MailLast     time.Time
	MailLastOK   bool
	FailedServes map[string]string // service name → why, from the supervisor
	Services     []string          // every supervised service, failed or not
}

// Source gathers a Snapshot; it is called once per scrape.
type Source func() Snapshot

// Build identifies the binary in sipprot_build_info.
type Build struct {
	Version, Commit, GoVersion string
}

// NewRegistry holds sipprot's metrics from src, plus the Go runtime's and
// the process's.
func NewRegistry(src Source, b Build) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{src: src, build: b},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// New returns the /metrics handler of NewRegistry(src, b). With a token,
// a scrape must send "Authorization: Bearer TOKEN"; others get 401.
func New(src Source, b Build, token string) http.Handler {
	h := promhttp.HandlerFor(NewRegistry(src, b), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sipprot metrics"`)
			http.Error(w, "metrics need the bearer token of metrics.bearer_token_file", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sipprot_"+name, help, labels, nil)
}

// The metrics. Names follow Prometheus conventions: base units, _total on
// counters, no label that takes one value per address.
var (
	dPackets     = desc("packets_total", "Packets judged by the engine, by verdict and the rule that decided (reason none: no rule objected).", "verdict", "reason")
	dSIP         = desc("sip_messages_total", "SIP messages parsed on the SIP ports.")
	dMalformed   = desc("malformed_total", "Payloads on SIP ports that were not SIP.")
	dBlocks      = desc("blocks_total", "Dynamic blocks made, by the reason that made them.", "reason")
	dInForce     = desc("blocks_in_force", "Blocks in force now: temporary and permanent dynamic blocks, and the fleet's.", "kind")
	dEventsLost  = desc("block_events_lost_total", "Block and unblock events lost because their consumer stopped reading.")
	dUnbound     = desc("unbound_credentials_total", "Requests whose credentials answer no challenge the PBX sent to their source address (forged, or from before sipprot started): their 401/407/403 is not a failure.")
	dProvenRef   = desc("failures_refused_proven_total", "404s and 403s to requests without credentials not counted as failures because their source had authenticated within block_time.")
	dQPackets    = desc("queue_packets_total", "Packets verdicted by each NFQUEUE, by verdict.", "queue", "verdict")
	dQUndecod    = desc("queue_undecodable_packets_total", "Queued packets that were not valid IP.", "queue")
	dQErrors     = desc("queue_netlink_errors_total", "Netlink errors the queue's reader survived (ENOBUFS among them).", "queue")
	dQENOBUFS    = desc("queue_enobufs_total", "ENOBUFS errors: the kernel had no room in the queue's socket.", "queue")
	dQLost       = desc("queue_lost_packets_total", "Packets the kernel numbered but never delivered: passed by fail-open, or dropped without it.", "queue")
	dQReopens    = desc("queue_reopens_total", "Times the queue's socket failed and was bound again.", "queue")
	dQKernel     = desc("queue_kernel_dropped_packets_total", "Packets the kernel dropped without fail-open, by cause (queue full, socket full).", "queue", "cause")
	dQWaiting    = desc("queue_waiting_packets", "Packets waiting in the kernel for a verdict.", "queue")
	dQHealthy    = desc("queue_healthy", "1 while the queue is bound and verdicting.", "queue")
	dLatency     = desc("verdict_latency_seconds", "Time packets waited in sipprot, from the read that brought them to the write that carried their verdicts.")
	dListSize    = desc("list_entries", "Addresses and prefixes in the allow and deny lists in force.", "list")
	dGeoIPAge    = desc("geoip_database_age_seconds", "Age of the GeoIP database in use, from its build date; absent without one.")
	dGeoIPBuild  = desc("geoip_database_build_timestamp_seconds", "Build date of the GeoIP database in use, as a Unix time.")
	dMailPending = desc("email_outbox_messages", "Emails waiting in the outbox.")
	dMailLast    = desc("email_last_delivery_timestamp_seconds", "When the last email delivery was tried, as a Unix time; absent before the first.")
	dMailLastOK  = desc("email_last_delivery_success", "1 if the last email delivery tried was accepted by the server.")
	dService     = desc("service_failed", "1 for a service that could not start or stopped serving (web, control, metrics, lists, geoip, fleet, queues).", "service")
	dFleetUp     = desc("fleet_connected", "1 while the last exchange with the CrowdSec Local API succeeded, by direction (pull: decisions in, push: blocks out).", "direction")
	dFleetLast   = desc("fleet_last_sync_timestamp_seconds", "When the last successful exchange with the Local API happened, by direction, as a Unix time.", "direction")
	dFleetOrigin = desc("fleet_decisions", "Fleet decisions held, by origin (this host's own included).", "origin")
	dFleetOutbox = desc("fleet_outbox_alerts", "Blocks waiting in the outbox for the Local API.")
	dFleetPushed = desc("fleet_pushed_total", "Blocks shared with the Local API.")
	dFleetRefuse = desc("fleet_refused_decisions_total", "Fleet decisions not taken: too wide, over max_decisions, other scope, type or origin, malformed.")
	dFleetNotSh  = desc("fleet_not_shared_total", "Blocks not shared because the queue or the outbox was full.")
	dBuild       = desc("build_info", "The running binary: version, commit and Go version.", "version", "commit", "goversion")
)

type collector struct {
	src   Source
	build Build
}

// Describe sends every metric's description, so the registry checks
// their names and labels once.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dPackets, dSIP, dMalformed, dBlocks, dInForce, dEventsLost, dUnbound, dProvenRef,
		dQPackets, dQUndecod, dQErrors, dQENOBUFS, dQLost, dQReopens, dQKernel, dQWaiting, dQHealthy,
		dLatency, dListSize, dGeoIPAge, dGeoIPBuild, dMailPending, dMailLast, dMailLastOK, dService,
		dFleetUp, dFleetLast, dFleetOrigin, dFleetOutbox, dFleetPushed, dFleetRefuse, dFleetNotSh, dBuild} {
		ch <- d
	}
}

// Collect reads one snapshot and sends it as metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	// Every reason is always listed, so a rate over a reason that has not
	// fired yet is 0, not absent.
	for r := policy.Reason(0); int(r) < policy.NumReasons; r++ {
		counter(dPackets, s.Engine.Dropped[r], "drop", r.String())
		counter(dPackets, s.Engine.Accepted[r], "accept", r.String())
	}
	for _, r := range blockReasons {
		counter(dBlocks, s.Engine.Blocks[r], r.String())
	}
	counter(dSIP, s.Engine.SIPMessages)
	counter(dMalformed, s.Engine.Malformed)
	counter(dEventsLost, s.Engine.EventsLost)
	counter(dUnbound, s.Engine.Unbound)
	counter(dProvenRef, s.Engine.ProvenRefused)
	fleet := 0
	if s.Fleet != nil {
		fleet = s.Fleet.Enforced
	}
	gauge(dInForce, float64(s.Blocks.Temporary), "temporary")
	gauge(dInForce, float64(s.Blocks.Permanent), "permanent")
	gauge(dInForce, float64(fleet), "fleet")

	for _, q := range s.Queues {
		n := strconv.Itoa(int(q.Number))
		counter(dQPackets, q.Accepted, n, "accept")
		counter(dQPackets, q.Dropped, n, "drop")
		counter(dQUndecod, q.Undecodable, n)
		counter(dQErrors, q.Errors, n)
		counter(dQENOBUFS, q.ENOBUFS, n)
		counter(dQLost, q.Lost, n)
		counter(dQReopens, q.Reopens, n)
		counter(dQKernel, q.KernelDropped, n, "queue_full")
		counter(dQKernel, q.UserDropped, n, "socket_full")
		gauge(dQWaiting, float64(q.Waiting), n)
		gauge(dQHealthy, bool01(q.Healthy), n)
	}
	ch <- latencyHistogram(&s.Latency)

	gauge(dListSize, float64(s.Allow), "allow")
	gauge(dListSize, float64(s.Deny), "deny")
	if !s.GeoIPDate.IsZero() {
		gauge(dGeoIPAge, s.GeoIPAge.Seconds())
		gauge(dGeoIPBuild, unix(s.GeoIPDate))
	}
	gauge(dMailPending, float64(s.MailPending))
	if !s.MailLast.IsZero() {
		gauge(dMailLast, unix(s.MailLast))
		gauge(dMailLastOK, bool01(s.MailLastOK))
	}
	for _, name := range s.Services {
		_, failed := s.FailedServes[name]
		gauge(dService, bool01(failed), name)
	}
	if f := s.Fleet; f != nil {
		gauge(dFleetUp, bool01(f.PullConnected), "pull")
		gauge(dFleetUp, bool01(f.PushConnected), "push")
		if !f.LastPull.IsZero() {
			gauge(dFleetLast, unix(f.LastPull), "pull")
		}
		if !f.LastPush.IsZero() {
			gauge(dFleetLast, unix(f.LastPush), "push")
		}
		for o, n := range f.InForce {
			gauge(dFleetOrigin, float64(n), o)
		}
		gauge(dFleetOutbox, float64(f.Outbox))
		counter(dFleetPushed, f.Pushed)
		counter(dFleetRefuse, f.Refused)
		counter(dFleetNotSh, f.NotShared)
	}
	gauge(dBuild, 1, c.build.Version, c.build.Commit, c.build.GoVersion)
}

// blockReasons are the reasons a dynamic block is made for.
var blockReasons = []policy.Reason{policy.ReasonUserAgent, policy.ReasonFailures, policy.ReasonFlood}

// latencyHistogram turns the queues' buckets into Prometheus's cumulative
// ones, in seconds.
func latencyHistogram(l *queue.Latency) prometheus.Metric {
	buckets := make(map[float64]uint64, len(queue.LatencyBounds))
	var cum uint64
	for i, b := range queue.LatencyBounds {
		cum += l.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(dLatency, l.Count(), l.Sum.Seconds(), buckets)
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
