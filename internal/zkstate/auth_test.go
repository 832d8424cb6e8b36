package zkstate_test

import (
	"errors"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestDigestAuthACL: with WithDigestAuth, what the framework creates can be
// read by anyone but changed only by that identity: a client without the
// credentials (or with other ones) can neither change, add under nor delete
// the framework's znodes.
func TestDigestAuthACL(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	owner := framework(t, connect(t, z.Addr, zkstate.WithDigestAuth("rmf:s3cret")))
	if err := owner.CreateCluster(ctx, zkstate.ClusterRecord{Name: "c1", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	if err := owner.SetURI(ctx, "http://127.0.0.1:9090"); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]zkstate.Option{
		"anonymous":   nil,
		"other creds": {zkstate.WithDigestAuth("rmf:guess")},
	} {
		t.Run(name, func(t *testing.T) {
			other := framework(t, connect(t, z.Addr, opts...))
			if _, _, err := other.GetCluster(ctx, "c1"); err != nil {
				t.Errorf("read of the cluster: %v (reads are open)", err)
			}
			if _, _, err := other.ModifyCluster(ctx, "c1", func(r *zkstate.ClusterRecord) error { r.Generation = 99; return nil }); !errors.Is(err, zk.ErrNoAuth) {
				t.Errorf("modify by %s: %v, want ErrNoAuth", name, err)
			}
			if err := other.CreateCluster(ctx, zkstate.ClusterRecord{Name: "intruder", Generation: 1}); !errors.Is(err, zk.ErrNoAuth) {
				t.Errorf("create under the framework by %s: %v, want ErrNoAuth", name, err)
			}
			if err := other.SetURI(ctx, "http://evil"); !errors.Is(err, zk.ErrNoAuth) {
				t.Errorf("set uri by %s: %v, want ErrNoAuth", name, err)
			}
		})
	}
	if rec, _, err := owner.GetCluster(ctx, "c1"); err != nil || rec.Generation != 1 {
		t.Errorf("cluster after the attempts: %+v %v", rec, err)
	}
	if _, _, err := zkstate.ParseDigestAuth("nopassword"); err == nil {
		t.Error("ParseDigestAuth accepted a credential without a password")
	}
}
