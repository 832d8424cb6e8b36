package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/rmf-go/rmf/internal/zkstate"

	"github.com/rmf-go/rmf/internal/httpauth"
	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/riakconf"
)

// Default node resources of a new cluster.
var DefaultNodeResources = zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024}

// maxBody bounds API request bodies.
const maxBody = 1 << 20

// NodeView is a node as the API shows it.
type NodeView struct {
	Name         string        `json:"name"`
	Cluster      string        `json:"cluster"`
	State        string        `json:"state"`
	Desired      string        `json:"desired_state"`
	Agent        string        `json:"agent,omitempty"`
	Hostname     string        `json:"hostname,omitempty"`
	Host         string        `json:"host,omitempty"`
	PBPort       int           `json:"pb_port,omitempty"`
	HTTPPort     int           `json:"http_port,omitempty"`
	Ports        zkstate.Ports `json:"ports"`
	NodeName     string        `json:"node_name,omitempty"`
	TaskID       string        `json:"task_id,omitempty"`
	Generation   int64         `json:"generation"`
	Message      string        `json:"message,omitempty"`
	NotPlacedWhy string        `json:"not_placed_because,omitempty"`
	// GaveUp: the node failed --relaunch-max-tries times in a row and is
	// not relaunched until restarted (POST .../restart).
	GaveUp bool `json:"gave_up"`
	// Ready: the node runs, serves KV and agrees on the ring (as its
	// executor reports; a running node whose executor reports no status,
	// StatusReported false, counts as ready). TransfersPending and
	// Transfers: handoffs still to do (`riak admin transfers`).
	Ready            bool   `json:"ready"`
	StatusReported   bool   `json:"status_reported"`
	TransfersPending bool   `json:"transfers_pending"`
	Transfers        string `json:"transfers,omitempty"`
	// ConfigCheck is the node's last answer to a configuration check
	// (rolling restart).
	ConfigCheck *zkstate.ConfigCheck `json:"config_check,omitempty"`
	// Replaces is the Erlang node name of the previous incarnation this
	// node takes the place of in the ring, until it runs.
	Replaces string `json:"replaces,omitempty"`
	// LockHolder is the executor holding the node's ZooKeeper lock (the
	// one allowed to run it); only GET of one node reads it.
	LockHolder *zkstate.LockHolder `json:"lock_holder,omitempty"`
}

// ClusterView is a cluster as the API shows it.
type ClusterView struct {
	Name           string               `json:"name"`
	Generation     int64                `json:"generation"`
	NodeResources  zkstate.Resources    `json:"node_resources"`
	Constraints    []zkstate.Constraint `json:"constraints"`
	RiakConf       string               `json:"riak_conf,omitempty"`
	AdvancedConfig string               `json:"advanced_config,omitempty"`
	Nodes          []NodeView           `json:"nodes"`
	// Rollout is the rolling restart to Generation (state done when
	// every node runs it).
	Rollout Rollout `json:"rollout"`
	// Warnings name template settings that the executor replaces for
	// each node (only in answers to a change of a template).
	Warnings []string `json:"warnings,omitempty"`
}

// apiState is the lowercase state the API and CLI report.
func apiState(n zkstate.NodeRecord) string {
	switch n.ObservedState {
	case zkstate.ObservedReserved:
		return "reserving"
	case "":
		return "pending"
	}
	return string(n.ObservedState)
}

func (s *Scheduler) view(n zkstate.NodeRecord) NodeView {
	s.mu.Lock()
	why, gaveUp := "", gaveUpRecorded(n)
	if r := s.runtime[key(n)]; r != nil {
		why = r.why
		gaveUp = gaveUp || (r.gaveUp && n.TaskID == "")
	}
	s.mu.Unlock()
	if gaveUp {
		why = "gave up after too many failures in a row: restart the node to try again"
	}
	v := NodeView{Name: n.Name, Cluster: n.Cluster, State: apiState(n), Desired: string(n.DesiredState), Agent: n.AgentID, Hostname: n.Hostname,
		Host: n.Host, PBPort: n.Ports.PB, HTTPPort: n.Ports.HTTP, Ports: n.Ports, NodeName: n.RiakNodeName, TaskID: n.TaskID,
		Generation: n.Generation, Message: n.Message, NotPlacedWhy: why, GaveUp: gaveUp, Replaces: n.ReplacesRiakNodeName}
	v.Ready = n.ObservedState == zkstate.ObservedRunning && (n.Status == nil || n.Status.Ready)
	if st := n.Status; st != nil {
		v.StatusReported, v.TransfersPending, v.Transfers, v.ConfigCheck = true, st.TransfersPending, st.Transfers, st.ConfigCheck
	}
	return v
}

// APIError is an error with its HTTP status.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func apiErr(status int, format string, a ...any) error {
	return &APIError{Status: status, Message: fmt.Sprintf(format, a...)}
}

// Handler is the scheduler's HTTP API under /api/v1 (see docs/http-api.md),
// plus /static/ for the executor artifact and /metrics. With
// Config.APIToken, mutating calls and /metrics (as the director's admin
// /metrics) need the token. Every answer is counted in /metrics.
func (s *Scheduler) Handler(staticDir string) http.Handler {
	mux := s.mux(staticDir)
	guarded := func(r *http.Request) bool { return httpauth.Mutating(r) || r.URL.Path == "/metrics" }
	return s.instrument(mux, httpauth.New(s.cfg.APIToken).Wrap(mux, guarded, func(w http.ResponseWriter, msg string) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
	}))
}

func (s *Scheduler) mux(staticDir string) *http.ServeMux {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(r *http.Request) (int, any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			code, v, err := fn(r)
			if err != nil {
				var ae *APIError
				status := http.StatusInternalServerError
				switch {
				case errors.As(err, &ae):
					status = ae.Status
				case errors.Is(err, zkstate.ErrNotFound):
					status = http.StatusNotFound
				case errors.Is(err, zkstate.ErrExists):
					status = http.StatusConflict
				case errors.Is(err, zkstate.ErrInvalidName):
					status = http.StatusBadRequest
				}
				writeJSON(w, status, map[string]string{"error": err.Error()})
				return
			}
			if s, ok := v.(string); ok {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(code)
				_, _ = io.WriteString(w, s)
				return
			}
			writeJSON(w, code, v)
		})
	}
	h("GET /api/v1/framework", func(r *http.Request) (int, any, error) { return 200, s.Status(r.Context()), nil })
	h("GET /api/v1/agents", func(r *http.Request) (int, any, error) { return 200, s.Agents(), nil })
	mux.HandleFunc("GET /{$}", s.serveStatusPage)
	h("GET /api/v1/healthcheck", func(r *http.Request) (int, any, error) { return 200, map[string]bool{"ok": true}, nil })
	mux.Handle("GET /metrics", s.metricsHandler())
	h("GET /api/v1/clusters", s.listClusters)
	h("GET /api/v1/clusters/{c}", s.getCluster)
	h("PUT /api/v1/clusters/{c}", s.createCluster)
	h("DELETE /api/v1/clusters/{c}", s.destroyCluster)
	h("GET /api/v1/clusters/{c}/config", func(r *http.Request) (int, any, error) { return s.getTemplate(r, false) })
	h("PUT /api/v1/clusters/{c}/config", func(r *http.Request) (int, any, error) { return s.setTemplate(r, false) })
	h("GET /api/v1/clusters/{c}/advancedConfig", func(r *http.Request) (int, any, error) { return s.getTemplate(r, true) })
	h("PUT /api/v1/clusters/{c}/advancedConfig", func(r *http.Request) (int, any, error) { return s.setTemplate(r, true) })
	h("POST /api/v1/clusters/{c}/restart", s.restartCluster)
	h("GET /api/v1/clusters/{c}/nodes", s.listNodes)
	h("POST /api/v1/clusters/{c}/nodes", s.addNodes)
	h("GET /api/v1/clusters/{c}/nodes/{n}", s.getNode)
	h("DELETE /api/v1/clusters/{c}/nodes/{n}", s.removeNode)
	h("POST /api/v1/clusters/{c}/nodes/{n}/restart", s.restartNode)
	h("POST /api/v1/clusters/{c}/nodes/{n}/stop", s.stopNode)
	h("POST /api/v1/clusters/{c}/nodes/{n}/start", s.startNode)
	h("GET /api/v1/clusters/{c}/nodes/{n}/stats", s.nodeStats)
	h("GET /api/v1/clusters/{c}/export", s.exportCluster)
	h("POST /api/v1/clusters/import", s.importCluster)
	h("GET /api/v1/clusters/{c}/endpoints", s.getEndpoints)
	h("GET /api/v1/clusters/{c}/readiness", s.clusterReadiness)
	h("GET /api/v1/clusters/{c}/nodes/{n}/readiness", s.nodeReadiness)
	s.opsRoutes(h)
	h("/api/", func(r *http.Request) (int, any, error) {
		return 0, nil, apiErr(http.StatusNotFound, "no such API endpoint: %s %s", r.Method, r.URL.Path)
	})
	mux.HandleFunc("GET /static/rmf", func(w http.ResponseWriter, r *http.Request) {
		self, err := os.Executable()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.ServeFile(w, r, self)
	})
	if staticDir != "" {
		mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.Dir(staticDir))))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func clusterName(r *http.Request) (string, error) {
	c := r.PathValue("c")
	if err := zkstate.ValidateName(c); err != nil {
		return "", apiErr(http.StatusBadRequest, "cluster name %q: %v", c, err)
	}
	return c, nil
}

func (s *Scheduler) clusterView(ctx context.Context, c zkstate.ClusterRecord) ClusterView {
	cv := ClusterView{Name: c.Name, Generation: c.Generation, NodeResources: c.NodeResources, Constraints: c.Constraints,
		RiakConf: c.RiakConf, AdvancedConfig: c.AdvancedConfig, Nodes: []NodeView{}}
	if cv.Constraints == nil {
		cv.Constraints = []zkstate.Constraint{}
	}
	nodes := s.nodesOf(ctx, c.Name)
	for _, n := range nodes {
		cv.Nodes = append(cv.Nodes, s.view(n))
	}
	cv.Rollout = planRollout(c, nodes).Rollout
	return cv
}

func (s *Scheduler) nodesOf(ctx context.Context, cluster string) []zkstate.NodeRecord {
	names, _ := s.fw.ListNodes(ctx, cluster)
	var out []zkstate.NodeRecord
	for _, name := range names {
		if n, _, err := s.fw.GetNode(ctx, cluster, name); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return nodeLess(out[i].Name, out[j].Name) })
	return out
}

// nodeLess orders riak-c-2 before riak-c-10.
func nodeLess(a, b string) bool {
	ai, bi := strings.LastIndexByte(a, '-'), strings.LastIndexByte(b, '-')
	if ai >= 0 && bi >= 0 && a[:ai] == b[:bi] {
		an, e1 := strconv.Atoi(a[ai+1:])
		bn, e2 := strconv.Atoi(b[bi+1:])
		if e1 == nil && e2 == nil {
			return an < bn
		}
	}
	return a < b
}

func (s *Scheduler) listClusters(r *http.Request) (int, any, error) {
	names, err := s.fw.ListClusters(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := []ClusterView{}
	for _, name := range names {
		if c, _, err := s.fw.GetCluster(r.Context(), name); err == nil {
			out = append(out, s.clusterView(r.Context(), c))
		}
	}
	return 200, out, nil
}

// requestedCluster is the cluster the request's path names, or the API's
// error for a bad name (400) or a cluster that does not exist (404).
func (s *Scheduler) requestedCluster(r *http.Request) (string, zkstate.ClusterRecord, error) {
	name, err := clusterName(r)
	if err != nil {
		return "", zkstate.ClusterRecord{}, err
	}
	c, _, err := s.fw.GetCluster(r.Context(), name)
	if err != nil {
		return "", zkstate.ClusterRecord{}, notFound(err, "cluster %s", name)
	}
	return name, c, nil
}

func (s *Scheduler) getCluster(r *http.Request) (int, any, error) {
	_, c, err := s.requestedCluster(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.clusterView(r.Context(), c), nil
}

func notFound(err error, format string, a ...any) error {
	if errors.Is(err, zkstate.ErrNotFound) {
		return apiErr(http.StatusNotFound, format+" does not exist", a...)
	}
	return err
}

// decodeJSON decodes an optional JSON body strictly.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return apiErr(http.StatusRequestEntityTooLarge, "request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, "bad JSON body: %v", err)
	}
	return nil
}

// ClusterSpec is the body of PUT /clusters/{c} (every field optional).
type ClusterSpec struct {
	NodeResources  *zkstate.Resources   `json:"node_resources,omitempty"`
	Constraints    []zkstate.Constraint `json:"constraints,omitempty"`
	RiakConf       string               `json:"riak_conf,omitempty"`
	AdvancedConfig string               `json:"advanced_config,omitempty"`
}

func (s *Scheduler) createCluster(r *http.Request) (int, any, error) {
	name, err := clusterName(r)
	if err != nil {
		return 0, nil, err
	}
	var spec ClusterSpec
	if err := decodeJSON(r, &spec); err != nil {
		return 0, nil, err
	}
	v, err := s.newCluster(r.Context(), name, spec)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, v, nil
}

// newCluster validates spec and creates cluster name (no nodes).
func (s *Scheduler) newCluster(ctx context.Context, name string, spec ClusterSpec) (ClusterView, error) {
	warnings, err := checkTemplates(s.fw.Name(), name, spec.RiakConf, spec.AdvancedConfig)
	if err != nil {
		return ClusterView{}, err
	}
	rec := zkstate.ClusterRecord{Name: name, NodeResources: DefaultNodeResources, Constraints: spec.Constraints, RiakConf: spec.RiakConf, AdvancedConfig: spec.AdvancedConfig}
	if spec.NodeResources != nil {
		rec.NodeResources = *spec.NodeResources
		if rec.NodeResources.CPUs <= 0 || rec.NodeResources.MemMB <= 0 || rec.NodeResources.DiskMB <= 0 {
			return ClusterView{}, apiErr(http.StatusBadRequest, "node_resources: cpus, mem_mb and disk_mb must be positive")
		}
	}
	for _, c := range rec.Constraints {
		if err := ValidateConstraint(c); err != nil {
			return ClusterView{}, apiErr(http.StatusBadRequest, "%v", err)
		}
	}
	if err := rec.Validate(); err != nil {
		return ClusterView{}, apiErr(http.StatusBadRequest, "%v", err)
	}
	if err := s.fw.CreateCluster(ctx, rec); err != nil {
		if errors.Is(err, zkstate.ErrExists) {
			return ClusterView{}, apiErr(http.StatusConflict, "cluster %s already exists", name)
		}
		return ClusterView{}, err
	}
	v := s.clusterView(ctx, rec)
	v.Warnings = warnings
	return v, nil
}

func (s *Scheduler) destroyCluster(r *http.Request) (int, any, error) {
	name, _, err := s.requestedCluster(r)
	if err != nil {
		return 0, nil, err
	}
	nodes := s.nodesOf(r.Context(), name)
	if len(nodes) > 0 {
		for _, n := range nodes {
			if _, _, err := s.fw.ModifyNode(r.Context(), name, n.Name, func(rec *zkstate.NodeRecord) error {
				rec.DesiredState = zkstate.DesiredRemoved
				return nil
			}); err != nil {
				return 0, nil, err
			}
		}
		s.Nudge()
		return http.StatusAccepted, map[string]string{"status": fmt.Sprintf("removing %d nodes; DELETE again once they are gone", len(nodes))}, nil
	}
	if err := s.fw.DeleteCluster(r.Context(), name); err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"status": "destroyed"}, nil
}

func (s *Scheduler) getTemplate(r *http.Request, advanced bool) (int, any, error) {
	_, c, err := s.requestedCluster(r)
	if err != nil {
		return 0, nil, err
	}
	if advanced {
		return 200, c.AdvancedConfig, nil
	}
	return 200, c.RiakConf, nil
}

// setTemplate replaces a template and bumps the generation: nodes are
// restarted one at a time to apply it.
func (s *Scheduler) setTemplate(r *http.Request, advanced bool) (int, any, error) {
	name, err := clusterName(r)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, apiErr(http.StatusRequestEntityTooLarge, "request body: %v", err)
	}
	rc, ac := string(body), ""
	if advanced {
		rc, ac = "", string(body)
	}
	warnings, err := checkTemplates(s.fw.Name(), name, rc, ac)
	if err != nil {
		return 0, nil, err
	}
	c, _, err := s.fw.ModifyCluster(r.Context(), name, func(c *zkstate.ClusterRecord) error {
		if advanced {
			c.AdvancedConfig = string(body)
		} else {
			c.RiakConf = string(body)
		}
		c.Generation++
		return nil
	})
	if err != nil {
		return 0, nil, notFound(err, "cluster %s", name)
	}
	s.Nudge()
	v := s.clusterView(r.Context(), c)
	v.Warnings = warnings
	return 200, v, nil
}

// checkTemplates refuses templates the executor would not render (413
// when too large, 400 with the template's error otherwise), rendering
// them for a plausible node of the cluster, and returns the warnings
// about settings the executor replaces for every node.
func checkTemplates(framework, cluster, riakConf, advancedConfig string) ([]string, error) {
	for _, t := range []string{riakConf, advancedConfig} {
		if len(t) > nodetask.MaxTemplateSize {
			return nil, apiErr(http.StatusRequestEntityTooLarge, "template of %d bytes: the limit is %d", len(t), nodetask.MaxTemplateSize)
		}
	}
	_, _, warnings, err := riakconf.Configs(riakConf, advancedConfig, riakconf.SampleVars(framework, cluster))
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "%v", err)
	}
	return warnings, nil
}

func (s *Scheduler) restartCluster(r *http.Request) (int, any, error) {
	name, err := clusterName(r)
	if err != nil {
		return 0, nil, err
	}
	c, _, err := s.fw.ModifyCluster(r.Context(), name, func(c *zkstate.ClusterRecord) error { c.Generation++; return nil })
	if err != nil {
		return 0, nil, notFound(err, "cluster %s", name)
	}
	s.Nudge()
	return http.StatusAccepted, s.clusterView(r.Context(), c), nil
}

func (s *Scheduler) listNodes(r *http.Request) (int, any, error) {
	_, views, err := s.clusterViews(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, views, nil
}

// maxNodesPerCall bounds POST /nodes?count=.
const maxNodesPerCall = 100

func (s *Scheduler) addNodes(r *http.Request) (int, any, error) {
	name, err := clusterName(r)
	if err != nil {
		return 0, nil, err
	}
	count := 1
	if v := r.URL.Query().Get("count"); v != "" {
		if count, err = strconv.Atoi(v); err != nil {
			return 0, nil, apiErr(http.StatusBadRequest, "count %q is not a number", v)
		}
	}
	var body struct {
		Count *int `json:"count"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return 0, nil, err
	}
	if body.Count != nil {
		count = *body.Count
	}
	if count < 1 || count > maxNodesPerCall {
		return 0, nil, apiErr(http.StatusBadRequest, "count must be 1..%d, not %d", maxNodesPerCall, count)
	}
	added, err := s.createNodes(r.Context(), name, count)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, added, nil
}

// createNodes adds count nodes to cluster name, numbered after its
// highest.
func (s *Scheduler) createNodes(ctx context.Context, name string, count int) ([]NodeView, error) {
	c, _, err := s.fw.GetCluster(ctx, name)
	if err != nil {
		return nil, notFound(err, "cluster %s", name)
	}
	existing := s.nodesOf(ctx, name)
	next := 1
	for _, n := range existing {
		if i := strings.LastIndexByte(n.Name, '-'); i >= 0 {
			if v, err := strconv.Atoi(n.Name[i+1:]); err == nil && v >= next {
				next = v + 1
			}
		}
	}
	var added []NodeView
	for i := 0; i < count; i++ {
		rec := zkstate.NodeRecord{Cluster: name, Name: fmt.Sprintf("riak-%s-%d", name, next), Generation: c.Generation,
			DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedPending}
		for {
			err = s.fw.CreateNode(ctx, rec)
			if !errors.Is(err, zkstate.ErrExists) {
				break
			}
			next++
			rec.Name = fmt.Sprintf("riak-%s-%d", name, next)
		}
		if err != nil {
			return added, err
		}
		next++
		added = append(added, s.view(rec))
	}
	s.Nudge()
	return added, nil
}

func (s *Scheduler) nodeOf(r *http.Request) (zkstate.NodeRecord, error) {
	name, err := clusterName(r)
	if err != nil {
		return zkstate.NodeRecord{}, err
	}
	n := r.PathValue("n")
	if err := zkstate.ValidateName(n); err != nil {
		return zkstate.NodeRecord{}, apiErr(http.StatusBadRequest, "node name %q: %v", n, err)
	}
	rec, _, err := s.fw.GetNode(r.Context(), name, n)
	if err != nil {
		return rec, notFound(err, "node %s of cluster %s", n, name)
	}
	return rec, nil
}

func (s *Scheduler) getNode(r *http.Request) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	v := s.view(n)
	if v.LockHolder, err = s.fw.NodeLockHolder(r.Context(), n.Cluster, n.Name); err != nil {
		s.log.Warn("read the node lock holder", "cluster", n.Cluster, "node", n.Name, "err", err)
	}
	return 200, v, nil
}

// removeNode marks a node removed: a running node leaves its cluster
// (handing off its data; see removeRunning), then its volume is destroyed
// and its reservation released; force=true forgets it at once (for an
// agent that is gone for good).
func (s *Scheduler) removeNode(r *http.Request) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	force := r.URL.Query().Get("force")
	if force != "" && force != "true" && force != "false" {
		return 0, nil, apiErr(http.StatusBadRequest, "force must be true or false")
	}
	if force == "true" {
		if n.TaskID != "" {
			s.kill(r.Context(), n, s.runtimeOf(n), zkstate.ObservedLeaving)
		}
		if err := s.deleteNode(r.Context(), n); err != nil {
			return 0, nil, err
		}
		return 200, map[string]string{"status": "forgotten"}, nil
	}
	rec, _, err := s.fw.ModifyNode(r.Context(), n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
		rec.DesiredState = zkstate.DesiredRemoved
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	s.Nudge()
	return http.StatusAccepted, s.view(rec), nil
}

func (s *Scheduler) runtimeOf(n zkstate.NodeRecord) *nodeRuntime {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt(n)
}

func (s *Scheduler) restartNode(r *http.Request) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	if v := s.view(n); v.GaveUp && n.DesiredState == zkstate.DesiredRunning {
		rec, err := s.retryGivenUp(r.Context(), n)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusAccepted, s.view(rec), nil
	}
	if n.TaskID == "" || n.ObservedState != zkstate.ObservedRunning {
		return 0, nil, apiErr(http.StatusConflict, "node %s is %s, not running", n.Name, apiState(n))
	}
	s.kill(r.Context(), n, s.runtimeOf(n), zkstate.ObservedStopping)
	return http.StatusAccepted, s.view(n), nil
}
