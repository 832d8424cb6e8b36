package mesoslocal

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

type encodingMarshaler = encoding.Marshaler

// maxCallSize bounds a call's body (Mesos' own limit is higher; no call of
// a framework comes near it).
const maxCallSize = 16 << 20

// Handler is the master's HTTP API: POST /api/v1/scheduler, GET /state,
// GET /health and the fault-injection endpoints under /faults/.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", m.serveSchedulerAPI)
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, m.State()) })
	mux.HandleFunc("GET /master/state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, m.State()) })
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	m.faultRoutes(mux)
	return mux
}

// requestCodec picks the codec of a call from its Content-Type.
func requestCodec(w http.ResponseWriter, r *http.Request) (encoding.Codec, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "Expecting 'POST', received '"+r.Method+"'")
		return encoding.Codec{}, false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		httpError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
		return encoding.Codec{}, false
	}
	codec, ok := codecs.ByMediaType[encoding.MediaType(mt)]
	if !ok {
		httpError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf, got "+mt)
		return encoding.Codec{}, false
	}
	if acc := r.Header.Get("Accept"); acc != "" && acc != "*/*" {
		for _, part := range strings.Split(acc, ",") {
			at, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
			if c, ok := codecs.ByMediaType[encoding.MediaType(at)]; ok {
				return c, true
			}
		}
		httpError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
		return encoding.Codec{}, false
	}
	return codec, true
}

// decodeCall reads and decodes a call body with the codec of its
// Content-Type (the response codec may differ only through Accept).
func decodeCall(w http.ResponseWriter, r *http.Request, _ encoding.Codec, call encoding.Unmarshaler) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	in := codecs.ByMediaType[encoding.MediaType(mt)]
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallSize))
	if err != nil {
		httpError(w, http.StatusRequestEntityTooLarge, "Request body too large or unreadable: "+err.Error())
		return false
	}
	if err := decodeSafely(in, body, call); err != nil {
		httpError(w, http.StatusBadRequest, "Failed to parse body into Call: "+err.Error())
		return false
	}
	return true
}

// decodeSafely decodes b, turning a decoder panic into an error.
func decodeSafely(c encoding.Codec, b []byte, u encoding.Unmarshaler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed body: %v", p)
		}
	}()
	if len(b) == 0 {
		return fmt.Errorf("empty body")
	}
	return c.NewDecoder(encoding.SourceReader(strings.NewReader(string(b)))).Decode(u)
}

// startStream writes the headers of a streaming answer.
func startStream(w http.ResponseWriter, codec encoding.Codec, streamID string) {
	w.Header().Set("Content-Type", codec.Type.ContentType())
	w.Header().Set("Cache-Control", "no-cache")
	if streamID != "" {
		w.Header().Set("Mesos-Stream-Id", streamID)
	}
	w.WriteHeader(http.StatusOK)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func slogErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}

// serveSchedulerAPI is the master's POST /api/v1/scheduler.
// With Config.Credentials every request must authenticate first, as
// Mesos authenticates before its handler runs.
func (m *Master) serveSchedulerAPI(w http.ResponseWriter, r *http.Request) {
	principal, ok := m.authenticate(w, r)
	if !ok {
		return
	}
	codec, ok := requestCodec(w, r)
	if !ok {
		return
	}
	var call scheduler.Call
	if !decodeCall(w, r, codec, &call) {
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		m.subscribe(w, r, codec, &call, principal)
		return
	}
	if call.Type == scheduler.Call_UNKNOWN {
		httpError(w, http.StatusBadRequest, "Expecting 'type' to be present")
		return
	}
	fwID := call.GetFrameworkID().GetValue()
	if fwID == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'framework_id' to be present")
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[fwID]
	if fw == nil || !fw.connected {
		httpError(w, http.StatusForbidden, "Framework is not subscribed")
		return
	}
	if principal != "" && principal != fw.info.GetPrincipal() {
		httpError(w, http.StatusBadRequest, principalMismatch(principal, fw.info.GetPrincipal()))
		return
	}
	if sid := r.Header.Get("Mesos-Stream-Id"); sid != fw.stream.id {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", sid, fwID))
		return
	}
	if err := m.handleCallLocked(fw, &call); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// subscribe handles SUBSCRIBE: a new framework, a failover of a known one,
// or a re-registration after a master failover. principal is the
// authenticated one ("" without authentication): FrameworkInfo.principal
// must be it or empty (then it is set to it), as in Mesos.
func (m *Master) subscribe(w http.ResponseWriter, r *http.Request, codec encoding.Codec, call *scheduler.Call, principal string) {
	sub := call.Subscribe
	if sub == nil || sub.FrameworkInfo == nil {
		httpError(w, http.StatusBadRequest, "Expecting 'subscribe.framework_info' to be present")
		return
	}
	info := *sub.FrameworkInfo
	if info.User == "" || info.Name == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'framework_info.user' and 'framework_info.name' to be present")
		return
	}
	if id := call.GetFrameworkID().GetValue(); id != info.GetID().GetValue() {
		httpError(w, http.StatusBadRequest, "'framework_id' differs from 'subscribe.framework_info.id'")
		return
	}
	if principal != "" {
		if info.Principal == nil {
			m.log.Warn("setting FrameworkInfo.principal to the authenticated principal", "principal", principal, "name", info.Name)
			info.Principal = &principal
		} else if p := info.GetPrincipal(); p != principal {
			m.log.Warn("SUBSCRIBE refused: principal differs from the authenticated one", "principal", clipPrincipal(p), "authenticated", principal)
			httpError(w, http.StatusBadRequest, principalMismatch(principal, p))
			return
		}
	}
	role, multi, err := frameworkRole(info)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "Master is shutting down")
		return
	}
	id := info.GetID().GetValue()
	if id != "" && (m.removedFWs[id] || !validName(id)) {
		m.mu.Unlock()
		httpError(w, http.StatusForbidden, fmt.Sprintf("Framework %s has been removed (or its ID is invalid)", id))
		return
	}
	if id == "" {
		id = fmt.Sprintf("%s-%04d", m.id, len(m.frameworks)+len(m.removedFWs))
		for m.frameworks[id] != nil {
			id += "x"
		}
	}
	info.ID = &mesos.FrameworkID{Value: id}
	fw := m.frameworks[id]
	if fw == nil {
		fw = &framework{id: id, refused: map[string]time.Time{}, registered: time.Now()}
		m.frameworks[id] = fw
		m.log.Info("framework subscribed", "framework", id, "name", info.Name, "role", role)
	} else {
		m.log.Info("framework re-subscribed", "framework", id, "was_connected", fw.connected)
		if fw.connected {
			fw.stream.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}})
			fw.stream.close()
		}
		if fw.failover != nil {
			fw.failover.Stop()
			fw.failover = nil
		}
		for oid, o := range m.offers {
			if o.fw == fw {
				delete(m.offers, oid)
			}
		}
	}
	fw.info, fw.role, fw.multiRole = info, role, multi
	fw.suppressed = len(sub.SuppressedRoles) > 0 && contains(sub.SuppressedRoles, role)
	s := newStream(newID("stream"))
	fw.stream, fw.connected = s, true
	hb := m.cfg.HeartbeatInterval.Seconds()
	s.send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: id}, HeartbeatIntervalSeconds: &hb, MasterInfo: m.leaderInfoLocked()}})
	m.retryUpdatesLocked(true)
	m.allocateLocked()
	m.mu.Unlock()

	startStream(w, codec, s.id)
	_ = s.serve(r.Context(), w, codec, m.cfg.HeartbeatInterval, func() encodingMarshaler { return &scheduler.Event{Type: scheduler.Event_HEARTBEAT} })
	m.mu.Lock()
	if cur := m.frameworks[id]; cur != nil {
		m.disconnectLocked(cur, s)
	}
	m.mu.Unlock()
}

// frameworkRole is the one role a framework's offers are made for.
func frameworkRole(info mesos.FrameworkInfo) (role string, multi bool, err error) {
	for _, c := range info.Capabilities {
		if c.Type == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			multi = true
		}
	}
	role = info.GetRole()
	if multi {
		if len(info.Roles) > 1 {
			return "", false, fmt.Errorf("mesos-local offers to one role per framework; got roles %v", info.Roles)
		}
		role = "*"
		if len(info.Roles) == 1 {
			role = info.Roles[0]
		}
	}
	if role == "" {
		role = "*"
	}
	if role != "*" && !validName(role) {
		return "", false, fmt.Errorf("Invalid role %q", role)
	}
	return role, multi, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// handleCallLocked runs every call but SUBSCRIBE.
func (m *Master) handleCallLocked(fw *framework, call *scheduler.Call) error {
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		m.removeFrameworkLocked(fw, "TEARDOWN")
	case scheduler.Call_ACCEPT:
		if call.Accept == nil {
			return fmt.Errorf("Expecting 'accept' to be present")
		}
		m.acceptLocked(fw, call.Accept.OfferIDs, call.Accept.Operations, call.Accept.Filters)
	case scheduler.Call_DECLINE:
		if call.Decline == nil {
			return fmt.Errorf("Expecting 'decline' to be present")
		}
		m.acceptLocked(fw, call.Decline.OfferIDs, nil, call.Decline.Filters)
	case scheduler.Call_REVIVE:
		fw.suppressed = false
		fw.refused = map[string]time.Time{}
		m.triggerAllocation()
	case scheduler.Call_SUPPRESS:
		fw.suppressed = true
		m.rescindLocked(func(o *offer) bool { return o.fw == fw })
	case scheduler.Call_KILL:
		if call.Kill == nil {
			return fmt.Errorf("Expecting 'kill' to be present")
		}
		t := m.taskLocked(fw.id, call.Kill.TaskID.Value)
		if t == nil || isTerminal(t.state) {
			// Mesos answers a kill of an unknown task with TASK_LOST.
			st := mesos.TaskStatus{TaskID: call.Kill.TaskID, State: mesos.TASK_LOST.Enum(), Source: mesos.SOURCE_MASTER.Enum(),
				Reason: mesos.REASON_RECONCILIATION.Enum(), Message: proto("Attempted to kill an unknown task"), AgentID: call.Kill.AgentID}
			if t != nil {
				st = t.latest
				st.UUID = nil
			}
			fw.stream.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
			return nil
		}
		t.a.killTaskLocked(t)
	case scheduler.Call_SHUTDOWN:
		if call.Shutdown == nil {
			return fmt.Errorf("Expecting 'shutdown' to be present")
		}
		a := m.agentByID[call.Shutdown.AgentID.Value]
		if a == nil {
			return fmt.Errorf("Unknown agent %q", call.Shutdown.AgentID.Value)
		}
		if e := a.executors[taskKey(fw.id, call.Shutdown.ExecutorID.Value)]; e != nil {
			a.shutdownExecutorLocked(e, "SHUTDOWN call")
		}
	case scheduler.Call_ACKNOWLEDGE:
		ack := call.Acknowledge
		if ack == nil {
			return fmt.Errorf("Expecting 'acknowledge' to be present")
		}
		if len(ack.UUID) != 16 {
			return fmt.Errorf("Expecting 'acknowledge.uuid' to be a 16-byte UUID")
		}
		a := m.agentByID[ack.AgentID.Value]
		if a == nil {
			return fmt.Errorf("Unknown agent %q", ack.AgentID.Value)
		}
		if t := a.tasks[taskKey(fw.id, ack.TaskID.Value)]; t != nil {
			a.acknowledgeLocked(t, ack.UUID)
		}
	case scheduler.Call_RECONCILE:
		if call.Reconcile == nil {
			return fmt.Errorf("Expecting 'reconcile' to be present")
		}
		m.reconcileLocked(fw, call.Reconcile.Tasks)
	case scheduler.Call_MESSAGE:
		msg := call.Message
		if msg == nil {
			return fmt.Errorf("Expecting 'message' to be present")
		}
		a := m.agentByID[msg.AgentID.Value]
		if a == nil {
			return fmt.Errorf("Unknown agent %q", msg.AgentID.Value)
		}
		e := a.executors[taskKey(fw.id, msg.ExecutorID.Value)]
		if e == nil || e.stream == nil {
			return fmt.Errorf("Executor %q is not running on agent %q", msg.ExecutorID.Value, msg.AgentID.Value)
		}
		e.stream.send(executorMessage(msg.Data))
	case scheduler.Call_REQUEST:
		// Resource requests are advisory in Mesos' allocator; ignored here too.
	default:
		return fmt.Errorf("Unsupported call type %v", call.Type)
	}
	return nil
}

// reconcileLocked answers RECONCILE with the latest state of the tasks
// asked for (all of the framework's when none are named). Unknown tasks
// are TASK_LOST, as Mesos reports them to frameworks that are not
// partition-aware.
func (m *Master) reconcileLocked(fw *framework, tasks []scheduler.Call_Reconcile_Task) {
	reply := func(st mesos.TaskStatus) {
		st.UUID = nil
		st.Reason = mesos.REASON_RECONCILIATION.Enum()
		st.Source = mesos.SOURCE_MASTER.Enum()
		fw.stream.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	}
	if len(tasks) == 0 {
		for _, a := range m.agents {
			for _, t := range a.tasks {
				if t.fw == fw.id {
					reply(t.latest)
				}
			}
		}
		return
	}
	for _, rt := range tasks {
		if t := m.taskLocked(fw.id, rt.TaskID.Value); t != nil {
			reply(t.latest)
			continue
		}
		reply(mesos.TaskStatus{TaskID: rt.TaskID, State: mesos.TASK_LOST.Enum(), AgentID: rt.AgentID, Message: proto("Reconciliation: task is unknown")})
	}
}
