package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// opsRoutes are the operator's routes answered with riak admin's words
// (issue 23): cluster status, a node's transfers and AAE status, bucket
// types, framework teardown.
func (s *Scheduler) opsRoutes(h func(string, func(*http.Request) (int, any, error))) {
	h("GET /api/v1/clusters/{c}/status", s.clusterStatus)
	h("PATCH /api/v1/clusters/{c}", s.updateCluster)
	h("GET /api/v1/clusters/{c}/nodes/{n}/transfers", func(r *http.Request) (int, any, error) { return s.adminText(r, "transfers") })
	h("GET /api/v1/clusters/{c}/nodes/{n}/aae-status", func(r *http.Request) (int, any, error) { return s.adminText(r, "aae-status") })
	h("GET /api/v1/clusters/{c}/nodes/{n}/logs", s.nodeLogs)
	h("GET /api/v1/clusters/{c}/bucket-types", s.listBucketTypes)
	h("GET /api/v1/clusters/{c}/bucket-types/{t}", s.getBucketType)
	h("PUT /api/v1/clusters/{c}/bucket-types/{t}", func(r *http.Request) (int, any, error) { return s.setBucketType(r, true) })
	h("PATCH /api/v1/clusters/{c}/bucket-types/{t}", func(r *http.Request) (int, any, error) { return s.setBucketType(r, false) })
	h("POST /api/v1/framework/teardown", s.teardown)
}

// MemberRow is one row of riak admin member-status.
type MemberRow struct {
	Node    string  `json:"node"`
	Status  string  `json:"status"`
	RingPct float64 `json:"ring_pct"`
	Pending string  `json:"pending"`
}

// memberRowRE matches a row of riak_core_console:member_status's table:
// status, ring %, pending (% or --), node (as ~p prints it).
var memberRowRE = regexp.MustCompile(`^(valid|leaving|exiting|joining|down)\s+(\d+\.\d)%\s+(--|\d+\.\d%)\s+(\S+)\s*$`)

// ParseMemberStatus reads riak admin member-status's table.
func ParseMemberStatus(out string) []MemberRow {
	var rows []MemberRow
	for line := range strings.Lines(out) {
		m := memberRowRE.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
		if m == nil {
			continue
		}
		pct, _ := strconv.ParseFloat(m[2], 64)
		rows = append(rows, MemberRow{Node: unquoteAtom(m[4]), Status: m[1], RingPct: pct, Pending: m[3]})
	}
	return rows
}

// unquoteAtom undoes ~p's quotes of an atom ('riak@127.0.0.1').
func unquoteAtom(a string) string {
	if len(a) >= 2 && a[0] == '\'' && a[len(a)-1] == '\'' {
		a = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(a[1 : len(a)-1])
	}
	return a
}

// TransfersIdle says whether riak admin transfers shows no handoff to do.
func TransfersIdle(out string) bool {
	return strings.Contains(out, "No transfers active") && !strings.Contains(out, "waiting to handoff")
}

// NodeStatusView is one node in GET /clusters/{c}/status: the framework's
// view and Riak's (member-status, ringready, transfers as the node
// answers). Riak's fields are empty when the node could not be asked
// (RiakError says why).
type NodeStatusView struct {
	Name     string `json:"name"`
	NodeName string `json:"node_name,omitempty"`
	State    string `json:"state"`
	Desired  string `json:"desired_state"`
	Ready    bool   `json:"ready"`
	Message  string `json:"message,omitempty"`
	// Member is Riak's member status (valid, leaving, exiting, joining,
	// down; "" when the ring does not list the node).
	Member           string  `json:"member_status,omitempty"`
	RingPct          float64 `json:"ring_pct"`
	RingReady        *bool   `json:"ringready,omitempty"`
	RingReadyText    string  `json:"ringready_text,omitempty"`
	TransfersPending *bool   `json:"transfers_pending,omitempty"`
	Transfers        string  `json:"transfers,omitempty"`
	RiakError        string  `json:"riak_error,omitempty"`
}

// ClusterStatus is GET /clusters/{c}/status.
type ClusterStatus struct {
	Cluster string           `json:"cluster"`
	Nodes   []NodeStatusView `json:"nodes"`
	// Members are the ring's members as member-status lists them, asked
	// of AskedNode (MemberStatus is its output); OtherMembers are those
	// that are no node of the cluster (an old incarnation not yet gone).
	AskedNode    string      `json:"asked_node,omitempty"`
	Members      []MemberRow `json:"members"`
	OtherMembers []MemberRow `json:"other_members,omitempty"`
	MemberStatus string      `json:"member_status_output,omitempty"`
	Error        string      `json:"error,omitempty"`
}

func (s *Scheduler) clusterStatus(r *http.Request) (int, any, error) {
	name, _, err := s.requestedCluster(r)
	if err != nil {
		return 0, nil, err
	}
	nodes := s.nodesOf(r.Context(), name)
	return 200, s.collectStatus(r.Context(), name, nodes), nil
}

// collectStatus asks one running node for member-status and every
// running node for ringready and transfers, at once.
func (s *Scheduler) collectStatus(ctx context.Context, cluster string, nodes []zkstate.NodeRecord) ClusterStatus {
	st := ClusterStatus{Cluster: cluster, Nodes: make([]NodeStatusView, len(nodes)), Members: []MemberRow{}}
	var wg sync.WaitGroup
	for i, n := range nodes {
		v := s.view(n)
		st.Nodes[i] = NodeStatusView{Name: n.Name, NodeName: n.RiakNodeName, State: v.State, Desired: v.Desired, Ready: v.Ready, Message: v.Message}
		if n.ObservedState != zkstate.ObservedRunning || n.TaskID == "" {
			continue
		}
		wg.Go(func() {
			nv := &st.Nodes[i]
			var errs []string
			if rep, err := s.adminRun(ctx, n, "ringready"); err != nil {
				errs = append(errs, "ringready: "+err.Error())
			} else {
				ok := strings.Contains(rep.Output, "TRUE All nodes agree on the ring")
				nv.RingReady, nv.RingReadyText = &ok, oneLine(rep.Output)
			}
			if rep, err := s.adminRun(ctx, n, "transfers"); err != nil {
				errs = append(errs, "transfers: "+err.Error())
			} else {
				pending := !TransfersIdle(rep.Output)
				nv.TransfersPending = &pending
				if pending {
					nv.Transfers = rep.Output
				}
			}
			nv.RiakError = strings.Join(errs, "; ")
		})
	}
	if n, err := firstRunning(nodes); err != nil {
		st.Error = "member-status: " + err.Error()
	} else if rep, err := s.adminRun(ctx, n, "member-status"); err != nil {
		st.Error = "member-status: " + err.Error()
	} else {
		st.AskedNode, st.MemberStatus = n.Name, rep.Output
		st.Members = ParseMemberStatus(rep.Output)
	}
	wg.Wait()
	byName := map[string]int{}
	for i, n := range nodes {
		if n.RiakNodeName != "" {
			byName[n.RiakNodeName] = i
		}
	}
	for _, m := range st.Members {
		if i, ok := byName[m.Node]; ok {
			st.Nodes[i].Member, st.Nodes[i].RingPct = m.Status, m.RingPct
		} else {
			st.OtherMembers = append(st.OtherMembers, m)
		}
	}
	return st
}

// BucketType is one bucket type in GET /clusters/{c}/bucket-types.
type BucketType struct {
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

// bucketTypeLineRE matches a line of riak admin bucket-type list.
var bucketTypeLineRE = regexp.MustCompile(`^(.+) \((active|not active)\)$`)

// ParseBucketTypeList reads riak admin bucket-type list.
func ParseBucketTypeList(out string) []BucketType {
	types := []BucketType{}
	for line := range strings.Lines(out) {
		if m := bucketTypeLineRE.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil {
			types = append(types, BucketType{Name: m[1], Active: m[2] == "active"})
		}
	}
	return types
}

// clusterNode is the running node of the request's cluster that answers
// cluster-wide verbs.
func (s *Scheduler) clusterNode(r *http.Request) (zkstate.NodeRecord, error) {
	name, _, err := s.requestedCluster(r)
	if err != nil {
		return zkstate.NodeRecord{}, err
	}
	n, err := firstRunning(s.nodesOf(r.Context(), name))
	if err != nil {
		return n, apiErr(http.StatusConflict, "cluster %s: %v", name, err)
	}
	return n, nil
}

func (s *Scheduler) listBucketTypes(r *http.Request) (int, any, error) {
	n, err := s.clusterNode(r)
	if err != nil {
		return 0, nil, err
	}
	rep, err := s.adminRun(r.Context(), n, "bucket-type", "list")
	if err != nil {
		return 0, nil, err
	}
	if rep.ExitCode != 0 || rpcResult(rep.Output) == "error" {
		return 0, nil, apiErr(http.StatusBadGateway, "node %s: %s", n.Name, oneLine(rep.Output))
	}
	return 200, map[string]any{"bucket_types": ParseBucketTypeList(rep.Output), "output": rep.Output}, nil
}

// bucketTypeName validates the {t} of a bucket-type route as Riak's bucket
// type names go (printable ASCII, no spaces or '/', at most 255 bytes).
func bucketTypeName(r *http.Request) (string, error) {
	t := r.PathValue("t")
	if t == "" || len(t) > 255 {
		return "", apiErr(http.StatusBadRequest, "bucket type name %q: must be 1..255 bytes", t)
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return "", apiErr(http.StatusBadRequest, "bucket type name %q: printable ASCII without spaces or '/'", t)
		}
	}
	if t == "default" {
		return "", apiErr(http.StatusBadRequest, "bucket type default always exists and is changed through bucket properties, not riak admin bucket-type")
	}
	return t, nil
}

func (s *Scheduler) getBucketType(r *http.Request) (int, any, error) {
	t, err := bucketTypeName(r)
	if err != nil {
		return 0, nil, err
	}
	n, err := s.clusterNode(r)
	if err != nil {
		return 0, nil, err
	}
	rep, err := s.adminRun(r.Context(), n, "bucket-type", "status", t)
	if err != nil {
		return 0, nil, err
	}
	if strings.Contains(rep.Output, "is not an existing bucket type") {
		return 0, nil, apiErr(http.StatusNotFound, "%s", oneLine(rep.Output))
	}
	return 200, rep.Output + "\n", nil
}

// activateWait bounds the wait for a created type to become activatable
// (Riak: every member must have seen it, "ready").
const activateWait = 30 * time.Second

// setBucketType creates and activates (create) or updates a bucket type
// with the body's JSON ({"props":{...}}, passed to riak admin as is).
// Riak's refusal is a 409 (400 for JSON Riak cannot read) with Riak's
// words.
func (s *Scheduler) setBucketType(r *http.Request, create bool) (int, any, error) {
	t, err := bucketTypeName(r)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, apiErr(http.StatusRequestEntityTooLarge, "request body: %v", err)
	}
	props := strings.TrimSpace(string(body))
	if props == "" && create {
		props = `{"props":{}}`
	}
	if !json.Valid([]byte(props)) {
		return 0, nil, apiErr(http.StatusBadRequest, "bucket type %s: the body is not JSON (want {\"props\":{...}})", t)
	}
	n, err := s.clusterNode(r)
	if err != nil {
		return 0, nil, err
	}
	verb := "update"
	if create {
		verb = "create"
	}
	rep, err := s.adminRun(r.Context(), n, "bucket-type", verb, t, props)
	if err != nil {
		return 0, nil, err
	}
	if err := riakRefusal(rep.Output, rep.ExitCode); err != nil {
		return 0, nil, err
	}
	out := rep.Output
	if !create {
		return 200, map[string]string{"status": "updated", "output": out}, nil
	}
	deadline := time.Now().Add(activateWait)
	for {
		rep, err = s.adminRun(r.Context(), n, "bucket-type", "activate", t)
		if err != nil {
			return 0, nil, err
		}
		if !strings.Contains(rep.Output, "cannot be activated yet") || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return 0, nil, r.Context().Err()
		}
	}
	if err := riakRefusal(rep.Output, rep.ExitCode); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"status": "created and activated", "output": out + "\n" + rep.Output}, nil
}

// riakRefusal is the API error for riak admin output that ends in
// nodetool's "error" (or a failed exit): Riak's words on one line.
func riakRefusal(out string, exit int) error {
	if exit == 0 && rpcResult(out) != "error" {
		return nil
	}
	msg := oneLine(out)
	if msg == "" {
		msg = "riak admin failed (exit " + strconv.Itoa(exit) + ")"
	}
	if strings.Contains(msg, "invalid json") || strings.Contains(msg, "no props field") {
		return apiErr(http.StatusBadRequest, "%s", msg)
	}
	return apiErr(http.StatusConflict, "%s", msg)
}

var errorsIs = errors.Is
