// Package devnode is a Riak-protocol development node: it speaks Riak KV's
// PB and HTTP APIs with Riak KV's semantics (internal/devnode/kv), alone or
// in a cluster with a ring, n_val replicas, quorums, read repair and
// catch-up on restart. It stands in for Riak KV where Riak is not
// installed. It is not Riak. See docs/devnode.md.
package devnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/httpserver"
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/pbserver"
	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
)

// Config describes a devnode. Zero values are documented defaults.
type Config struct {
	// Name is the node's Riak node name, e.g. dev1@127.0.0.1. Required.
	Name string
	// PBAddr and HTTPAddr are the listen addresses (required; port 0 picks one).
	PBAddr, HTTPAddr string
	// DataDir keeps the node's identity, membership and (disk backend) data. Required.
	DataDir string
	// Backend is "memory" (default) or "disk" (bbolt, DataDir/data.bolt).
	Backend string
	// NoSync makes the disk backend acknowledge writes before fsync (--sync=false).
	NoSync bool
	// Join is the PB address of a member of the cluster to join; empty: none.
	Join string
	// RingSize is the number of partitions of a new cluster (default 64).
	// A node joining a cluster takes the cluster's.
	RingSize int
	// BucketTypes are created and activated cluster-wide at start: name -> props JSON.
	BucketTypes map[string]string
	// GossipDelay is how long a change of bucket or bucket-type properties
	// made on this node takes to reach the others, as Riak's cluster
	// metadata spreads by gossip: the change is visible here at once and
	// elsewhere only after the delay. 0: at once, before the request is
	// answered (tests that do not look at timing); rmf devnode's default is
	// DefaultGossipDelay.
	GossipDelay time.Duration
	// HandoffDelay is how long a (re)started member waits before it takes
	// its data back from the others (Riak's fallbacks hand a partition back
	// only once idle, vnode_inactivity_timeout). Meanwhile it holds only
	// what it kept (nothing, with the memory backend), answers "not found"
	// to the others' reads for the rest, and, like a node whose riak_kv
	// is not up, coordinates nothing. Zero: at once.
	HandoffDelay time.Duration
	// DeleteMode is Riak's delete_mode: how long a tombstone is kept
	// before it is reaped: "keep" (never), "immediate", or a duration such
	// as "3s" (the default, Riak's).
	DeleteMode string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// deleteOptions turns a delete_mode into the store's reaping options.
func deleteOptions(mode string) (delay time.Duration, keep bool, err error) {
	switch mode {
	case "":
		return 0, false, nil
	case "keep":
		return 0, true, nil
	case "immediate":
		return time.Nanosecond, false, nil
	}
	d, err := time.ParseDuration(mode)
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("devnode: --delete-mode %q is not keep, immediate or a positive duration such as 3s", mode)
	}
	return d, false, nil
}

// Validate checks a Config before anything is started.
func (c Config) Validate() error {
	switch {
	case c.Name == "" || !strings.Contains(c.Name, "@"):
		return fmt.Errorf("devnode: node name %q must look like name@host", c.Name)
	case c.PBAddr == "" || c.HTTPAddr == "":
		return errors.New("devnode: both --pb and --http addresses are required")
	case c.DataDir == "":
		return errors.New("devnode: --data directory is required")
	case c.Backend != "" && c.Backend != "memory" && c.Backend != "disk":
		return fmt.Errorf("devnode: unknown backend %q (want memory or disk)", c.Backend)
	}
	if c.HandoffDelay < 0 {
		return fmt.Errorf("devnode: --handoff-delay %v is negative", c.HandoffDelay)
	}
	if _, _, err := deleteOptions(c.DeleteMode); err != nil {
		return err
	}
	if c.GossipDelay < 0 {
		return fmt.Errorf("devnode: --gossip-delay %v is negative", c.GossipDelay)
	}
	if c.RingSize != 0 {
		if _, err := ring.New(c.RingSize, []string{c.Name}); err != nil {
			return fmt.Errorf("devnode: --ring-size: %w", err)
		}
	}
	for name, props := range c.BucketTypes {
		if _, err := kv.ParseProps([]byte(props)); err != nil {
			return fmt.Errorf("devnode: bucket type %s: %w", name, err)
		}
	}
	return nil
}

// Node is a running devnode.
type Node struct {
	cfg     Config
	log     *slog.Logger
	engine  *kv.Engine
	cluster *Cluster
	pb      *pbserver.Server
	http    *http.Server
	pbLn    net.Listener
	httpLn  net.Listener

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// identity is persisted so a data directory is never reused under another name.
type identity struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
}

// Start opens the node's store, starts its listeners, joins or rejoins its
// cluster, catches up from its peers and then reports ready (RpbPingReq
// answers). It returns once the node is ready or failed.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = ring.DefaultSize
	}
	if cfg.Backend == "" {
		cfg.Backend = "memory"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.Name)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("devnode: data dir: %w", err)
	}
	if err := checkIdentity(cfg.DataDir, cfg.Name); err != nil {
		return nil, err
	}
	be, err := kv.OpenBackend(cfg.Backend, filepath.Join(cfg.DataDir, "data.bolt"), kv.BoltOptions{NoSync: cfg.NoSync, Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("devnode: open %s backend: %w", cfg.Backend, err)
	}
	delay, keep, _ := deleteOptions(cfg.DeleteMode) // checked by Validate
	opts := kv.Options{Backend: be, TombstoneDelay: delay, KeepTombstones: keep}
	if delay > 0 && delay < time.Second {
		opts.ReapInterval = max(delay/2, 10*time.Millisecond)
	}
	engine, err := kv.Open(opts)
	if err != nil {
		be.Close()
		return nil, fmt.Errorf("devnode: open store: %w", err)
	}
	n := &Node{cfg: cfg, log: log, engine: engine}
	if err := n.start(ctx); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func checkIdentity(dir, name string) error {
	path := filepath.Join(dir, "node.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data, _ := json.Marshal(identity{Version: 1, Name: name})
		return os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("devnode: %w", err)
	}
	var id identity
	if err := json.Unmarshal(data, &id); err != nil || id.Version != 1 {
		return fmt.Errorf("devnode: %s is not a devnode identity file", path)
	}
	if id.Name != name {
		return fmt.Errorf("devnode: data directory %s belongs to node %s, not %s", dir, id.Name, name)
	}
	return nil
}

func (n *Node) start(ctx context.Context) error {
	var err error
	if n.pbLn, err = net.Listen("tcp", n.cfg.PBAddr); err != nil {
		return fmt.Errorf("devnode: listen pb: %w", err)
	}
	if n.httpLn, err = net.Listen("tcp", n.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("devnode: listen http: %w", err)
	}
	self := Member{Name: n.cfg.Name, PB: n.pbLn.Addr().String(), HTTP: n.httpLn.Addr().String(), Seen: time.Now().UTC()}
	m, found, err := loadMembership(n.cfg.DataDir)
	if err != nil {
		return err
	}
	if !found {
		m = Membership{Version: membershipVersion, RingSize: n.cfg.RingSize}
	}
	if m.HasLeft(n.cfg.Name) {
		return fmt.Errorf("%w (%s)", ErrLeft, n.cfg.DataDir)
	}
	m, _ = m.Merge(Membership{Members: []Member{self}})
	if n.cluster, err = newCluster(self, n.engine, m, n.log); err != nil {
		return err
	}
	n.cluster.gossipDelay = n.cfg.GossipDelay
	n.cluster.persist = func(m Membership) error { return saveMembership(n.cfg.DataDir, m) }
	if err := saveMembership(n.cfg.DataDir, m); err != nil {
		return fmt.Errorf("devnode: save membership: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.cluster.setRunContext(runCtx)
	n.pb = &pbserver.Server{Service: n.cluster, Logger: n.log, Extension: n.cluster.pbExtension}
	mux := http.NewServeMux()
	mux.Handle(InternalPrefix, n.cluster.internalHandler())
	mux.Handle("/", httpserver.New(n.cluster, n.log))
	n.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	n.wg.Add(2)
	go func() { defer n.wg.Done(); _ = n.pb.Serve(runCtx, n.pbLn) }()
	go func() { defer n.wg.Done(); _ = n.http.Serve(n.httpLn) }()

	if n.cfg.Join != "" {
		if err := n.cluster.join(ctx, n.cfg.Join); err != nil {
			return err
		}
	}
	n.cluster.announce(ctx)
	if d := n.cfg.HandoffDelay; d > 0 {
		n.log.Info("devnode: waiting before taking data back", "handoff_delay", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := n.cluster.catchUp(ctx); err != nil {
		return err
	}
	for name, props := range n.cfg.BucketTypes {
		u, _ := kv.ParseProps([]byte(props))
		if err := n.cluster.CreateBucketType(ctx, name, u); err != nil {
			return fmt.Errorf("devnode: bucket type %s: %w", name, err)
		}
	}
	n.cluster.ready.Store(true)
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.cluster.monitor(runCtx) }()
	n.log.Info("devnode ready", "pb", self.PB, "http", self.HTTP, "members", len(n.cluster.Membership().Members), "backend", n.cfg.Backend)
	return nil
}

// PBAddr and HTTPAddr are the addresses the node listens on.
func (n *Node) PBAddr() string { return n.pbLn.Addr().String() }

// HTTPAddr is the node's HTTP listen address.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// Cluster returns the node's cluster service (for tests and status).
func (n *Node) Cluster() *Cluster { return n.cluster }

// Shutdown stops accepting requests, lets in-flight requests finish (until
// ctx ends), flushes and closes the store.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	n.once.Do(func() {
		if n.cluster != nil {
			n.cluster.ready.Store(false)
		}
		var errs []error
		if n.pb != nil {
			errs = append(errs, n.pb.Shutdown(ctx))
		}
		if n.http != nil {
			errs = append(errs, n.http.Shutdown(ctx))
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.cluster != nil {
			n.cluster.stopBackground() // hint deliveries end with runCtx
		}
		errs = append(errs, n.engine.Close())
		err = errors.Join(errs...)
		if err == nil {
			n.log.Info("devnode stopped")
		}
	})
	return err
}

// close releases what a failed Start opened.
func (n *Node) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.pb == nil {
		for _, ln := range []net.Listener{n.pbLn, n.httpLn} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	_ = n.Shutdown(ctx)
}
