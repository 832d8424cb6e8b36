package scheduler

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// counters are the scheduler's events that no state keeps: offers,
// launches, reconciliations. The rest of /metrics is read at scrape time
// (metricsCollector).
type counters struct {
	offersReceived, offersDeclined, offersUsed atomic.Uint64
	launches, relaunches                       atomic.Uint64
	reconciles                                 atomic.Uint64
	lastReconcile                              atomic.Int64 // Unix nanoseconds; 0: none yet

	once sync.Once
	reg  *prometheus.Registry
	api  *prometheus.CounterVec // API requests by route pattern and status
}

// registry is the scheduler's Prometheus registry, made on first use (a
// Scheduler need not come from New).
func (s *Scheduler) registry() (*prometheus.Registry, *prometheus.CounterVec) {
	c := &s.counters
	c.once.Do(func() {
		c.api = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rmf_scheduler_api_requests_total",
			Help: "API requests answered, by route pattern (unmatched: no route) and status code."}, []string{"route", "code"})
		c.reg = prometheus.NewRegistry()
		c.reg.MustRegister(c.api, &metricsCollector{s: s})
	})
	return c.reg, c.api
}

// metricsHandler serves GET /metrics (Prometheus text).
func (s *Scheduler) metricsHandler() http.Handler {
	reg, _ := s.registry()
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// instrument counts every request next answers, by the pattern of mux
// that routes it: r.Pattern once served, or what mux would route it to
// when a guard answered first.
func (s *Scheduler) instrument(mux *http.ServeMux, next http.Handler) http.Handler {
	_, api := s.registry()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			_, route = mux.Handler(r)
		}
		if route == "" {
			route = "unmatched"
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		api.WithLabelValues(route, strconv.Itoa(code)).Inc()
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	descOffersReceived = prometheus.NewDesc("rmf_scheduler_offers_received_total", "Offers received from the master.", nil, nil)
	descOffersDeclined = prometheus.NewDesc("rmf_scheduler_offers_declined_total", "Offers declined (the master took the DECLINE).", nil, nil)
	descOffersUsed     = prometheus.NewDesc("rmf_scheduler_offers_used_total", "Offers accepted with operations (reserve, create, launch, release).", nil, nil)
	descLaunches       = prometheus.NewDesc("rmf_scheduler_launches_total", "Node tasks launched (accepted by the master), relaunches included.", nil, nil)
	descRelaunches     = prometheus.NewDesc("rmf_scheduler_relaunches_total", "Node tasks launched again on a node's existing volume (after a failure or a restart).", nil, nil)
	descReconciles     = prometheus.NewDesc("rmf_scheduler_reconcile_requests_total", "Task reconciliation requests sent (explicit and implicit).", nil, nil)
	descLastReconcile  = prometheus.NewDesc("rmf_scheduler_last_reconcile_timestamp_seconds", "When the master last accepted a whole reconciliation (Unix time; 0: never).", nil, nil)
	descLeader         = prometheus.NewDesc("rmf_scheduler_leader", "1 when this scheduler leads.", nil, nil)
	descConnected      = prometheus.NewDesc("rmf_scheduler_mesos_connected", "1 when this scheduler is subscribed to the Mesos master.", nil, nil)
	descReadable       = prometheus.NewDesc("rmf_scheduler_node_records_readable", "1 when this scrape read every node record from ZooKeeper; 0: the node gauges are missing.", nil, nil)
	descNodes          = prometheus.NewDesc("rmf_scheduler_nodes", "Nodes by observed state (the API's state names).", []string{"cluster", "state"}, nil)
	descNodesDesired   = prometheus.NewDesc("rmf_scheduler_nodes_desired", "Nodes by desired state.", []string{"cluster", "desired"}, nil)
	descGivenUp        = prometheus.NewDesc("rmf_scheduler_nodes_given_up", "Nodes not relaunched any more: they failed the relaunch limit's number of times in a row.", []string{"cluster"}, nil)
	descReservations   = prometheus.NewDesc("rmf_scheduler_reservations", "Nodes holding a dynamic reservation, as recorded.", []string{"cluster"}, nil)
	descVolumes        = prometheus.NewDesc("rmf_scheduler_persistent_volumes", "Nodes holding a persistent volume, as recorded.", []string{"cluster"}, nil)
)

// apiStates are the states rmf_scheduler_nodes reports for every cluster
// (zeros included, so that a state's series does not come and go).
var apiStates = func() []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range []zkstate.ObservedState{zkstate.ObservedPending, zkstate.ObservedReserved, zkstate.ObservedLaunching, zkstate.ObservedStarting,
		zkstate.ObservedRunning, zkstate.ObservedStopping, zkstate.ObservedLeaving, zkstate.ObservedStopped, zkstate.ObservedFailed} {
		if st := apiState(zkstate.NodeRecord{ObservedState: o}); !seen[st] {
			seen[st] = true
			out = append(out, st)
		}
	}
	return out
}()

// metricsCollector exports the scheduler's state at scrape time: the
// counters, leadership, and the node records as read from ZooKeeper (so a
// standby reports the same nodes as the leader).
type metricsCollector struct{ s *Scheduler }

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOffersReceived, descOffersDeclined, descOffersUsed, descLaunches, descRelaunches, descReconciles,
		descLastReconcile, descLeader, descConnected, descReadable, descNodes, descNodesDesired, descGivenUp, descReservations, descVolumes} {
		ch <- d
	}
}

// scrapeTimeout bounds a scrape's reads of ZooKeeper.
const scrapeTimeout = 5 * time.Second

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	k := &s.counters
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descOffersReceived, k.offersReceived.Load())
	counter(descOffersDeclined, k.offersDeclined.Load())
	counter(descOffersUsed, k.offersUsed.Load())
	counter(descLaunches, k.launches.Load())
	counter(descRelaunches, k.relaunches.Load())
	counter(descReconciles, k.reconciles.Load())
	last := 0.0
	if ns := k.lastReconcile.Load(); ns != 0 {
		last = float64(ns) / 1e9
	}
	gauge(descLastReconcile, last)
	s.mu.Lock()
	leader, connected := s.leader, s.connected
	s.mu.Unlock()
	gauge(descLeader, b2f(leader))
	gauge(descConnected, b2f(connected))

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	nodes, err := s.listAllNodes(ctx)
	gauge(descReadable, b2f(err == nil))
	if err != nil {
		s.log.Warn("metrics: cannot read the node records", "err", err)
		return
	}
	type clusterCounts struct {
		state, desired                 map[string]int
		givenUp, reservations, volumes int
	}
	byCluster := map[string]*clusterCounts{}
	for _, n := range nodes {
		cc := byCluster[n.Cluster]
		if cc == nil {
			cc = &clusterCounts{state: map[string]int{}, desired: map[string]int{}}
			byCluster[n.Cluster] = cc
		}
		cc.state[apiState(n)]++
		cc.desired[string(n.DesiredState)]++
		if s.givenUp(n) {
			cc.givenUp++
		}
		if n.Reserved != (zkstate.Resources{}) {
			cc.reservations++
		}
		if n.PersistenceID != "" {
			cc.volumes++
		}
	}
	for name, cc := range byCluster {
		for _, st := range apiStates {
			gauge(descNodes, float64(cc.state[st]), name, st)
		}
		for _, d := range []zkstate.DesiredState{zkstate.DesiredRunning, zkstate.DesiredStopped, zkstate.DesiredRemoved} {
			gauge(descNodesDesired, float64(cc.desired[string(d)]), name, string(d))
		}
		gauge(descGivenUp, float64(cc.givenUp), name)
		gauge(descReservations, float64(cc.reservations), name)
		gauge(descVolumes, float64(cc.volumes), name)
	}
}

// givenUp says whether node n is given up on: as its record says, or as
// this leader decided (the record may not say so yet).
func (s *Scheduler) givenUp(n zkstate.NodeRecord) bool {
	if gaveUpRecorded(n) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runtime[key(n)]
	return r != nil && r.gaveUp && n.TaskID == ""
}

// listAllNodes reads every node record, changing nothing (readAllNodes
// also re-indexes the tasks).
func (s *Scheduler) listAllNodes(ctx context.Context) ([]zkstate.NodeRecord, error) {
	clusters, err := s.fw.ListClusters(ctx)
	if err != nil {
		return nil, err
	}
	var out []zkstate.NodeRecord
	for _, c := range clusters {
		names, err := s.fw.ListNodes(ctx, c)
		if errors.Is(err, zkstate.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			n, _, err := s.fw.GetNode(ctx, c, name)
			if errors.Is(err, zkstate.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// countAccept counts an accepted offer and the placements it launched.
func (c *counters) countAccept(launched []nodeChange) {
	c.offersUsed.Add(1)
	for _, ch := range launched {
		c.launches.Add(1)
		if !ch.Fresh {
			c.relaunches.Add(1)
		}
	}
}
