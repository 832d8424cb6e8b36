package zkstate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPaths(t *testing.T) {
	const root = "/riak/frameworks/riak"
	tests := []struct {
		name string
		fn   func() (string, error)
		want string
	}{
		{"FrameworkRoot", func() (string, error) { return FrameworkRoot("riak") }, root},
		{"FrameworkIDPath", func() (string, error) { return FrameworkIDPath("riak") }, root + "/framework_id"},
		{"URIPath", func() (string, error) { return URIPath("riak") }, root + "/uri"},
		{"ClustersPath", func() (string, error) { return ClustersPath("riak") }, root + "/clusters"},
		{"ClusterPath", func() (string, error) { return ClusterPath("riak", "c1") }, root + "/clusters/c1"},
		{"NodesPath", func() (string, error) { return NodesPath("riak", "c1") }, root + "/clusters/c1/nodes"},
		{"NodePath", func() (string, error) { return NodePath("riak", "c1", "n-1") }, root + "/clusters/c1/nodes/n-1"},
		{"LivePath", func() (string, error) { return LivePath("riak", "c1") }, root + "/clusters/c1/live"},
		{"LiveNodePath", func() (string, error) { return LiveNodePath("riak", "c1", "n-1") }, root + "/clusters/c1/live/n-1"},
		{"LocksPath", func() (string, error) { return LocksPath("riak", "c1") }, root + "/clusters/c1/locks"},
		{"LockPath", func() (string, error) { return LockPath("riak", "c1", "n-1") }, root + "/clusters/c1/locks/n-1"},
		{"ErlpmdPath", func() (string, error) { return ErlpmdPath("riak") }, root + "/erlpmd"},
		{"ErlpmdNodePath", func() (string, error) { return ErlpmdNodePath("riak", "riak-c1-1@host.example") }, root + "/erlpmd/riak-c1-1@host.example"},
		{"LeaderPath", func() (string, error) { return LeaderPath("riak") }, root + "/leader"},
		{"other framework", func() (string, error) { return NodePath("dev_2", "a.b", "x") }, "/riak/frameworks/dev_2/clusters/a.b/nodes/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fn()
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	bad := []struct {
		name string
		fn   func() (string, error)
	}{
		{"empty framework", func() (string, error) { return FrameworkRoot("") }},
		{"slash in cluster", func() (string, error) { return ClusterPath("riak", "a/b") }},
		{"dotdot node", func() (string, error) { return NodePath("riak", "c", "..") }},
		{"dot node", func() (string, error) { return LiveNodePath("riak", "c", ".") }},
		{"erlpmd space", func() (string, error) { return ErlpmdNodePath("riak", "a b") }},
		{"lock empty node", func() (string, error) { return LockPath("riak", "c", "") }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := tt.fn(); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("got %q, %v; want ErrInvalidName", p, err)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"riak", true},
		{"default", true},
		{"riak-default-1@ip-10-0-0-1.ec2.internal", true},
		{"_x", true},
		{"A.b-c_d@e", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"-x", false},
		{"@x", false},
		{"a/b", false},
		{"a b", false},
		{"a\x00b", false},
		{"é", false},
		{"zookeeper/quota", false},
		{strings.Repeat("a", MaxNameLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.name)
			if tt.ok && err != nil {
				t.Fatalf("ValidateName(%q) = %v, want nil", tt.name, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ValidateName(%q) = %v, want ErrInvalidName", tt.name, err)
			}
		})
	}
}

const (
	clusterP = "/riak/frameworks/riak/clusters/c1"
	nodeP    = "/riak/frameworks/riak/clusters/c1/nodes/n1"
	liveP    = "/riak/frameworks/riak/clusters/c1/live/n1"
	erlpmdP  = "/riak/frameworks/riak/erlpmd/riak-c1-n1@h1"
	lockP    = "/riak/frameworks/riak/clusters/c1/locks/n1/lock-0000000004"
)

func TestDecode(t *testing.T) {
	type decodeFn func(p string, data []byte) error
	cluster := func(p string, d []byte) error { _, err := Decode[ClusterRecord](p, d); return err }
	node := func(p string, d []byte) error { _, err := Decode[NodeRecord](p, d); return err }
	live := func(p string, d []byte) error { _, err := Decode[LiveRecord](p, d); return err }
	erl := func(p string, d []byte) error { _, err := Decode[ErlpmdRecord](p, d); return err }
	lock := func(p string, d []byte) error { _, err := Decode[LockRecord](p, d); return err }

	tests := []struct {
		name string
		fn   decodeFn
		path string
		data string
		want error // nil: valid
	}{
		{"cluster ok", cluster, clusterP, `{"version":1,"name":"c1","generation":3,"riak_conf":"x","node_resources":{"cpus":1,"mem_mb":1024,"disk_mb":2048},"constraints":[["hostname","UNIQUE"],["rack","CLUSTER","r1"]]}`, nil},
		{"cluster unknown fields ignored", cluster, clusterP, `{"version":1,"name":"c1","future":true}`, nil},
		{"cluster missing version", cluster, clusterP, `{"name":"c1"}`, ErrUnknownVersion},
		{"cluster version 2", cluster, clusterP, `{"version":2,"name":"c1"}`, ErrUnknownVersion},
		{"cluster version 0", cluster, clusterP, `{"version":0,"name":"c1"}`, ErrUnknownVersion},
		{"cluster version string", cluster, clusterP, `{"version":"1","name":"c1"}`, ErrInvalidRecord},
		{"cluster bad json", cluster, clusterP, `{"version":1,"name":`, ErrInvalidRecord},
		{"cluster empty data", cluster, clusterP, ``, ErrInvalidRecord},
		{"cluster not an object", cluster, clusterP, `[1]`, ErrInvalidRecord},
		{"cluster name mismatch", cluster, clusterP, `{"version":1,"name":"c2"}`, ErrInvalidRecord},
		{"cluster empty name", cluster, "/x/", `{"version":1,"name":""}`, ErrInvalidRecord},
		{"cluster negative cpus", cluster, clusterP, `{"version":1,"name":"c1","node_resources":{"cpus":-1}}`, ErrInvalidRecord},
		{"cluster negative generation", cluster, clusterP, `{"version":1,"name":"c1","generation":-1}`, ErrInvalidRecord},
		{"cluster bad constraint", cluster, clusterP, `{"version":1,"name":"c1","constraints":[["hostname"]]}`, ErrInvalidRecord},
		{"cluster empty constraint op", cluster, clusterP, `{"version":1,"name":"c1","constraints":[["hostname",""]]}`, ErrInvalidRecord},

		{"node ok", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","riak_node_name":"riak-c1-n1@h1","ports":{"pb":31000,"http":31001},"desired_state":"running","observed_state":"pending"}`, nil},
		{"node port 0 means unassigned", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","ports":{"pb":0},"desired_state":"stopped","observed_state":"stopped"}`, nil},
		{"node port too big", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","ports":{"pb":65536},"desired_state":"running","observed_state":"pending"}`, ErrInvalidRecord},
		{"node port negative", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","ports":{"erlpmd":-1},"desired_state":"running","observed_state":"pending"}`, ErrInvalidRecord},
		{"node unknown desired", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","desired_state":"dancing","observed_state":"pending"}`, ErrInvalidRecord},
		{"node missing observed", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","desired_state":"running"}`, ErrInvalidRecord},
		{"node cluster mismatch", node, nodeP, `{"version":1,"cluster":"c2","name":"n1","desired_state":"running","observed_state":"pending"}`, ErrInvalidRecord},
		{"node bad riak name", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","riak_node_name":"nohost","desired_state":"running","observed_state":"pending"}`, ErrInvalidRecord},
		{"node version 7", node, nodeP, `{"version":7}`, ErrUnknownVersion},
		{"node replaces ok", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","riak_node_name":"riak-c1-n1@h2","replaces_riak_node_name":"riak-c1-n1@h1","desired_state":"running","observed_state":"pending"}`, nil},
		{"node bad replaces name", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","replaces_riak_node_name":"nohost","desired_state":"running","observed_state":"pending"}`, ErrInvalidRecord},
		{"node status ok", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","desired_state":"running","observed_state":"running","status":{"ready":true,"transfers_pending":true,"transfers":"x","config_check":{"generation":2,"ok":false,"error":"bad"}}}`, nil},
		{"node status text too long", node, nodeP, `{"version":1,"cluster":"c1","name":"n1","desired_state":"running","observed_state":"running","status":{"transfers":"` + strings.Repeat("x", MaxStatusText+1) + `"}}`, ErrInvalidRecord},

		{"live ok", live, liveP, `{"version":1,"name":"n1","host":"127.0.0.1","pb_port":8087,"http_port":8098}`, nil},
		{"live hostname ok", live, liveP, `{"version":1,"name":"n1","host":"agent-1.example","pb_port":8087,"http_port":8098}`, nil},
		{"live missing port", live, liveP, `{"version":1,"name":"n1","host":"h","pb_port":8087}`, ErrInvalidRecord},
		{"live empty host", live, liveP, `{"version":1,"name":"n1","host":"","pb_port":1,"http_port":2}`, ErrInvalidRecord},
		{"live host with port", live, liveP, `{"version":1,"name":"n1","host":"h:1","pb_port":1,"http_port":2}`, ErrInvalidRecord},
		{"live missing version", live, liveP, `{"name":"n1","host":"h","pb_port":1,"http_port":2}`, ErrUnknownVersion},
		{"live null", live, liveP, `null`, ErrUnknownVersion},

		{"erlpmd ok", erl, erlpmdP, `{"version":1,"name":"riak-c1-n1@h1","host":"10.0.0.1","port":40000,"node_type":77,"protocol":0,"highest_version":6,"lowest_version":5,"extra":"AAE=","creation":12345}`, nil},
		{"erlpmd versions reversed", erl, erlpmdP, `{"version":1,"name":"riak-c1-n1@h1","host":"h","port":1,"highest_version":5,"lowest_version":6}`, ErrInvalidRecord},
		{"erlpmd node type", erl, erlpmdP, `{"version":1,"name":"riak-c1-n1@h1","host":"h","port":1,"node_type":300}`, ErrInvalidRecord},
		{"erlpmd bad extra", erl, erlpmdP, `{"version":1,"name":"riak-c1-n1@h1","host":"h","port":1,"extra":"!!"}`, ErrInvalidRecord},
		{"erlpmd port 0", erl, erlpmdP, `{"version":1,"name":"riak-c1-n1@h1","host":"h","port":0}`, ErrInvalidRecord},

		{"lock ok", lock, lockP, `{"version":1,"cluster":"c1","node":"n1","task_id":"t-1","agent_id":"a1","host":"10.0.0.1","pid":42,"since":"2025-01-10T09:30:00Z"}`, nil},
		{"lock node mismatch", lock, lockP, `{"version":1,"cluster":"c1","node":"n2","task_id":"t-1","host":"h"}`, ErrInvalidRecord},
		{"lock cluster mismatch", lock, lockP, `{"version":1,"cluster":"c2","node":"n1","task_id":"t-1","host":"h"}`, ErrInvalidRecord},
		{"lock no task", lock, lockP, `{"version":1,"cluster":"c1","node":"n1","host":"h"}`, ErrInvalidRecord},
		{"lock negative pid", lock, lockP, `{"version":1,"cluster":"c1","node":"n1","task_id":"t","host":"h","pid":-1}`, ErrInvalidRecord},
		{"lock bad since", lock, lockP, `{"version":1,"cluster":"c1","node":"n1","task_id":"t","host":"h","since":"yesterday"}`, ErrInvalidRecord},
		{"lock version 2", lock, lockP, `{"version":2}`, ErrUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn(tt.path, []byte(tt.data))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("error %q does not name the path %q", err, tt.path)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	b, err := Encode(LiveRecord{Name: "n1", Host: "h", PBPort: 1, HTTPPort: 2})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": 1.0, "name": "n1", "host": "h", "pb_port": 1.0, "http_port": 2.0}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, m[k], v, b)
		}
	}
	if _, err := Encode(LiveRecord{Name: "n1"}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Encode(invalid) = %v, want ErrInvalidRecord", err)
	}

	// A record round-trips, constraints included.
	in := ClusterRecord{Name: "c1", Generation: 2, RiakConf: "a = b\n", AdvancedConfig: "[].",
		NodeResources: Resources{CPUs: 0.5, MemMB: 512, DiskMB: 1024},
		Constraints:   []Constraint{{Field: "hostname", Operator: "UNIQUE"}, {Field: "rack", Operator: "LIKE", Value: "r[12]"}}}
	b, err = Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"constraints":[["hostname","UNIQUE"],["rack","LIKE","r[12]"]]`) {
		t.Fatalf("constraints not encoded as arrays: %s", b)
	}
	out, err := Decode[ClusterRecord](clusterP, b)
	if err != nil {
		t.Fatal(err)
	}
	in.Version = RecordVersion
	if out.Name != in.Name || out.Version != 1 || len(out.Constraints) != 2 || out.Constraints[1] != in.Constraints[1] || out.NodeResources != in.NodeResources {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
}

func TestOfferCoalesces(t *testing.T) {
	ch := make(chan int, 1)
	for i := range 100 {
		offer(ch, i)
	}
	if got := <-ch; got != 99 {
		t.Fatalf("got %d, want the latest value 99", got)
	}
	select {
	case v := <-ch:
		t.Fatalf("unexpected backlog value %d", v)
	default:
	}
}

func TestMapErr(t *testing.T) {
	if err := mapErr("get", "/a", nil); err != nil {
		t.Fatal(err)
	}
	err := mapErr("get", "/a", errors.New("boom"))
	if !strings.HasPrefix(err.Error(), "zkstate: get /a: boom") {
		t.Fatalf("got %q", err)
	}
}

// TestPlacedNodeValidate: a placed node record (one with a persistence
// ID) must name its agent, a disk and all five ports, because the
// scheduler reserves, launches and releases exactly those; a record
// missing them would have it act on an empty volume.
func TestPlacedNodeValidate(t *testing.T) {
	placed := NodeRecord{Cluster: "c1", Name: "riak-c1-1", DesiredState: DesiredRunning, ObservedState: ObservedRunning,
		AgentID: "a1", PersistenceID: "c1-riak-c1-1-1", Reserved: Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024},
		Ports: Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}}
	if err := placed.Validate(); err != nil {
		t.Fatalf("valid placed node refused: %v", err)
	}
	pending := NodeRecord{Cluster: "c1", Name: "riak-c1-2", DesiredState: DesiredRunning, ObservedState: ObservedPending}
	if err := pending.Validate(); err != nil {
		t.Fatalf("pending node refused: %v", err)
	}
	for name, breakIt := range map[string]func(*NodeRecord){
		"no agent":   func(n *NodeRecord) { n.AgentID = "" },
		"no disk":    func(n *NodeRecord) { n.Reserved.DiskMB = 0 },
		"no pb port": func(n *NodeRecord) { n.Ports.PB = 0 },
		"no erlpmd":  func(n *NodeRecord) { n.Ports.Erlpmd = 0 },
	} {
		n := placed
		breakIt(&n)
		if err := n.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
