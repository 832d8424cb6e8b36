package fakeriak

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// release extracts the tarball and writes riak.conf with conf.
func release(t *testing.T, conf string) string {
	t.Helper()
	dir := t.TempDir()
	tgz, err := Tarball(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xzf", tgz, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	root := filepath.Join(dir, "riak-"+Version)
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	conf += "nodename = riak-c-1@127.0.0.2\nplatform_data_dir = " + data + "\n"
	if err := os.WriteFile(filepath.Join(root, "etc", "riak.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func riak(t *testing.T, root string, args ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "bin", "riak"), args...).CombinedOutput()
	return string(out), err == nil
}

func TestChkconfig(t *testing.T) {
	good := release(t, "## a comment\nlistener.protobuf.internal = 127.0.0.2:8087\nring_size = 64\nerlang.distribution.port_range.minimum = 1\n")
	if out, ok := riak(t, good, "chkconfig"); !ok || !strings.Contains(out, "config is OK") {
		t.Errorf("good config: %v %q", ok, out)
	}
	bad := release(t, "listener.pb.internal = 127.0.0.2:8087\n")
	if out, ok := riak(t, bad, "chkconfig"); ok || strings.TrimSpace(out) != "Cuttlefish failed! Oh no!:" {
		t.Errorf("unknown key: %v %q", ok, out)
	}
	out, err := exec.Command(filepath.Join(bad, "erts-13.1.5", "bin", "escript"), filepath.Join(bad, "bin", "cuttlefish"),
		"-e", filepath.Join(bad, "etc"), "-c", filepath.Join(bad, "etc", "riak.conf")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "[error] Conf file attempted to set unknown variable: listener.pb.internal") {
		t.Errorf("cuttlefish: %v %q", err, out)
	}
}

func TestAdmin(t *testing.T) {
	root := release(t, "")
	steps := []struct {
		args []string
		ok   bool
		out  string
	}{
		{[]string{"admin", "cluster", "join", "riak-c-0@127.0.0.3"}, true, "Success: staged join request for 'riak-c-1@127.0.0.2' to 'riak-c-0@127.0.0.3'"},
		{[]string{"admin", "cluster", "join", "riak-c-0@127.0.0.3"}, true, "Failed: This node is already a member of a cluster\nerror"},
		{[]string{"admin", "cluster", "force-replace", "riak-c-1@127.0.0.9", "riak-c-1@127.0.0.2"}, true, "Success: staged forced replacement of 'riak-c-1@127.0.0.9' with 'riak-c-1@127.0.0.2'"},
		{[]string{"admin", "ringready"}, true, "TRUE All nodes agree on the ring ['riak-c-1@127.0.0.2']"},
		{[]string{"admin", "transfers"}, true, "No transfers active"},
		{[]string{"admin", "bogus"}, false, "Usage:"},
	}
	for _, s := range steps {
		out, ok := riak(t, root, s.args...)
		if ok != s.ok || !strings.Contains(out, s.out) {
			t.Errorf("riak %v: %v %q, want %v %q", s.args, ok, out, s.ok, s.out)
		}
	}
}
