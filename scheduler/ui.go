package scheduler

import (
	"embed"
	"html/template"
	"net/http"
)

//go:embed ui/index.html
var uiFiles embed.FS

var statusPage = template.Must(template.ParseFS(uiFiles, "ui/index.html"))

// serveStatusPage renders GET /: clusters, nodes (with why a pending node
// is not placed) and agents; the page refreshes itself from the API.
func (s *Scheduler) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	st := s.Status(r.Context())
	fwLine := "framework " + st.FrameworkID + " · leader " + st.Leader + " · master " + st.Master
	if !st.IsLeader {
		fwLine += " · this instance is standing by"
	}
	var clusters []ClusterView
	if names, err := s.fw.ListClusters(r.Context()); err == nil {
		for _, n := range names {
			if c, _, err := s.fw.GetCluster(r.Context(), n); err == nil {
				clusters = append(clusters, s.clusterView(r.Context(), c))
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]any{"Framework": fwLine, "Clusters": clusters, "Agents": s.Agents()})
}
