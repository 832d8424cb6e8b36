// Package ring places keys on devnode cluster members the way Riak's ring
// does: the 160-bit SHA-1 key space is cut into a power-of-two number of equal
// partitions, each partition is claimed by one member, and a key's replicas
// live on the partitions that follow its hash. It is pure computation: no
// sockets, no clock.
package ring

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

var (
	// ErrBadSize reports a ring size that is not a power of two in [MinSize, MaxSize].
	ErrBadSize = errors.New("ring: size must be a power of two between 1 and 1024")
	// ErrNoMembers reports a ring with no members to claim partitions.
	ErrNoMembers = errors.New("ring: no members")
)

// Ring size bounds. Riak's default is 64.
const (
	MinSize     = 1
	MaxSize     = 1024
	DefaultSize = 64
)

// Ring is an immutable claim of partitions by members. The zero value is not usable; build one with New.
type Ring struct {
	owners  []string // owners[i] claims partition i
	members []string // sorted, unique
}

// Entry is one replica location of a key: a partition and the member that
// serves it. Primary is false for a fallback standing in for an unavailable primary.
type Entry struct {
	Partition int
	Node      string
	Primary   bool
}

// New claims size partitions across members. Claim is deterministic:
// members are sorted and partitions dealt round-robin, so every node that
// knows the same membership computes the same ring, with no coordination.
func New(size int, members []string) (*Ring, error) {
	if size < MinSize || size > MaxSize || size&(size-1) != 0 {
		return nil, fmt.Errorf("%w (got %d)", ErrBadSize, size)
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	ms = slices.DeleteFunc(ms, func(m string) bool { return m == "" })
	if len(ms) == 0 {
		return nil, ErrNoMembers
	}
	owners := make([]string, size)
	for i := range owners {
		owners[i] = ms[i%len(ms)]
	}
	return &Ring{owners: owners, members: ms}, nil
}

// Size is the number of partitions.
func (r *Ring) Size() int { return len(r.owners) }

// Members returns the sorted member names.
func (r *Ring) Members() []string { return slices.Clone(r.members) }

// Owner returns the member that claims partition p.
func (r *Ring) Owner(p int) string { return r.owners[p] }

// Owned returns the partitions claimed by node, in ascending order.
func (r *Ring) Owned(node string) []int {
	var ps []int
	for i, o := range r.owners {
		if o == node {
			ps = append(ps, i)
		}
	}
	return ps
}

// KeyHash hashes a bucket type, bucket and key into the 160-bit key space.
// Each part is length-prefixed so that ("a","bc") and ("ab","c") differ.
func KeyHash(bucketType, bucket, key []byte) [sha1.Size]byte {
	h := sha1.New()
	var n [4]byte
	for _, part := range [][]byte{bucketType, bucket, key} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	return sum
}

// PartitionOf returns the first partition of a key's preference list: as in
// Riak, the partition that follows the one the hash falls in.
func (r *Ring) PartitionOf(hash [sha1.Size]byte) int {
	// The top bits of the hash select the partition; size is a power of two <= 2^10.
	top := uint64(binary.BigEndian.Uint32(hash[:4]))
	bits := uint(0)
	for s := len(r.owners); s > 1; s >>= 1 {
		bits++
	}
	idx := int(top >> (32 - bits))
	if bits == 0 {
		idx = 0
	}
	return (idx + 1) % len(r.owners)
}

// Preflist returns where the n replicas of a key live, as Riak's
// riak_core_apl does: the owners of the n partitions that follow the key's
// hash are its primaries, even where one member owns two of them (Riak's
// claim cannot avoid that with fewer members than it targets: a 64-partition
// ring on three nodes has two such preference lists, and a member holding
// two replicas of a key answers for both). When up reports a primary as
// unavailable, the next available members further along the ring, not
// already in the list, stand in as fallbacks (Riak's sloppy quorum). up may
// be nil (every member is up).
func (r *Ring) Preflist(bucketType, bucket, key []byte, n int, up func(node string) bool) []Entry {
	return r.PreflistFrom(r.PartitionOf(KeyHash(bucketType, bucket, key)), n, up)
}

// PreflistFrom is Preflist for a key whose first partition is start.
func (r *Ring) PreflistFrom(start, n int, up func(node string) bool) []Entry {
	if n <= 0 {
		return nil
	}
	n = min(n, len(r.owners))
	if up == nil {
		up = func(string) bool { return true }
	}
	size := len(r.owners)
	seen := make(map[string]bool, n)
	primaries := make([]Entry, 0, n)
	p := start
	for range n {
		seen[r.owners[p]] = true
		primaries = append(primaries, Entry{Partition: p, Node: r.owners[p], Primary: true})
		p = (p + 1) % size
	}
	out := make([]Entry, 0, n)
	var down []Entry
	for _, e := range primaries {
		if up(e.Node) {
			out = append(out, e)
		} else {
			down = append(down, e)
		}
	}
	// Fallbacks: further distinct, available owners, one per unavailable primary.
	for walked := 0; walked < size && len(down) > 0; walked++ {
		if o := r.owners[p]; !seen[o] {
			seen[o] = true
			if up(o) {
				out = append(out, Entry{Partition: down[0].Partition, Node: o, Primary: false})
				down = down[1:]
			}
		}
		p = (p + 1) % size
	}
	return out
}
