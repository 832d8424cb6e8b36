package mesoslocal_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
)

// fakeElection is a Contender keeping entries in sequence order, as
// ZooKeeper's sequential znodes do.
type fakeElection struct {
	mu      sync.Mutex
	seq     int
	entries map[int][]byte
}

func (e *fakeElection) Contend(info []byte) (func() error, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	n := e.seq
	e.entries[n] = info
	return func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.entries, n)
		return nil
	}, nil
}

// leader is the address in the lowest entry.
func (e *fakeElection) leader(t *testing.T) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	low := 0
	for n := range e.entries {
		if low == 0 || n < low {
			low = n
		}
	}
	if low == 0 {
		return ""
	}
	var mi mesoslocal.MasterInfoJSON
	if err := json.Unmarshal(e.entries[low], &mi); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mi.PID, "master@") || mi.Address.Port != mi.Port || mi.ID == "" {
		t.Errorf("MasterInfo JSON %s lacks Mesos' fields", e.entries[low])
	}
	return mi.Address.IP + ":" + strconv.Itoa(mi.Address.Port)
}

// TestTwoMasters: the standby redirects the scheduler API to the leader
// (307, Location //leader/api/v1/scheduler); MoveLeader ends the
// scheduler's stream, the old leader then redirects to the new one, the
// framework re-subscribes there with its ID, and the election's lowest
// entry follows the leader.
func TestTwoMasters(t *testing.T) {
	elect := &fakeElection{entries: map[int][]byte{}}
	m, url := mesoslocaltest.Start(t, mesoslocal.Config{Agents: 1, WorkDir: t.TempDir(), AllocationInterval: 100 * time.Millisecond, Contender: elect})
	first := strings.TrimPrefix(url, "http://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.ServeStandby(ln) }()
	t.Cleanup(func() {
		_ = m.Close()
		if err := <-done; !errors.Is(err, mesoslocal.ErrClosed) {
			t.Errorf("ServeStandby: %v", err)
		}
	})
	second := ln.Addr().String()
	if !testutil.Eventually(10*time.Second, func() bool { return len(m.Masters()) == 2 }) {
		t.Fatal("standby master not serving")
	}
	if got := m.Leader(); got != first {
		t.Fatalf("leader %s, want the first master %s", got, first)
	}
	if got := elect.leader(t); got != first {
		t.Fatalf("election's lowest entry %s, want %s", got, first)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirectOf := func(addr string) (int, string) {
		resp, err := noFollow.Post("http://"+addr+"/api/v1/scheduler", "application/json", strings.NewReader(`{"type":"SUBSCRIBE"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	if code, loc := redirectOf(second); code != http.StatusTemporaryRedirect || loc != "//"+first+"/api/v1/scheduler" {
		t.Fatalf("standby answered %d Location %q, want 307 //%s/api/v1/scheduler", code, loc, first)
	}

	s := startScheduler(t, url, codecs.MediaTypeProtobuf, time.Minute)
	sub := s.Next("SUBSCRIBED", func(e *scheduler.Event) bool { return e.GetType() == scheduler.Event_SUBSCRIBED })
	fid := sub.GetSubscribed().GetFrameworkID().GetValue()
	if got := sub.GetSubscribed().GetMasterInfo().GetAddress().GetIP(); got != "127.0.0.1" {
		t.Errorf("SUBSCRIBED master IP %q", got)
	}
	if addr, err := m.MoveLeader(); err != nil || addr != second {
		t.Fatalf("MoveLeader: %q, %v; want %s", addr, err, second)
	}
	if got := elect.leader(t); got != second {
		t.Errorf("after the move the election's lowest entry is %s, want %s", got, second)
	}
	if code, loc := redirectOf(first); code != http.StatusTemporaryRedirect || loc != "//"+second+"/api/v1/scheduler" {
		t.Fatalf("old leader answered %d Location %q, want 307 to %s", code, loc, second)
	}
	// mesos-go follows the redirect on SUBSCRIBE: the framework comes back
	// with its ID, on the new leader.
	re := s.Next("SUBSCRIBED again", func(e *scheduler.Event) bool { return e.GetType() == scheduler.Event_SUBSCRIBED })
	if got := re.GetSubscribed().GetFrameworkID().GetValue(); got != fid {
		t.Errorf("re-subscribed as %q, want %q", got, fid)
	}
	if got := re.GetSubscribed().GetMasterInfo().GetAddress().GetPort(); strconv.Itoa(int(got)) != second[strings.LastIndexByte(second, ':')+1:] {
		t.Errorf("SUBSCRIBED from port %d, want the new leader %s", got, second)
	}
	resp, err := http.Post("http://"+second+"/faults/leader/move", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || m.Leader() != first {
		t.Errorf("POST /faults/leader/move: %d, leader %s; want 200 and %s", resp.StatusCode, m.Leader(), first)
	}
}

// TestMoveLeaderNeedsStandby: with one master there is nowhere to move.
func TestMoveLeaderNeedsStandby(t *testing.T) {
	m, url := mesoslocaltest.Start(t, mesoslocal.Config{Agents: 1, WorkDir: t.TempDir()})
	if _, err := m.MoveLeader(); err == nil || !strings.Contains(err.Error(), "standby") {
		t.Errorf("MoveLeader with one master: %v", err)
	}
	resp, err := http.Post(url+"/faults/leader/move", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("POST /faults/leader/move with one master: %d, want 409", resp.StatusCode)
	}
}
