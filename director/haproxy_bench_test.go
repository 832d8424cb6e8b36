package director

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	fakePID        int
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
		if haproxyBench.err == nil {
			haproxyBench.procs = append(haproxyBench.procs, cmd)
			haproxyBench.fakePID = cmd.Process.Pid
		}
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
	withProcCPU(b, haproxyBench.fakePID, func() { runGetPut(b, haproxyBench.fake, 0) })
}

// withProcCPU runs the benchmark body and reports the CPU time process
// pid spent per operation (utime+stime from /proc/PID/stat, in clock
// ticks of 10 ms: run with -benchtime of seconds): the proxy's own cost,
// which ops/s alone hides when client, proxy and backend share the cores.
func withProcCPU(b *testing.B, pid int, body func()) {
	before, err := procTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	body()
	after, err := procTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(after-before)*10e6/float64(b.N), "proxy-cpu-ns/op")
}

// procTicks is utime+stime of process pid, in clock ticks (100 per second).
func procTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	rest := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(rest) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(rest[11], 10, 64)
	stime, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// The DirectorProc benchmarks run the director as its own process (the
// rmf binary), as it runs in production and as HAProxy runs above, rather
// than in the benchmark's process, where it shares one Go scheduler with
// the client and the backend.

var procBench struct {
	once           sync.Once
	err            error
	nodeAddr, fake string
	fakePID        int
}

func startDirectorProc(bin, backend string) (string, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"director", "--pb", addr, "--http", "", "--admin", "", "--node", backend}
	// RMF_BENCH_DIRECTOR_FLAGS adds flags, to compare settings
	// (RMF_BENCH_DIRECTOR_FLAGS="--procs 2").
	args = append(args, strings.Fields(os.Getenv("RMF_BENCH_DIRECTOR_FLAGS"))...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", 0, err
	}
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process.Pid, nil
		}
	}
	_ = cmd.Process.Kill()
	return "", 0, fmt.Errorf("director did not start on %s", addr)
}

func procSetup(b *testing.B) {
	benchSetup(b)
	bin := testutil.RMF(b)
	procBench.once.Do(func() {
		if procBench.nodeAddr, _, procBench.err = startDirectorProc(bin, bench.node.PBAddr()); procBench.err != nil {
			return
		}
		procBench.fake, procBench.fakePID, procBench.err = startDirectorProc(bin, bench.fake)
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
	withProcCPU(b, procBench.fakePID, func() { runGetPut(b, procBench.fake, 0) })
}
