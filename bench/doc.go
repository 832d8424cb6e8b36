// Package bench is the benchmark harness behind "rmf bench": a closed-loop
// load generator with a riak-go-client driver, a lean raw-PB driver on the
// protocol package and an HTTP driver; workloads (op mixes, key
// distributions, value sizes); HdrHistogram latency recording with a
// per-second time series; side-by-side comparison of direct, director and
// HAProxy targets by scenario, steady, degraded (a node frozen by a
// SIGSTOP/SIGCONT duty cycle) and kill9 (a node killed and restarted)
// (Compare, which runs rmf devnode and rmf director processes and
// haproxy); and reports: basho_bench-style CSV, JSON and a
// self-contained HTML page. See docs/performance.md.
//
// ProcSet, the child processes Compare starts (logs, readiness by PB ping,
// stopping them together), is exported for the fault suite in
// internal/chaos, which imports bench; bench does not import it.
package bench
