package scheduler

import (
	"net/http"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// ExportVersion is the version of ClusterExport this scheduler writes and
// reads.
const ExportVersion = 1

// ClusterExport is a cluster's definition, re-creatable elsewhere
// (rmf cluster export and import): its templates, node resources,
// placement constraints and node count. Not its data, and not where its
// nodes run.
type ClusterExport struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	ClusterSpec
	// Nodes is how many nodes the cluster has that are not being removed.
	Nodes int `json:"nodes"`
}

// exportOf is the export of cluster c with nodes.
func exportOf(c zkstate.ClusterRecord, nodes []zkstate.NodeRecord) ClusterExport {
	res := c.NodeResources
	e := ClusterExport{Version: ExportVersion, Name: c.Name, ClusterSpec: ClusterSpec{NodeResources: &res,
		Constraints: c.Constraints, RiakConf: c.RiakConf, AdvancedConfig: c.AdvancedConfig}}
	for _, n := range nodes {
		if n.DesiredState != zkstate.DesiredRemoved {
			e.Nodes++
		}
	}
	return e
}

func (s *Scheduler) exportCluster(r *http.Request) (int, any, error) {
	name, c, err := s.requestedCluster(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, exportOf(c, s.nodesOf(r.Context(), name)), nil
}

// importCluster creates a cluster from an export (?name= renames it) and
// adds its nodes. A cluster of that name must not exist (409).
func (s *Scheduler) importCluster(r *http.Request) (int, any, error) {
	var e ClusterExport
	if err := decodeJSON(r, &e); err != nil {
		return 0, nil, err
	}
	if e.Version != ExportVersion {
		return 0, nil, apiErr(http.StatusBadRequest, "export version %d: this scheduler reads version %d", e.Version, ExportVersion)
	}
	if n := r.URL.Query().Get("name"); n != "" {
		e.Name = n
	}
	if err := zkstate.ValidateName(e.Name); err != nil {
		return 0, nil, apiErr(http.StatusBadRequest, "cluster name %q: %v", e.Name, err)
	}
	if e.Nodes < 0 || e.Nodes > maxNodesPerCall {
		return 0, nil, apiErr(http.StatusBadRequest, "nodes must be 0..%d, not %d", maxNodesPerCall, e.Nodes)
	}
	v, err := s.newCluster(r.Context(), e.Name, e.ClusterSpec)
	if err != nil {
		return 0, nil, err
	}
	if e.Nodes > 0 {
		if _, err := s.createNodes(r.Context(), e.Name, e.Nodes); err != nil {
			return 0, nil, err
		}
		c, _, err := s.fw.GetCluster(r.Context(), e.Name)
		if err != nil {
			return 0, nil, err
		}
		warnings := v.Warnings
		v = s.clusterView(r.Context(), c)
		v.Warnings = warnings
	}
	return http.StatusCreated, v, nil
}
