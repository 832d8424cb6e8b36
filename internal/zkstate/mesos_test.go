package zkstate_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func TestParseMesosZK(t *testing.T) {
	tests := []struct {
		name, in string
		servers  []string
		path     string
		auth     string
		err      string
	}{
		{"one server", "zk://127.0.0.1:2181/mesos", []string{"127.0.0.1:2181"}, "/mesos", "", ""},
		{"several", "zk://a:2181,b:2182/mesos/prod", []string{"a:2181", "b:2182"}, "/mesos/prod", "", ""},
		{"credential", "zk://u:p@a:2181/mesos", []string{"a:2181"}, "/mesos", "u:p", ""},
		{"upper scheme", "ZK://a:2181/mesos", []string{"a:2181"}, "/mesos", "", ""},
		{"not zk", "http://a:5050", nil, "", "", "want zk://"},
		{"no path", "zk://a:2181", nil, "", "", "no path"},
		{"root path", "zk://a:2181/", nil, "", "", "no path"},
		{"no port", "zk://a/mesos", nil, "", "", "want host:port"},
		{"bad port", "zk://a:99999/mesos", nil, "", "", "bad port"},
		{"empty server", "zk://a:2181,/mesos", nil, "", "", "want host:port"},
		{"bad credential", "zk://nopass@a:2181/mesos", nil, "", "", "credential"},
		{"query", "zk://a:2181/mesos?x", nil, "", "", "bad path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zkstate.ParseMesosZK(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseMesosZK(%q) = %+v, %v; want error with %q", tt.in, got, err, tt.err)
				}
				if strings.Contains(err.Error(), "u:p@") {
					t.Errorf("error shows the credential: %v", err)
				}
				return
			}
			if err != nil || strings.Join(got.Servers, ",") != strings.Join(tt.servers, ",") || got.Path != tt.path || got.Auth != tt.auth {
				t.Fatalf("ParseMesosZK(%q) = %+v, %v", tt.in, got, err)
			}
		})
	}
}

func TestMesosMasterInfoHostPort(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"address", `{"id":"m","address":{"hostname":"m1","ip":"10.0.0.1","port":5050},"port":5050}`, "m1:5050"},
		{"address ip", `{"id":"m","address":{"ip":"10.0.0.1","port":5051},"port":5050}`, "10.0.0.1:5051"},
		{"old fields", `{"id":"m","hostname":"m2","port":5050}`, "m2:5050"},
		{"ip only", `{"id":"m","ip":16777343,"port":5050}`, "127.0.0.1:5050"},
		{"no port", `{"id":"m","hostname":"m2"}`, ""},
		{"no host", `{"id":"m","port":5050}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var info zkstate.MesosMasterInfo
			if err := json.Unmarshal([]byte(tt.json), &info); err != nil {
				t.Fatal(err)
			}
			got, err := info.HostPort()
			if tt.want == "" {
				if !errors.Is(err, zkstate.ErrInvalidRecord) {
					t.Errorf("HostPort = %q, %v; want ErrInvalidRecord", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("HostPort = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestMesosElection: the lowest json.info_ entry leads; one that withdraws
// and contends again queues behind the other; other children are ignored.
func TestMesosElection(t *testing.T) {
	z := testutil.StartZooKeeper(t)
	s := connect(t, z.Addr)
	ctx := testCtx(t)
	const p = "/mesos-test/masters"
	if _, err := s.MesosLeader(ctx, p); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("no path: %v, want ErrNotFound", err)
	}
	info := func(port int) []byte {
		return []byte(`{"id":"m` + strconv.Itoa(port) + `","address":{"hostname":"127.0.0.1","ip":"127.0.0.1","port":` + strconv.Itoa(port) + `},"port":` + strconv.Itoa(port) + `}`)
	}
	w1, err := s.ContendMesosMaster(ctx, p, info(5051))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContendMesosMaster(ctx, p, info(5052)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContendMesosMaster(ctx, p, []byte("not json")); err == nil {
		t.Error("ContendMesosMaster took a non-JSON MasterInfo")
	}
	leader := func() string {
		t.Helper()
		li, err := s.MesosLeader(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		u, err := zkstate.MesosMasterURL(li)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if got := leader(); got != "http://127.0.0.1:5051" {
		t.Fatalf("leader %s, want the first", got)
	}
	if err := w1(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContendMesosMaster(ctx, p, info(5051)); err != nil {
		t.Fatal(err)
	}
	if got := leader(); got != "http://127.0.0.1:5052" {
		t.Fatalf("after the first withdrew and came back, leader %s, want the second", got)
	}
	if err := w1(); err != nil {
		t.Errorf("withdrawing twice: %v", err)
	}
}

// FuzzParseMesosZK: any input parses or is refused, never panics; what
// parses has servers and a clean absolute path other than "/".
func FuzzParseMesosZK(f *testing.F) {
	for _, s := range []string{"zk://a:2181/mesos", "zk://u:p@a:1,b:2/x/y", "zk://", "zk://a:1/", "zk://@a:1/m", "http://a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := zkstate.ParseMesosZK(s)
		if err != nil {
			return
		}
		if len(z.Servers) == 0 || !strings.HasPrefix(z.Path, "/") || z.Path == "/" || strings.Contains(z.Path, "//") {
			t.Errorf("ParseMesosZK(%q) = %+v", s, z)
		}
	})
}
