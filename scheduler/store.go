package scheduler

import (
	"context"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// stateStore is what the scheduler uses of the framework's state in ZooKeeper
// (*zkstate.Framework implements it): declared here, so that the
// scheduler depends on these methods only.
type stateStore interface {
	Name() string
	Campaign(ctx context.Context, id string) (*zkstate.Leadership, error)
	Leader(ctx context.Context) (string, error)
	FrameworkID(ctx context.Context) (string, error)
	SetFrameworkID(ctx context.Context, id string) error

	ListClusters(ctx context.Context) ([]string, error)
	GetCluster(ctx context.Context, name string) (zkstate.ClusterRecord, int32, error)
	CreateCluster(ctx context.Context, rec zkstate.ClusterRecord) error
	ModifyCluster(ctx context.Context, name string, fn func(*zkstate.ClusterRecord) error) (zkstate.ClusterRecord, int32, error)
	DeleteCluster(ctx context.Context, name string) error

	ListNodes(ctx context.Context, cluster string) ([]string, error)
	GetNode(ctx context.Context, cluster, name string) (zkstate.NodeRecord, int32, error)
	CreateNode(ctx context.Context, rec zkstate.NodeRecord) error
	ModifyNode(ctx context.Context, cluster, name string, fn func(*zkstate.NodeRecord) error) (zkstate.NodeRecord, int32, error)
	DeleteNode(ctx context.Context, cluster, name string, version int32) error
	NodeLockHolder(ctx context.Context, cluster, node string) (*zkstate.LockHolder, error)
}

var _ stateStore = (*zkstate.Framework)(nil)
