package director

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// The HAProxy benchmarks run the same workloads through HAProxy (mode tcp,
// balance leastconn), the peer the director is measured against. They are
// skipped when haproxy is not installed. (The full side-by-side report is
// the bench tool's job; these keep the comparison one command away while
// tuning the hot path.)

var haproxyBench struct {
	once           sync.Once
	err            error
	nodeAddr, fake string
	procs          []*exec.Cmd
}

func startHAProxy(backend string) (string, *exec.Cmd, error) { return startHAProxyMode(backend, "tcp") }

// startHAProxyMode runs HAProxy in mode tcp or http in front of backend.
func startHAProxyMode(backend, mode string) (string, *exec.Cmd, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, err := os.MkdirTemp("", "director-haproxy")
	if err != nil {
		return "", nil, err
	}
	cfg := fmt.Sprintf(`global
  maxconn 4096
defaults
  mode %s
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend riak
  bind %s
  default_backend nodes
backend nodes
  balance leastconn
  server n1 %s
`, mode, addr, backend)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd, nil
		}
	}
	_ = cmd.Process.Kill()
	return "", nil, fmt.Errorf("haproxy did not start on %s", addr)
}

func haproxySetup(b *testing.B) {
	benchSetup(b)
	haproxyBench.once.Do(func() {
		var cmd *exec.Cmd
		if haproxyBench.nodeAddr, cmd, haproxyBench.err = startHAProxy(bench.node.PBAddr()); haproxyBench.err != nil {
			return
		}
		haproxyBench.procs = append(haproxyBench.procs, cmd)
		haproxyBench.fake, cmd, haproxyBench.err = startHAProxy(bench.fake)
		haproxyBench.procs = append(haproxyBench.procs, cmd)
	})
	if haproxyBench.err != nil {
		b.Skipf("haproxy: %v", haproxyBench.err)
	}
}

// BenchmarkHAProxyGetPut: the get/put workload through HAProxy to the devnode.
func BenchmarkHAProxyGetPut(b *testing.B) {
	haproxySetup(b)
	runGetPut(b, haproxyBench.nodeAddr, 4)
}

// BenchmarkHAProxyLean: gets through HAProxy to the lean backend.
func BenchmarkHAProxyLean(b *testing.B) {
	haproxySetup(b)
	runGetPut(b, haproxyBench.fake, 0)
}

// The DirectorProc benchmarks run the director as its own process (the
// rmf binary), as it runs in production and as HAProxy runs above, rather
// than in the benchmark's process, where it shares one Go scheduler with
// the client and the backend.

var procBench struct {
	once           sync.Once
	err            error
	nodeAddr, fake string
}

func startDirectorProc(bin, backend string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "director", "--pb", addr, "--http", "", "--admin", "", "--node", backend)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, nil
		}
	}
	_ = cmd.Process.Kill()
	return "", fmt.Errorf("director did not start on %s", addr)
}

func procSetup(b *testing.B) {
	benchSetup(b)
	bin := testutil.RMF(b)
	procBench.once.Do(func() {
		if procBench.nodeAddr, procBench.err = startDirectorProc(bin, bench.node.PBAddr()); procBench.err != nil {
			return
		}
		procBench.fake, procBench.err = startDirectorProc(bin, bench.fake)
	})
	if procBench.err != nil {
		b.Fatal(procBench.err)
	}
}

// BenchmarkDirectorProcGetPut: the get/put workload through an rmf
// director process to the devnode.
func BenchmarkDirectorProcGetPut(b *testing.B) {
	procSetup(b)
	runGetPut(b, procBench.nodeAddr, 4)
}

// BenchmarkDirectorProcLean: gets through an rmf director process to the
// lean backend.
func BenchmarkDirectorProcLean(b *testing.B) {
	procSetup(b)
	runGetPut(b, procBench.fake, 0)
}
