package director

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// LiveWatcher is what ZooKeeper discovery needs: *zkstate.Framework.
type LiveWatcher interface {
	WatchLive(ctx context.Context, cluster string) (<-chan zkstate.LiveSnapshot, error)
}

// Discovery sources (DiscoveryStatus.Source, /status discovery.source).
const (
	SourceStatic    = "static"    // the --node list
	SourceZooKeeper = "zookeeper" // the cluster's live nodes in ZooKeeper
)

// DiscoveryStatus says where the node set comes from and how fresh it is.
type DiscoveryStatus struct {
	Source  string    // SourceStatic or SourceZooKeeper
	Updated time.Time // last successful read of the node set
	// Connected: the last read succeeded (the watch is live).
	Connected bool
	Err       string // last read error; the last known set keeps serving
	// Unlisted are served nodes whose live record vanished without the
	// leaving mark: they serve while they pass health checks (sorted).
	Unlisted []string
}

// Discovery keeps a Proxy's node set equal to the cluster's live nodes in
// ZooKeeper. While ZooKeeper is unreachable the last known set keeps
// serving, and so does a node whose record vanished without the executor's
// leaving mark, for as long as it passes health checks: ZooKeeper's own
// trouble (an expired session, a record being re-created) never takes a
// serving node away.
type Discovery struct {
	mu     sync.Mutex
	status DiscoveryStatus
}

// Status reports the discovery source and freshness.
func (d *Discovery) Status() DiscoveryStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.status
	st.Unlisted = slices.Clone(st.Unlisted)
	return st
}

// specFromLive is a live record's node spec.
func specFromLive(r zkstate.LiveRecord) balancer.NodeSpec {
	return balancer.NodeSpec{
		ID:       r.Name,
		PBAddr:   net.JoinHostPort(r.Host, strconv.Itoa(r.PBPort)),
		HTTPAddr: net.JoinHostPort(r.Host, strconv.Itoa(r.HTTPPort)),
	}
}

// nextNodeSet decides the node set (sorted by ID) from the live records
// and the set being served: every record not marked leaving serves; a
// served node whose record is gone (not marked leaving: that drains it)
// stays while healthy says it passes its checks, and is listed in
// unlisted.
func nextNodeSet(live map[string]zkstate.LiveRecord, served []balancer.NodeSpec, healthy func(id string) bool) (set []balancer.NodeSpec, unlisted []string) {
	for _, r := range live {
		if !r.Leaving {
			set = append(set, specFromLive(r))
		}
	}
	for _, s := range served {
		if _, ok := live[s.ID]; !ok && healthy(s.ID) {
			set = append(set, s)
			unlisted = append(unlisted, s.ID)
		}
	}
	slices.SortFunc(set, func(a, b balancer.NodeSpec) int { return cmp.Compare(a.ID, b.ID) })
	slices.Sort(unlisted)
	return set, unlisted
}

// unlistedRecheck is how often the health of unlisted nodes is looked at.
const unlistedRecheck = 250 * time.Millisecond

// WatchZooKeeper applies every change of clusters/<cluster>/live/ to p until
// ctx ends. It returns once the watch is set up.
func (d *Discovery) WatchZooKeeper(ctx context.Context, w LiveWatcher, cluster string, p *Proxy, log *slog.Logger) error {
	ch, err := w.WatchLive(ctx, cluster)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.status.Source = SourceZooKeeper
	d.mu.Unlock()
	go func() {
		var (
			live     map[string]zkstate.LiveRecord // last good read
			served   []balancer.NodeSpec
			unlisted []string
			recheck  <-chan time.Time
		)
		ticker := time.NewTicker(unlistedRecheck)
		defer ticker.Stop()
		apply := func() {
			set, ul := nextNodeSet(live, served, p.nodeHealthy)
			for _, id := range ul {
				if !slices.Contains(unlisted, id) {
					log.Warn("discovery: a served node's live record is gone without the leaving mark; serving it while it passes health checks", "node", id)
				}
			}
			for _, id := range unlisted {
				if !slices.Contains(ul, id) && !slices.ContainsFunc(set, func(s balancer.NodeSpec) bool { return s.ID == id }) {
					log.Warn("discovery: unlisted node fails its health checks; dropped", "node", id)
				}
			}
			changed := !slices.Equal(set, served)
			served, unlisted = set, ul
			d.mu.Lock()
			d.status.Unlisted = slices.Clone(ul)
			d.mu.Unlock()
			if changed {
				p.SetNodes(set)
				log.Info("discovery: node set", "nodes", len(set), "unlisted", len(ul))
			}
			recheck = nil
			if len(ul) > 0 {
				recheck = ticker.C
			}
		}
		for {
			select {
			case snap, ok := <-ch:
				if !ok {
					return
				}
				d.mu.Lock()
				if snap.Err != nil {
					d.status.Err, d.status.Connected = snap.Err.Error(), false
					d.mu.Unlock()
					log.Warn("discovery: ZooKeeper read failed; serving the last known nodes", "err", snap.Err)
					continue
				}
				d.status.Err, d.status.Updated, d.status.Connected = "", time.Now(), true
				d.mu.Unlock()
				live = snap.Nodes
				apply()
			case <-recheck:
				apply()
			}
		}
	}()
	return nil
}
