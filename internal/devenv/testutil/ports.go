package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Port blocks: mesos-local offers every agent a fixed port range, and the
// scheduler takes the lowest free ports of an offer, so two tests (or two
// test binaries: `go test ./...` runs packages in parallel) running
// mesos-local with the same ranges would start nodes on the same ports. A
// test claims a block of its own for as long as it runs, through an
// exclusive lock file that every test process on the machine honours.
const (
	portBlockBase  = 10000 // below the Linux ephemeral range (32768-60999)
	portBlockSize  = 1000
	portBlockCount = 20
	agentPortWidth = 100 // ports per agent: up to 10 agents per block
)

// PortBlock claims a block of 1000 TCP ports in 10000-29999 no other test
// process on this machine holds, until the test ends, and returns its
// first and last port.
func PortBlock(t testing.TB) (lo, hi int) {
	t.Helper()
	lo, hi, release, err := ClaimPortBlock()
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	t.Cleanup(release)
	return lo, hi
}

// ClaimPortBlock is PortBlock outside a test (rmf bench chaos): the block
// is held until release is called (or the process exits).
func ClaimPortBlock() (lo, hi int, release func(), err error) {
	dir := filepath.Join(os.TempDir(), "rmf-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, 0, nil, fmt.Errorf("port blocks: %w", err)
	}
	for k := range portBlockCount {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("block-%02d.lock", k)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("port blocks: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		lo = portBlockBase + k*portBlockSize
		return lo, lo + portBlockSize - 1, func() { f.Close() }, nil // closing releases the lock
	}
	return 0, 0, nil, fmt.Errorf("all %d port blocks are held by other processes", portBlockCount)
}

// AgentResourcesIn is AgentResources for a block whose last port is hi.
func AgentResourcesIn(hi int) string {
	return fmt.Sprintf("cpus:4;mem:8192;disk:20000;ports:[%d-%d]", hi-agentPortWidth+1, hi)
}

// AgentResources returns mesos-local agent resources (its
// Config.AgentResources syntax) whose port ranges lie in a block claimed
// with PortBlock: agent 1 gets the block's top 100 ports, agent i the 100
// below agent i-1's (mesos-local shifts each agent's range down by one
// width). At most 10 agents.
func AgentResources(t testing.TB) string {
	t.Helper()
	_, hi := PortBlock(t)
	return AgentResourcesIn(hi)
}
