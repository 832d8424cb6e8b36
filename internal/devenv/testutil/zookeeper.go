package testutil

import (
	"errors"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/zkserver"
)

// DefaultZooKeeperClasspath is where Debian's zookeeper package installs the
// server and an slf4j binding. Override it with $RMF_ZOOKEEPER_CLASSPATH.
const DefaultZooKeeperClasspath = zkserver.DefaultClasspath

// ZooKeeperClasspathEnv names the environment variable that overrides
// DefaultZooKeeperClasspath.
const ZooKeeperClasspathEnv = zkserver.ClasspathEnv

const (
	zkReadyTimeout  = 30 * time.Second // generous: CI machines are small and busy
	zkStartAttempts = 5
	// zkTickTime gives a minimum session timeout of 2*tick = 400ms, so tests
	// can expire sessions quickly.
	zkTickTime = 200
)

// notInstalledMsg is the message of the failure when ZooKeeper is missing.
const notInstalledMsg = "zookeeper not installed: run `make test` (it runs apt-get install zookeeper)"

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

	srv *zkserver.Server
}

// ZooKeeperInstalled reports whether java and the ZooKeeper jars are
// present, and if not, why.
func ZooKeeperInstalled() error { return zkserver.Installed() }

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
	var err error
	for range zkStartAttempts {
		z.srv = &zkserver.Server{Dir: z.Dir, Port: FreePort(t), TickTime: zkTickTime, ReadyTimeout: zkReadyTimeout}
		if err = z.srv.Start(); !errors.Is(err, zkserver.ErrAddrInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("testutil: start zookeeper: %v\n--- zookeeper log (tail) ---\n%s", err, tail(z.Log(), 8<<10))
	}
	z.Addr, z.Port = z.srv.Addr, z.srv.Port
	return z
}

// Servers returns the server list for a client: []string{z.Addr}.
func (z *ZooKeeper) Servers() []string { return []string{z.Addr} }

// Stop kills the server's process group and waits for it to exit. Data
// survives for Restart. Stop is idempotent.
func (z *ZooKeeper) Stop() {
	if z.srv != nil {
		z.srv.Stop()
	}
}

// Restart stops the server and starts it again on the same port with the
// same data directory: sessions, persistent and (unexpired) ephemeral znodes
// survive, as after a real server restart.
func (z *ZooKeeper) Restart(t testing.TB) {
	t.Helper()
	z.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := z.srv.Start()
		if err == nil {
			return
		}
		if !errors.Is(err, zkserver.ErrAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("testutil: restart zookeeper: %v\n--- zookeeper log (tail) ---\n%s", err, tail(z.Log(), 8<<10))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Log returns everything the server has written to stdout and stderr, across
// restarts.
func (z *ZooKeeper) Log() string {
	if z.srv == nil {
		return ""
	}
	return z.srv.Log()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
