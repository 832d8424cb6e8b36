// Package nodetask is the contract between the scheduler and the executor:
// the JSON the scheduler puts in a Riak node's TaskInfo.data, and the
// conventions both sides rely on (volume path, flavors). It is a small
// package of its own so that neither side imports the other.
package nodetask

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// MaxTemplateSize bounds a riak.conf or advanced.config template: the
// scheduler API refuses larger ones and the executor will not render them.
const MaxTemplateSize = 64 << 10

// Version is the task data format version.
const Version = 1

// VolumePath is the container path of a node's persistent volume, relative
// to the executor's sandbox. The node's data lives under it.
const VolumePath = "riak-data"

// Flavors of node the executor can run.
const (
	FlavorDevnode = "devnode" // this binary's `rmf devnode` (a stand-in for Riak KV)
	FlavorRiak    = "riak"    // real Riak KV from a tarball
)

// Fencing modes: what the executor does with its node when it loses touch
// with ZooKeeper (the node lock's session).
const (
	// FencingVolume (the default, for local persistent volumes, which
	// Mesos never gives two tasks at once): the node keeps running while
	// ZooKeeper is silent; on reconnection the executor keeps its lock,
	// takes it again if its session expired and the lock is free, and
	// stops the node at once if another executor holds it.
	FencingVolume = "volume"
	// FencingStrict (for shared storage): the node stops before the
	// executor's ZooKeeper session can expire, so that no other executor
	// can start it on the same data while it runs.
	FencingStrict = "strict"
)

// ValidateFencing checks a fencing mode; "" means FencingVolume.
func ValidateFencing(m string) error {
	switch m {
	case "", FencingVolume, FencingStrict:
		return nil
	}
	return fmt.Errorf("nodetask: fencing %q: want %s or %s", m, FencingVolume, FencingStrict)
}

// Ports are the five ports a node uses on its agent.
type Ports = zkstate.Ports

// Task is a Riak node's task data.
type Task struct {
	Version   int    `json:"version"`
	Framework string `json:"framework"`
	Cluster   string `json:"cluster"`
	Node      string `json:"node"` // node name in ZooKeeper (e.g. riak-default-1)
	// NodeName is the Erlang node name, by the node's host: e.g.
	// riak-default-1@10.0.0.5 (mesos-local: riak-default-1@127.0.0.2).
	NodeName string `json:"node_name"`
	Flavor   string `json:"flavor"`
	// ZooKeeper servers (host:port,...) for the live record and erlpmd.
	ZooKeeper string `json:"zookeeper"`
	// Host is the address the node binds and advertises (the agent's IP).
	Host  string `json:"host"`
	Ports Ports  `json:"ports"`
	// Join is whom to join after start: for devnode a PB address
	// (host:port) of a running node, for riak an Erlang node name. Empty:
	// the first node of the cluster.
	Join string `json:"join,omitempty"`
	// RiakConf and AdvancedConfig are the cluster's templates (text/template
	// with the variables documented in executor/).
	RiakConf       string `json:"riak_conf,omitempty"`
	AdvancedConfig string `json:"advanced_config,omitempty"`
	// RiakTarball is the URI of the Riak tarball (flavor riak); the
	// executor's CommandInfo fetches it into the sandbox.
	RiakTarball string `json:"riak_tarball,omitempty"`
	// Generation is the cluster configuration generation.
	Generation int64 `json:"generation"`
	// Fencing is FencingVolume or FencingStrict; empty: FencingVolume.
	Fencing string `json:"fencing,omitempty"`
	// Replaces is the Erlang node name of this node's previous
	// incarnation when that differs from NodeName (the node was placed
	// again on another agent): once joined, the node takes its place in
	// the ring (`riak admin cluster force-replace Replaces NodeName`), so
	// the ring never keeps a dead member.
	Replaces string `json:"replaces,omitempty"`
}

// Validate checks what the executor relies on.
func (t Task) Validate() error {
	var errs []error
	if t.Version != Version {
		errs = append(errs, fmt.Errorf("nodetask: version %d, want %d", t.Version, Version))
	}
	for _, n := range []struct{ what, v string }{{"framework", t.Framework}, {"cluster", t.Cluster}, {"node", t.Node}} {
		if err := zkstate.ValidateName(n.v); err != nil {
			errs = append(errs, fmt.Errorf("nodetask: %s: %w", n.what, err))
		}
	}
	if alive, host, ok := strings.Cut(t.NodeName, "@"); !ok || alive == "" || host == "" {
		errs = append(errs, fmt.Errorf("nodetask: node_name %q: want name@host", t.NodeName))
	} else if err := zkstate.ValidateName(t.NodeName); err != nil {
		errs = append(errs, fmt.Errorf("nodetask: node_name: %w", err))
	}
	if t.Flavor != FlavorDevnode && t.Flavor != FlavorRiak {
		errs = append(errs, fmt.Errorf("nodetask: flavor %q: want %s or %s", t.Flavor, FlavorDevnode, FlavorRiak))
	}
	if t.ZooKeeper == "" {
		errs = append(errs, errors.New("nodetask: zookeeper is empty"))
	}
	if net.ParseIP(t.Host) == nil && t.Host != "localhost" {
		errs = append(errs, fmt.Errorf("nodetask: host %q: want an IP address", t.Host))
	}
	if err := t.Ports.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("nodetask: %w", err))
	}
	if t.Ports.PB == 0 || t.Ports.HTTP == 0 || t.Ports.Handoff == 0 || t.Ports.Disterl == 0 || t.Ports.Erlpmd == 0 {
		errs = append(errs, errors.New("nodetask: every port (pb, http, handoff, disterl, erlpmd) must be set"))
	}
	if err := ValidateFencing(t.Fencing); err != nil {
		errs = append(errs, err)
	}
	if t.Replaces != "" {
		if alive, host, ok := strings.Cut(t.Replaces, "@"); !ok || alive == "" || host == "" || zkstate.ValidateName(t.Replaces) != nil {
			errs = append(errs, fmt.Errorf("nodetask: replaces %q: want name@host", t.Replaces))
		} else if t.Replaces == t.NodeName {
			errs = append(errs, errors.New("nodetask: a node cannot replace itself"))
		}
	}
	if t.Flavor == FlavorRiak && t.RiakTarball == "" {
		errs = append(errs, errors.New("nodetask: flavor riak needs riak_tarball"))
	}
	return errors.Join(errs...)
}

// Marshal encodes t (stamped with Version) for TaskInfo.data.
func Marshal(t Task) ([]byte, error) {
	t.Version = Version
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(t)
}

// Unmarshal decodes and validates TaskInfo.data.
func Unmarshal(b []byte) (Task, error) {
	var t Task
	if len(b) > 1<<20 {
		return t, errors.New("nodetask: task data larger than 1 MiB")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("nodetask: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return t, errors.New("nodetask: task data continues after the JSON object")
	}
	return t, t.Validate()
}
