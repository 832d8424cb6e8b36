package mesoslocal

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestParseResources(t *testing.T) {
	t.Parallel()
	rs, err := ParseResources("cpus:4;mem:8192;disk:20000;ports:[31000-31999,33000-33001];gpus(riak):1")
	if err != nil {
		t.Fatal(err)
	}
	got := byRole(rs, nil)
	if got["*"]["cpus"] != 4.0 || got["*"]["mem"] != 8192.0 || got["*"]["ports"] != "[31000-31999,33000-33001]" || got["riak"]["gpus"] != 1.0 {
		t.Errorf("parsed %v", got)
	}
	for _, bad := range []string{"", "cpus", "cpus:x", "cpus:-1", "ports:[5-1]", "ports:[1-2", "c pus:1", "cpus(../x):1", "cpus(r:1"} {
		if _, err := ParseResources(bad); err == nil {
			t.Errorf("ParseResources(%q) accepted", bad)
		}
	}
}

func TestAgentPortsAreDistinct(t *testing.T) {
	t.Parallel()
	seen := map[uint64]int{}
	for i := 1; i <= 3; i++ {
		rs, err := agentResources(DefaultAgentResources, i)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Name != "ports" {
				continue
			}
			for _, rg := range r.GetRanges().GetRange() {
				for p := rg.Begin; p <= rg.End; p++ {
					if prev, ok := seen[p]; ok {
						t.Fatalf("port %d on agents %d and %d", p, prev, i)
					}
					seen[p] = i
				}
			}
		}
	}
	if len(seen) != 3000 {
		t.Errorf("%d ports, want 3000", len(seen))
	}
	if _, err := agentResources("cpus:1;ports:[2000-2999]", 3); err == nil {
		t.Error("agent 3 below port 1024 accepted")
	}
}

func TestParseAttributes(t *testing.T) {
	t.Parallel()
	as, err := ParseAttributes("rack:r1;zone:2;slots:[1-3]")
	if err != nil || len(as) != 3 || attrValue(as[0]) != "r1" || as[1].Type != mesos.SCALAR || attrValue(as[2]) != "[1-3]" {
		t.Fatalf("%v %v", as, err)
	}
	if _, err := ParseAttributes("rack"); err == nil {
		t.Error("attribute without value accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]Config{
		"no work dir":      {},
		"too many agents":  {WorkDir: "x", Agents: 100},
		"attribute count":  {WorkDir: "x", Agents: 3, AgentAttributes: []string{"a:1", "b:2"}},
		"bad resources":    {WorkDir: "x", AgentResources: "cpus"},
		"negative timeout": {WorkDir: "x", HeartbeatInterval: -1},
		"address count":    {WorkDir: "x", Agents: 3, AgentAddresses: []string{"127.0.0.2", "127.0.0.3"}},
		"address not IP":   {WorkDir: "x", Agents: 2, AgentAddresses: []string{"127.0.0.2", "agent-2.local"}},
		"address twice":    {WorkDir: "x", Agents: 2, AgentAddresses: []string{"127.0.0.2", "127.0.0.2"}},
		"address written":  {WorkDir: "x", Agents: 1, AgentAddresses: []string{"127.000.0.2"}},
		"address any":      {WorkDir: "x", Agents: 1, AgentAddresses: []string{"0.0.0.0"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (Config{WorkDir: "x"}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := (Config{WorkDir: "x", Agents: 2, AgentAddresses: []string{"127.0.0.7", "127.0.0.9"}}).Validate(); err != nil {
		t.Errorf("own addresses: %v", err)
	}
}

func TestDefaultAgentAddresses(t *testing.T) {
	t.Parallel()
	got := Config{WorkDir: "x", Agents: 3}.withDefaults().AgentAddresses
	if want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("addresses %v, want %v", got, want)
	}
	if got := (Config{WorkDir: "x"}).withDefaults().AgentAddresses; len(got) != DefaultAgents {
		t.Errorf("default agents get %v", got)
	}
}

func tarGz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestFetchURI(t *testing.T) {
	t.Parallel()
	good := tarGz(t, map[string]string{"riak/bin/riak": "#!/bin/sh\n"})
	evil := tarGz(t, map[string]string{"../escape": "x"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/riak.tar.gz":
			_, _ = w.Write(good)
		case "/evil.tar.gz":
			_, _ = w.Write(evil)
		case "/rmf":
			_, _ = w.Write([]byte("binary"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	sandbox := t.TempDir()
	ctx := context.Background()
	if err := fetchURI(ctx, mesos.CommandInfo_URI{Value: srv.URL + "/riak.tar.gz"}, sandbox); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sandbox, "riak/bin/riak")); err != nil {
		t.Errorf("archive not extracted: %v", err)
	}
	if err := fetchURI(ctx, mesos.CommandInfo_URI{Value: srv.URL + "/rmf", Executable: ptr(true)}, sandbox); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(sandbox, "rmf")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("executable not fetched: %v %v", fi, err)
	}
	local := filepath.Join(t.TempDir(), "conf.txt")
	_ = os.WriteFile(local, []byte("x"), 0o644)
	if err := fetchURI(ctx, mesos.CommandInfo_URI{Value: "file://" + local}, sandbox); err != nil {
		t.Errorf("file URI: %v", err)
	}
	if err := fetchURI(ctx, mesos.CommandInfo_URI{Value: srv.URL + "/evil.tar.gz"}, sandbox); err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Errorf("path escape: %v", err)
	}
	if err := fetchURI(ctx, mesos.CommandInfo_URI{Value: srv.URL + "/missing"}, sandbox); err == nil {
		t.Error("404 fetched")
	}
	if err := fetchURI(ctx, mesos.CommandInfo_URI{Value: "ftp://x/y"}, sandbox); err == nil {
		t.Error("ftp accepted")
	}
	if err := fetchURI(ctx, mesos.CommandInfo_URI{Value: srv.URL + "/rmf", OutputFile: ptr("../x")}, sandbox); err == nil {
		t.Error("output file escape accepted")
	}
}

func ptr[T any](v T) *T { return &v }
