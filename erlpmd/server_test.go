package erlpmd

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func connect(t *testing.T, servers []string, timeout time.Duration) *zkstate.Framework {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := zkstate.Connect(ctx, servers, zkstate.WithSessionTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	fw, err := st.Framework("riak")
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

// startErlpmd runs an erlpmd on a free loopback port and returns its address.
func startErlpmd(t *testing.T, reg Registry) (*Server, string) {
	t.Helper()
	h := startHostErlpmd(t, reg, "", "127.0.0.1:0")
	return h.srv, h.addr
}

func roundTrip(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	resp, _ := io.ReadAll(c)
	return resp
}

// registerRaw registers name through addr and keeps the connection open.
func registerRaw(t *testing.T, addr, name string, port uint16) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(EncodeRequest(Request{Code: codeAlive2Req, Alive: alive(name, port)})); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, 6)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, resp); err != nil || resp[0] != codeAlive2XResp || resp[1] != 0 {
		t.Fatalf("ALIVE2 for %s: %v %v", name, resp, err)
	}
	return c
}

func portPlease(t *testing.T, addr, name string) (uint16, bool) {
	t.Helper()
	resp := roundTrip(t, addr, EncodeRequest(Request{Code: codePortPlease2, Name: name}))
	if len(resp) < 2 || resp[0] != codePort2Resp {
		t.Fatalf("PORT2_RESP malformed: %v", resp)
	}
	if resp[1] != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint16(resp[2:4]), true
}

func TestRegistryAcrossInstances(t *testing.T) {
	zk := testutil.StartZooKeeper(t)
	_, addrA := startErlpmd(t, connect(t, zk.Servers(), 10*time.Second))
	_, addrB := startErlpmd(t, connect(t, zk.Servers(), 10*time.Second))

	c := registerRaw(t, addrA, "riak1", 31001)
	// Found through the other instance.
	if port, ok := portPlease(t, addrB, "riak1"); !ok || port != 31001 {
		t.Fatalf("PORT_PLEASE2 through B = %d %v, want 31001", port, ok)
	}
	// A second registration of a live name is refused.
	dup, _ := net.Dial("tcp", addrB)
	_, _ = dup.Write(EncodeRequest(Request{Code: codeAlive2Req, Alive: alive("riak1", 31002)}))
	resp := make([]byte, 6)
	_, _ = io.ReadFull(dup, resp)
	dup.Close()
	if resp[0] != codeAlive2XResp || resp[1] == 0 {
		t.Fatalf("duplicate ALIVE2 answered %v, want a non-zero result", resp)
	}
	// NAMES lists the node on its own host only through the instance it registered with... both are 127.0.0.1 here.
	names := roundTrip(t, addrA, []byte{0, 1, codeNamesReq})
	if !strings.Contains(string(names[4:]), "name riak1 at port 31001") {
		t.Fatalf("NAMES = %q", names)
	}
	// A malformed request closes only its own connection.
	bad := roundTrip(t, addrA, []byte{0, 3, 1, 2, 3})
	if len(bad) != 0 {
		t.Fatalf("bad request answered %v, want the connection closed", bad)
	}
	if _, ok := portPlease(t, addrA, "riak1"); !ok {
		t.Fatal("registration lost after another connection's bad request")
	}
	// Closing the registering connection removes the node everywhere.
	c.Close()
	testutil.WaitFor(t, 5*time.Second, "riak1 to disappear", func() bool { _, ok := portPlease(t, addrB, "riak1"); return !ok })
	// A re-registration gets a different creation.
	c1 := registerRaw(t, addrA, "riak1", 31001)
	first, _ := connect(t, zk.Servers(), 10*time.Second).GetErlpmd(context.Background(), "riak1")
	c1.Close()
	testutil.WaitFor(t, 5*time.Second, "riak1 to disappear again", func() bool { _, ok := portPlease(t, addrB, "riak1"); return !ok })
	c2 := registerRaw(t, addrA, "riak1", 31001)
	defer c2.Close()
	second, _ := connect(t, zk.Servers(), 10*time.Second).GetErlpmd(context.Background(), "riak1")
	if first.Creation == second.Creation || first.Creation == 0 {
		t.Fatalf("creations %d and %d, want distinct non-zero", first.Creation, second.Creation)
	}
}

func TestCacheAndSessionExpiry(t *testing.T) {
	zk := testutil.StartZooKeeper(t)
	proxy := testutil.NewProxy(t, zk.Addr)
	fwB := connect(t, []string{proxy.Addr}, 1*time.Second) // B reaches ZooKeeper through a proxy
	fwA := connect(t, zk.Servers(), 10*time.Second)
	_, addrA := startErlpmd(t, fwA)
	_, addrB := startErlpmd(t, fwB)
	ca := registerRaw(t, addrA, "remote", 32001)
	defer ca.Close()
	cb := registerRaw(t, addrB, "local", 32002)
	defer cb.Close()
	if _, ok := portPlease(t, addrB, "remote"); !ok { // fills B's cache
		t.Fatal("remote not found through B")
	}
	proxy.Block()
	// While B cannot reach ZooKeeper, it answers from its cache.
	if port, ok := portPlease(t, addrB, "remote"); !ok || port != 32001 {
		t.Fatalf("lookup during outage = %d %v, want 32001 from cache", port, ok)
	}
	if _, ok := portPlease(t, addrB, "never-seen"); ok {
		t.Fatal("a name never seen was answered during the outage")
	}
	// B's 1 s session expires: the server deletes its ephemeral znodes.
	testutil.WaitFor(t, 20*time.Second, "B's session to expire (its registration of local gone)", func() bool {
		_, err := fwA.GetErlpmd(context.Background(), "local")
		return errors.Is(err, zkstate.ErrNotFound)
	})
	proxy.Unblock()
	// B's registration of "local" comes back in the new session, visible through A.
	testutil.WaitFor(t, 20*time.Second, "re-registration after session expiry", func() bool { p, ok := portPlease(t, addrA, "local"); return ok && p == 32002 })
}

// TestRealErlangNodes: two real Erlang nodes, each using its own erlpmd,
// find each other through ZooKeeper; the real epmd client lists a node.
func TestRealErlangNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper and Erlang; skipped under -short")
	}
	erl, err := exec.LookPath("erl")
	if err != nil {
		t.Fatal("erlang-base not installed: run make test (it runs apt-get install erlang-base)")
	}
	zk := testutil.StartZooKeeper(t)
	_, addrA := startErlpmd(t, connect(t, zk.Servers(), 10*time.Second))
	_, addrB := startErlpmd(t, connect(t, zk.Servers(), 10*time.Second))
	portOf := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	cookie := "rmftest"
	// A node that fails writes erl_crash.dump into its working directory
	// (the package directory): send it to the test's temporary directory.
	dumpDir := t.TempDir()
	erlCmd := func(epmdAddr, name, eval string) *exec.Cmd {
		cmd := exec.Command(erl, "-sname", name+"@localhost", "-start_epmd", "false", "-setcookie", cookie,
			"-kernel", "inet_dist_use_interface", "{127,0,0,1}", "-noshell", "-eval", eval)
		cmd.Env = append(cmd.Environ(), "ERL_EPMD_PORT="+portOf(epmdAddr),
			"ERL_CRASH_DUMP="+filepath.Join(dumpDir, name+".erl_crash.dump"))
		return cmd
	}
	t.Cleanup(func() {
		dumps, _ := filepath.Glob(filepath.Join(dumpDir, "*.erl_crash.dump"))
		for _, d := range dumps {
			b, _ := os.ReadFile(d)
			t.Logf("%s (head):\n%s", filepath.Base(d), b[:min(len(b), 1024)])
		}
	})
	a := erlCmd(addrA, "a", "receive stop -> ok after 60000 -> ok end, halt().")
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Process.Kill(); _ = a.Wait() }()
	testutil.WaitFor(t, 20*time.Second, "node a to register through erlpmd A", func() bool { _, ok := portPlease(t, addrB, "a"); return ok })

	// The real EPMD client lists a through erlpmd A.
	names, err := exec.Command("epmd", "-port", portOf(addrA), "-names").CombinedOutput()
	if err != nil || !strings.Contains(string(names), "name a at port") {
		t.Fatalf("epmd -names: %v %s", err, names)
	}
	// Node b, registered through erlpmd B, pings a.
	b := erlCmd(addrB, "b", `io:format("~p~n", [net_adm:ping(a@localhost)]), halt().`)
	b.WaitDelay = 5 * time.Second
	timer := time.AfterFunc(30*time.Second, func() { _ = b.Process.Kill() })
	out, err := b.CombinedOutput()
	timer.Stop()
	if err != nil || !strings.Contains(string(out), "pong") {
		t.Fatalf("b pinging a: %v\n%s", err, out)
	}
	// When a exits it disappears from lookups.
	_ = a.Process.Kill()
	_ = a.Wait()
	testutil.WaitFor(t, 10*time.Second, "node a to disappear after exit", func() bool { _, ok := portPlease(t, addrB, "a"); return !ok })
}
