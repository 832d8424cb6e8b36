package zkstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"path"
	"strconv"
	"strings"
	"time"
)

// RecordVersion is the only record version this build writes and reads.
// Writers stamp it; readers reject anything else with ErrUnknownVersion.
// Adding an optional field keeps the version; changing a field's meaning or
// removing one needs a new version and a reader for both.
const RecordVersion = 1

// recordPtr is satisfied by pointers to this package's record types; the
// generic operations (Get, Create, Update, Modify, Encode, Decode) accept
// only those.
type recordPtr[T any] interface {
	*T
	// Validate reports what is wrong with the record, if anything.
	Validate() error
	// stamp sets the version field to RecordVersion.
	stamp()
	// matchPath reports whether the record belongs at path p (its name
	// fields match the path's components).
	matchPath(p string) error
}

// Encode validates rec and returns its JSON with "version" set to
// RecordVersion. Use it with Registration.Update.
func Encode[T any, P recordPtr[T]](rec T) ([]byte, error) {
	P(&rec).stamp()
	if err := P(&rec).Validate(); err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrInvalidRecord, rec, err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrInvalidRecord, rec, err)
	}
	return b, nil
}

// Decode parses and validates the record stored at znode p: ErrUnknownVersion
// for a missing or other version, ErrInvalidRecord for bad JSON, a failed
// validation, or names that do not match p. Both errors name p.
func Decode[T any, P recordPtr[T]](p string, data []byte) (T, error) {
	var rec T
	var env struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return rec, fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	if env.Version == nil {
		return rec, fmt.Errorf("%w: %s: no \"version\" field", ErrUnknownVersion, p)
	}
	if *env.Version != RecordVersion {
		return rec, fmt.Errorf("%w: %s: version %d (this build reads %d)", ErrUnknownVersion, p, *env.Version, RecordVersion)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	if err := P(&rec).Validate(); err != nil {
		return rec, fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	if err := P(&rec).matchPath(p); err != nil {
		return rec, fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	return rec, nil
}

// Resources are Mesos scalar resources for one node.
type Resources struct {
	CPUs   float64 `json:"cpus"`
	MemMB  float64 `json:"mem_mb"`
	DiskMB float64 `json:"disk_mb"`
}

// Validate checks that every amount is finite and not negative.
func (r Resources) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"cpus", r.CPUs}, {"mem_mb", r.MemMB}, {"disk_mb", r.DiskMB}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("resources: %s = %v, want a finite amount >= 0", f.name, f.v)
		}
	}
	return nil
}

// Constraint is a Marathon-style placement constraint, stored as a JSON
// array: ["hostname", "UNIQUE"] or ["rack", "CLUSTER", "r1"]. zkstate checks
// only its shape; the scheduler owns operator semantics.
type Constraint struct {
	Field    string
	Operator string
	Value    string // optional
}

// MarshalJSON encodes the constraint as a 2- or 3-element array.
func (c Constraint) MarshalJSON() ([]byte, error) {
	a := []string{c.Field, c.Operator}
	if c.Value != "" {
		a = append(a, c.Value)
	}
	return json.Marshal(a)
}

// UnmarshalJSON decodes a 2- or 3-element array of strings.
func (c *Constraint) UnmarshalJSON(b []byte) error {
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("constraint: want [field, operator(, value)]: %w", err)
	}
	if len(a) < 2 || len(a) > 3 {
		return fmt.Errorf("constraint: want 2 or 3 elements, got %d", len(a))
	}
	*c = Constraint{Field: a[0], Operator: a[1]}
	if len(a) == 3 {
		c.Value = a[2]
	}
	return nil
}

// Validate checks that field and operator are set.
func (c Constraint) Validate() error {
	if c.Field == "" || c.Operator == "" {
		return fmt.Errorf("constraint %q: field and operator must be set", []string{c.Field, c.Operator, c.Value})
	}
	return nil
}

// ClusterRecord is a cluster's desired configuration, at ClusterPath. Written
// by the scheduler (API: create, config, restart), read by the scheduler and
// the executor (templates).
type ClusterRecord struct {
	// Version is set by writers to RecordVersion.
	Version int    `json:"version"`
	Name    string `json:"name"`
	// Generation increases on every configuration change; nodes launched
	// with an older generation are restarted (rolling).
	Generation int64 `json:"generation"`
	// RiakConf is the riak.conf template the executor renders.
	RiakConf string `json:"riak_conf"`
	// AdvancedConfig is the advanced.config template the executor renders.
	AdvancedConfig string `json:"advanced_config"`
	// NodeResources is what each node of the cluster reserves.
	NodeResources Resources `json:"node_resources"`
	// Constraints restrict placement (empty: anywhere).
	Constraints []Constraint `json:"constraints,omitempty"`
}

// Validate checks the name, generation, resources and constraints.
func (c ClusterRecord) Validate() error {
	if err := ValidateName(c.Name); err != nil {
		return fmt.Errorf("cluster name: %w", err)
	}
	if c.Generation < 0 {
		return fmt.Errorf("cluster %s: generation %d < 0", c.Name, c.Generation)
	}
	if err := c.NodeResources.Validate(); err != nil {
		return fmt.Errorf("cluster %s: node_%w", c.Name, err)
	}
	for _, con := range c.Constraints {
		if err := con.Validate(); err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
	}
	return nil
}

func (c *ClusterRecord) stamp() { c.Version = RecordVersion }
func (c *ClusterRecord) matchPath(p string) error {
	return matchComponents(p, map[int]string{1: c.Name})
}

// Ports are a node's assigned ports; 0 means not assigned yet.
type Ports struct {
	PB      int `json:"pb"`
	HTTP    int `json:"http"`
	Handoff int `json:"handoff"`
	Disterl int `json:"disterl"`
	Erlpmd  int `json:"erlpmd"`
}

// Validate checks that every assigned port is in 1..65535.
func (p Ports) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"pb", p.PB}, {"http", p.HTTP}, {"handoff", p.Handoff}, {"disterl", p.Disterl}, {"erlpmd", p.Erlpmd}} {
		if f.v != 0 {
			if err := validatePort(f.v); err != nil {
				return fmt.Errorf("ports: %s: %w", f.name, err)
			}
		}
	}
	return nil
}

// DesiredState is what the operator wants for a node.
type DesiredState string

// Desired states.
const (
	DesiredRunning DesiredState = "running" // run the node
	DesiredStopped DesiredState = "stopped" // no task; keep the reservation and data
	DesiredRemoved DesiredState = "removed" // leave the cluster, release everything, delete the record
)

// Valid reports whether s is one of the Desired* constants.
func (s DesiredState) Valid() bool {
	switch s {
	case DesiredRunning, DesiredStopped, DesiredRemoved:
		return true
	}
	return false
}

// ObservedState is what the scheduler last saw of a node.
type ObservedState string

// Observed states.
const (
	ObservedPending   ObservedState = "pending"   // waiting for a suitable offer
	ObservedReserved  ObservedState = "reserved"  // resources reserved and volume created; no task
	ObservedLaunching ObservedState = "launching" // task sent to Mesos; executor not started yet
	ObservedStarting  ObservedState = "starting"  // executor started; Riak not answering yet
	ObservedRunning   ObservedState = "running"   // Riak answers (live record registered)
	ObservedStopping  ObservedState = "stopping"  // kill sent
	ObservedLeaving   ObservedState = "leaving"   // being removed: leaving the cluster, then released
	ObservedStopped   ObservedState = "stopped"   // task ended on request; reservation kept
	ObservedFailed    ObservedState = "failed"    // task failed or lost; will be relaunched
)

// Valid reports whether s is one of the Observed* constants.
func (s ObservedState) Valid() bool {
	switch s {
	case ObservedPending, ObservedReserved, ObservedLaunching, ObservedStarting, ObservedRunning,
		ObservedStopping, ObservedLeaving, ObservedStopped, ObservedFailed:
		return true
	}
	return false
}

// NodeRecord is one Riak node's desired and observed state, at NodePath.
// Written and read by the scheduler only.
type NodeRecord struct {
	// Version is set by writers to RecordVersion.
	Version int    `json:"version"`
	Cluster string `json:"cluster"`
	Name    string `json:"name"`
	// RiakNodeName is the Erlang node name, alive@host, once placed.
	RiakNodeName string `json:"riak_node_name,omitempty"`
	// ReplacesRiakNodeName is the Erlang node name of the node's previous
	// incarnation, kept when the node is placed again on another agent
	// (its agent gone): the new incarnation takes its place in the ring.
	// Cleared once a task under another name runs.
	ReplacesRiakNodeName string `json:"replaces_riak_node_name,omitempty"`
	// Generation is the cluster generation the node was last launched with.
	Generation    int64  `json:"generation"`
	TaskID        string `json:"task_id,omitempty"`
	AgentID       string `json:"agent_id,omitempty"`
	Hostname      string `json:"hostname,omitempty"`
	PersistenceID string `json:"persistence_id,omitempty"`
	// Reserved is what is actually reserved on the agent (zero: nothing).
	Reserved Resources `json:"reserved"`
	// Host is the address the node binds and advertises, once placed.
	Host string `json:"host,omitempty"`
	// Message says why the node is in its observed state (last task
	// status message, or why no offer fits).
	Message       string        `json:"message,omitempty"`
	Ports         Ports         `json:"ports"`
	DesiredState  DesiredState  `json:"desired_state"`
	ObservedState ObservedState `json:"observed_state"`
	// Status is what the executor of the running task last reported of
	// its node (TASK_RUNNING data). Nil: the task has not reported one
	// (not running, or an executor from before status reports).
	Status *NodeStatus `json:"status,omitempty"`
}

// MaxStatusText bounds NodeStatus.Transfers and ConfigCheck.Error (the
// executor's own bound, plus room for a truncation mark).
const MaxStatusText = 4<<10 + 8

// NodeStatus is a running node's readiness as its executor reports it.
type NodeStatus struct {
	// Ready: the node serves KV and every member agrees on the ring.
	Ready bool `json:"ready"`
	// TransfersPending: handoffs are still to do in the cluster;
	// Transfers is `riak admin transfers`' output, trimmed.
	TransfersPending bool   `json:"transfers_pending"`
	Transfers        string `json:"transfers,omitempty"`
	// ConfigCheck is the node's last answer to a configuration check.
	ConfigCheck *ConfigCheck `json:"config_check,omitempty"`
}

// ConfigCheck is a node's check of a cluster configuration generation
// (`riak chkconfig`) before a rolling restart applies it.
type ConfigCheck struct {
	Generation int64  `json:"generation"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
}

// Validate checks the texts' bounds.
func (s NodeStatus) Validate() error {
	if len(s.Transfers) > MaxStatusText {
		return fmt.Errorf("status: transfers longer than %d bytes", MaxStatusText)
	}
	if c := s.ConfigCheck; c != nil && (len(c.Error) > MaxStatusText || c.Generation < 0) {
		return fmt.Errorf("status: config_check: generation < 0 or error longer than %d bytes", MaxStatusText)
	}
	return nil
}

// Validate checks names, generation, resources, ports and states.
func (n NodeRecord) Validate() error {
	if err := ValidateName(n.Cluster); err != nil {
		return fmt.Errorf("node cluster: %w", err)
	}
	if err := ValidateName(n.Name); err != nil {
		return fmt.Errorf("node name: %w", err)
	}
	if n.RiakNodeName != "" {
		if err := validateErlangNodeName(n.RiakNodeName); err != nil {
			return fmt.Errorf("node %s: riak_node_name: %w", n.Name, err)
		}
	}
	if n.ReplacesRiakNodeName != "" {
		if err := validateErlangNodeName(n.ReplacesRiakNodeName); err != nil {
			return fmt.Errorf("node %s: replaces_riak_node_name: %w", n.Name, err)
		}
	}
	if n.Status != nil {
		if err := n.Status.Validate(); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	if n.Generation < 0 {
		return fmt.Errorf("node %s: generation %d < 0", n.Name, n.Generation)
	}
	if err := n.Reserved.Validate(); err != nil {
		return fmt.Errorf("node %s: reserved %w", n.Name, err)
	}
	if err := n.Ports.Validate(); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	if n.PersistenceID != "" {
		// A placed node: the scheduler reserves and releases exactly this.
		p := n.Ports
		if n.AgentID == "" || n.Reserved.DiskMB <= 0 || p.PB == 0 || p.HTTP == 0 || p.Handoff == 0 || p.Disterl == 0 || p.Erlpmd == 0 {
			return fmt.Errorf("node %s: placed (persistence_id %q) without an agent, a disk > 0 and all five ports", n.Name, n.PersistenceID)
		}
	}
	if !n.DesiredState.Valid() {
		return fmt.Errorf("node %s: unknown desired_state %q", n.Name, n.DesiredState)
	}
	if !n.ObservedState.Valid() {
		return fmt.Errorf("node %s: unknown observed_state %q", n.Name, n.ObservedState)
	}
	return nil
}

func (n *NodeRecord) stamp() { n.Version = RecordVersion }
func (n *NodeRecord) matchPath(p string) error {
	// .../clusters/<cluster>/nodes/<name>
	return matchComponents(p, map[int]string{1: n.Name, 3: n.Cluster})
}

// LiveRecord is a running node's client endpoints, at LiveNodePath. The
// executor registers it (ephemeral) once the node answers; the director
// watches the live directory to know where to send requests.
type LiveRecord struct {
	// Version is set by writers to RecordVersion.
	Version  int    `json:"version"`
	Name     string `json:"name"`
	Host     string `json:"host"`
	PBPort   int    `json:"pb_port"`
	HTTPPort int    `json:"http_port"`
	// Leaving is set by the executor just before it deletes the record to
	// stop the node on purpose (kill, leave, cluster destroyed): directors
	// drain the node at once. A record that vanishes without it may be
	// ZooKeeper's doing (an expired session, a record being re-created), so
	// directors keep serving that node while it answers their checks.
	Leaving bool `json:"leaving,omitempty"`
}

// Validate checks the name, host and both ports.
func (l LiveRecord) Validate() error {
	if err := ValidateName(l.Name); err != nil {
		return fmt.Errorf("live name: %w", err)
	}
	if err := validateHost(l.Host); err != nil {
		return fmt.Errorf("live %s: host: %w", l.Name, err)
	}
	if err := validatePort(l.PBPort); err != nil {
		return fmt.Errorf("live %s: pb_port: %w", l.Name, err)
	}
	if err := validatePort(l.HTTPPort); err != nil {
		return fmt.Errorf("live %s: http_port: %w", l.Name, err)
	}
	return nil
}

// PBAddr is host:pb_port.
func (l LiveRecord) PBAddr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.PBPort)) }

// HTTPAddr is host:http_port.
func (l LiveRecord) HTTPAddr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.HTTPPort)) }

func (l *LiveRecord) stamp() { l.Version = RecordVersion }
func (l *LiveRecord) matchPath(p string) error {
	return matchComponents(p, map[int]string{1: l.Name})
}

// ErlpmdRecord is one Erlang node's EPMD registration (the ALIVE2 request),
// at ErlpmdNodePath. erlpmd registers it (ephemeral) while the node's
// registration connection is open and reads it to answer PORT_PLEASE2 and
// NAMES.
type ErlpmdRecord struct {
	// Version is set by writers to RecordVersion.
	Version int `json:"version"`
	// Name is the registered node name (the znode name).
	Name string `json:"name"`
	// Host is where the node listens for distribution connections.
	Host string `json:"host"`
	// Port is the node's distribution port.
	Port int `json:"port"`
	// NodeType is 77 ('M', normal) or 72 ('H', hidden).
	NodeType int `json:"node_type"`
	// Protocol is 0 for TCP/IPv4.
	Protocol       int `json:"protocol"`
	HighestVersion int `json:"highest_version"`
	LowestVersion  int `json:"lowest_version"`
	// Extra is the opaque ALIVE2 extra field (base64 in JSON).
	Extra []byte `json:"extra,omitempty"`
	// Creation is the value returned in ALIVE2_X_RESP.
	Creation uint32 `json:"creation"`
}

// Validate checks the name, host, port, and the ranges of the ALIVE2
// fields.
func (e ErlpmdRecord) Validate() error {
	if err := ValidateName(e.Name); err != nil {
		return fmt.Errorf("erlpmd name: %w", err)
	}
	if err := validateHost(e.Host); err != nil {
		return fmt.Errorf("erlpmd %s: host: %w", e.Name, err)
	}
	if err := validatePort(e.Port); err != nil {
		return fmt.Errorf("erlpmd %s: port: %w", e.Name, err)
	}
	if e.NodeType < 0 || e.NodeType > 255 || e.Protocol < 0 || e.Protocol > 255 {
		return fmt.Errorf("erlpmd %s: node_type %d / protocol %d out of 0..255", e.Name, e.NodeType, e.Protocol)
	}
	if e.LowestVersion < 0 || e.HighestVersion > 65535 || e.LowestVersion > e.HighestVersion {
		return fmt.Errorf("erlpmd %s: versions %d..%d invalid", e.Name, e.LowestVersion, e.HighestVersion)
	}
	if len(e.Extra) > 65535 {
		return fmt.Errorf("erlpmd %s: extra is %d bytes (max 65535)", e.Name, len(e.Extra))
	}
	return nil
}

func (e *ErlpmdRecord) stamp() { e.Version = RecordVersion }
func (e *ErlpmdRecord) matchPath(p string) error {
	return matchComponents(p, map[int]string{1: e.Name})
}

// LockRecord names the holder of a node lock, or a waiter for it: the data
// of each lock znode clusters/<cluster>/locks/<node>/lock-<seq>. The
// executor writes it (Framework.LockNode); status readers show the holder's
// (Framework.NodeLockHolder).
type LockRecord struct {
	// Version is set by writers to RecordVersion.
	Version int    `json:"version"`
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	// TaskID is the Mesos task whose executor holds or wants the lock.
	TaskID     string `json:"task_id"`
	ExecutorID string `json:"executor_id,omitempty"`
	AgentID    string `json:"agent_id,omitempty"`
	// Host is where that executor runs (the node's host).
	Host string `json:"host"`
	// PID is the executor's process ID on Host (0: unknown).
	PID int `json:"pid,omitempty"`
	// Since is when the lock was asked for, on the writer's clock.
	Since time.Time `json:"since"`
}

// Validate checks the names, the task ID, the host and the PID.
func (l LockRecord) Validate() error {
	if err := ValidateName(l.Cluster); err != nil {
		return fmt.Errorf("lock cluster: %w", err)
	}
	if err := ValidateName(l.Node); err != nil {
		return fmt.Errorf("lock node: %w", err)
	}
	if l.TaskID == "" || len(l.TaskID) > 255 {
		return fmt.Errorf("lock %s: task_id must be 1..255 bytes", l.Node)
	}
	if err := validateHost(l.Host); err != nil {
		return fmt.Errorf("lock %s: host: %w", l.Node, err)
	}
	if l.PID < 0 {
		return fmt.Errorf("lock %s: pid %d < 0", l.Node, l.PID)
	}
	return nil
}

func (l *LockRecord) stamp() { l.Version = RecordVersion }
func (l *LockRecord) matchPath(p string) error {
	// .../clusters/<cluster>/locks/<node>/lock-<seq>
	return matchComponents(p, map[int]string{2: l.Node, 4: l.Cluster})
}

// matchComponents checks path components counted from the end (1 = last).
func matchComponents(p string, want map[int]string) error {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	for i, name := range want {
		if i > len(parts) || parts[len(parts)-i] != name {
			return fmt.Errorf("record names %q but the path says otherwise", name)
		}
	}
	return nil
}

var errPortRange = errors.New("port out of 1..65535")

func validatePort(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%w: %d", errPortRange, p)
	}
	return nil
}

// validateHost accepts a hostname or IP literal: non-empty, at most 253
// bytes, no spaces, control characters, slashes or ports.
func validateHost(h string) error {
	if h == "" {
		return errors.New("empty")
	}
	if len(h) > 253 {
		return fmt.Errorf("%d bytes long", len(h))
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("%q: character %q not allowed", h, c)
		}
	}
	return nil
}

// validateErlangNodeName accepts alive@host.
func validateErlangNodeName(n string) error {
	alive, host, ok := strings.Cut(n, "@")
	if !ok || alive == "" || host == "" {
		return fmt.Errorf("%q: want alive@host", n)
	}
	if err := ValidateName(n); err != nil {
		return err
	}
	return nil
}
