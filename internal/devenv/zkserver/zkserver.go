// Package zkserver runs a standalone ZooKeeper server from Debian's
// zookeeper package: for tests (through internal/devenv/testutil) and for
// `rmf dev`. It only starts and stops the server; internal/zkstate talks
// to it.
package zkserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultClasspath is where Debian's zookeeper package installs the server
// and an slf4j binding. Override it with $RMF_ZOOKEEPER_CLASSPATH.
const DefaultClasspath = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"

// ClasspathEnv names the environment variable that overrides
// DefaultClasspath.
const ClasspathEnv = "RMF_ZOOKEEPER_CLASSPATH"

// InstallHint says how to get ZooKeeper on Debian.
const InstallHint = "install it with: apt-get update && apt-get install -y zookeeper (or run `make test`/`make demo`, which do)"

const mainClass = "org.apache.zookeeper.server.ZooKeeperServerMain"

// DefaultMaxSessionTimeout is Server.MaxSessionTimeout's default.
const DefaultMaxSessionTimeout = 5 * time.Minute

// ErrAddrInUse reports that the server could not bind its client port.
var ErrAddrInUse = errors.New("zkserver: client port already in use")

// Server is a standalone ZooKeeper server process in its own process group.
type Server struct {
	// Addr is the client address, "127.0.0.1:PORT".
	Addr string
	Port int
	// Dir holds zoo.cfg, the data directory and zookeeper.log.
	Dir string
	// TickTime in milliseconds (the minimum session timeout is two ticks).
	TickTime int
	// MaxSessionTimeout is the longest session the server grants (it
	// clamps longer requests to it; ZooKeeper's own default is 20 ticks,
	// 40 s with 2 s ticks). Default DefaultMaxSessionTimeout, so executors
	// asking for long sessions (--zk-session-timeout) get them.
	MaxSessionTimeout time.Duration
	// ReadyTimeout bounds the wait for "imok".
	ReadyTimeout time.Duration

	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Installed reports whether java and the ZooKeeper jars are present, and if
// not, why.
func Installed() error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("java: %w", err)
	}
	for _, p := range filepath.SplitList(Classpath()) {
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	return nil
}

// Classpath is the server's Java classpath.
func Classpath() string {
	if cp := os.Getenv(ClasspathEnv); cp != "" {
		return cp
	}
	return DefaultClasspath
}

// Start launches the server on s.Port with its data under s.Dir and waits
// until it answers. The data survives Stop, so Start again resumes it.
func (s *Server) Start() error {
	if s.TickTime == 0 {
		s.TickTime = 2000
	}
	if s.ReadyTimeout == 0 {
		s.ReadyTimeout = 30 * time.Second
	}
	if s.MaxSessionTimeout == 0 {
		s.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o755); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
minSessionTimeout=%d
maxSessionTimeout=%d
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons
forceSync=no
`, s.TickTime, filepath.Join(s.Dir, "data"), s.Port, 2*s.TickTime, s.MaxSessionTimeout.Milliseconds())
	cfgPath := filepath.Join(s.Dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "=== zkserver: starting zookeeper on %s ===\n", s.Addr)
	cmd := exec.Command("java",
		// Fast start and a small footprint matter more than throughput here.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xms32m", "-Xmx256m",
		"-Djava.net.preferIPv4Stack=true",
		"-cp", Classpath(), mainClass, cfgPath)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec java: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	deadline := time.Now().Add(s.ReadyTimeout)
	for {
		if Ruok(s.Addr) {
			return nil
		}
		select {
		case <-p.done:
			s.Stop()
			if strings.Contains(s.logSince(offset), "Address already in use") {
				return ErrAddrInUse
			}
			return fmt.Errorf("zookeeper exited before it was ready (%v)", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("zookeeper on %s not ready after %v", s.Addr, s.ReadyTimeout)
		}
	}
}

// Stop kills the server's process group and waits for it. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = syscall.Kill(-s.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-s.proc.done
	s.proc = nil
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// LogPath is the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.Dir, "zookeeper.log") }

// Log returns the server's output so far, across restarts.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

func (s *Server) logSince(offset int64) string {
	l := s.Log()
	if int(offset) <= len(l) {
		return l[offset:]
	}
	return l
}

// Ruok reports whether a ZooKeeper answers "imok" and serves (srvr).
func Ruok(addr string) bool {
	return fourLetter(addr, "ruok") == "imok" && strings.Contains(fourLetter(addr, "srvr"), "Mode: ")
}

func fourLetter(addr, cmd string) string {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return ""
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// PID is the server process's ID (0 when stopped).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}
