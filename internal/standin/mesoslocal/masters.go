package mesoslocal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Several masters, one leading. A Master can serve more than one master
// listener (Serve, then ServeStandby): they share one state, as a
// replicated log would give them, and the first to serve leads. A master
// that does not lead answers the scheduler API with 307 Temporary
// Redirect and Location //<leader host:port>/api/v1/scheduler, as Mesos
// does. MoveLeader (POST /faults/leader/move) hands leadership to the
// next master: every scheduler stream ends, as when a leading master
// dies, and schedulers fail over to the new leader within their
// failover_timeout, with their tasks running. With Config.Contender the
// masters are also published as Mesos publishes them in ZooKeeper.

// Contender publishes a master in a leader election the way Mesos does in
// ZooKeeper (an ephemeral sequential json.info_<seq> child of the --zk
// path holding the master's MasterInfo as JSON; the lowest leads).
// mesos-local calls Contend in the order its masters lead, and on
// MoveLeader withdraws the old leader's entry and contends again with it,
// so that the lowest entry is always the leader's.
type Contender interface {
	Contend(info []byte) (withdraw func() error, err error)
}

// masterEndpoint is one master listener.
type masterEndpoint struct {
	n        int // 1-based
	id       string
	addr     string
	srv      *http.Server
	withdraw func() error
}

// MasterInfoJSON is a master's MasterInfo in the JSON form Mesos writes
// to ZooKeeper.
type MasterInfoJSON struct {
	Address struct {
		Hostname string `json:"hostname"`
		IP       string `json:"ip"`
		Port     int    `json:"port"`
	} `json:"address"`
	Hostname string `json:"hostname"`
	ID       string `json:"id"`
	IP       uint32 `json:"ip"`
	PID      string `json:"pid"`
	Port     int    `json:"port"`
	Version  string `json:"version"`
}

func (ep *masterEndpoint) infoJSON() []byte {
	host, portS, _ := net.SplitHostPort(ep.addr)
	port, _ := strconv.Atoi(portS)
	var mi MasterInfoJSON
	mi.Address.Hostname, mi.Address.IP, mi.Address.Port = host, host, port
	mi.Hostname, mi.ID, mi.Port, mi.Version = host, ep.id, port, "1.11.0 (mesos-local)"
	mi.PID = "master@" + ep.addr
	if v4 := net.ParseIP(host).To4(); v4 != nil {
		mi.IP = binary.LittleEndian.Uint32(v4)
	}
	b, _ := json.Marshal(mi)
	return b
}

// addEndpoint registers a master listening on addr and, with a
// Contender, publishes it. Calls are serialized by electMu so that the
// publishing order is the leading order.
func (m *Master) addEndpoint(addr string) (*masterEndpoint, error) {
	m.electMu.Lock()
	defer m.electMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	ep := &masterEndpoint{n: len(m.eps) + 1, id: m.id, addr: addr}
	if ep.n > 1 {
		ep.id = fmt.Sprintf("%s-m%d", m.id, ep.n)
	}
	m.eps = append(m.eps, ep)
	m.mu.Unlock()
	if ep.n == 1 {
		defer close(m.primaryUp)
	}
	if c := m.cfg.Contender; c != nil {
		w, err := c.Contend(ep.infoJSON())
		if err != nil {
			return nil, fmt.Errorf("mesoslocal: publishing master %s: %w", addr, err)
		}
		m.mu.Lock()
		ep.withdraw = w
		m.mu.Unlock()
	}
	return ep, nil
}

// ServeStandby serves one more master on ln, sharing this Master's state;
// it leads only after MoveLeader hands leadership to it. It waits for
// Serve to start (the master of Serve leads first). It returns ErrClosed
// after Close.
func (m *Master) ServeStandby(ln net.Listener) error {
	select {
	case <-m.primaryUp:
	case <-m.ctx.Done():
		return ErrClosed
	}
	ep, err := m.addEndpoint(ln.Addr().String())
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: m.endpointHandler(ep), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slogErrorLog(m.log)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	ep.srv = srv
	m.mu.Unlock()
	m.log.Info("mesos-local standby master serving", "addr", ep.addr, "id", ep.id)
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrClosed
	}
	return err
}

// Leader is the leading master's address ("" before Serve).
func (m *Master) Leader() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ep := m.leaderLocked(); ep != nil {
		return ep.addr
	}
	return ""
}

// Masters lists every master's address, the leader first.
func (m *Master) Masters() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for i := range m.eps {
		out = append(out, m.eps[(m.leader+i)%len(m.eps)].addr)
	}
	return out
}

func (m *Master) leaderLocked() *masterEndpoint {
	if len(m.eps) == 0 {
		return nil
	}
	return m.eps[m.leader]
}

// MoveLeader hands leadership to the next master, as a leading Mesos
// master that dies does: every scheduler stream ends (its framework is
// disconnected, its tasks keep running for failover_timeout), outstanding
// offers are withdrawn, and with a Contender the old leader's entry is
// withdrawn and entered again behind the new leader's. It returns the new
// leader's address.
func (m *Master) MoveLeader() (string, error) {
	m.electMu.Lock()
	defer m.electMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", ErrClosed
	}
	if len(m.eps) < 2 {
		m.mu.Unlock()
		return "", errors.New("mesoslocal: only one master is serving; start a standby (--standby-listen) to move leadership to")
	}
	old := m.eps[m.leader]
	m.leader = (m.leader + 1) % len(m.eps)
	now := m.eps[m.leader]
	for _, fw := range m.frameworks {
		if fw.connected {
			fw.stream.close()
		}
	}
	withdraw := old.withdraw
	m.mu.Unlock()
	m.log.Info("fault: master leadership moves", "from", old.addr, "to", now.addr)
	if c := m.cfg.Contender; c != nil {
		if withdraw != nil {
			if err := withdraw(); err != nil {
				return now.addr, fmt.Errorf("mesoslocal: withdrawing master %s: %w", old.addr, err)
			}
		}
		w, err := c.Contend(old.infoJSON())
		if err != nil {
			return now.addr, fmt.Errorf("mesoslocal: publishing master %s again: %w", old.addr, err)
		}
		m.mu.Lock()
		old.withdraw = w
		m.mu.Unlock()
	}
	return now.addr, nil
}

// closeEndpoints stops the standby servers and withdraws every published
// master (Close does the first master's server itself).
func (m *Master) closeEndpoints() {
	m.mu.Lock()
	var srvs []*http.Server
	var withdraws []func() error
	for _, ep := range m.eps {
		if ep.srv != nil && ep.srv != m.srv {
			srvs = append(srvs, ep.srv)
		}
		if ep.withdraw != nil {
			withdraws = append(withdraws, ep.withdraw)
			ep.withdraw = nil
		}
	}
	m.mu.Unlock()
	for _, srv := range srvs {
		_ = srv.Close()
	}
	for _, w := range withdraws {
		_ = w()
	}
}

// endpointHandler is a master listener's API: the shared Handler, with
// the scheduler API redirected to the leader when ep does not lead.
func (m *Master) endpointHandler(ep *masterEndpoint) http.Handler {
	base := m.Handler()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		lead := m.leaderLocked()
		m.mu.Unlock()
		if lead != nil && lead != ep {
			w.Header().Set("Location", "//"+lead.addr+"/api/v1/scheduler")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		m.serveSchedulerAPI(w, r)
	})
	redirect := func(w http.ResponseWriter, r *http.Request) {
		if lead := m.Leader(); lead != "" {
			w.Header().Set("Location", "//"+lead)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		httpError(w, http.StatusServiceUnavailable, "No leader elected")
	}
	mux.HandleFunc("GET /redirect", redirect)
	mux.HandleFunc("GET /master/redirect", redirect)
	mux.Handle("/", base)
	return mux
}

// leaderRoutes serve the leadership fault and its state.
func (m *Master) leaderRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /leader", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"leader": m.Leader(), "masters": m.Masters()})
	})
	mux.HandleFunc("POST /faults/leader/move", func(w http.ResponseWriter, r *http.Request) {
		addr, err := m.MoveLeader()
		if err != nil {
			httpError(w, http.StatusConflict, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"leader": addr})
	})
}

// leaderInfoLocked is the leading master's MasterInfo (SUBSCRIBED).
func (m *Master) leaderInfoLocked() *mesos.MasterInfo {
	if ep := m.leaderLocked(); ep != nil {
		return masterInfo(ep.id, ep.addr)
	}
	return masterInfo(m.id, m.addr)
}
