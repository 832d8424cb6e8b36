package mesoslocal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("mesoslocal: closed")

// Master is a local Mesos master and its agents. It is safe for concurrent
// use. Create it with New, serve the scheduler API with Serve, stop it with
// Close (which kills every process it started).
type Master struct {
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	id          string
	addr        string // host:port of the scheduler API, once serving
	frameworks  map[string]*framework
	removedFWs  map[string]bool
	agents      []*agent
	agentByID   map[string]*agent
	offers      map[string]*offer
	offerSeq    uint64
	closed      bool
	completed   []*task // recently finished tasks, for /state
	allocateNow chan struct{}
	eps         []*masterEndpoint // master listeners, in the order they started serving
	leader      int               // index in eps of the leading master
	electMu     sync.Mutex        // serializes publishing masters (Contender)
	primaryUp   chan struct{}     // closed once Serve's master is registered

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	srv    *http.Server
}

// framework is a subscribed (or failed-over, within its timeout) scheduler.
type framework struct {
	id           string
	info         mesos.FrameworkInfo
	role         string
	multiRole    bool
	stream       *stream // nil while disconnected
	connected    bool
	disconnected time.Time
	failover     *time.Timer
	suppressed   bool
	refused      map[string]time.Time // agent ID → no offers until
	registered   time.Time
}

// offer is an outstanding offer: its resources are held until it is
// accepted, declined or rescinded.
type offer struct {
	id        string
	fw        *framework
	agent     *agent
	resources mesos.Resources
}

// New checks cfg and creates the agents' directories. Nothing listens
// until Serve.
func New(cfg Config) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Credentials = slices.Clone(cfg.Credentials)
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("mesoslocal: work dir: %w", err)
	}
	abs, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	cfg.WorkDir = abs
	id, err := loadOrCreateMasterID(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Master{
		cfg: cfg, log: cfg.Logger, id: id,
		frameworks: map[string]*framework{}, removedFWs: map[string]bool{},
		agentByID: map[string]*agent{}, offers: map[string]*offer{},
		allocateNow: make(chan struct{}, 1), primaryUp: make(chan struct{}), ctx: ctx, cancel: cancel,
	}
	for i := 1; i <= cfg.Agents; i++ {
		a, err := newAgent(m, i)
		if err != nil {
			cancel()
			return nil, err
		}
		m.agents = append(m.agents, a)
		m.agentByID[a.id] = a
	}
	return m, nil
}

// Serve starts the agents and serves the master's HTTP API on ln until
// Close. It returns ErrClosed after Close.
func (m *Master) Serve(ln net.Listener) error {
	ep, err := m.addEndpoint(ln.Addr().String())
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.addr = ln.Addr().String()
	for _, a := range m.agents {
		if err := a.startLocked(); err != nil {
			m.mu.Unlock()
			return err
		}
	}
	m.srv = &http.Server{Handler: m.endpointHandler(ep), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slogErrorLog(m.log)}
	m.wg.Add(1)
	go m.loop()
	m.mu.Unlock()
	m.log.Info("mesos-local master serving", "addr", m.addr, "agents", len(m.agents))
	err = m.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrClosed
	}
	return err
}

// Addr is the master's address once Serve has started ("" before).
func (m *Master) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

// Close stops serving, ends every stream, kills every executor process
// (and its process group) and waits for them. Volumes stay on disk.
func (m *Master) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, fw := range m.frameworks {
		fw.stream.close()
		if fw.failover != nil {
			fw.failover.Stop()
		}
	}
	var agents []*agent
	agents = append(agents, m.agents...)
	srv := m.srv
	m.mu.Unlock()
	m.cancel()
	m.closeEndpoints()
	for _, a := range agents {
		a.stop(false)
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		_ = srv.Close()
	}
	m.wg.Wait()
	return nil
}

// loop runs the allocation cycle and status update retries.
func (m *Master) loop() {
	defer m.wg.Done()
	alloc := time.NewTicker(m.cfg.AllocationInterval)
	defer alloc.Stop()
	retry := time.NewTicker(min(m.cfg.StatusRetryInterval/4, 250*time.Millisecond))
	defer retry.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-alloc.C:
		case <-m.allocateNow:
		case <-retry.C:
			m.mu.Lock()
			m.retryUpdatesLocked(false)
			m.mu.Unlock()
			continue
		}
		m.mu.Lock()
		m.allocateLocked()
		m.mu.Unlock()
	}
}

// triggerAllocation asks the loop for an offer cycle soon.
func (m *Master) triggerAllocation() {
	select {
	case m.allocateNow <- struct{}{}:
	default:
	}
}

// allocateLocked offers each connected, unsuppressed framework what every
// up agent has free (not held by tasks, executors or other offers) for its
// role. Resources freed while an offer is outstanding go out in a new offer.
func (m *Master) allocateLocked() {
	if m.closed {
		return
	}
	now := time.Now()
	fws := make([]*framework, 0, len(m.frameworks))
	for _, fw := range m.frameworks {
		if fw.connected && !fw.suppressed {
			fws = append(fws, fw)
		}
	}
	sort.Slice(fws, func(i, j int) bool { return fws[i].registered.Before(fws[j].registered) })
	for _, fw := range fws {
		var batch []mesos.Offer
		for _, a := range m.agents {
			if !a.up {
				continue
			}
			if until, ok := fw.refused[a.id]; ok {
				if now.Before(until) {
					continue
				}
				delete(fw.refused, a.id)
			}
			free := a.freeLocked()
			var rs mesos.Resources
			for _, r := range free {
				if r.IsAllocatableTo(fw.role) && !r.IsEmpty() {
					rs.Add1(r)
				}
			}
			if !hasUsable(rs) {
				continue
			}
			o := &offer{id: m.nextOfferID(), fw: fw, agent: a, resources: rs}
			m.offers[o.id] = o
			batch = append(batch, m.offerProto(o))
		}
		if len(batch) > 0 {
			fw.stream.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: batch}})
		}
	}
}

// hasUsable reports whether rs holds cpus or mem worth offering.
func hasUsable(rs mesos.Resources) bool {
	for _, r := range rs {
		if (r.Name == "cpus" || r.Name == "mem") && r.GetScalar().GetValue() > 0 {
			return true
		}
	}
	return false
}

func (m *Master) nextOfferID() string {
	m.offerSeq++
	return fmt.Sprintf("%s-O%d", m.id, m.offerSeq)
}

func (m *Master) offerProto(o *offer) mesos.Offer {
	rs := o.resources.Clone()
	if o.fw.multiRole {
		rs = rs.Allocate(o.fw.role)
	}
	var execs []mesos.ExecutorID
	for _, e := range o.agent.executors {
		if e.fw == o.fw.id && !e.exited {
			execs = append(execs, e.info.ExecutorID)
		}
	}
	return mesos.Offer{
		ID: mesos.OfferID{Value: o.id}, FrameworkID: mesos.FrameworkID{Value: o.fw.id},
		AgentID: mesos.AgentID{Value: o.agent.id}, Hostname: o.agent.hostname,
		Resources: rs, Attributes: o.agent.attrs, ExecutorIDs: execs,
		URL: agentURL(o.agent),
	}
}

// rescindLocked withdraws the offers matching pick and tells their
// frameworks.
func (m *Master) rescindLocked(pick func(*offer) bool) {
	for id, o := range m.offers {
		if pick(o) {
			delete(m.offers, id)
			o.fw.stream.send(&scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: id}}})
		}
	}
	m.triggerAllocation()
}

// disconnectLocked handles a scheduler stream that ended: offers go back,
// tasks keep running, and the framework is removed if it does not come
// back within its failover timeout.
func (m *Master) disconnectLocked(fw *framework, s *stream) {
	if fw.stream != s || !fw.connected {
		return
	}
	fw.connected = false
	fw.stream = nil
	fw.disconnected = time.Now()
	for id, o := range m.offers {
		if o.fw == fw {
			delete(m.offers, id)
		}
	}
	timeout := time.Duration(fw.info.GetFailoverTimeout() * float64(time.Second))
	m.log.Info("framework disconnected", "framework", fw.id, "failover_timeout", timeout)
	if timeout <= 0 {
		m.removeFrameworkLocked(fw, "disconnected with failover timeout 0")
		return
	}
	fw.failover = time.AfterFunc(timeout, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !fw.connected && m.frameworks[fw.id] == fw {
			m.removeFrameworkLocked(fw, "failover timeout expired")
		}
	})
	m.triggerAllocation()
}

// removeFrameworkLocked tears a framework down: its executors are shut
// down, its tasks killed and its offers withdrawn. Its ID cannot subscribe
// again.
func (m *Master) removeFrameworkLocked(fw *framework, why string) {
	m.log.Info("framework removed", "framework", fw.id, "why", why)
	delete(m.frameworks, fw.id)
	m.removedFWs[fw.id] = true
	if fw.failover != nil {
		fw.failover.Stop()
	}
	for id, o := range m.offers {
		if o.fw == fw {
			delete(m.offers, id)
		}
	}
	for _, a := range m.agents {
		for _, e := range a.executors {
			if e.fw == fw.id {
				a.shutdownExecutorLocked(e, "framework removed")
			}
		}
		for _, t := range a.tasks {
			if t.fw == fw.id && t.exec == nil && !isTerminal(t.state) {
				a.agentUpdateLocked(t, mesos.TASK_KILLED, mesos.REASON_FRAMEWORK_REMOVED, "framework removed")
			}
		}
	}
	fw.stream.close()
	m.triggerAllocation()
}

// retryUpdatesLocked (re)sends the head of every task's unacknowledged
// status updates whose retry time has come (all of them when force).
func (m *Master) retryUpdatesLocked(force bool) {
	now := time.Now()
	for _, a := range m.agents {
		for _, t := range a.tasks {
			if len(t.pending) == 0 {
				continue
			}
			fw := m.frameworks[t.fw]
			if fw == nil || !fw.connected {
				continue
			}
			if force || t.sent.IsZero() || now.Sub(t.sent) >= m.cfg.StatusRetryInterval {
				t.sent = now
				st := t.pending[0]
				fw.stream.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
			}
		}
	}
}

// taskLocked finds a framework's task on any agent.
func (m *Master) taskLocked(fwID, taskID string) *task {
	for _, a := range m.agents {
		if t := a.tasks[taskKey(fwID, taskID)]; t != nil {
			return t
		}
	}
	return nil
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}

func proto(s string) *string { return &s }

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

func masterInfo(id, addr string) *mesos.MasterInfo {
	host, portS, _ := net.SplitHostPort(addr)
	var port uint32
	if p, err := net.LookupPort("tcp", portS); err == nil {
		port = uint32(p)
	}
	var ip uint32
	if v4 := net.ParseIP(host).To4(); v4 != nil {
		ip = binary.LittleEndian.Uint32(v4) // Mesos stores the IP in network order in a uint32
	}
	return &mesos.MasterInfo{ID: id, IP: ip, Port: &port, Hostname: &host, Version: proto("1.11.0 (mesos-local)"),
		Address: &mesos.Address{Hostname: &host, IP: &host, Port: int32(port)}}
}

// agentURL is where an agent's API is reached.
func agentURL(a *agent) *mesos.URL {
	host, portS, _ := net.SplitHostPort(a.addr)
	port, _ := strconv.Atoi(portS)
	return &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &a.hostname, IP: &host, Port: int32(port)}, Path: proto("/api/v1/executor")}
}

// loadOrCreateMasterID keeps the master ID in the work dir, so a restarted
// mesos-local has the same agent IDs (and their reservations and volumes).
func loadOrCreateMasterID(dir string) (string, error) {
	p := filepath.Join(dir, "master-id")
	if b, err := os.ReadFile(p); err == nil {
		id := strings.TrimSpace(string(b))
		if validName(id) {
			return id, nil
		}
		return "", fmt.Errorf("mesoslocal: %s holds an invalid master ID %q", p, id)
	}
	id := newID("master")
	if err := os.WriteFile(p, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("mesoslocal: %w", err)
	}
	return id, nil
}
