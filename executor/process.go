package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tailLines is how many lines of node output failure messages carry.
const tailLines = 20

// tailBuffer keeps the last n lines written to it (from any writer).
type tailBuffer struct {
	mu      sync.Mutex
	n       int
	lines   []string
	partial []byte
}

func newTail(n int) *tailBuffer { return &tailBuffer{n: n} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.add(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 4096 { // a very long line: keep its start
		t.add(string(t.partial[:4096]))
		t.partial = t.partial[:0]
	}
	return len(p), nil
}

func (t *tailBuffer) add(line string) {
	t.lines = append(t.lines, strings.TrimRight(line, "\r"))
	if len(t.lines) > t.n {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.n:]...)
	}
}

// String returns the kept lines (and an unfinished last line), one a line.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string{}, t.lines...)
	if len(t.partial) > 0 {
		lines = append(lines, string(t.partial))
	}
	if len(lines) > t.n {
		lines = lines[len(lines)-t.n:]
	}
	return strings.Join(lines, "\n")
}

// process is the running node: its own process group, output appended to
// files in the sandbox and to a tail buffer.
type process struct {
	cmd  *exec.Cmd
	tail *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // exit error (nil: exit 0); valid after done
}

// startProcess starts c with stdout and stderr appended to
// sandbox/NodeStdout and sandbox/NodeStderr.
func startProcess(c Command, sandbox string) (*process, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("executor: empty command")
	}
	stdout, err := os.OpenFile(filepath.Join(sandbox, NodeStdout), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("executor: node output: %w", err)
	}
	stderr, err := os.OpenFile(filepath.Join(sandbox, NodeStderr), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("executor: node output: %w", err)
	}
	p := &process{tail: newTail(tailLines), done: make(chan struct{})}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdout = io.MultiWriter(stdout, p.tail)
	cmd.Stderr = io.MultiWriter(stderr, p.tail)
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 2 * time.Second // grandchildren holding the pipes must not block Wait
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		return nil, fmt.Errorf("executor: start %s: %w", c.Args[0], err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitReason describes how the process ended (after done).
func (p *process) exitReason() string {
	if p.err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return p.err.Error()
}

// signal sends sig to the node's process group.
func (p *process) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// stop ends the node: SIGTERM to its process group, then SIGKILL once grace
// has passed. A value on shorter (a newer kill policy) cuts the remaining
// grace to it. It returns true if the node exited before SIGKILL.
func (p *process) stop(ctx context.Context, grace time.Duration, shorter <-chan time.Duration) bool {
	if p.exited() {
		return true
	}
	p.signal(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	graceful := true
wait:
	for {
		select {
		case <-p.done:
			break wait
		case d := <-shorter:
			if nd := time.Now().Add(d); nd.Before(deadline) {
				deadline = nd
				timer.Reset(d)
			}
		case <-timer.C:
			graceful = false
			break wait
		case <-ctx.Done():
			graceful = false
			break wait
		}
	}
	if !graceful {
		p.signal(syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	// Whatever is left of the group (a grandchild that ignored SIGTERM).
	p.signal(syscall.SIGKILL)
	return graceful
}
