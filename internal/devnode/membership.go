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
}

// Membership is what every node of a cluster agrees on: the ring size and
// the members. It only grows (devnode has no leave), so merging two views
// is a union, and gossip converges without coordination.
type Membership struct {
	Version  int      `json:"version"`
	RingSize int      `json:"ring_size"`
	Members  []Member `json:"members"`
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
	for _, mb := range m.Members {
		if mb.Name == "" || mb.PB == "" || mb.HTTP == "" {
			return fmt.Errorf("%w: member %+v lacks a name or address", errMembership, mb)
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

// Merge returns the union of m and o (newest entry per name) and whether
// it differs from m. The ring size of a cluster never changes: m's wins.
func (m Membership) Merge(o Membership) (Membership, bool) {
	out := Membership{Version: membershipVersion, RingSize: m.RingSize, Members: slices.Clone(m.Members)}
	changed := false
	for _, mb := range o.Members {
		i := slices.IndexFunc(out.Members, func(x Member) bool { return x.Name == mb.Name })
		switch {
		case i < 0:
			out.Members = append(out.Members, mb)
			changed = true
		case mb.Seen.After(out.Members[i].Seen) && (mb.PB != out.Members[i].PB || mb.HTTP != out.Members[i].HTTP):
			out.Members[i] = mb
			changed = true
		}
	}
	slices.SortFunc(out.Members, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
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
