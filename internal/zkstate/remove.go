package zkstate

import (
	"context"
	"errors"
	"fmt"
)

// ErrSchedulerRunning refuses to remove a framework's metadata while a
// scheduler holds its leadership.
var ErrSchedulerRunning = errors.New("zkstate: a scheduler holds the framework's leadership")

// RemoveMetadata deletes every znode of the framework (its ID, URI,
// clusters, nodes, live records, locks, erlpmd records), refusing with
// ErrSchedulerRunning while a scheduler leads it: the framework's state
// goes only once nothing acts on it. Nothing to remove is not an error.
func (f *Framework) RemoveMetadata(ctx context.Context) error {
	leader, err := f.Leader(ctx)
	if err != nil {
		return err
	}
	if leader != "" {
		return fmt.Errorf("%w (%s); stop it (or run rmf framework teardown) first", ErrSchedulerRunning, leader)
	}
	root, err := FrameworkRoot(f.name)
	if err != nil {
		return err
	}
	return f.s.DeleteTree(ctx, root)
}

// ClearFrameworkID forgets the Mesos framework ID (after TEARDOWN the
// master refuses it), so that the next scheduler registers anew.
func (f *Framework) ClearFrameworkID(ctx context.Context) error {
	p, err := FrameworkIDPath(f.name)
	if err != nil {
		return err
	}
	if err := f.s.Delete(ctx, p, -1); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
