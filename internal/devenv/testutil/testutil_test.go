package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/zkserver"
)

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q, want 127.0.0.1:PORT", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr %s: %v", addr, err)
	}
	ln.Close()
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d", p)
	}
}

func TestZooKeeperStartStopRestart(t *testing.T) {
	z := StartZooKeeper(t)
	if !zkserver.Ruok(z.Addr) {
		t.Fatalf("ruok failed on %s", z.Addr)
	}
	if got := z.Servers(); len(got) != 1 || got[0] != z.Addr {
		t.Fatalf("Servers() = %v", got)
	}
	pid := z.srv.PID()

	z.Stop()
	if zkserver.Ruok(z.Addr) {
		t.Fatal("server still answers after Stop")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("process %d still exists after Stop", pid)
	}
	z.Stop() // idempotent

	z.Restart(t)
	if !zkserver.Ruok(z.Addr) {
		t.Fatal("server does not answer after Restart")
	}
	if !strings.Contains(z.Log(), "binding to port") {
		t.Fatalf("log does not look like a ZooKeeper log:\n%s", tail(z.Log(), 2000))
	}
	if _, err := os.Stat(z.Dir + "/data/version-2"); err != nil {
		t.Fatalf("data dir not used: %v", err)
	}
}

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ServeConns(ln, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := c.Write([]byte(line)); err != nil {
				return
			}
		}
	})
	return ln.Addr().String()
}

// roundTrip sends one line and waits up to d for the echo.
func roundTrip(c net.Conn, r *bufio.Reader, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := r.ReadString('\n')
	return err
}

func TestProxy(t *testing.T) {
	p := NewProxy(t, echoServer(t))

	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if err := roundTrip(c, r, 2*time.Second); err != nil {
		t.Fatalf("open proxy: %v", err)
	}

	// Block drops the existing connection...
	p.Block()
	if err := roundTrip(c, r, 2*time.Second); err == nil {
		t.Fatal("existing connection survived Block")
	}
	// ...and new ones are closed at once.
	c2, err := net.Dial("tcp", p.Addr)
	if err == nil {
		if err := roundTrip(c2, bufio.NewReader(c2), 2*time.Second); err == nil {
			t.Fatal("new connection worked while blocked")
		}
		c2.Close()
	}

	p.Unblock()
	c3, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	r3 := bufio.NewReader(c3)
	if err := roundTrip(c3, r3, 2*time.Second); err != nil {
		t.Fatalf("after Unblock: %v", err)
	}

	// Blackhole stalls without closing; Unblock delivers late.
	p.Blackhole()
	var ne net.Error
	if err := roundTrip(c3, r3, 200*time.Millisecond); err == nil {
		t.Fatal("traffic flowed through a blackholed proxy")
	} else if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blackhole: want timeout, got %v", err)
	}
	p.Unblock()
	_ = c3.SetDeadline(time.Now().Add(2 * time.Second))
	// The first ping is delivered late, then a second round trip works.
	if _, err := r3.ReadString('\n'); err != nil {
		t.Fatalf("stalled data not delivered after Unblock: %v", err)
	}
	if err := roundTrip(c3, r3, 2*time.Second); err != nil {
		t.Fatalf("after blackhole: %v", err)
	}

	p.Close()
	if _, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		t.Fatal("proxy still listening after Close")
	}
}

// TestProxyBlockClients: only the clients picked are cut off, existing
// and new; the others keep forwarding; Unblock lets everyone through.
func TestProxyBlockClients(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	cut, cutR := dial()
	kept, keptR := dial()
	for _, c := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{cut, cutR}, {kept, keptR}} {
		if err := roundTrip(c.c, c.r, 2*time.Second); err != nil {
			t.Fatalf("open proxy: %v", err)
		}
	}
	// The proxy sees a client by the client's own address.
	victim := cut.LocalAddr().String()
	p.BlockClients(func(c net.Conn) bool { return c.RemoteAddr().String() == victim })
	if err := roundTrip(cut, cutR, 2*time.Second); err == nil {
		t.Fatal("the picked client's connection survived BlockClients")
	}
	if err := roundTrip(kept, keptR, 2*time.Second); err != nil {
		t.Fatalf("another client was cut off: %v", err)
	}
	fresh, freshR := dial()
	if err := roundTrip(fresh, freshR, 2*time.Second); err != nil {
		t.Fatalf("a new client not picked was refused: %v", err)
	}
	p.Unblock()
	again, againR := dial()
	if err := roundTrip(again, againR, 2*time.Second); err != nil {
		t.Fatalf("after Unblock: %v", err)
	}
}

// TestPortBlock: blocks held at once never overlap, and a block comes free
// again when its holder ends.
func TestPortBlock(t *testing.T) {
	var first int
	t.Run("hold", func(t *testing.T) {
		lo1, hi1 := PortBlock(t)
		lo2, hi2 := PortBlock(t)
		if hi1-lo1 != 999 || hi2-lo2 != 999 {
			t.Fatalf("blocks %d-%d and %d-%d, want 1000 ports each", lo1, hi1, lo2, hi2)
		}
		if lo1 <= hi2 && lo2 <= hi1 {
			t.Fatalf("blocks %d-%d and %d-%d overlap", lo1, hi1, lo2, hi2)
		}
		if lo1 < 10000 || hi2 > 29999 || hi1 > 29999 {
			t.Fatalf("blocks %d-%d, %d-%d outside 10000-29999", lo1, hi1, lo2, hi2)
		}
		first = lo1
		if r := AgentResources(t); !strings.Contains(r, "ports:[") || strings.Contains(r, strconv.Itoa(lo1)+"-") {
			t.Fatalf("AgentResources %q reuses a held block", r)
		}
	})
	// The first block is free again, unless another test process took it
	// in the meantime (then it is locked by that process).
	lo, _ := PortBlock(t)
	if lo != first {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "rmf-test-ports", fmt.Sprintf("block-%02d.lock", (first-10000)/1000)), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			t.Fatalf("after release got block at %d while the block at %d is free", lo, first)
		}
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
	if Eventually(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("Eventually held for a condition that never holds")
	}
}
