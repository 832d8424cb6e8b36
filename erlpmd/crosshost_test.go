package erlpmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// hostErlpmd is one host's erlpmd: on 127.0.0.1 at its own port, as the
// executor runs it, publishing its host's address.
type hostErlpmd struct {
	t      *testing.T
	reg    Registry
	host   string
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
	srv    *Server
}

func startHostErlpmd(t *testing.T, reg Registry, host, addr string) *hostErlpmd {
	t.Helper()
	h := &hostErlpmd{t: t, reg: reg, host: host, addr: addr}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *hostErlpmd) start() {
	h.t.Helper()
	var ln net.Listener
	var err error
	testutil.WaitFor(h.t, 10*time.Second, "listen on "+h.addr, func() bool { ln, err = net.Listen("tcp", h.addr); return err == nil })
	h.addr = ln.Addr().String()
	h.srv = &Server{Registry: h.reg, Host: h.host}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() { _ = h.srv.Serve(ctx, ln); close(h.done) }()
}

func (h *hostErlpmd) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	_ = h.srv.Shutdown(sctx)
	<-h.done
	h.cancel = nil
}

func (h *hostErlpmd) port() int {
	_, p, _ := net.SplitHostPort(h.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// erlNode is a real Erlang node driven through its stdin: each line is an
// expression (Erlang syntax: node names quoted), each answer one line.
type erlNode struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	mu   sync.Mutex
}

func startErlNode(t *testing.T, name, ip string, flags []string) *erlNode {
	t.Helper()
	dumpDir := t.TempDir()
	args := append([]string{"-name", name + "@" + ip, "-setcookie", "rmfcross", "-noshell",
		"-kernel", "inet_dist_use_interface", "{" + strings.ReplaceAll(ip, ".", ",") + "}",
		"-eval", `Loop = fun L() -> case io:parse_erl_exprs('') of {ok, Es, _} -> V = case catch erl_eval:exprs(Es, []) of {value, X, _} -> X; E -> E end, io:format("~p~n", [V]), L(); _ -> halt() end end, Loop().`}, flags...)
	cmd := exec.Command("erl", args...)
	cmd.Env = append(cmd.Environ(), "ERL_CRASH_DUMP="+filepath.Join(dumpDir, name+".erl_crash.dump"))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("erl: %v", err)
	}
	n := &erlNode{t: t, name: name + "@" + ip, cmd: cmd, in: in, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() { _ = in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return n
}

// eval sends one Erlang expression (without the final dot) and returns the
// printed answer.
func (n *erlNode) eval(expr string) string {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := fmt.Fprintf(n.in, "%s.\n", expr); err != nil {
		n.t.Fatalf("%s: %v", n.name, err)
	}
	ch := make(chan string, 1)
	go func() {
		if n.out.Scan() {
			ch <- n.out.Text()
		} else {
			ch <- "<eof>"
		}
	}()
	select {
	case s := <-ch:
		return s
	case <-time.After(30 * time.Second):
		n.t.Fatalf("%s: no answer to %s", n.name, expr)
	}
	return ""
}

// pings reports whether from reaches node by name (net_adm:ping).
func pings(from *erlNode, node string) bool { return from.eval("net_adm:ping('"+node+"')") == "pong" }

// TestErlangAcrossHosts: Erlang nodes on different hosts (127.0.0.2,
// 127.0.0.3, 127.0.0.4), each with an erlpmd of its own on its own port
// (as the scheduler reserves them), find each other by full name through
// the flags of `rmf erlpmd erl-flags` (rmf_epmd sends every lookup to the
// local erlpmd; the registry is one ZooKeeper). Without the module the
// ping fails: Erlang asks the remote host's EPMD on its own port. After
// an erlpmd restarts, lookups through it work again.
func TestErlangAcrossHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper and Erlang; skipped under -short")
	}
	if _, err := exec.LookPath("erl"); err != nil {
		t.Fatal("erlang-base not installed: run make test (it runs apt-get install erlang-base)")
	}
	zk := testutil.StartZooKeeper(t)
	ctx := context.Background()
	hosts := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	var epmds []*hostErlpmd
	var nodes []*erlNode
	for i, ip := range hosts {
		e := startHostErlpmd(t, connect(t, zk.Servers(), 10*time.Second), ip, "127.0.0.1:0")
		epmds = append(epmds, e)
		flags, err := ErlFlags(ctx, "", t.TempDir(), e.port())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			t.Logf("erl flags: %s", strings.Join(flags, " "))
		}
		nodes = append(nodes, startErlNode(t, string(rune('a'+i)), ip, flags))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, n := range nodes {
		short := strings.SplitN(n.name, "@", 2)[0]
		testutil.WaitFor(t, 20*time.Second, n.name+" registered", func() bool { _, ok := portPlease(t, epmds[0].addr, short); return ok })
	}
	if !pings(a, b.name) || !pings(b, a.name) {
		t.Fatalf("a and b do not reach each other across hosts: a's epmd module %s, address of b %s",
			a.eval("net_kernel:epmd_module()"), a.eval(`rmf_epmd:address_please("b", "127.0.0.3", inet)`))
	}
	// A third node joins them: it reaches both, and they see it.
	if !pings(c, a.name) || !pings(c, b.name) {
		t.Fatal("c does not reach a and b")
	}
	if got := a.eval("lists:sort(nodes())"); got != "['b@127.0.0.3','c@127.0.0.4']" {
		t.Fatalf("a's nodes() = %s", got)
	}
	// a's erlpmd restarts on its port: lookups through it work again
	// (the registry is ZooKeeper's, not the process's).
	epmds[0].stop()
	epmds[0].start()
	if a.eval("erlang:disconnect_node('"+b.name+"')") != "true" {
		t.Fatal("disconnect a from b")
	}
	testutil.WaitFor(t, 20*time.Second, "a reaches b again through its restarted erlpmd", func() bool { return pings(a, b.name) })

	// Without the module, the same lookup goes to the remote host's EPMD
	// on a's port, where nothing listens.
	plain := startErlNode(t, "p", "127.0.0.5", []string{"-epmd_port", strconv.Itoa(epmds[0].port()), "-start_epmd", "false"})
	testutil.WaitFor(t, 20*time.Second, "p registered", func() bool { _, ok := portPlease(t, epmds[0].addr, "p"); return ok })
	if pings(plain, b.name) {
		t.Fatal("a node without rmf_epmd reached another host: the test does not show what the module does")
	}
}
