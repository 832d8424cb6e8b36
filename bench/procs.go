package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process a ProcSet started.
type Proc struct {
	name, role string
	cmd        *exec.Cmd
	done       chan struct{}
	log        *os.File
}

// Name is the name the process was started with (its log is DIR/name.log).
func (p *Proc) Name() string { return p.name }

// PID is the process's id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// ProcSet runs the child processes of a benchmark or a fault scenario,
// each with its output in Dir/<name>.log, and stops them together. A
// process dies with the process that started it (Pdeathsig). Its methods
// may be called from several goroutines (a fault injector restarts a node
// while the measurement reads CPU times).
type ProcSet struct {
	// Dir receives the processes' logs.
	Dir   string
	mu    sync.Mutex
	procs []*Proc
}

type cpuSample struct{ proxy, nodes, client float64 }

// FreeAddr returns a loopback address with a port free at the time of
// the call.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start runs bin with args (output to DIR/name.log) and waits until pbAddr
// answers RpbPingReq. Role groups processes for ByRole.
func (ps *ProcSet) Start(ctx context.Context, name, role, bin string, args []string, pbAddr string) (*Proc, error) {
	return ps.StartWith(ctx, name, role, bin, args, "on "+pbAddr, func() error { return Ping(pbAddr, time.Second) })
}

// StartWith starts a process and waits up to 30 s until ready succeeds
// (what names it in errors).
func (ps *ProcSet) StartWith(ctx context.Context, name, role, bin string, args []string, what string, ready func() error) (*Proc, error) {
	logf, err := os.Create(filepath.Join(ps.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p := &Proc{name: name, role: role, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(p.done) }()
	ps.mu.Lock()
	ps.procs = append(ps.procs, p)
	ps.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := ready(); err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("bench: %s exited before it was ready (see %s)", name, logf.Name())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: %s not ready %s after 30s (see %s)", name, what, logf.Name())
		}
	}
}

// ByRole lists the processes started with role.
func (ps *ProcSet) ByRole(role string) []*Proc {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []*Proc
	for _, p := range ps.procs {
		if p.role == role {
			out = append(out, p)
		}
	}
	return out
}

// Dead returns the name of a process that has exited, or "".
func (ps *ProcSet) Dead() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.procs {
		select {
		case <-p.done:
			return p.name
		default:
		}
	}
	return ""
}

// StopAll sends SIGTERM to every process (the last started first), waits
// up to 10s, then SIGKILLs what is left.
func (ps *ProcSet) StopAll(logf func(string, ...any)) {
	ps.mu.Lock()
	procs := slices.Clone(ps.procs)
	ps.procs = nil
	ps.mu.Unlock()
	slices.Reverse(procs)
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		// A process a fault left stopped handles SIGTERM only once
		// continued.
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
	deadline := time.After(10 * time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			logf("%s did not stop; killing it", p.name)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.log.Close()
	}
}

// Remove drops p, which has exited (a node a fault scenario killed), from
// the set: Dead no longer names it, ByRole no longer lists it. It waits
// for p to exit.
func (ps *ProcSet) Remove(p *Proc) {
	<-p.done
	ps.mu.Lock()
	ps.procs = slices.DeleteFunc(ps.procs, func(q *Proc) bool { return q == p })
	ps.mu.Unlock()
	p.log.Close()
}

// ---- /proc ----

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func cpuSeconds(p *Proc) float64 {
	if p == nil {
		return 0
	}
	return procCPUSeconds(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
}

func selfCPUSeconds() float64 { return procCPUSeconds("/proc/self/stat") }

// procCPUSeconds reads utime+stime (fields 14 and 15) of a stat file.
func procCPUSeconds(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

func parseStatCPU(stat string) float64 {
	// The command name (field 2) may hold spaces; fields restart after ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return float64(ut+st) / clockTicks
}

// resetPeakRSS makes p's VmHWM restart from its current resident set
// (writing 5 to /proc/PID/clear_refs), so that the next reading is the
// peak of what runs from then on. Without the reset (an older kernel, no
// permission) the reading is the peak since p started.
func resetPeakRSS(p *Proc) { _ = resetPeakRSSOf(p.cmd.Process.Pid) }

func resetPeakRSSOf(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procMemory is a reading of a process's memory, in kB.
type procMemory struct{ peakKB, anonKB int64 }

func readProcMemory(p *Proc) procMemory {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return procMemory{}
	}
	return parseProcMemory(string(b))
}

// parseProcMemory reads VmHWM and RssAnon from a /proc/PID/status text.
func parseProcMemory(status string) procMemory {
	return procMemory{peakKB: statusKB(status, "VmHWM:"), anonKB: statusKB(status, "RssAnon:")}
}

// statusKB is the value in kB of the /proc/PID/status line key (with its
// colon), 0 when there is none.
func statusKB(status, key string) int64 {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb
		}
	}
	return 0
}
