package zkstate_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func cluster(name string) zkstate.ClusterRecord {
	return zkstate.ClusterRecord{
		Name:           name,
		RiakConf:       "nodename = {{.NodeName}}\n",
		AdvancedConfig: "[].\n",
		NodeResources:  zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 4096},
		Constraints:    []zkstate.Constraint{{Field: "hostname", Operator: "UNIQUE"}},
	}
}

func node(c, name string) zkstate.NodeRecord {
	return zkstate.NodeRecord{
		Cluster: c, Name: name,
		DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedPending,
	}
}

func TestConnectTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := zkstate.Connect(ctx, []string{testutil.FreeAddr(t)}, zkstate.WithLogger(testLogger()))
	if err == nil {
		s.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Connect took %v after its context ended", d)
	}
}

func TestClusterAndNodeRecords(t *testing.T) {
	z := startZK(t)
	s := connect(t, z.Addr)
	f := framework(t, s)
	ctx := testCtx(t)

	if names, err := f.ListClusters(ctx); err != nil || len(names) != 0 {
		t.Fatalf("ListClusters on empty tree = %v, %v", names, err)
	}
	if _, _, err := f.GetCluster(ctx, "c1"); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("GetCluster(missing) = %v, want ErrNotFound", err)
	}
	if err := f.CreateNode(ctx, node("c1", "n1")); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("CreateNode without cluster = %v, want ErrNotFound", err)
	}

	if err := f.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateCluster(ctx, cluster("c1")); !errors.Is(err, zkstate.ErrExists) {
		t.Fatalf("second CreateCluster = %v, want ErrExists", err)
	}
	if err := f.CreateCluster(ctx, cluster("bad/name")); !errors.Is(err, zkstate.ErrInvalidName) {
		t.Fatalf("CreateCluster(bad/name) = %v, want ErrInvalidName", err)
	}
	bad := cluster("c2")
	bad.NodeResources.CPUs = -1
	if err := f.CreateCluster(ctx, bad); !errors.Is(err, zkstate.ErrInvalidRecord) {
		t.Fatalf("CreateCluster(invalid) = %v, want ErrInvalidRecord", err)
	}

	got, v, err := f.GetCluster(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != zkstate.RecordVersion || got.Name != "c1" || got.RiakConf != cluster("c1").RiakConf || v != 0 {
		t.Fatalf("GetCluster = %+v (v%d)", got, v)
	}
	got.Generation++
	v2, err := f.UpdateCluster(ctx, got, v)
	if err != nil || v2 != v+1 {
		t.Fatalf("UpdateCluster = %d, %v", v2, err)
	}
	if _, err := f.UpdateCluster(ctx, got, v); !errors.Is(err, zkstate.ErrVersionConflict) {
		t.Fatalf("UpdateCluster(stale) = %v, want ErrVersionConflict", err)
	}

	for _, n := range []string{"n2", "n1", "n3"} {
		if err := f.CreateNode(ctx, node("c1", n)); err != nil {
			t.Fatal(err)
		}
	}
	names, err := f.ListNodes(ctx, "c1")
	if err != nil || strings.Join(names, ",") != "n1,n2,n3" {
		t.Fatalf("ListNodes = %v, %v", names, err)
	}
	n, nv, err := f.ModifyNode(ctx, "c1", "n2", func(n *zkstate.NodeRecord) error {
		n.TaskID = "task-1"
		n.Ports = zkstate.Ports{PB: 31000, HTTP: 31001}
		n.ObservedState = zkstate.ObservedStarting
		return nil
	})
	if err != nil || n.TaskID != "task-1" || nv != 1 {
		t.Fatalf("ModifyNode = %+v, %d, %v", n, nv, err)
	}
	// A no-op Modify writes nothing.
	if _, nv2, err := f.ModifyNode(ctx, "c1", "n2", func(*zkstate.NodeRecord) error { return nil }); err != nil || nv2 != nv {
		t.Fatalf("no-op ModifyNode = v%d, %v; want v%d", nv2, err, nv)
	}
	// fn's error aborts and is wrapped.
	errStop := errors.New("stop")
	if _, _, err := f.ModifyNode(ctx, "c1", "n2", func(*zkstate.NodeRecord) error { return errStop }); !errors.Is(err, errStop) {
		t.Fatalf("ModifyNode(fn error) = %v", err)
	}
	// fn producing an invalid record is refused.
	if _, _, err := f.ModifyNode(ctx, "c1", "n2", func(n *zkstate.NodeRecord) error { n.Ports.PB = 70000; return nil }); !errors.Is(err, zkstate.ErrInvalidRecord) {
		t.Fatalf("ModifyNode(invalid) = %v, want ErrInvalidRecord", err)
	}
	if err := f.DeleteNode(ctx, "c1", "n3", 5); !errors.Is(err, zkstate.ErrVersionConflict) {
		t.Fatalf("DeleteNode(wrong version) = %v", err)
	}
	if err := f.DeleteNode(ctx, "c1", "n3", 0); err != nil {
		t.Fatal(err)
	}

	if err := f.DeleteCluster(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteCluster(ctx, "c1"); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("DeleteCluster twice = %v, want ErrNotFound", err)
	}
	if names, err := f.ListClusters(ctx); err != nil || len(names) != 0 {
		t.Fatalf("ListClusters after delete = %v, %v", names, err)
	}
}

// TestRejectsForeignData writes bad data with the raw connection: reads
// fail with the right sentinel and name the path.
func TestRejectsForeignData(t *testing.T) {
	z := startZK(t)
	s := connect(t, z.Addr)
	f := framework(t, s)
	ctx := testCtx(t)
	if err := f.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}
	p, _ := zkstate.ClusterPath("riak", "c1")

	tests := []struct {
		name string
		data string
		want error
	}{
		{"future version", `{"version":2,"name":"c1"}`, zkstate.ErrUnknownVersion},
		{"no version", `{"name":"c1"}`, zkstate.ErrUnknownVersion},
		{"bad json", `{"version":1,`, zkstate.ErrInvalidRecord},
		{"empty", ``, zkstate.ErrInvalidRecord},
		{"wrong name", `{"version":1,"name":"other"}`, zkstate.ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Conn().Set(p, []byte(tt.data), -1); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.GetCluster(ctx, "c1")
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("GetCluster = %v, want %v naming %s", err, tt.want, p)
			}
			if _, _, err := f.ModifyCluster(ctx, "c1", func(*zkstate.ClusterRecord) error { return nil }); !errors.Is(err, tt.want) {
				t.Fatalf("ModifyCluster = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestConcurrentCAS: two writers read the same version and both update:
// exactly one wins.
func TestConcurrentCAS(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	stores := []*zkstate.Store{connect(t, z.Addr), connect(t, z.Addr)}
	f0 := framework(t, stores[0])
	if err := f0.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}

	for round := range 5 {
		var read, wg sync.WaitGroup
		read.Add(2)
		errs := make([]error, 2)
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := framework(t, s)
				rec, v, err := f.GetCluster(ctx, "c1")
				read.Done()
				if err != nil {
					errs[i] = err
					return
				}
				read.Wait() // both have read the same version
				rec.Generation++
				_, errs[i] = f.UpdateCluster(ctx, rec, v)
			}()
		}
		wg.Wait()
		wins, conflicts := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, zkstate.ErrVersionConflict):
				conflicts++
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if wins != 1 || conflicts != 1 {
			t.Fatalf("round %d: %d wins, %d conflicts; want 1 and 1", round, wins, conflicts)
		}
	}
	rec, _, err := f0.GetCluster(ctx, "c1")
	if err != nil || rec.Generation != 5 {
		t.Fatalf("generation = %d, %v; want 5", rec.Generation, err)
	}
}

// TestModifyConverges: N concurrent increments through Modify from two
// sessions all land.
func TestModifyConverges(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	fs := []*zkstate.Framework{framework(t, connect(t, z.Addr)), framework(t, connect(t, z.Addr))}
	if err := fs[0].CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := fs[i%2].ModifyCluster(ctx, "c1", func(c *zkstate.ClusterRecord) error {
				c.Generation++
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, v, err := fs[1].GetCluster(ctx, "c1")
	if err != nil || rec.Generation != n || v != n {
		t.Fatalf("generation %d (znode v%d), %v; want %d", rec.Generation, v, err, n)
	}
}

func TestFrameworkIDAndURI(t *testing.T) {
	z := startZK(t)
	s := connect(t, z.Addr)
	f := framework(t, s)
	ctx := testCtx(t)

	if _, err := f.FrameworkID(ctx); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("FrameworkID before set = %v", err)
	}
	if _, err := f.URI(ctx); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("URI before set = %v", err)
	}
	for _, id := range []string{"a1b2-0001", "a1b2-0002"} {
		if err := f.SetFrameworkID(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got, err := f.FrameworkID(ctx); err != nil || got != id {
			t.Fatalf("FrameworkID = %q, %v; want %q", got, err, id)
		}
	}
	if err := f.SetURI(ctx, "http://127.0.0.1:9090"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.URI(ctx); err != nil || got != "http://127.0.0.1:9090" {
		t.Fatalf("URI = %q, %v", got, err)
	}
	// Stored as plain text.
	p, _ := zkstate.URIPath("riak")
	if data, _, err := s.Conn().Get(p); err != nil || string(data) != "http://127.0.0.1:9090" {
		t.Fatalf("raw uri = %q, %v", data, err)
	}
	for _, bad := range []string{"", "127.0.0.1:9090", "ftp://x", "http://"} {
		if err := f.SetURI(ctx, bad); !errors.Is(err, zkstate.ErrInvalidRecord) {
			t.Errorf("SetURI(%q) = %v, want ErrInvalidRecord", bad, err)
		}
	}
	if err := f.SetFrameworkID(ctx, "has space"); !errors.Is(err, zkstate.ErrInvalidRecord) {
		t.Errorf("SetFrameworkID(space) = %v", err)
	}
	// Foreign garbage is rejected on read.
	if _, err := s.Conn().Set(p, []byte("not a url"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.URI(ctx); !errors.Is(err, zkstate.ErrInvalidRecord) {
		t.Fatalf("URI(garbage) = %v", err)
	}
	if _, err := s.Framework("../x"); !errors.Is(err, zkstate.ErrInvalidName) {
		t.Fatalf("Framework(../x) = %v", err)
	}
}

func TestStoreClosed(t *testing.T) {
	z := startZK(t)
	s := connect(t, z.Addr)
	f := framework(t, s)
	s.Close()
	s.Close() // idempotent
	ctx := testCtx(t)
	if _, _, err := f.GetCluster(ctx, "c1"); !errors.Is(err, zkstate.ErrClosed) {
		t.Fatalf("GetCluster after Close = %v, want ErrClosed", err)
	}
	if _, err := f.RegisterLive(ctx, "c1", zkstate.LiveRecord{Name: "n1", Host: "h", PBPort: 1, HTTPPort: 2}); !errors.Is(err, zkstate.ErrClosed) {
		t.Fatalf("RegisterLive after Close = %v, want ErrClosed", err)
	}
	if _, ok := <-s.WatchChildren(ctx, "/"); ok {
		t.Fatal("WatchChildren after Close delivered")
	}
	if s.Conn().State() == zk.StateHasSession {
		t.Fatal("connection still has a session")
	}
}
