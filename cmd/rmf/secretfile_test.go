package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// TestReadSecretFile: one trailing newline is dropped; a file that is
// empty, of more than a line, readable by everyone, missing or too big
// is refused with a one-line error naming it.
func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string { return writeFileMode(t, dir, name, content, mode) }
	for content, want := range map[string]string{"s3cret\n": "s3cret", "s3cret": "s3cret", "s3cret\r\n": "s3cret", " s p \n": " s p "} {
		if got, err := readSecretFile(write("good", content, 0o600)); err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", content, got, err, want)
		}
	}
	for name, path := range map[string]string{
		"empty":          write("empty", "", 0o600),
		"newline only":   write("nl", "\n", 0o600),
		"two lines":      write("two", "a\nb\n", 0o600),
		"two newlines":   write("twonl", "a\n\n", 0o600),
		"control":        write("ctl", "a\x00b", 0o600),
		"world-readable": write("open", "s3cret\n", 0o644),
		"too big":        write("big", strings.Repeat("x", 5000), 0o600),
		"missing":        filepath.Join(dir, "nope"),
	} {
		got, err := readSecretFile(path)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %q, %v; want a one-line error naming the file", name, got, err)
		}
	}
	// Through the command: a usage error (exit 2), one line, before
	// anything connects.
	for _, p := range []string{write("empty2", "", 0o600), filepath.Join(dir, "nope")} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"scheduler", "--zk", "127.0.0.1:1", "--secret-file", p}, &stdout, &stderr)
		msg := strings.TrimSpace(stderr.String())
		if code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, "--secret-file") {
			t.Errorf("rmf scheduler --secret-file %s: exit %d, stderr %q; want %d and one line", p, code, msg, exitUsage)
		}
	}
}

// TestSchedulerSecretFileEndToEnd runs `rmf mesos-local --credentials`
// and `rmf scheduler --principal riak --secret-file`: the right secret
// registers the framework; a wrong one does not, and the scheduler says
// why in one line.
func TestSchedulerSecretFileEndToEnd(t *testing.T) {
	testutil.RequireZooKeeper(t)
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(`{"credentials":[{"principal":"riak","secret":"s3cret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mesos := testutil.FreeAddr(t)
	start := func(args ...string) *testutil.SyncBuffer {
		t.Helper()
		cmd := exec.Command(bin, args...)
		out := &testutil.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("rmf %s:\n%s", args[0], out.String())
			}
		})
		return out
	}
	start("mesos-local", "--listen", mesos, "--agents", "1", "--work-dir", filepath.Join(dir, "mesos"),
		"--agent-resources", testutil.AgentResources(t), "--credentials", creds)
	frameworks := func() map[string]bool { // name → connected
		var st struct {
			Frameworks []struct {
				Name, Principal string
				Connected       bool
			}
		}
		got := map[string]bool{}
		resp, err := http.Get("http://" + mesos + "/state")
		if err != nil {
			return got
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&st)
		for _, f := range st.Frameworks {
			got[f.Name+"/"+f.Principal] = f.Connected
		}
		return got
	}
	scheduler := func(framework, secret string) *testutil.SyncBuffer {
		t.Helper()
		sf := filepath.Join(dir, framework+".secret")
		if err := os.WriteFile(sf, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return start("scheduler", "--master", "http://"+mesos, "--zk", z.Addr, "--framework", framework, "--api", testutil.FreeAddr(t),
			"--principal", "riak", "--secret-file", sf, "--executor-command", bin+" executor")
	}

	scheduler("good", "s3cret")
	testutil.WaitFor(t, 30*time.Second, "framework good registered", func() bool { return frameworks()["riak (good)/riak"] })

	bad := scheduler("bad", "n0t-th1s")
	line := "mesos master refused the credentials for principal riak (401)"
	testutil.WaitFor(t, 30*time.Second, "the refusal in the scheduler's log", func() bool { return strings.Contains(bad.String(), line) })
	if _, ok := frameworks()["riak (bad)/riak"]; ok {
		t.Error("framework bad registered with a wrong secret")
	}
	if strings.Contains(bad.String(), "n0t-th1s") || strings.Contains(bad.String(), "s3cret") {
		t.Error("a secret is in the scheduler's log")
	}
}
