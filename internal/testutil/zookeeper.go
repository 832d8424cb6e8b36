package testutil

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
	"testing"
	"time"
)

// DefaultZooKeeperClasspath is where Debian's zookeeper package installs the
// server and an slf4j binding. Override it with $RMF_ZOOKEEPER_CLASSPATH.
const DefaultZooKeeperClasspath = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"

// ZooKeeperClasspathEnv names the environment variable that overrides
// DefaultZooKeeperClasspath.
const ZooKeeperClasspathEnv = "RMF_ZOOKEEPER_CLASSPATH"

const (
	zkMainClass     = "org.apache.zookeeper.server.ZooKeeperServerMain"
	zkReadyTimeout  = 30 * time.Second // generous: CI machines are small and busy
	zkStartAttempts = 5
	// zkTickTime gives a minimum session timeout of 2*tick = 400ms, so tests
	// can expire sessions quickly.
	zkTickTime = 200
)

// notInstalledMsg is the message of the failure when ZooKeeper is missing.
const notInstalledMsg = "zookeeper not installed: run `make test` (it runs apt-get install zookeeper)"

// errAddrInUse reports that the server could not bind its client port.
var errAddrInUse = errors.New("testutil: zookeeper client port already in use")

// ZooKeeper is a standalone ZooKeeper server owned by one test. It is
// stopped (its whole process group killed) by a t.Cleanup registered in
// StartZooKeeper.
type ZooKeeper struct {
	// Addr is the client address, "127.0.0.1:PORT".
	Addr string
	// Port is the client port; it stays the same across Restart.
	Port int
	// Dir holds zoo.cfg, the data directory and zookeeper.log.
	Dir string

	mu   sync.Mutex
	proc *zkProcess // nil while stopped
}

type zkProcess struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

// ZooKeeperInstalled reports whether java and the ZooKeeper jars are
// present, and if not, why.
func ZooKeeperInstalled() error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("java: %w", err)
	}
	for _, p := range filepath.SplitList(zkClasspath()) {
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	return nil
}

func zkClasspath() string {
	if cp := os.Getenv(ZooKeeperClasspathEnv); cp != "" {
		return cp
	}
	return DefaultZooKeeperClasspath
}

// RequireZooKeeper skips the test under -short and fails it when ZooKeeper
// is not installed. StartZooKeeper calls it; call it directly in tests that
// need ZooKeeper but get a server some other way.
func RequireZooKeeper(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("testutil: needs a real ZooKeeper; skipped under -short")
	}
	if err := ZooKeeperInstalled(); err != nil {
		t.Fatalf("%s (%v)", notInstalledMsg, err)
	}
}

// StartZooKeeper starts a standalone ZooKeeper on a free loopback port with
// its own data directory and waits until it answers "ruok". The server is
// killed when the test ends. It skips under -short (see RequireZooKeeper).
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	RequireZooKeeper(t)
	z := &ZooKeeper{Dir: t.TempDir()}
	t.Cleanup(z.Stop)
	if err := os.MkdirAll(filepath.Join(z.Dir, "data"), 0o755); err != nil {
		t.Fatalf("testutil: zookeeper: %v", err)
	}
	var err error
	for range zkStartAttempts {
		z.Port = FreePort(t)
		z.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(z.Port))
		if err = z.start(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("testutil: start zookeeper: %v\n--- zookeeper log (tail) ---\n%s", err, tail(z.Log(), 8<<10))
	}
	return z
}

// Servers returns the server list for a client: []string{z.Addr}.
func (z *ZooKeeper) Servers() []string { return []string{z.Addr} }

// Stop kills the server's process group and waits for it to exit. Data
// survives for Restart. Stop is idempotent.
func (z *ZooKeeper) Stop() {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.proc == nil {
		return
	}
	_ = syscall.Kill(-z.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-z.proc.done
	z.proc = nil
}

// Restart stops the server and starts it again on the same port with the
// same data directory: sessions, persistent and (unexpired) ephemeral znodes
// survive, as after a real server restart.
func (z *ZooKeeper) Restart(t testing.TB) {
	t.Helper()
	z.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := z.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("testutil: restart zookeeper: %v\n--- zookeeper log (tail) ---\n%s", err, tail(z.Log(), 8<<10))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Log returns everything the server has written to stdout and stderr, across
// restarts.
func (z *ZooKeeper) Log() string {
	b, err := os.ReadFile(z.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

func (z *ZooKeeper) logPath() string { return filepath.Join(z.Dir, "zookeeper.log") }

// start launches the server on z.Port and waits until it is ready.
func (z *ZooKeeper) start() error {
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
minSessionTimeout=%d
maxSessionTimeout=60000
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons
forceSync=no
`, zkTickTime, filepath.Join(z.Dir, "data"), z.Port, 2*zkTickTime)
	cfgPath := filepath.Join(z.Dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(z.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "=== testutil: starting zookeeper on %s ===\n", z.Addr)

	cmd := exec.Command("java",
		// Fast start and a small footprint matter more than throughput here.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xms32m", "-Xmx256m",
		"-Djava.net.preferIPv4Stack=true",
		"-cp", zkClasspath(), zkMainClass, cfgPath)
	cmd.Dir = z.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec java: %w", err)
	}
	p := &zkProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	z.mu.Lock()
	z.proc = p
	z.mu.Unlock()

	deadline := time.Now().Add(zkReadyTimeout)
	for {
		if ruok(z.Addr) {
			return nil
		}
		select {
		case <-p.done:
			z.Stop() // reap bookkeeping
			if strings.Contains(z.logSince(offset), "Address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("zookeeper exited before it was ready (%v)", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			z.Stop()
			return fmt.Errorf("zookeeper on %s not ready after %v", z.Addr, zkReadyTimeout)
		}
	}
}

func (z *ZooKeeper) logSince(offset int64) string {
	s := z.Log()
	if int(offset) <= len(s) {
		return s[offset:]
	}
	return s
}

// ruok reports whether the server is ready for clients: it answers "imok"
// to "ruok" and reports a Mode to "srvr". (ZooKeeper answers "imok" a
// moment before it accepts sessions; a client connecting in that window is
// dropped and go-zookeeper waits a second before retrying.)
func ruok(addr string) bool {
	return fourLetter(addr, "ruok") == "imok" && strings.Contains(fourLetter(addr, "srvr"), "Mode: ")
}

// fourLetter sends a four-letter command and returns the answer ("" on
// error).
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
	b, _ := io.ReadAll(io.LimitReader(c, 4096))
	return string(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
