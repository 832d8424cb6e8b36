package scheduler_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// TestMesosAuthentication runs the scheduler against a mesos-local that
// requires credentials: with the right secret it registers; with a wrong
// or no secret it does not, and says so in one clear line each time it
// tries again.
func TestMesosAuthentication(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ZooKeeper and mesos-local")
	}
	z := testutil.StartZooKeeper(t)
	m, master := mesoslocaltest.Start(t, mesoslocal.Config{Agents: 1, WorkDir: t.TempDir(), AgentResources: testutil.AgentResources(t),
		Credentials: []mesoslocal.Credential{{Principal: "riak", Secret: "s3cret"}, {Principal: "ops", Secret: "0ps"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := zkstate.Connect(ctx, z.Servers(), zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	// start runs a scheduler of framework name with secret until the
	// subtest ends; it returns the scheduler and its log.
	start := func(t *testing.T, name, secret string) (*scheduler.Scheduler, *testutil.SyncBuffer) {
		fw, err := store.Framework(name)
		if err != nil {
			t.Fatal(err)
		}
		logs := &testutil.SyncBuffer{}
		s, err := scheduler.New(scheduler.Config{Master: master, Framework: fw, ZooKeeper: z.Addr, ID: name,
			Secret: secret, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan struct{})
		go func() { _ = s.Run(runCtx); close(ran) }()
		t.Cleanup(func() {
			stop()
			<-ran
			if t.Failed() || testing.Verbose() {
				t.Logf("scheduler log:\n%s", tailStr(logs.String(), 4000))
			}
		})
		return s, logs
	}
	registered := func(name string) *mesoslocal.FrameworkState {
		for _, f := range m.State().Frameworks {
			if f.Name == "riak ("+name+")" {
				return &f
			}
		}
		return nil
	}

	t.Run("right secret", func(t *testing.T) {
		s, logs := start(t, "auth-ok", "s3cret")
		testutil.WaitFor(t, 30*time.Second, "the scheduler to subscribe", func() bool {
			st := s.Status(ctx)
			return st.IsLeader && st.Connected
		})
		f := registered("auth-ok")
		if f == nil || f.Principal != "riak" || !f.Connected {
			t.Fatalf("framework on the master: %+v", f)
		}
		testutil.WaitFor(t, 10*time.Second, "the framework ID in ZooKeeper", func() bool { return s.Status(ctx).FrameworkID == f.ID })
		// Later calls carry the credential too: the offer the scheduler
		// has no use for is declined (an unauthenticated DECLINE would
		// leave it outstanding).
		testutil.WaitFor(t, 30*time.Second, "an offer, then its DECLINE", func() bool { return len(s.Agents()) > 0 && m.State().Offers == 0 })
		if l := logs.String(); strings.Contains(l, "401") || strings.Contains(l, "mesos call failed") {
			t.Errorf("calls refused:\n%s", l)
		}
	})

	for _, tc := range []struct{ name, secret, line string }{
		{"wrong secret", "n0pe", "mesos master refused the credentials for principal riak (401)"},
		{"no secret", "", "mesos master requires authentication and no secret is configured for principal riak (401)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "auth-" + strings.ReplaceAll(tc.name, " ", "-")
			s, logs := start(t, name, tc.secret)
			testutil.WaitFor(t, 30*time.Second, "the refusal logged twice (retried with backoff)", func() bool {
				return strings.Count(logs.String(), tc.line) >= 2
			})
			if st := s.Status(ctx); st.Connected || st.FrameworkID != "" {
				t.Errorf("status %+v: want not connected, no framework ID", st)
			}
			if f := registered(name); f != nil {
				t.Errorf("framework registered: %+v", f)
			}
			if strings.Contains(logs.String(), "s3cret") || tc.secret != "" && strings.Contains(logs.String(), tc.secret) {
				t.Error("a secret is in the log")
			}
		})
	}
}
