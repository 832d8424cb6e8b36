package zkstate

import (
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
)

// Sentinel errors. Returned errors wrap them with the operation and path;
// test with errors.Is.
var (
	// ErrNotFound: the znode does not exist.
	ErrNotFound = errors.New("zkstate: znode not found")
	// ErrExists: the znode already exists (create).
	ErrExists = errors.New("zkstate: znode already exists")
	// ErrVersionConflict: the znode changed since it was read (compare-and-set
	// lost, or Modify gave up after too many conflicts).
	ErrVersionConflict = errors.New("zkstate: version conflict")
	// ErrNotEmpty: the znode has children (delete).
	ErrNotEmpty = errors.New("zkstate: znode has children")
	// ErrUnknownVersion: a record's "version" is missing or not one this
	// build reads.
	ErrUnknownVersion = errors.New("zkstate: unknown record version")
	// ErrInvalidRecord: a record is not valid JSON or fails validation.
	ErrInvalidRecord = errors.New("zkstate: invalid record")
	// ErrInvalidName: a framework, cluster, node or Erlang node name cannot
	// be used as a znode name.
	ErrInvalidName = errors.New("zkstate: invalid name")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("zkstate: store closed")
	// ErrLockLost: a NodeLock may be held by someone else now (its session
	// expired or was replaced, ZooKeeper did not answer for too long, or
	// its znode was deleted). See NodeLock.Err for the reason.
	ErrLockLost = errors.New("zkstate: node lock lost")
)

// mapErr turns a go-zookeeper error into a zkstate error carrying op and
// path. Errors without a zkstate equivalent stay reachable with errors.Is.
func mapErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case errors.Is(err, zk.ErrNoNode):
		sentinel = ErrNotFound
	case errors.Is(err, zk.ErrNodeExists):
		sentinel = ErrExists
	case errors.Is(err, zk.ErrBadVersion):
		sentinel = ErrVersionConflict
	case errors.Is(err, zk.ErrNotEmpty):
		sentinel = ErrNotEmpty
	case errors.Is(err, zk.ErrClosing), errors.Is(err, ErrClosed):
		sentinel = ErrClosed
	default:
		return fmt.Errorf("zkstate: %s %s: %w", op, path, err)
	}
	return fmt.Errorf("%w: %s %s", sentinel, op, path)
}

// IsTransient reports whether err is a connection-level failure worth
// retrying once the session is back (connection lost, no server reachable,
// session expired or moved). Context errors and ErrClosed are not transient.
func IsTransient(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) ||
		errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) ||
		errors.Is(err, zk.ErrSessionMoved)
}
