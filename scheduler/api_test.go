package scheduler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// apiServer runs the API of a scheduler that is not leading (no Mesos):
// everything it serves comes from ZooKeeper.
func apiServer(t *testing.T) (*httptest.Server, *zkstate.Framework) {
	t.Helper()
	z := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store, err := zkstate.Connect(ctx, z.Servers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	fw, err := store.Framework("riak")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Master: "http://127.0.0.1:1", Framework: fw, ZooKeeper: z.Addr})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(""))
	t.Cleanup(srv.Close)
	return srv, fw
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	srv, fw := apiServer(t)
	steps := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"create", "PUT", "/api/v1/clusters/c1", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100},"constraints":[["hostname","UNIQUE"]]}`, 201, `"name": "c1"`},
		{"create again", "PUT", "/api/v1/clusters/c1", ``, 409, "already exists"},
		{"bad json", "PUT", "/api/v1/clusters/c2", `{"node_resources":`, 400, "bad JSON"},
		{"unknown field", "PUT", "/api/v1/clusters/c2", `{"bogus":1}`, 400, "unknown field"},
		{"bad constraint", "PUT", "/api/v1/clusters/c2", `{"constraints":[["hostname","SOMETIMES"]]}`, 400, "unknown operator"},
		{"negative resources", "PUT", "/api/v1/clusters/c2", `{"node_resources":{"cpus":-1,"mem_mb":1,"disk_mb":1}}`, 400, "positive"},
		{"dot-dot is cleaned away", "PUT", "/api/v1/clusters/..", ``, 404, "no such API endpoint"},
		{"escaping name", "PUT", "/api/v1/clusters/a%2F..%2Fb", ``, 400, "cluster name"},
		{"unknown cluster", "GET", "/api/v1/clusters/nope", ``, 404, "does not exist"},
		{"nodes of unknown cluster", "POST", "/api/v1/clusters/nope/nodes", ``, 404, "does not exist"},
		{"negative count", "POST", "/api/v1/clusters/c1/nodes?count=-1", ``, 400, "count"},
		{"count not a number", "POST", "/api/v1/clusters/c1/nodes?count=x", ``, 400, "count"},
		{"too many", "POST", "/api/v1/clusters/c1/nodes", `{"count":1000}`, 400, "count"},
		{"add two", "POST", "/api/v1/clusters/c1/nodes?count=2", ``, 201, "riak-c1-2"},
		{"list", "GET", "/api/v1/clusters/c1/nodes", ``, 200, `"state": "pending"`},
		{"node info", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1", ``, 200, `"desired_state": "running"`},
		{"unknown node", "GET", "/api/v1/clusters/c1/nodes/riak-c1-9", ``, 404, "does not exist"},
		{"bad node name", "GET", "/api/v1/clusters/c1/nodes/a%20b", ``, 400, "node name"},
		{"template too large", "PUT", "/api/v1/clusters/c1/config", strings.Repeat("x", 64<<10+1), 413, "limit"},
		{"bad force", "DELETE", "/api/v1/clusters/c1/nodes/riak-c1-2?force=maybe", ``, 400, "force"},
		{"restart pending node", "POST", "/api/v1/clusters/c1/nodes/riak-c1-1/restart", ``, 409, "not running"},
		{"template that does not render", "PUT", "/api/v1/clusters/c1/config", "ring_size = {{.RingSize}}\n", 400, "template riak.conf"},
		{"template syntax error", "PUT", "/api/v1/clusters/c1/advancedConfig", "[{riak_kv, [{{.Host]}].", 400, "template advanced.config"},
		{"create with a bad template", "PUT", "/api/v1/clusters/c3", `{"riak_conf":"{{range 3}}{{end}}"}`, 400, "range is not supported"},
		{"set config", "PUT", "/api/v1/clusters/c1/config", "nodename = {{.NodeName}}\n", 200, `"generation": 1`},
		{"executor keys warn", "PUT", "/api/v1/clusters/c1/config", "nodename = {{.NodeName}}\nplatform_data_dir = /tmp/d\n", 200, `the executor sets it to /var/lib/mesos/sandbox/riak-data/data`},
		{"set config back", "PUT", "/api/v1/clusters/c1/config", "nodename = {{.NodeName}}\n", 200, `"generation": 3`},
		{"get config", "GET", "/api/v1/clusters/c1/config", ``, 200, "nodename = {{.NodeName}}"},
		{"restart cluster", "POST", "/api/v1/clusters/c1/restart", ``, 202, `"generation": 4`},
		{"rollout waits for pending nodes", "GET", "/api/v1/clusters/c1", ``, 200, `"message": "waiting: riak-c1-1 is pending"`},
		{"pending node not ready", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1", ``, 200, `"ready": false`},
		{"stop node", "POST", "/api/v1/clusters/c1/nodes/riak-c1-1/stop", ``, 202, `"desired_state": "stopped"`},
		{"stopped node not ready", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1/readiness", ``, 200, `"why": "desired state stopped"`},
		{"start node", "POST", "/api/v1/clusters/c1/nodes/riak-c1-1/start", ``, 202, `"desired_state": "running"`},
		{"cluster not ready", "GET", "/api/v1/clusters/c1/readiness", ``, 200, `"node": "riak-c1-1"`},
		{"no endpoints yet", "GET", "/api/v1/clusters/c1/endpoints", ``, 200, `"endpoints": []`},
		{"stats of a pending node", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1/stats", ``, 409, "not running"},
		{"readiness of unknown cluster", "GET", "/api/v1/clusters/nope/readiness", ``, 404, "does not exist"},
		{"remove node", "DELETE", "/api/v1/clusters/c1/nodes/riak-c1-2", ``, 202, `"desired_state": "removed"`},
		{"stop a node being removed", "POST", "/api/v1/clusters/c1/nodes/riak-c1-2/stop", ``, 409, "being removed"},
		{"export", "GET", "/api/v1/clusters/c1/export", ``, 200, `"nodes": 1`},
		{"import: bad version", "POST", "/api/v1/clusters/import", `{"version":7,"name":"c8"}`, 400, "version 7"},
		{"import: exists", "POST", "/api/v1/clusters/import", `{"version":1,"name":"c1"}`, 409, "already exists"},
		{"import: bad name", "POST", "/api/v1/clusters/import?name=a%20b", `{"version":1,"name":"c8"}`, 400, "cluster name"},
		{"framework", "GET", "/api/v1/framework", ``, 200, `"is_leader": false`},
		{"health", "GET", "/api/v1/healthcheck", ``, 200, "ok"},
		{"unknown endpoint", "GET", "/api/v1/bogus", ``, 404, "no such API endpoint"},
		{"wrong method", "POST", "/api/v1/clusters/c1", ``, 404, "no such API endpoint: POST"},
		{"update: nothing", "PATCH", "/api/v1/clusters/c1", `{}`, 400, "nothing to update"},
		{"update: bad resources", "PATCH", "/api/v1/clusters/c1", `{"node_resources":{"cpus":0,"mem_mb":1,"disk_mb":1}}`, 400, "must be positive"},
		{"update: bad constraint", "PATCH", "/api/v1/clusters/c1", `{"constraints":[["hostname","NOPE"]]}`, 400, "unknown operator"},
		{"update: unknown field", "PATCH", "/api/v1/clusters/c1", `{"cpus":2}`, 400, "bad JSON body"},
		{"update: no cluster", "PATCH", "/api/v1/clusters/c9", `{"constraints":[]}`, 404, "cluster c9 does not exist"},
		{"update: constraints", "PATCH", "/api/v1/clusters/c1", `{"constraints":[["hostname","UNIQUE"]]}`, 200, "placed from now on"},
		{"status: not running", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1/transfers", ``, 409, "not running"},
		{"bucket types: no running node", "GET", "/api/v1/clusters/c1/bucket-types", ``, 409, "no node of the cluster runs"},
		{"bucket type: bad name", "PUT", "/api/v1/clusters/c1/bucket-types/a%20b", `{"props":{}}`, 400, "bucket type name"},
		{"bucket type: default", "PUT", "/api/v1/clusters/c1/bucket-types/default", `{"props":{}}`, 400, "always exists"},
		{"bucket type: not JSON", "PUT", "/api/v1/clusters/c1/bucket-types/t", `{`, 400, "not JSON"},
		{"logs: bad file", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1/logs?file=x", ``, 400, "want one of console"},
		{"logs: no task", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1/logs", ``, 409, "no task"},
		{"logs: bad lines", "GET", "/api/v1/clusters/c1/nodes/riak-c1-1/logs?lines=-1", ``, 400, "lines"},
		{"teardown: not leader", "POST", "/api/v1/framework/teardown", ``, 503, "not the connected leader"},
		{"teardown: bad wait", "POST", "/api/v1/framework/teardown?wait=forever", ``, 400, "wait"},
	}
	for _, s := range steps {
		code, body := call(t, srv, s.method, s.path, s.body)
		if code != s.want || !strings.Contains(body, s.contains) {
			t.Errorf("%s: %s %s → %d %s; want %d containing %q", s.name, s.method, s.path, code, body, s.want, s.contains)
		}
		if code >= 400 {
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("%s: error body is not {\"error\": ...}: %s", s.name, body)
			}
		}
	}
	if code, body := call(t, srv, "GET", "/", ""); code != 200 || !strings.Contains(body, "Cluster c1") || !strings.Contains(body, `data-node="riak-c1-1"`) {
		t.Errorf("status page: %d %.300s", code, body)
	}
	n, _, err := fw.GetNode(context.Background(), "c1", "riak-c1-2")
	if err != nil || n.DesiredState != zkstate.DesiredRemoved {
		t.Errorf("removed node record: %+v %v", n, err)
	}
	// Destroy with nodes: they are marked removed first.
	if code, body := call(t, srv, "DELETE", "/api/v1/clusters/c1", ""); code != 202 {
		t.Errorf("destroy: %d %s", code, body)
	}
}

// TestExportImport: a cluster's export, imported under another name,
// exports the same but for the name; its nodes are created.
func TestExportImport(t *testing.T) {
	srv, fw := apiServer(t)
	for _, st := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/clusters/src", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100},"constraints":[["hostname","UNIQUE"]],"riak_conf":"nodename = {{.NodeName}}\nstorage_backend = leveldb\n"}`},
		{"POST", "/api/v1/clusters/src/nodes?count=3", ``},
		{"DELETE", "/api/v1/clusters/src/nodes/riak-src-3", ``},
	} {
		if code, body := call(t, srv, st.method, st.path, st.body); code/100 != 2 {
			t.Fatalf("%s %s: %d %s", st.method, st.path, code, body)
		}
	}
	code, exported := call(t, srv, "GET", "/api/v1/clusters/src/export", "")
	if code != 200 {
		t.Fatalf("export: %d %s", code, exported)
	}
	var e ClusterExport
	if err := json.Unmarshal([]byte(exported), &e); err != nil {
		t.Fatal(err)
	}
	if e.Version != 1 || e.Name != "src" || e.Nodes != 2 || e.NodeResources.MemMB != 256 || len(e.Constraints) != 1 || !strings.Contains(e.RiakConf, "leveldb") {
		t.Fatalf("export %+v", e)
	}
	if code, body := call(t, srv, "POST", "/api/v1/clusters/import?name=dst", exported); code != 201 || !strings.Contains(body, `"name": "dst"`) {
		t.Fatalf("import: %d %s", code, body)
	}
	_, again := call(t, srv, "GET", "/api/v1/clusters/dst/export", "")
	var e2 ClusterExport
	if err := json.Unmarshal([]byte(again), &e2); err != nil {
		t.Fatal(err)
	}
	e2.Name = "src"
	if !reflect.DeepEqual(e, e2) {
		t.Errorf("round trip: %+v, want %+v", e2, e)
	}
	nodes, err := fw.ListNodes(context.Background(), "dst")
	if err != nil || len(nodes) != 2 {
		t.Errorf("imported cluster's nodes: %v %v", nodes, err)
	}
	if code, body := call(t, srv, "POST", "/api/v1/clusters/import", exported); code != 409 {
		t.Errorf("import over an existing cluster: %d %s", code, body)
	}
}
