// Package chaos is the fault suite behind "rmf bench chaos" and "make
// chaos": fault scenarios under a continuous write-then-read load through
// an rmf director, with lost-write accounting.
//
// Node-level scenarios (kill9, sigstop, restart) run three disk-backed
// devnodes and a director as rmf processes and fault the second node.
// Framework-level scenarios run the whole framework on this machine: a
// real ZooKeeper, mesos-local, two rmf schedulers, rmf executors and
// devnodes launched through Mesos, and a director discovering them in
// ZooKeeper. Each framework scenario is one entry of a table
// (frameworkScenarios): how to inject its fault, how to tell the framework
// recovered, which relaunches it allows and its extra checks.
//
// Usage:
//
//	rs, err := chaos.Run(ctx, chaos.Config{Bin: "bin/rmf", Scenarios: []string{chaos.ScenarioKill9}})
//	...
//	err = chaos.WriteTable(os.Stdout, rs)
//
// It is a harness, not product code: it starts processes and
// reads /proc, and imports bench for the process set and Ping (bench does
// not import it). Results and how to read them: docs/reliability.md.
package chaos
