package scheduler

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// Defaults of Config's zero values.
const (
	DefaultRole            = "riak"
	DefaultFailoverTimeout = 168 * time.Hour
	DefaultRelaunchDelay   = time.Second
	DefaultMaxRelaunch     = time.Minute
	DefaultMaxRelaunches   = 10
	DefaultAgentTimeout    = 10 * time.Minute
	DefaultLeaveTimeout    = 30 * time.Minute
	// DefaultConfigCheckTimeout bounds the wait for a node's answer to a
	// configuration check during a rolling restart.
	DefaultConfigCheckTimeout = 30 * time.Second
	// leaveResend is how often the leave MESSAGE (not delivered reliably)
	// is repeated while a node is leaving.
	leaveResend = 5 * time.Second
)

// Config is the scheduler's configuration.
type Config struct {
	// Master is where the Mesos masters are: one URL (http://host:5050),
	// a comma-separated list of them, or zk://host:port[,host:port]/mesos
	// (the masters' --zk); the scheduler follows the leader (masters.go).
	Master string
	// MasterTLS, if set, is the TLS configuration of calls to https://
	// masters (the CAs to trust). Default: the system's CAs.
	MasterTLS *tls.Config
	// Framework is the framework's ZooKeeper state; FrameworkName its name.
	Framework *zkstate.Framework
	// ZooKeeper is the servers string given to executors.
	ZooKeeper string
	// ID names this scheduler instance in the leader election.
	ID string
	// Role and Principal of reservations. Default role "riak", principal = role.
	Role, Principal string
	// Secret, if set, is Principal's secret: every call to the master
	// carries HTTP Basic authentication Principal:Secret (a master run
	// with --credentials and --authenticate_http_frameworks requires it).
	// Default: none sent.
	Secret string
	// User the executors run as (Mesos FrameworkInfo.user). Default "root".
	User string
	// FailoverTimeout is how long Mesos keeps the tasks of a disconnected
	// scheduler. Default 168h.
	FailoverTimeout time.Duration
	// ExecutorURI is fetched into each executor's sandbox (the rmf binary,
	// served by the API at /static/rmf); ExecutorCommand runs it, split on
	// spaces and exec'd without a shell. Default "./rmf executor" (relative
	// to the sandbox). With ExecutorURI empty, ExecutorCommand
	// must name a binary present on every agent.
	ExecutorURI, ExecutorCommand string
	// Flavor of nodes (nodetask.FlavorDevnode or FlavorRiak) and, for riak,
	// the tarball URI.
	Flavor, RiakTarball string
	// Fencing is what executors do with their node when they lose touch
	// with ZooKeeper: nodetask.FencingVolume (default) or FencingStrict.
	Fencing string
	// Relaunch backoff: a failed node is relaunched after RelaunchDelay
	// (default 1s), doubling with each failure in a row up to
	// MaxRelaunchDelay (default 1m), and given up on after MaxRelaunches
	// failures in a row (default 10; NoRelaunchLimit: never). A node given
	// up on stays failed, with a message saying so, until restarted.
	RelaunchDelay, MaxRelaunchDelay time.Duration
	MaxRelaunches                   int
	// WebUIURL is the FrameworkInfo webui_url Mesos links to (the
	// scheduler's status page); empty: none.
	WebUIURL string
	// AgentTimeout is how long a node waits for offers from its agent
	// (gone, or not coming back) before it is placed again elsewhere,
	// with a new volume. Default 10m.
	AgentTimeout time.Duration
	// ZKAuth is the ZooKeeper digest credential ("user:password") the
	// framework's Store uses; executors get it in RMF_ZK_AUTH, unless
	// ExecutorZKAuthFile is set.
	ZKAuth string
	// ExecutorZKAuthFile, if set, is a file on every agent holding the
	// executors' ZooKeeper credential: executors are told to read it
	// (--zk-auth-file) and the credential stays out of the task, which
	// Mesos shows to whoever can read its state endpoints.
	ExecutorZKAuthFile string
	// APIToken, if set, is required (Authorization: Bearer) on the API's
	// mutating endpoints; reads stay open.
	APIToken string
	// LeaveTimeout bounds a removed node's leave (the handoff of its
	// data); past it the node is killed. Default 30m.
	LeaveTimeout time.Duration
	// ConfigCheckTimeout bounds the wait for a running node's answer to
	// the check of a new configuration generation (nodetask.OpCheckConfig)
	// before a rolling restart restarts it; past it the node is restarted
	// anyway, with a warning. Default 30s.
	ConfigCheckTimeout time.Duration
	Logger             *slog.Logger
}

func (c *Config) defaults() {
	if c.Role == "" {
		c.Role = DefaultRole
	}
	if c.Principal == "" {
		c.Principal = c.Role
	}
	if c.User == "" {
		c.User = "root"
	}
	if c.FailoverTimeout == 0 {
		c.FailoverTimeout = DefaultFailoverTimeout
	}
	if strings.TrimSpace(c.ExecutorCommand) == "" {
		c.ExecutorCommand = "./rmf executor"
	}
	if c.Flavor == "" {
		c.Flavor = nodetask.FlavorDevnode
	}
	if c.Fencing == "" {
		c.Fencing = nodetask.FencingVolume
	}
	if c.RelaunchDelay == 0 {
		c.RelaunchDelay = DefaultRelaunchDelay
	}
	if c.MaxRelaunchDelay == 0 {
		c.MaxRelaunchDelay = DefaultMaxRelaunch
	}
	if c.AgentTimeout == 0 {
		c.AgentTimeout = DefaultAgentTimeout
	}
	if c.MaxRelaunches == 0 {
		c.MaxRelaunches = DefaultMaxRelaunches
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = DefaultLeaveTimeout
	}
	if c.ConfigCheckTimeout == 0 {
		c.ConfigCheckTimeout = DefaultConfigCheckTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Scheduler is the Riak framework: the leader turns the desired state in
// ZooKeeper into reservations, volumes and tasks on Mesos.
type Scheduler struct {
	cfg Config
	log *slog.Logger
	fw  stateStore

	masters   *masterSet      // where the leading Mesos master is
	zkMasters *zkMasterLeader // for a zk:// Master, else nil

	counters counters // what /metrics counts; see metrics.go

	mu          sync.Mutex
	leader      bool
	connected   bool
	frameworkID string
	caller      calls.Caller
	runtime     map[string]*nodeRuntime // cluster/node → what only the leader knows
	tasks       map[string]nodeRef      // task ID → its node, as last read or recorded
	wake        chan struct{}
	suppressed  bool
	agents      map[string]AgentView // from the latest offers

	admin    adminWaiters  // admin requests waiting for replies (admin.go)
	tornDown chan struct{} // closed by a framework teardown (teardown.go)
	tearOnce sync.Once
}

// AgentView is an agent as the scheduler last saw it in an offer.
type AgentView struct {
	ID         string            `json:"id"`
	Hostname   string            `json:"hostname"`
	Attributes map[string]string `json:"attributes"`
	// Free is what the agent offered (unreserved), Reserved what it offered
	// reserved for the role.
	FreeCPUs     float64   `json:"free_cpus"`
	FreeMemMB    float64   `json:"free_mem_mb"`
	FreeDiskMB   float64   `json:"free_disk_mb"`
	FreePorts    int       `json:"free_ports"`
	ReservedCPUs float64   `json:"reserved_cpus"`
	LastOffer    time.Time `json:"last_offer"`
}

// Agents lists the agents seen in offers.
func (s *Scheduler) Agents() []AgentView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AgentView, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hostname < out[j].Hostname })
	return out
}

// nodeRuntime is the leader's in-memory view of a node beyond its record.
type nodeRuntime struct {
	// resizeSince: see nodeFacts.ResizeSince.
	resizeSince time.Time
	attempts    int
	nextTry     time.Time
	why         string // why the last offers did not place it
	killAsked   bool
	gaveUp      bool
	lastUpdate  mesos.TaskState
	killSentFor string // task ID a kill was sent for
	// leaveFor is the task asked to leave its cluster, since when, and
	// when the MESSAGE was last sent.
	leaveFor                string
	leaveStarted, leaveSent time.Time
	// waitingAgentSince is when the node started waiting for an offer
	// from its agent (zero: not waiting).
	waitingAgentSince time.Time
	// removedFor is the task found removed while starting, and since when
	// it has been waited for.
	removedFor   string
	removedSince time.Time
	// checkFor is the task asked to check configuration generation
	// checkGen, since when, and when the MESSAGE was last sent.
	checkFor                string
	checkGen                int64
	checkStarted, checkSent time.Time
}

// New returns a scheduler; Run starts it.
func New(cfg Config) (*Scheduler, error) {
	cfg.defaults()
	if cfg.Master == "" || cfg.Framework == nil || cfg.ZooKeeper == "" {
		return nil, errors.New("scheduler: Master, Framework and ZooKeeper are required")
	}
	spec, err := parseMasters(cfg.Master)
	if err != nil {
		return nil, err
	}
	if cfg.Flavor != nodetask.FlavorDevnode && cfg.Flavor != nodetask.FlavorRiak {
		return nil, fmt.Errorf("scheduler: flavor %q: want devnode or riak", cfg.Flavor)
	}
	if err := nodetask.ValidateFencing(cfg.Fencing); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	if f := cfg.ExecutorZKAuthFile; f != "" && (!filepath.IsAbs(f) || strings.ContainsFunc(f, unicode.IsSpace)) {
		return nil, fmt.Errorf("scheduler: executor ZooKeeper credential file %q: want an absolute path without spaces", f)
	}
	if cfg.Secret != "" && strings.ContainsRune(cfg.Principal, ':') {
		return nil, fmt.Errorf("scheduler: principal %q: a ':' cannot be sent in HTTP Basic authentication", cfg.Principal)
	}
	if cfg.Flavor == nodetask.FlavorRiak && cfg.RiakTarball == "" {
		return nil, errors.New("scheduler: flavor riak needs a Riak tarball URI")
	}
	if err := cfg.validateRelaunch(); err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, fw: cfg.Framework, runtime: map[string]*nodeRuntime{}, wake: make(chan struct{}, 1), agents: map[string]AgentView{}, tornDown: make(chan struct{})}
	var leader MasterLeader
	if spec.zk != nil {
		s.zkMasters = &zkMasterLeader{zk: *spec.zk, log: cfg.Logger}
		leader = s.zkMasters
	}
	s.masters = newMasterSet(spec, leader, cfg.Logger)
	return s, nil
}

// Status is the scheduler's view for GET /api/v1/framework.
type Status struct {
	FrameworkID string `json:"framework_id"`
	Leader      string `json:"leader"`
	IsLeader    bool   `json:"is_leader"`
	Connected   bool   `json:"connected"`
	Master      string `json:"master"`
	// MasterURL is the master the scheduler calls now (the leader, once
	// subscribed).
	MasterURL string `json:"master_url,omitempty"`
	ID        string `json:"id"`
}

// Status reports leadership and the Mesos connection.
func (s *Scheduler) Status(ctx context.Context) Status {
	leader, _ := s.fw.Leader(ctx)
	fid, _ := s.fw.FrameworkID(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{FrameworkID: fid, Leader: leader, IsLeader: s.leader, Connected: s.connected, Master: s.cfg.Master, MasterURL: s.masters.current(), ID: s.cfg.ID}
}

// Run campaigns for leadership and, while leader, runs the framework. It
// returns when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.zkMasters != nil {
		defer s.zkMasters.close()
	}
	for ctx.Err() == nil && !s.isTornDown() {
		s.log.Info("standing by for leadership", "id", s.cfg.ID)
		l, err := s.fw.Campaign(ctx, s.cfg.ID)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("leader election", "err", err)
			time.Sleep(time.Second)
			continue
		}
		s.log.Info("leading", "id", s.cfg.ID)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-l.Lost:
				s.log.Warn("leadership lost")
				cancel()
			case <-s.tornDown:
				s.log.Info("framework torn down: resigning and stopping")
				cancel()
			case <-lctx.Done():
			}
		}()
		s.mu.Lock()
		s.leader = true
		s.runtime = map[string]*nodeRuntime{}
		s.mu.Unlock()
		s.lead(lctx)
		cancel()
		l.Resign()
		s.mu.Lock()
		s.leader, s.connected = false, false
		s.mu.Unlock()
	}
	return nil
}

// lead runs the Mesos subscription and the periodic reconciliation of
// desired state until ctx ends.
func (s *Scheduler) lead(ctx context.Context) {
	fid, err := s.fw.FrameworkID(ctx)
	if err != nil && !errors.Is(err, zkstate.ErrNotFound) {
		s.log.Warn("read framework ID", "err", err)
	}
	fidStore := store.NewInMemorySingleton()
	if fid != "" {
		_ = fidStore.Set(fid)
	}
	do := []httpcli.ConfigOpt{httpcli.Timeout(20 * time.Second)}
	if s.cfg.Secret != "" {
		do = append(do, httpcli.BasicAuth(s.cfg.Principal, s.cfg.Secret))
	}
	if s.cfg.MasterTLS != nil {
		do = append(do, httpcli.TLSConfig(s.cfg.MasterTLS.Clone()))
	}
	// The endpoint's host is a placeholder: masters.wrapDoer sends every
	// call to the current master.
	cli := httpcli.New(httpcli.Endpoint("http://mesos-master.invalid/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]), httpcli.Do(s.masters.wrapDoer(httpcli.With(do...))))
	caller := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore))).Caller(
		s.masters.subscribeCaller(httpsched.NewCaller(cli, httpsched.EndpointCandidates(func() string { return "" }))))
	s.mu.Lock()
	s.caller = caller
	s.mu.Unlock()
	timeout := s.cfg.FailoverTimeout.Seconds()
	info := &mesos.FrameworkInfo{User: s.cfg.User, Name: "riak (" + s.fw.Name() + ")", Role: &s.cfg.Role, Principal: &s.cfg.Principal,
		FailoverTimeout: &timeout, Checkpoint: ptr(true)}
	if s.cfg.WebUIURL != "" {
		info.WebUiURL = &s.cfg.WebUIURL
	}
	if fid != "" {
		info.ID = &mesos.FrameworkID{Value: fid}
	}
	handler := s.eventHandler(fidStore)
	go s.tickLoop(ctx)
	err = controller.Run(ctx, info, caller,
		controller.WithEventHandler(handler),
		controller.WithFrameworkID(store.GetIgnoreErrors(fidStore)),
		controller.WithRegistrationTokens(backoff.Notifier(500*time.Millisecond, 5*time.Second, ctx.Done())),
		controller.WithSubscriptionTerminated(func(err error) {
			s.mu.Lock()
			s.connected = false
			s.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				if msg := s.authFailure(err); msg != "" {
					s.log.Error(msg+"; subscribing again with backoff", "err", err)
					return
				}
				s.log.Warn("mesos subscription ended", "err", err)
			}
		}),
	)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("controller stopped", "err", err)
	}
}

// eventHandler handles the master's events. Each is checked first: an
// event without the part its type names is logged and dropped, never a
// nil dereference.
func (s *Scheduler) eventHandler(fidStore store.Singleton) events.Handler {
	handlers := controller.LiftErrors().Handle(events.Handlers{
		scheduler.Event_SUBSCRIBED: controller.TrackSubscription(fidStore, s.cfg.FailoverTimeout).HandleF(func(ctx context.Context, e *scheduler.Event) error {
			return s.onSubscribed(ctx, e.Subscribed.FrameworkID.Value)
		}),
		scheduler.Event_OFFERS: events.HandlerFunc(func(ctx context.Context, e *scheduler.Event) error {
			s.onOffers(ctx, e.Offers.Offers)
			return nil
		}),
		// An update is acknowledged only once it is recorded in ZooKeeper:
		// Mesos sends an unacknowledged update again, so one that comes
		// while ZooKeeper is unreachable is not lost (acknowledging first,
		// as mesos-go's AckStatusUpdates does, would drop it and leave a
		// failed node recorded as running).
		scheduler.Event_UPDATE: events.HandlerFunc(func(ctx context.Context, e *scheduler.Event) error {
			st := e.Update.Status
			if err := s.onUpdate(ctx, st); err != nil {
				s.log.Warn("task update not recorded; not acknowledging it, so that Mesos sends it again",
					"task", st.TaskID.Value, "state", st.GetState().String(), "err", err)
				return nil
			}
			if uuid := st.GetUUID(); len(uuid) > 0 {
				s.call(ctx, calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, uuid))
			}
			return nil
		}),
		scheduler.Event_MESSAGE: events.HandlerFunc(func(_ context.Context, e *scheduler.Event) error {
			s.onExecutorMessage(e.Message.Data)
			return nil
		}),
		scheduler.Event_FAILURE: events.HandlerFunc(func(_ context.Context, e *scheduler.Event) error {
			s.log.Warn("executor failure", "agent", e.Failure.GetAgentID().GetValue(), "executor", e.Failure.GetExecutorID().GetValue(), "status", e.Failure.GetStatus())
			return nil
		}),
		scheduler.Event_ERROR: events.HandlerFunc(func(_ context.Context, e *scheduler.Event) error {
			s.log.Error("mesos error", "message", clip(e.Error.Message, maxEventText))
			return nil
		}),
	}.Otherwise(func(context.Context, *scheduler.Event) error { return nil }))
	return events.HandlerFunc(func(ctx context.Context, e *scheduler.Event) error {
		if err := checkEvent(e); err != nil {
			s.log.Warn("ignoring a malformed event from the master", "type", e.GetType().String(), "err", err)
			return nil
		}
		return handlers.HandleEvent(ctx, e)
	})
}

// maxEventText bounds a string from the master (a status message, an
// error) that is logged or recorded.
const maxEventText = 1024

// checkEvent says what is wrong with an event the handlers cannot use.
func checkEvent(e *scheduler.Event) error {
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		if e.GetSubscribed().GetFrameworkID().GetValue() == "" {
			return errors.New("SUBSCRIBED without a framework ID")
		}
	case scheduler.Event_OFFERS:
		if e.GetOffers() == nil {
			return errors.New("OFFERS without offers")
		}
	case scheduler.Event_UPDATE:
		if e.GetUpdate() == nil || e.GetUpdate().Status.TaskID.Value == "" {
			return errors.New("UPDATE without a task status")
		}
	case scheduler.Event_MESSAGE:
		if e.GetMessage() == nil {
			return errors.New("MESSAGE without data")
		}
	case scheduler.Event_ERROR:
		if e.GetError() == nil {
			return errors.New("ERROR without a message")
		}
	}
	return nil
}

// clip makes an outside string valid UTF-8 (so it is stored as given:
// JSON would widen each bad byte to three) and shortens it to at most n
// bytes on a rune boundary.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func ptr[T any](v T) *T { return &v }

// onSubscribed persists the framework ID and reconciles.
func (s *Scheduler) onSubscribed(ctx context.Context, fid string) error {
	s.log.Info("subscribed to mesos", "framework_id", fid)
	if err := s.fw.SetFrameworkID(ctx, fid); err != nil {
		s.log.Error("persist framework ID", "err", err)
	}
	s.mu.Lock()
	s.connected, s.frameworkID, s.suppressed = true, fid, false
	s.mu.Unlock()
	// Explicit reconciliation of every task we know, then implicit.
	tasks := map[string]string{}
	nodes, err := s.readAllNodes(ctx)
	if err != nil {
		s.log.Warn("read nodes for explicit reconciliation; reconciling implicitly only", "err", err)
	}
	for _, n := range nodes {
		if n.TaskID != "" {
			tasks[n.TaskID] = n.AgentID
		}
	}
	var errs []error
	if len(tasks) > 0 {
		errs = append(errs, s.call(ctx, calls.Reconcile(calls.ReconcileTasks(tasks))))
		s.counters.reconciles.Add(1)
	}
	errs = append(errs, s.call(ctx, calls.Reconcile(nil)))
	s.counters.reconciles.Add(1)
	if errors.Join(errs...) == nil {
		s.counters.lastReconcile.Store(time.Now().UnixNano())
	}
	return nil
}

// call sends a call, logging failures (Mesos resends what matters), and
// returns the failure for callers that count.
func (s *Scheduler) call(ctx context.Context, c *scheduler.Call) error {
	s.mu.Lock()
	caller := s.caller
	s.mu.Unlock()
	if caller == nil {
		return errors.New("scheduler: not subscribed")
	}
	err := calls.CallNoData(ctx, caller, c)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("mesos call failed", "type", c.Type.String(), "err", err)
	}
	return err
}

// authFailure is the one line that says the master refused the
// framework's credentials (HTTP 401), "" for any other error. A 401 comes
// on SUBSCRIBE: a master that took the credential there takes it on the
// stream's later calls too.
func (s *Scheduler) authFailure(err error) string {
	var ae *apierrors.Error
	if !errors.As(err, &ae) || !apierrors.CodeNotAuthenticated.Matches(ae) {
		return ""
	}
	if s.cfg.Secret == "" {
		return fmt.Sprintf("mesos master requires authentication and no secret is configured for principal %s (401)", s.cfg.Principal)
	}
	return fmt.Sprintf("mesos master refused the credentials for principal %s (401)", s.cfg.Principal)
}

// Nudge asks the leader to act on new desired state now.
func (s *Scheduler) Nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// tickLoop periodically compares desired and observed state: kills of
// nodes to remove or restart, and REVIVE when nodes wait for offers.
func (s *Scheduler) tickLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		s.tick(ctx)
	}
}

func key(n zkstate.NodeRecord) string { return n.Cluster + "/" + n.Name }

// readAllNodes reads every node record of every cluster.
// An error means ZooKeeper could not be read: callers must not act on a
// partial view (a node missing from it would look unknown, and its
// reservation and volume orphaned).
func (s *Scheduler) readAllNodes(ctx context.Context) ([]zkstate.NodeRecord, error) {
	var out []zkstate.NodeRecord
	clusters, err := s.fw.ListClusters(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	for _, c := range clusters {
		names, err := s.fw.ListNodes(ctx, c)
		if errors.Is(err, zkstate.ErrNotFound) {
			continue // destroyed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list nodes of %s: %w", c, err)
		}
		for _, name := range names {
			n, _, err := s.fw.GetNode(ctx, c, name)
			if errors.Is(err, zkstate.ErrNotFound) {
				continue // removed meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("read node %s/%s: %w", c, name, err)
			}
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	s.mu.Lock()
	s.indexTasks(out)
	s.mu.Unlock()
	return out, nil
}

// rt is node n's runtime, created if need be (held if its record says
// it was given up on: a new leader does not relaunch it; released when
// its record says a restart was asked); s.mu must be held.
func (s *Scheduler) rt(n zkstate.NodeRecord) *nodeRuntime {
	if r := s.runtime[key(n)]; r != nil {
		if r.gaveUp && n.TaskID == "" && n.Message == retryAsked {
			r.attempts, r.gaveUp, r.nextTry = 0, false, time.Time{}
		}
		return r
	}
	r := s.rtKey(key(n))
	r.gaveUp = gaveUpRecorded(n)
	return r
}

// rtKey is rt by key(n).
func (s *Scheduler) rtKey(k string) *nodeRuntime {
	r := s.runtime[k]
	if r == nil {
		r = &nodeRuntime{}
		s.runtime[k] = r
	}
	return r
}

// kill asks Mesos to kill a node's task once and records why.
func (s *Scheduler) kill(ctx context.Context, n zkstate.NodeRecord, r *nodeRuntime, next zkstate.ObservedState) {
	s.mu.Lock()
	sent := r.killSentFor == n.TaskID
	r.killSentFor, r.killAsked = n.TaskID, true
	s.mu.Unlock()
	if n.ObservedState != next {
		_, _, _ = s.fw.ModifyNode(ctx, n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
			rec.ObservedState = next
			return nil
		})
	}
	if !sent {
		s.log.Info("killing node", "cluster", n.Cluster, "node", n.Name, "task", n.TaskID, "for", next)
		s.call(ctx, calls.Kill(n.TaskID, n.AgentID))
	}
}

func (s *Scheduler) deleteNode(ctx context.Context, n zkstate.NodeRecord) error {
	_, ver, err := s.fw.GetNode(ctx, n.Cluster, n.Name)
	if err != nil {
		return err
	}
	s.log.Info("node removed", "cluster", n.Cluster, "node", n.Name)
	s.mu.Lock()
	delete(s.runtime, key(n))
	s.mu.Unlock()
	return s.fw.DeleteNode(ctx, n.Cluster, n.Name, ver)
}

// onUpdate moves a node's observed state on a task status update: it
// finds the task's node, records what the update means for it
// (observeUpdate) and then updates what the leader knows of it
// (afterUpdate). An error means the update could not be recorded
// (ZooKeeper unreachable) and must not be acknowledged.
func (s *Scheduler) onUpdate(ctx context.Context, st mesos.TaskStatus) error {
	taskID := st.TaskID.Value
	node, err := s.nodeOfTask(ctx, taskID)
	if err != nil {
		return err
	}
	state := st.GetState()
	terminal := isTerminal(state)
	if node == nil {
		if !terminal {
			s.log.Warn("killing a task this framework does not know", "task", taskID, "agent", st.GetAgentID().GetValue())
			s.call(ctx, calls.Kill(taskID, st.GetAgentID().GetValue()))
		}
		return nil
	}
	s.mu.Lock()
	r := s.rt(*node)
	r.lastUpdate = state
	killAsked := r.killAsked
	s.mu.Unlock()
	msg := clip(st.GetMessage(), maxEventText)
	s.log.Info("task update", "cluster", node.Cluster, "node", node.Name, "state", state.String(), "message", msg)
	rep := s.statusOf(st, *node)
	_, _, err = s.fw.ModifyNode(ctx, node.Cluster, node.Name, func(rec *zkstate.NodeRecord) error {
		return observeUpdate(rec, taskID, state, killAsked, msg, rep)
	})
	if err != nil && !errors.Is(err, errStale) && !errors.Is(err, zkstate.ErrNotFound) {
		return fmt.Errorf("record the update of node %s: %w", node.Name, err)
	}
	s.mu.Lock()
	gaveUp := s.afterUpdate(r, node.DesiredState, state, killAsked, time.Now())
	attempts := r.attempts
	s.mu.Unlock()
	if gaveUp {
		s.log.Error("node failed too often; not relaunching", "cluster", node.Cluster, "node", node.Name, "attempts", attempts, "max_relaunches", s.cfg.MaxRelaunches)
		s.recordGaveUp(ctx, *node, attempts)
	}
	if terminal || rep.Status != nil {
		s.Nudge() // a relaunch, or a rollout's next step, may be due
	}
	return nil
}

// statusReport is what a task status update says of its node's
// readiness (nodetask.Status in a TASK_RUNNING's data).
type statusReport struct {
	// Status is the update's status; nil: it carried none.
	Status *nodetask.Status
	// Keep: an update without a status says nothing new (an answer to
	// reconciliation, which carries no data, or data that did not parse):
	// the recorded status stays.
	Keep bool
}

// statusOf reads the status in a TASK_RUNNING update's data. Bad data is
// logged and ignored.
func (s *Scheduler) statusOf(st mesos.TaskStatus, n zkstate.NodeRecord) statusReport {
	rep := statusReport{Keep: st.GetReason() == mesos.REASON_RECONCILIATION}
	if st.GetState() != mesos.TASK_RUNNING {
		return rep
	}
	ns, ok, err := nodetask.ParseStatus(st.GetData())
	switch {
	case err != nil:
		s.log.Warn("ignoring the status data of a task update", "cluster", n.Cluster, "node", n.Name, "task", st.TaskID.Value, "err", err)
		rep.Keep = true
	case ok:
		rep.Status = &ns
	}
	return rep
}

// recordStatus is the node status to record for a TASK_RUNNING update
// with status st of the task the record names (old: the status recorded
// so far). The last config check stays until another answers it.
func recordStatus(old *zkstate.NodeStatus, st *nodetask.Status) *zkstate.NodeStatus {
	ns := &zkstate.NodeStatus{Ready: st.Ready, TransfersPending: st.TransfersPending, Transfers: clip(st.Transfers, nodetask.MaxStatusText)}
	switch {
	case st.ConfigCheck != nil:
		c := *st.ConfigCheck
		ns.ConfigCheck = &zkstate.ConfigCheck{Generation: max(c.Generation, 0), OK: c.OK, Error: clip(c.Error, nodetask.MaxStatusText)}
	case old != nil:
		ns.ConfigCheck = old.ConfigCheck
	}
	return ns
}

// observeUpdate changes a node's record for an update of its task in
// state (errStale if the record names another task). killAsked says the
// scheduler killed the task; rep is the update's status report.
func observeUpdate(rec *zkstate.NodeRecord, taskID string, state mesos.TaskState, killAsked bool, msg string, rep statusReport) error {
	if rec.TaskID != taskID {
		return errStale
	}
	terminal := isTerminal(state)
	rec.Message = msg
	if state == mesos.TASK_RUNNING {
		switch {
		case rep.Status != nil:
			rec.Status = recordStatus(rec.Status, rep.Status)
		case !rep.Keep:
			rec.Status = nil // an executor that reports no status
		}
		if c := checkFailure(*rec); c != "" {
			rec.Message = c
		}
		// The task runs under the node's new name: the previous
		// incarnation has been replaced in the ring.
		rec.ReplacesRiakNodeName = ""
	} else {
		rec.Status = nil
	}
	switch {
	case state == mesos.TASK_STAGING:
		rec.ObservedState = zkstate.ObservedLaunching
	case state == mesos.TASK_STARTING:
		rec.ObservedState = zkstate.ObservedStarting
	case state == mesos.TASK_RUNNING && rec.DesiredState == zkstate.DesiredRemoved && rec.ObservedState == zkstate.ObservedLeaving:
		// still leaving: the update says how far
	case state == mesos.TASK_RUNNING:
		rec.ObservedState = zkstate.ObservedRunning
	case terminal && rec.DesiredState == zkstate.DesiredRemoved:
		// left (TASK_FINISHED) or killed: release its reservation next
		rec.ObservedState, rec.TaskID = zkstate.ObservedLeaving, ""
	case terminal && killAsked && rec.DesiredState == zkstate.DesiredStopped:
		rec.ObservedState, rec.TaskID = zkstate.ObservedStopped, ""
	case terminal && killAsked:
		rec.ObservedState, rec.TaskID = zkstate.ObservedReserved, "" // restart: relaunch at once
	case terminal:
		rec.ObservedState, rec.TaskID = zkstate.ObservedFailed, ""
	}
	return nil
}

// afterUpdate changes what the leader knows of a node (desired as last
// read) on an update of its task in state: a running task resets the
// relaunch backoff; a task that ended when asked is forgotten; one that
// failed backs the next relaunch off (relaunchDelay), and gives up after
// MaxRelaunches in a row (givesUp; reported true).
func (s *Scheduler) afterUpdate(r *nodeRuntime, desired zkstate.DesiredState, state mesos.TaskState, killAsked bool, now time.Time) (gaveUp bool) {
	terminal := isTerminal(state)
	switch {
	case state == mesos.TASK_RUNNING:
		r.attempts, r.why = 0, ""
	case terminal && (killAsked || desired == zkstate.DesiredRemoved):
		r.killAsked, r.killSentFor, r.leaveFor = false, "", ""
	case terminal:
		r.attempts++
		r.nextTry = now.Add(s.cfg.relaunchDelay(r.attempts))
		if s.cfg.givesUp(r.attempts) {
			r.gaveUp = true
			return true
		}
	}
	return false
}

var errStale = errors.New("scheduler: task ID changed")

// checkFailure is the message of node n's failed check of a newer
// configuration generation ("" if it has none).
func checkFailure(n zkstate.NodeRecord) string {
	if n.Status == nil || n.Status.ConfigCheck == nil {
		return ""
	}
	c := n.Status.ConfigCheck
	if c.OK || c.Generation <= n.Generation {
		return ""
	}
	first, _, _ := strings.Cut(c.Error, "\n")
	return fmt.Sprintf("configuration generation %d refused by the node's check; rolling restart stopped: %s", c.Generation, clip(first, maxEventText))
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR, mesos.TASK_UNKNOWN:
		return true
	}
	return false
}

// hostIP is the address a node on this offer's agent binds and advertises.
// Mesos puts the agent's IP in the offer's URL; without it the hostname
// is looked up, briefly, since this runs in the event loop.
func hostIP(ctx context.Context, o mesos.Offer) string {
	if u := o.GetURL(); u != nil && u.Address.GetIP() != "" {
		return u.Address.GetIP()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if ips, err := net.DefaultResolver.LookupHost(ctx, o.Hostname); err == nil && len(ips) > 0 {
		return ips[0]
	}
	return o.Hostname
}
