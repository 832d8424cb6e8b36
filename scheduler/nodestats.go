package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// maxStatsBody bounds a node's /stats answer (Riak's is some tens of KiB).
const maxStatsBody = 4 << 20

// nodeStats relays a running node's own GET /stats (Riak's HTTP stats,
// or the devnode's equivalent) so that operators need no route to the
// agent: GET /api/v1/clusters/{c}/nodes/{n}/stats.
func (s *Scheduler) nodeStats(r *http.Request) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	if n.ObservedState != zkstate.ObservedRunning || n.Host == "" || n.Ports.HTTP == 0 {
		return 0, nil, apiErr(http.StatusConflict, "node %s is %s, not running", n.Name, apiState(n))
	}
	url := "http://" + net.JoinHostPort(n.Host, strconv.Itoa(n.Ports.HTTP)) + "/stats"
	body, err := fetchJSON(r.Context(), url)
	if err != nil {
		return 0, nil, apiErr(http.StatusBadGateway, "node %s: %v", n.Name, err)
	}
	return 200, body, nil
}

// fetchJSON GETs url (5 s) and returns its body, which must be JSON.
func fetchJSON(ctx context.Context, url string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxStatsBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("GET %s: %w", url, err)
	case len(b) > maxStatsBody:
		return nil, fmt.Errorf("GET %s: answer larger than %d bytes", url, maxStatsBody)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	case !json.Valid(b):
		return nil, fmt.Errorf("GET %s: the answer is not JSON", url)
	}
	return json.RawMessage(b), nil
}
