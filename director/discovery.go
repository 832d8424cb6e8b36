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
}

// Discovery keeps a Proxy's node set equal to the cluster's live nodes in
// ZooKeeper. While ZooKeeper is unreachable the last known set keeps serving.
type Discovery struct {
	mu     sync.Mutex
	status DiscoveryStatus
}

// Status reports the discovery source and freshness.
func (d *Discovery) Status() DiscoveryStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// specsFromLive turns live records into node specs, sorted by name.
func specsFromLive(nodes map[string]zkstate.LiveRecord) []balancer.NodeSpec {
	specs := make([]balancer.NodeSpec, 0, len(nodes))
	for _, r := range nodes {
		specs = append(specs, balancer.NodeSpec{
			ID:       r.Name,
			PBAddr:   net.JoinHostPort(r.Host, strconv.Itoa(r.PBPort)),
			HTTPAddr: net.JoinHostPort(r.Host, strconv.Itoa(r.HTTPPort)),
		})
	}
	slices.SortFunc(specs, func(a, b balancer.NodeSpec) int { return cmp.Compare(a.ID, b.ID) })
	return specs
}

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
		for snap := range ch {
			d.mu.Lock()
			if snap.Err != nil {
				d.status.Err, d.status.Connected = snap.Err.Error(), false
				d.mu.Unlock()
				log.Warn("discovery: ZooKeeper read failed; serving the last known nodes", "err", snap.Err)
				continue
			}
			d.status.Err, d.status.Updated, d.status.Connected = "", time.Now(), true
			d.mu.Unlock()
			specs := specsFromLive(snap.Nodes)
			p.SetNodes(specs)
			log.Info("discovery: node set", "nodes", len(specs))
		}
	}()
	return nil
}
