package main

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/protocol"
)

func TestDirectorUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no nodes", []string{"director"}, "give at least one --node"},
		{"zk without cluster", []string{"director", "--zk", "127.0.0.1:2181"}, "--zk needs --cluster"},
		{"zk and nodes", []string{"director", "--zk", "127.0.0.1:2181", "--cluster", "c", "--node", "127.0.0.1:8087"}, "not both"},
		{"bad node", []string{"director", "--node", "nohost"}, "PB address"},
		{"bad node http", []string{"director", "--node", "127.0.0.1:8087,nohost"}, "HTTP address"},
		{"node twice", []string{"director", "--node", "127.0.0.1:8087", "--node", "127.0.0.1:8087,127.0.0.1:8098"}, "given twice"},
		{"bad policy", []string{"director", "--node", "127.0.0.1:8087", "--policy", "random"}, "unknown policy"},
		{"negative timeout", []string{"director", "--node", "127.0.0.1:8087", "--request-timeout", "-1s"}, "RequestTimeout is negative"},
		{"bad retry-writes", []string{"director", "--node", "127.0.0.1:8087", "--retry-writes", "always"}, `--retry-writes: "always" is not broken-conn or never`},
		{"negative procs", []string{"director", "--node", "127.0.0.1:8087", "--procs", "-1"}, "--procs -1: want auto, 0 (every CPU) or a number of CPUs"},
		{"bad procs", []string{"director", "--node", "127.0.0.1:8087", "--procs", "many"}, "--procs many: want auto"},
		{"empty retry-writes", []string{"director", "--node", "127.0.0.1:8087", "--retry-writes", ""}, `--retry-writes: "" is not broken-conn or never`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q, want %q", stderr.String(), tc.want)
			}
		})
	}
}

// TestDirectorProcs: auto by default, all CPUs for 0, N for N, and a
// GOMAXPROCS environment variable is kept unless --procs is given.
func TestDirectorProcs(t *testing.T) {
	for _, c := range []struct {
		flag    string
		changed bool
		env     string
		want    int
		auto    bool
	}{
		{"auto", false, "", 0, true},
		{"auto", false, "4", 0, false},
		{"auto", true, "4", 0, true},
		{"1", true, "", 1, false},
		{"3", true, "4", 3, false},
		{"0", true, "", runtime.NumCPU(), false},
	} {
		n, auto, err := directorProcs(c.flag, c.changed, c.env)
		if err != nil || n != c.want || auto != c.auto {
			t.Errorf("directorProcs(%q, %v, %q) = %d, %v, %v; want %d, %v", c.flag, c.changed, c.env, n, auto, err, c.want, c.auto)
		}
	}
}

// TestDirectorServes runs the command in front of a minimal PB node: a
// ping is proxied, and cancelling the command's context (what SIGINT or
// SIGTERM does) shuts it down cleanly.
func TestDirectorServes(t *testing.T) {
	node, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	testutil.ServeConns(node, func(c net.Conn) {
		rd := protocol.NewReader(c, 0)
		for {
			if _, err := rd.ReadFrame(); err != nil {
				return
			}
			_, _ = c.Write(protocol.AppendFrame(nil, protocol.CodePingResp, nil))
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"director", "--pb", addr, "--node", node.Addr().String() + ",127.0.0.1:8098", "--policy", "p2c", "--http", "", "--admin", ""})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	var c net.Conn
	testutil.WaitFor(t, 5*time.Second, "director listening", func() bool {
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(protocol.AppendFrame(nil, protocol.CodePingReq, nil)); err != nil {
		t.Fatal(err)
	}
	if f, err := protocol.NewReader(c, 0).ReadFrame(); err != nil || f.Code != protocol.CodePingResp {
		t.Fatalf("ping through the director: %v %v", f.Code, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("director exited with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("director did not stop after its context was cancelled")
	}
}
