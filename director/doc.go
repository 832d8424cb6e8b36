// Package director is the RMF-Go sidecar: a Riak PB and HTTP proxy that
// makes a changing set of Riak nodes look like one always-up localhost
// endpoint, balancing each request, not each connection, across the nodes,
// with pooled backend connections, circuit breakers, active health checks
// and failover of the requests that are safe to retry.
//
// Entry points:
//
//   - NewServer: a Proxy with its PB, HTTP and admin listeners, what
//     `rmf director` runs (Start, Failed, Shutdown, Close);
//   - NewProxy: the proxy alone (Serve a PB listener; HTTPHandler, the
//     Riak HTTP API; AdminHandler, the status page, /status, /metrics and
//     /health);
//   - Proxy.SetNodes, or Discovery.WatchZooKeeper, to give it its nodes;
//   - Proxy.Stats, Status, Conns and Table (the go-memdb connection
//     table) to see what it does.
//
// Usage:
//
//	s, err := director.NewServer(director.ServerConfig{
//		PBAddr:   "127.0.0.1:8087",
//		HTTPAddr: "127.0.0.1:8098",
//	})
//	if err != nil { ... }
//	s.Proxy().SetNodes([]balancer.NodeSpec{{ID: "riak1", PBAddr: "10.0.0.1:8087", HTTPAddr: "10.0.0.1:8098"}})
//	if err := s.Start(); err != nil { ... }
//	defer s.Shutdown(ctx)
//
// The design (request flow, the attempt engine and failover, pinning,
// breakers and health, the HTTP proxy, the admin views and the connection
// table) is described in docs/director.md.
package director
