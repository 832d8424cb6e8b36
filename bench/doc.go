// Package bench is the benchmark harness: a load generator with a
// riak-go-client driver and a lean raw-PB driver, workloads, latency
// histograms, side-by-side comparison of direct, director and HAProxy
// targets, and JSON + HTML reports.
//
// Not built yet: see the project's issues ("bench").
package bench
