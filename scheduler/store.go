package scheduler

import (
	"context"
	"errors"

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

// nodeRef names a node record.
type nodeRef struct{ cluster, name string }

// indexTasks makes the index of tasks to nodes what nodes say (a whole
// read of the node records); s.mu must be held.
func (s *Scheduler) indexTasks(nodes []zkstate.NodeRecord) {
	s.tasks = make(map[string]nodeRef, len(nodes))
	for _, n := range nodes {
		if n.TaskID != "" {
			s.tasks[n.TaskID] = nodeRef{n.Cluster, n.Name}
		}
	}
}

// indexTask adds a task recorded for node n to the index; s.mu must be
// held.
func (s *Scheduler) indexTask(n zkstate.NodeRecord) {
	if s.tasks == nil {
		s.tasks = map[string]nodeRef{}
	}
	s.tasks[n.TaskID] = nodeRef{n.Cluster, n.Name}
}

// nodeOfTask finds the record of the node running task taskID (nil: no
// node does): the node the index names, if its record still has the
// task, else whichever a read of every record finds. An error means
// ZooKeeper could not be read.
func (s *Scheduler) nodeOfTask(ctx context.Context, taskID string) (*zkstate.NodeRecord, error) {
	s.mu.Lock()
	ref, ok := s.tasks[taskID]
	s.mu.Unlock()
	if ok {
		n, _, err := s.fw.GetNode(ctx, ref.cluster, ref.name)
		if err == nil && n.TaskID == taskID {
			return &n, nil
		}
		if err != nil && !errors.Is(err, zkstate.ErrNotFound) {
			return nil, err
		}
	}
	nodes, err := s.readAllNodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.TaskID == taskID {
			return &n, nil
		}
	}
	return nil, nil
}
