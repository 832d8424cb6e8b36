package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMesosLocalUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"mesos-local"},
		{"mesos-local", "--work-dir", t.TempDir(), "--agents", "0"},
		{"mesos-local", "--work-dir", t.TempDir(), "--agent-resources", "cpus"},
		{"mesos-local", "--work-dir", t.TempDir(), "--agents", "2", "--agent-attributes", "a:1", "--agent-attributes", "b:2", "--agent-attributes", "c:3"},
		{"mesos-local", "--work-dir", t.TempDir(), "--agents", "2", "--agent-addresses", "127.0.0.2"},
		{"mesos-local", "--work-dir", t.TempDir(), "--agents", "2", "--agent-addresses", "127.0.0.2,agent-2.local"},
		{"mesos-local", "--work-dir", t.TempDir(), "--agents", "2", "--agent-addresses", "127.0.0.2,127.0.0.2"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitUsage || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// TestMesosLocalServes starts the command, reads /state, and stops it the
// way SIGTERM does (context cancellation).
func TestMesosLocalServes(t *testing.T) {
	t.Run("default addresses", func(t *testing.T) { testMesosLocalServes(t, nil, "127.0.0.3") })
	t.Run("--agent-addresses", func(t *testing.T) {
		testMesosLocalServes(t, []string{"--agent-addresses", "127.0.0.8,127.0.0.9"}, "127.0.0.9")
	})
}

// testMesosLocalServes runs two agents with extra flags; the second must
// be on address second.
func testMesosLocalServes(t *testing.T, extra []string, second string) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"mesos-local", "--listen", addr, "--agents", "2", "--work-dir", t.TempDir(), "--agent-attributes", "rack:r1", "--agent-attributes", "rack:r2"}, extra...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var state struct {
		Agents []struct {
			Hostname   string
			Attributes map[string]string
		}
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/state")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&state)
			resp.Body.Close()
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("mesos-local not serving: %v", err)
		}
	}
	if len(state.Agents) != 2 || state.Agents[1].Hostname != second || state.Agents[1].Attributes["rack"] != "r2" {
		t.Errorf("state %+v", state)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("mesos-local did not stop")
	}
}

// TestMesosLocalCredentials: a bad --credentials file is a one-line usage
// error; a good one makes the scheduler API require it.
func TestMesosLocalCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, file := range map[string]string{
		"missing":         filepath.Join(dir, "nope"),
		"bad JSON":        write("bad-json", `{"credentials":[{"principal":"riak",`),
		"empty principal": write("empty-principal", `{"credentials":[{"principal":"","secret":"s"}]}`),
		"empty":           write("empty", ""),
		"bad line":        write("bad-line", "riak\n"),
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"mesos-local", "--work-dir", t.TempDir(), "--credentials", file}, &stdout, &stderr)
		msg := strings.TrimSpace(stderr.String())
		if code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, "--credentials") {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line", name, code, msg, exitUsage)
		}
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"mesos-local", "--listen", addr, "--agents", "1", "--work-dir", t.TempDir(),
		"--credentials", write("good", "riak s3cret\n")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("exit: %v", err)
		}
	}()
	post := func(user, pass string) (int, string) {
		body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t","principal":"riak"}}}`
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/scheduler", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if code, _ := post("", ""); code != 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("mesos-local not serving")
		}
	}
	if code, hdr := post("riak", "wrong"); code != http.StatusUnauthorized || hdr != `Basic realm="mesos-master-scheduler"` {
		t.Errorf("wrong secret: %d %q", code, hdr)
	}
	if code, _ := post("riak", "s3cret"); code != http.StatusOK {
		t.Errorf("right secret: %d", code)
	}
}
