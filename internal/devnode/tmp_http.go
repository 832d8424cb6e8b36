package devnode

import (
	"encoding/json"
	"net/http"
)

// TEMPORARY until internal/devnode/httpserver lands.
func tmpHTTP(c *Cluster) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		if err := c.Ping(r.Context()); err != nil {
			http.Error(w, err.Error(), 503)
			return
		}
		w.Write([]byte("OK"))
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(c.Stats()) })
	return mux
}
