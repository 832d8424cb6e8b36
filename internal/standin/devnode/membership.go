package devnode

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Member is one node of a devnode cluster and where its peers reach it.
type Member struct {
	Name string `json:"name"`
	PB   string `json:"pb"`
	HTTP string `json:"http"`
	// Seen is when this entry was last announced by the member itself;
	// the newest entry of a name wins a merge (a restarted node may move).
	Seen time.Time `json:"seen"`
	// Replaced marks the tombstone of a member removed by a
	// (force-)replace: its name is retired, and no later announcement of
	// it brings it back (admin.go).
	Replaced bool `json:"replaced,omitempty"`
}

// Membership is what every node of a cluster agrees on: the ring size, the
// members, and the members that left. A member that leaves becomes a
// tombstone in Left (Seen is when it left), so merging two views stays a
// union and gossip converges without coordination: the newest entry of a
// name wins, whether it says "member" or "left". A node that left can only
// come back with a fresh data directory (a new announcement is newer).
type Membership struct {
	Version  int      `json:"version"`
	RingSize int      `json:"ring_size"`
	Members  []Member `json:"members"`
	Left     []Member `json:"left,omitempty"`
}

const membershipVersion = 1

var errMembership = errors.New("devnode: invalid membership")

// Validate checks a membership read from disk or a peer.
func (m Membership) Validate() error {
	if m.Version != membershipVersion {
		return fmt.Errorf("%w: version %d, want %d", errMembership, m.Version, membershipVersion)
	}
	if m.RingSize <= 0 || m.RingSize&(m.RingSize-1) != 0 {
		return fmt.Errorf("%w: ring size %d", errMembership, m.RingSize)
	}
	if len(m.Members) == 0 {
		return fmt.Errorf("%w: no members", errMembership)
	}
	for _, mb := range append(slices.Clone(m.Members), m.Left...) {
		if mb.Name == "" || mb.PB == "" || mb.HTTP == "" {
			return fmt.Errorf("%w: member %+v lacks a name or address", errMembership, mb)
		}
	}
	for _, mb := range m.Left {
		if _, ok := m.Get(mb.Name); ok {
			return fmt.Errorf("%w: %s is both a member and left", errMembership, mb.Name)
		}
	}
	return nil
}

// Names returns the member names, sorted.
func (m Membership) Names() []string {
	names := make([]string, len(m.Members))
	for i, mb := range m.Members {
		names[i] = mb.Name
	}
	slices.Sort(names)
	return names
}

// Get returns the member called name.
func (m Membership) Get(name string) (Member, bool) {
	for _, mb := range m.Members {
		if mb.Name == name {
			return mb, true
		}
	}
	return Member{}, false
}

// HasLeft reports whether name left the cluster (and has not come back).
func (m Membership) HasLeft(name string) bool {
	return slices.ContainsFunc(m.Left, func(x Member) bool { return x.Name == name })
}

// Merge returns the union of m and o (newest entry per name) and whether
// it differs from m. The ring size of a cluster never changes: m's wins.
func (m Membership) Merge(o Membership) (Membership, bool) {
	out := Membership{Version: membershipVersion, RingSize: m.RingSize, Members: slices.Clone(m.Members), Left: slices.Clone(m.Left)}
	changed := false
	byName := func(name string) func(Member) bool { return func(x Member) bool { return x.Name == name } }
	for _, mb := range o.Members {
		if j := slices.IndexFunc(out.Left, byName(mb.Name)); j >= 0 {
			if out.Left[j].Replaced || !mb.Seen.After(out.Left[j].Seen) {
				continue // announced before it left
			}
			out.Left = slices.Delete(out.Left, j, j+1) // back, with a fresh data directory
			changed = true
		}
		i := slices.IndexFunc(out.Members, byName(mb.Name))
		switch {
		case i < 0:
			out.Members = append(out.Members, mb)
			changed = true
		case mb.Seen.After(out.Members[i].Seen) && (mb.PB != out.Members[i].PB || mb.HTTP != out.Members[i].HTTP):
			out.Members[i] = mb
			changed = true
		}
	}
	for _, gone := range o.Left {
		if i := slices.IndexFunc(out.Members, byName(gone.Name)); i >= 0 {
			if !gone.Replaced && gone.Seen.Before(out.Members[i].Seen) {
				continue // it came back after this tombstone
			}
			out.Members = slices.Delete(out.Members, i, i+1)
			changed = true
		}
		switch j := slices.IndexFunc(out.Left, byName(gone.Name)); {
		case j < 0:
			out.Left = append(out.Left, gone)
			changed = true
		case gone.Replaced && !out.Left[j].Replaced:
			out.Left[j] = gone
			changed = true
		case gone.Seen.After(out.Left[j].Seen) && !out.Left[j].Replaced:
			out.Left[j] = gone
		}
	}
	byNameOrder := func(a, b Member) int { return cmp.Compare(a.Name, b.Name) }
	slices.SortFunc(out.Members, byNameOrder)
	slices.SortFunc(out.Left, byNameOrder)
	return out, changed
}

// loadMembership reads the membership persisted in dir; ok is false when
// the node has none yet (first start).
func loadMembership(dir string) (m Membership, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Membership{}, false, nil
	}
	if err != nil {
		return Membership{}, false, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Membership{}, false, fmt.Errorf("%w: %s: %v", errMembership, filepath.Join(dir, "cluster.json"), err)
	}
	if err := m.Validate(); err != nil {
		return Membership{}, false, err
	}
	return m, true, nil
}

// saveMembership writes m to dir atomically (write, fsync, rename).
func saveMembership(dir string, m Membership) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "cluster.json.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, "cluster.json"))
}
