package executor

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

// fakeAgent is the executor side of a Mesos agent, scripted by the test:
// each SUBSCRIBE gets the events queued on events, and the stream ends
// when drop is signalled.
type fakeAgent struct {
	subs    chan executor.Call // SUBSCRIBE calls
	updates chan executor.Call // UPDATE calls
	events  chan *executor.Event
	drop    chan struct{}
}

func (a *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	codec := codecs.ByMediaType[codecs.MediaTypeProtobuf]
	var call executor.Call
	if err := codec.NewDecoder(encoding.SourceReader(r.Body)).Decode(&call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch call.Type {
	case executor.Call_UPDATE:
		a.updates <- call
		w.WriteHeader(http.StatusAccepted)
		return
	case executor.Call_SUBSCRIBE:
	default:
		w.WriteHeader(http.StatusAccepted)
		return
	}
	a.subs <- call
	w.Header().Set("Content-Type", string(codecs.MediaTypeProtobuf))
	w.WriteHeader(http.StatusOK)
	enc := codec.NewEncoder(func() framing.Writer { return recordio.NewWriter(w) })
	flush := func() { w.(http.Flusher).Flush() }
	_ = enc.Encode(&executor.Event{Type: executor.Event_SUBSCRIBED, Subscribed: &executor.Event_Subscribed{
		ExecutorInfo:  mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e1"}},
		FrameworkInfo: mesos.FrameworkInfo{User: "u", Name: "f"},
		AgentInfo:     mesos.AgentInfo{Hostname: "agent"},
	}})
	flush()
	for {
		select {
		case ev := <-a.events:
			_ = enc.Encode(ev)
			flush()
		case <-a.drop:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (a *fakeAgent) nextUpdate(t *testing.T) mesos.TaskStatus {
	t.Helper()
	select {
	case c := <-a.updates:
		return c.Update.Status
	case <-time.After(10 * time.Second):
		t.Fatal("no UPDATE")
	}
	return mesos.TaskStatus{}
}

func (a *fakeAgent) nextSubscribe(t *testing.T) executor.Call_Subscribe {
	t.Helper()
	select {
	case c := <-a.subs:
		return *c.Subscribe
	case <-time.After(10 * time.Second):
		t.Fatal("no SUBSCRIBE")
	}
	return executor.Call_Subscribe{}
}

func fakeConfig(t *testing.T, addr string) Config {
	return Config{
		Mesos: config.Config{FrameworkID: "f1", ExecutorID: "e1", Directory: t.TempDir(), Sandbox: t.TempDir(), AgentEndpoint: addr,
			ExecutorShutdownGracePeriod: 2 * time.Second, Checkpoint: true, RecoveryTimeout: 10 * time.Second, SubscriptionBackoffMax: 200 * time.Millisecond},
		Executable: "/bin/false", AckWait: 10 * time.Second, Logger: slog.New(slog.DiscardHandler),
	}
}

func startFake(t *testing.T) (*fakeAgent, string) {
	a := &fakeAgent{subs: make(chan executor.Call, 4), updates: make(chan executor.Call, 16), events: make(chan *executor.Event, 16), drop: make(chan struct{}, 1)}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, strings.TrimPrefix(srv.URL, "http://")
}

func launchEvent(id string, data string) *executor.Event {
	return &executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: mesos.TaskInfo{
		Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: mesos.AgentID{Value: "a1"}, Data: []byte(data)}}}
}

// An update the agent did not acknowledge is resent, with the task, in the
// next SUBSCRIBE; the executor exits once it is acknowledged.
func TestResubscribeResendsUnacknowledged(t *testing.T) {
	a, addr := startFake(t)
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() { defer wg.Done(); runErr = Run(context.Background(), fakeConfig(t, addr)) }()
	defer wg.Wait()

	if sub := a.nextSubscribe(t); len(sub.UnacknowledgedUpdates) != 0 || len(sub.UnacknowledgedTasks) != 0 {
		t.Fatalf("first SUBSCRIBE carries %+v", sub)
	}
	a.events <- launchEvent("t1", "not json")
	st := a.nextUpdate(t)
	if st.GetState() != mesos.TASK_FAILED || !strings.Contains(st.GetMessage(), "bad task data") || len(st.UUID) != 16 ||
		st.GetSource() != mesos.SOURCE_EXECUTOR || st.GetReason() != mesos.REASON_TASK_INVALID {
		t.Fatalf("update %+v", st)
	}
	// A second task for the same executor is refused.
	a.events <- launchEvent("t2", "{}")
	if st2 := a.nextUpdate(t); st2.TaskID.Value != "t2" || st2.GetState() != mesos.TASK_FAILED || !strings.Contains(st2.GetMessage(), "one node task") {
		t.Fatalf("second task: %+v", st2)
	}

	a.drop <- struct{}{} // the agent goes away before acknowledging
	sub := a.nextSubscribe(t)
	if len(sub.UnacknowledgedUpdates) != 2 || string(sub.UnacknowledgedUpdates[0].Status.UUID) != string(st.UUID) {
		t.Fatalf("resubscribe carries updates %+v, want the unacknowledged TASK_FAILED first", sub.UnacknowledgedUpdates)
	}
	if len(sub.UnacknowledgedTasks) != 1 || sub.UnacknowledgedTasks[0].TaskID.Value != "t1" {
		t.Fatalf("resubscribe carries tasks %+v", sub.UnacknowledgedTasks)
	}
	start := time.Now()
	a.events <- &executor.Event{Type: executor.Event_ACKNOWLEDGED, Acknowledged: &executor.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}}
	wg.Wait()
	if runErr != nil {
		t.Errorf("Run: %v", runErr)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("exit took %v after the acknowledgement", d)
	}
	select {
	case c := <-a.updates:
		t.Errorf("update resent outside SUBSCRIBE: %+v", c.Update.Status)
	default:
	}
}

// SHUTDOWN before any task: the executor exits at once.
func TestShutdownWithoutTask(t *testing.T) {
	a, addr := startFake(t)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), fakeConfig(t, addr)) }()
	a.nextSubscribe(t)
	a.events <- &executor.Event{Type: executor.Event_SHUTDOWN}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("executor did not exit after SHUTDOWN")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "MESOS_AGENT_ENDPOINT") {
		t.Errorf("empty config: %v", err)
	}
	if err := Run(context.Background(), Config{}); err == nil {
		t.Error("Run accepted an empty config")
	}
}
