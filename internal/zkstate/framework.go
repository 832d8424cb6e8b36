package zkstate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Framework is typed access to one framework's tree,
// /riak/frameworks/<name>. Get one from Store.Framework.
type Framework struct {
	s    *Store
	name string
}

// Framework returns the handle for framework name (ErrInvalidName if name
// cannot be a znode name).
func (s *Store) Framework(name string) (*Framework, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	return &Framework{s: s, name: name}, nil
}

// Name returns the framework name.
func (f *Framework) Name() string { return f.name }

// Store returns the Store the handle uses.
func (f *Framework) Store() *Store { return f.s }

// must unwraps a path helper result whose names were validated already.
func must(p string, err error) string {
	if err != nil {
		panic(err) // unreachable: the framework name is validated in Store.Framework
	}
	return p
}

// FrameworkID returns the stored Mesos framework ID; ErrNotFound before the
// first registration.
func (f *Framework) FrameworkID(ctx context.Context) (string, error) {
	p := must(FrameworkIDPath(f.name))
	data, _, err := f.s.getRaw(ctx, p)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(data))
	if err := validateFrameworkID(id); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	return id, nil
}

// SetFrameworkID stores the Mesos framework ID (plain text), replacing any
// previous one.
func (f *Framework) SetFrameworkID(ctx context.Context, id string) error {
	p := must(FrameworkIDPath(f.name))
	if err := validateFrameworkID(id); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	return f.s.put(ctx, p, []byte(id))
}

// URI returns the scheduler API URL; ErrNotFound if no scheduler has
// published one.
func (f *Framework) URI(ctx context.Context) (string, error) {
	p := must(URIPath(f.name))
	data, _, err := f.s.getRaw(ctx, p)
	if err != nil {
		return "", err
	}
	u := strings.TrimSpace(string(data))
	if err := validateURI(u); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	return u, nil
}

// SetURI publishes the scheduler API URL (plain text, http or https).
func (f *Framework) SetURI(ctx context.Context, uri string) error {
	p := must(URIPath(f.name))
	if err := validateURI(uri); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	return f.s.put(ctx, p, []byte(uri))
}

// ListClusters returns the cluster names, sorted (none: empty, no error).
func (f *Framework) ListClusters(ctx context.Context) ([]string, error) {
	return f.s.childNames(ctx, must(ClustersPath(f.name)))
}

// GetCluster reads a cluster record and its znode version.
func (f *Framework) GetCluster(ctx context.Context, name string) (ClusterRecord, int32, error) {
	p, err := ClusterPath(f.name, name)
	if err != nil {
		return ClusterRecord{}, 0, err
	}
	return Get[ClusterRecord](ctx, f.s, p)
}

// CreateCluster stores a new cluster record at rec.Name; ErrExists if the
// cluster exists.
func (f *Framework) CreateCluster(ctx context.Context, rec ClusterRecord) error {
	p, err := ClusterPath(f.name, rec.Name)
	if err != nil {
		return err
	}
	return Create(ctx, f.s, p, rec)
}

// UpdateCluster replaces the cluster record if it is still at version
// (ErrVersionConflict otherwise) and returns the new version.
func (f *Framework) UpdateCluster(ctx context.Context, rec ClusterRecord, version int32) (int32, error) {
	p, err := ClusterPath(f.name, rec.Name)
	if err != nil {
		return 0, err
	}
	return Update(ctx, f.s, p, rec, version)
}

// ModifyCluster is Modify for a cluster record.
func (f *Framework) ModifyCluster(ctx context.Context, name string, fn func(*ClusterRecord) error) (ClusterRecord, int32, error) {
	p, err := ClusterPath(f.name, name)
	if err != nil {
		return ClusterRecord{}, 0, err
	}
	return Modify(ctx, f.s, p, fn)
}

// DeleteCluster deletes a cluster and everything below it (node records,
// live registrations, locks). ErrNotFound if there is no such cluster.
func (f *Framework) DeleteCluster(ctx context.Context, name string) error {
	p, err := ClusterPath(f.name, name)
	if err != nil {
		return err
	}
	ok, err := f.s.Exists(ctx, p)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: delete %s", ErrNotFound, p)
	}
	return f.s.DeleteTree(ctx, p)
}

// ListNodes returns the node names of a cluster, sorted (none: empty, no
// error).
func (f *Framework) ListNodes(ctx context.Context, cluster string) ([]string, error) {
	p, err := NodesPath(f.name, cluster)
	if err != nil {
		return nil, err
	}
	return f.s.childNames(ctx, p)
}

// GetNode reads a node record and its znode version.
func (f *Framework) GetNode(ctx context.Context, cluster, name string) (NodeRecord, int32, error) {
	p, err := NodePath(f.name, cluster, name)
	if err != nil {
		return NodeRecord{}, 0, err
	}
	return Get[NodeRecord](ctx, f.s, p)
}

// CreateNode stores a new node record at rec.Cluster/rec.Name. The cluster
// must exist (ErrNotFound); ErrExists if the node exists.
func (f *Framework) CreateNode(ctx context.Context, rec NodeRecord) error {
	p, err := NodePath(f.name, rec.Cluster, rec.Name)
	if err != nil {
		return err
	}
	cp := must(ClusterPath(f.name, rec.Cluster))
	ok, err := f.s.Exists(ctx, cp)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: create %s: cluster %s", ErrNotFound, p, cp)
	}
	return Create(ctx, f.s, p, rec)
}

// UpdateNode replaces the node record if it is still at version
// (ErrVersionConflict otherwise) and returns the new version.
func (f *Framework) UpdateNode(ctx context.Context, rec NodeRecord, version int32) (int32, error) {
	p, err := NodePath(f.name, rec.Cluster, rec.Name)
	if err != nil {
		return 0, err
	}
	return Update(ctx, f.s, p, rec, version)
}

// ModifyNode is Modify for a node record.
func (f *Framework) ModifyNode(ctx context.Context, cluster, name string, fn func(*NodeRecord) error) (NodeRecord, int32, error) {
	p, err := NodePath(f.name, cluster, name)
	if err != nil {
		return NodeRecord{}, 0, err
	}
	return Modify(ctx, f.s, p, fn)
}

// DeleteNode deletes a node record at version (-1: any).
func (f *Framework) DeleteNode(ctx context.Context, cluster, name string, version int32) error {
	p, err := NodePath(f.name, cluster, name)
	if err != nil {
		return err
	}
	return f.s.Delete(ctx, p, version)
}

// RegisterLive registers rec as the live endpoint of node rec.Name in
// cluster (ephemeral, re-created after session expiry). The cluster must
// exist (ErrNotFound): a live entry never re-creates a deleted cluster.
// Close the Registration when the node stops answering.
func (f *Framework) RegisterLive(ctx context.Context, cluster string, rec LiveRecord) (*Registration, error) {
	p, err := LiveNodePath(f.name, cluster, rec.Name)
	if err != nil {
		return nil, err
	}
	data, err := encodeAt[LiveRecord](p, rec)
	if err != nil {
		return nil, err
	}
	return f.s.register(ctx, p, must(ClusterPath(f.name, cluster)), data)
}

// MarkLiveLeaving rewrites reg's live record with Leaving set, so that
// directors drain the node before reg is closed (see LiveRecord.Leaving).
func (f *Framework) MarkLiveLeaving(ctx context.Context, reg *Registration, rec LiveRecord) error {
	rec.Leaving = true
	data, err := encodeAt[LiveRecord](reg.Path(), rec)
	if err != nil {
		return err
	}
	return reg.Update(ctx, data)
}

// ListLive reads every live record of a cluster once. Invalid records are
// skipped and logged.
func (f *Framework) ListLive(ctx context.Context, cluster string) (map[string]LiveRecord, error) {
	p, err := LivePath(f.name, cluster)
	if err != nil {
		return nil, err
	}
	return listRecords[LiveRecord](ctx, f.s, p)
}

// WatchLive watches a cluster's live records (ErrInvalidName aside, it
// never fails: the live directory need not exist yet). The channel delivers
// the full set at once and again whenever a record is added, removed or
// changed; delivery is coalesced (a slow consumer gets the latest set, never
// a backlog); watches are re-armed after reconnection and session expiry.
// The channel is closed when ctx is done or the Store is closed.
func (f *Framework) WatchLive(ctx context.Context, cluster string) (<-chan LiveSnapshot, error) {
	p, err := LivePath(f.name, cluster)
	if err != nil {
		return nil, err
	}
	return f.s.watchLive(ctx, p), nil
}

// RegisterErlpmd registers an Erlang node's EPMD entry at rec.Name
// (ephemeral, re-created after session expiry). Close the Registration when
// the node's EPMD connection closes.
func (f *Framework) RegisterErlpmd(ctx context.Context, rec ErlpmdRecord) (*Registration, error) {
	p, err := ErlpmdNodePath(f.name, rec.Name)
	if err != nil {
		return nil, err
	}
	data, err := encodeAt[ErlpmdRecord](p, rec)
	if err != nil {
		return nil, err
	}
	return f.s.Register(ctx, p, data)
}

// GetErlpmd reads one Erlang node's EPMD entry; ErrNotFound if it is not
// registered.
func (f *Framework) GetErlpmd(ctx context.Context, name string) (ErlpmdRecord, error) {
	p, err := ErlpmdNodePath(f.name, name)
	if err != nil {
		return ErlpmdRecord{}, err
	}
	rec, _, err := Get[ErlpmdRecord](ctx, f.s, p)
	return rec, err
}

// ListErlpmd reads every registered Erlang node (for EPMD NAMES). Invalid
// records are skipped and logged.
func (f *Framework) ListErlpmd(ctx context.Context) (map[string]ErlpmdRecord, error) {
	return listRecords[ErlpmdRecord](ctx, f.s, must(ErlpmdPath(f.name)))
}

// put writes data to p, creating it (and its parents) if needed.
func (s *Store) put(ctx context.Context, p string, data []byte) error {
	for range 3 {
		_, err := s.set(ctx, "put", p, data, -1)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		err = s.create(ctx, p, data, 0)
		if !errors.Is(err, ErrExists) {
			return err
		}
	}
	return fmt.Errorf("%w: put %s: created and deleted concurrently", ErrVersionConflict, p)
}

// childNames lists the valid child names of dir (missing dir: none).
// Invalid names are skipped and logged.
func (s *Store) childNames(ctx context.Context, dir string) ([]string, error) {
	names, err := s.Children(ctx, dir)
	if errors.Is(err, ErrNotFound) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	valid := names[:0]
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			s.log.Warn("skipping znode with an invalid name", "dir", dir, "err", err)
			continue
		}
		valid = append(valid, n)
	}
	return valid, nil
}

// listRecords reads every record below dir. Records that vanish meanwhile
// are left out; invalid ones are skipped and logged.
func listRecords[T any, P recordPtr[T]](ctx context.Context, s *Store, dir string) (map[string]T, error) {
	names, err := s.childNames(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(names))
	for _, n := range names {
		rec, _, err := Get[T, P](ctx, s, path.Join(dir, n))
		switch {
		case err == nil:
			out[n] = rec
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrInvalidRecord), errors.Is(err, ErrUnknownVersion):
			s.log.Warn("skipping invalid record", "err", err)
		default:
			return nil, err
		}
	}
	return out, nil
}

// validateFrameworkID accepts 1..255 printable ASCII characters without
// spaces.
func validateFrameworkID(id string) error {
	if id == "" || len(id) > 255 {
		return fmt.Errorf("framework ID must be 1..255 bytes, got %d", len(id))
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("framework ID %q: character %q not allowed", id, id[i])
		}
	}
	return nil
}

// validateURI accepts an absolute http or https URL with a host.
func validateURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http(s)://host[:port] URL", s)
	}
	return nil
}
