// Package mesoslocaltest runs mesos-local and a mesos-go scheduler for
// tests: the harness the mesoslocal, executor and scheduler tests share.
package mesoslocaltest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
)

// Start creates a mesos-local with cfg and serves it on a free loopback
// port until the test ends; it returns the master and its URL.
func Start(t testing.TB, cfg mesoslocal.Config) (*mesoslocal.Master, string) {
	t.Helper()
	m, err := mesoslocal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	t.Cleanup(func() {
		_ = m.Close()
		if err := <-done; !errors.Is(err, mesoslocal.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return m, "http://" + ln.Addr().String()
}

// Options configure a test scheduler. Zero values: protobuf, a one-minute
// failover timeout, updates acknowledged automatically, role "riak",
// principal = role, no authentication.
type Options struct {
	Name      string
	MediaType encoding.MediaType
	Failover  time.Duration
	NoAck     bool
	Role      string
	// Principal is FrameworkInfo.principal; with Secret set it is also
	// sent with Secret as HTTP Basic authentication on every call.
	Principal, Secret string
}

// Scheduler is a mesos-go scheduler (httpsched + controller) that
// acknowledges updates (unless NoAck) and hands every event to the test.
type Scheduler struct {
	t      testing.TB
	caller calls.Caller
	fid    store.Singleton
	events chan *scheduler.Event
	held   map[string]mesos.Offer // outstanding offers seen by Next
	cancel context.CancelFunc
	done   chan struct{}
}

// StartScheduler subscribes a scheduler to master; it stops when the
// test ends.
func StartScheduler(t testing.TB, master string, o Options) *Scheduler {
	t.Helper()
	if o.MediaType == "" {
		o.MediaType = codecs.MediaTypeProtobuf
	}
	if o.Failover == 0 {
		o.Failover = time.Minute
	}
	if o.Role == "" {
		o.Role = "riak"
	}
	if o.Name == "" {
		o.Name = "mesoslocal-test"
	}
	if o.Principal == "" {
		o.Principal = o.Role
	}
	do := []httpcli.ConfigOpt{httpcli.Timeout(10 * time.Second)}
	if o.Secret != "" {
		do = append(do, httpcli.BasicAuth(o.Principal, o.Secret))
	}
	cli := httpcli.New(httpcli.Endpoint(master+"/api/v1/scheduler"), httpcli.Codec(codecs.ByMediaType[o.MediaType]),
		httpcli.Do(httpcli.With(do...)))
	fid := store.NewInMemorySingleton()
	caller := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fid))).Caller(
		httpsched.NewCaller(cli, httpsched.EndpointCandidates(func() string { return "" })))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{t: t, caller: caller, fid: fid, events: make(chan *scheduler.Event, 4096), held: map[string]mesos.Offer{}, cancel: cancel, done: make(chan struct{})}
	failover := o.Failover.Seconds()
	info := &mesos.FrameworkInfo{User: "root", Name: o.Name, Role: &o.Role, Principal: &o.Principal,
		Checkpoint: ptr(true), FailoverTimeout: &failover}
	forward := func(_ context.Context, e *scheduler.Event) error {
		select {
		case s.events <- e:
		default:
		}
		return nil
	}
	hs := events.Handlers{scheduler.Event_SUBSCRIBED: controller.TrackSubscription(fid, o.Failover).HandleF(forward)}
	if !o.NoAck {
		hs[scheduler.Event_UPDATE] = controller.AckStatusUpdates(caller).AndThen().HandleF(forward)
	}
	handler := controller.LiftErrors().Handle(hs.Otherwise(forward))
	go func() {
		defer close(s.done)
		_ = controller.Run(ctx, info, caller,
			controller.WithEventHandler(handler),
			controller.WithFrameworkID(store.GetIgnoreErrors(fid)),
			controller.WithRegistrationTokens(backoff.Notifier(100*time.Millisecond, time.Second, ctx.Done())),
		)
	}()
	t.Cleanup(s.Stop)
	return s
}

// Stop ends the subscription (idempotent).
func (s *Scheduler) Stop() {
	s.cancel()
	<-s.done
}

// FrameworkID is the ID of the current subscription ("" before one).
func (s *Scheduler) FrameworkID() string { v, _ := s.fid.Get(); return v }

// Next waits (up to 30 s) for the first event that satisfies ok.
func (s *Scheduler) Next(what string, ok func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-s.events:
			s.track(e)
			if ok(e) {
				return e
			}
		case <-timeout:
			s.t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}
}

// Events are the events Next has not read; one read here must be passed
// to Track.
func (s *Scheduler) Events() <-chan *scheduler.Event { return s.events }

// Track keeps the outstanding offers up to date with an event read from
// Events.
func (s *Scheduler) Track(e *scheduler.Event) { s.track(e) }

// Holds reports whether an outstanding offer from agent was seen.
func (s *Scheduler) Holds(agent string) bool {
	for _, o := range s.held {
		if o.AgentID.Value == agent {
			return true
		}
	}
	return false
}

// OfferFrom waits for an offer from agent that satisfies ok.
func (s *Scheduler) OfferFrom(agent string, ok func(mesos.Offer) bool) mesos.Offer {
	s.t.Helper()
	var got mesos.Offer
	s.Next("offer from "+agent, func(e *scheduler.Event) bool {
		if e.Type != scheduler.Event_OFFERS {
			return false
		}
		for _, o := range e.Offers.Offers {
			if o.AgentID.Value == agent && ok(o) {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// track keeps the outstanding offers up to date.
func (s *Scheduler) track(e *scheduler.Event) {
	switch e.Type {
	case scheduler.Event_OFFERS:
		for _, o := range e.Offers.Offers {
			s.held[o.ID.Value] = o
		}
	case scheduler.Event_RESCIND:
		delete(s.held, e.Rescind.OfferID.Value)
	case scheduler.Event_SUBSCRIBED:
		s.held = map[string]mesos.Offer{} // a new subscription voids old offers
	}
}

// Take returns (and forgets) every outstanding offer from agent seen so
// far.
func (s *Scheduler) Take(agent string) []mesos.OfferID {
	var ids []mesos.OfferID
	for id, o := range s.held {
		if o.AgentID.Value == agent {
			ids = append(ids, o.ID)
			delete(s.held, id)
		}
	}
	return ids
}

// TakeWait is Take, waiting for an offer from agent if there is none.
func (s *Scheduler) TakeWait(agent string) []mesos.OfferID {
	s.t.Helper()
	ids := s.Take(agent)
	if len(ids) == 0 {
		s.Next("offer from "+agent, func(*scheduler.Event) bool {
			ids = s.Take(agent)
			return len(ids) > 0
		})
	}
	return ids
}

// Update waits for an update of taskID in one of states.
func (s *Scheduler) Update(taskID string, states ...mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	e := s.Next(fmt.Sprintf("%s %v", taskID, states), func(e *scheduler.Event) bool {
		if e.Type != scheduler.Event_UPDATE || e.Update.Status.TaskID.Value != taskID {
			return false
		}
		for _, st := range states {
			if e.Update.Status.GetState() == st {
				return true
			}
		}
		return false
	})
	return e.Update.Status
}

// Offers collects offers until there is one from each of n agents.
func (s *Scheduler) Offers(n int) map[string]mesos.Offer {
	s.t.Helper()
	got := map[string]mesos.Offer{}
	s.Next(fmt.Sprintf("offers from %d agents", n), func(e *scheduler.Event) bool {
		if e.Type == scheduler.Event_OFFERS {
			for _, o := range e.Offers.Offers {
				got[o.AgentID.Value] = o
			}
		}
		if e.Type == scheduler.Event_RESCIND {
			for a, o := range got {
				if o.ID == e.Rescind.OfferID {
					delete(got, a)
				}
			}
		}
		return len(got) >= n
	})
	return got
}

// Call makes a call that must succeed.
func (s *Scheduler) Call(c *scheduler.Call) {
	s.t.Helper()
	if err := calls.CallNoData(context.Background(), s.caller, c); err != nil {
		s.t.Fatalf("%v call: %v", c.Type, err)
	}
}

// Caller is the scheduler's caller, for calls whose failure is the test.
func (s *Scheduler) Caller() calls.Caller { return s.caller }

func ptr[T any](v T) *T { return &v }
