package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Finding and following the leading Mesos master. Config.Master is one
// URL, a comma-separated list of them, or a zk:// URL. Before every
// SUBSCRIBE the scheduler asks where the leader is (ZooKeeper: the lowest
// json.info_ child; a list: the master it last reached, or the next one
// after a connection failure); a 307 from a non-leading master moves it
// to the Location's master; every call goes to the current master. When
// the leader changes, its stream ends and the framework subscribes again
// with its ID (failover): nothing is relaunched.

// MasterLeader finds the leading master's base URL (http://host:port).
type MasterLeader interface {
	LeadingMaster(ctx context.Context) (string, error)
}

// masterSpec is a parsed Config.Master.
type masterSpec struct {
	urls []string // base URLs, for a list
	zk   *zkstate.MesosZK
}

// parseMasters parses Config.Master: "http://h:5050", a comma-separated
// list of such URLs, or "zk://h:2181[,h:2181]/mesos".
func parseMasters(s string) (masterSpec, error) {
	s = strings.TrimSpace(s)
	if zkstate.IsMesosZK(s) {
		z, err := zkstate.ParseMesosZK(s)
		if err != nil {
			return masterSpec{}, fmt.Errorf("scheduler: master: %w", err)
		}
		return masterSpec{zk: &z}, nil
	}
	var out masterSpec
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
			return masterSpec{}, fmt.Errorf("scheduler: master %q: want http://host:port, a comma-separated list of them, or zk://host:port[,host:port]/path", part)
		}
		out.urls = append(out.urls, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

// masterSet is the scheduler's view of where the leading master is.
type masterSet struct {
	log    *slog.Logger
	spec   masterSpec
	leader MasterLeader // for zk://

	mu  sync.Mutex
	cur string // base URL calls go to
	idx int    // in spec.urls
}

func newMasterSet(spec masterSpec, leader MasterLeader, log *slog.Logger) *masterSet {
	ms := &masterSet{log: log, spec: spec, leader: leader}
	if len(spec.urls) > 0 {
		ms.cur = spec.urls[0]
	}
	return ms
}

// current is the base URL calls go to ("" if unknown yet).
func (ms *masterSet) current() string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.cur
}

// refresh asks where the leader is, before a SUBSCRIBE.
func (ms *masterSet) refresh(ctx context.Context) error {
	if ms.leader == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u, err := ms.leader.LeadingMaster(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: finding the leading Mesos master: %w", err)
	}
	ms.set(u, "elected")
	return nil
}

func (ms *masterSet) set(u, why string) {
	ms.mu.Lock()
	old := ms.cur
	ms.cur = u
	ms.mu.Unlock()
	if old != u {
		ms.log.Info("mesos master", "url", u, "was", old, "why", why)
	}
}

// redirected follows a 307's Location ("//host:port/path" as Mesos
// writes it, or a full URL).
func (ms *masterSet) redirected(loc string) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" || strings.ContainsAny(u.Host, "/@ ") {
		ms.log.Warn("mesos master redirect without a usable Location", "location", loc)
		return
	}
	ms.mu.Lock()
	scheme := "http"
	if cu, err := url.Parse(ms.cur); err == nil && cu.Scheme != "" {
		scheme = cu.Scheme
	}
	ms.mu.Unlock()
	if u.Scheme == "http" || u.Scheme == "https" {
		scheme = u.Scheme
	}
	ms.set(scheme+"://"+u.Host, "redirected by a master that does not lead")
}

// unreachable moves a list to its next master after a failure to reach
// the current one.
func (ms *masterSet) unreachable(base string, err error) {
	if len(ms.spec.urls) < 2 {
		return
	}
	ms.mu.Lock()
	if ms.cur != base {
		ms.mu.Unlock()
		return
	}
	ms.idx = (ms.idx + 1) % len(ms.spec.urls)
	next := ms.spec.urls[ms.idx]
	ms.mu.Unlock()
	ms.set(next, "unreachable: "+err.Error())
}

// wrapDoer sends every request to the current master and learns from its
// answers: a 307 moves to the leader it names, a connection failure to
// the next listed master.
func (ms *masterSet) wrapDoer(next httpcli.DoFunc) httpcli.DoFunc {
	return func(req *http.Request) (*http.Response, error) {
		base := ms.current()
		if base == "" {
			return nil, errors.New("scheduler: no Mesos master known yet")
		}
		if bu, err := url.Parse(base); err == nil {
			u := *req.URL
			u.Scheme, u.Host = bu.Scheme, bu.Host
			req.URL, req.Host = &u, ""
		}
		resp, err := next(req)
		switch {
		case err != nil && req.Context().Err() == nil:
			ms.unreachable(base, err)
		case err == nil && resp.StatusCode == http.StatusTemporaryRedirect:
			ms.redirected(resp.Header.Get("Location"))
		}
		return resp, err
	}
}

// subscribeCaller refreshes the leader before each SUBSCRIBE.
func (ms *masterSet) subscribeCaller(next calls.Caller) calls.Caller {
	return calls.CallerFunc(func(ctx context.Context, c *scheduler.Call) (mesos.Response, error) {
		if c.GetType() == scheduler.Call_SUBSCRIBE {
			if err := ms.refresh(ctx); err != nil {
				return nil, err
			}
		}
		return next.Call(ctx, c)
	})
}

// zkMasterLeader reads the leading master from Mesos' ZooKeeper path,
// connecting on first use.
type zkMasterLeader struct {
	zk  zkstate.MesosZK
	log *slog.Logger

	mu    sync.Mutex
	store *zkstate.Store
}

func (z *zkMasterLeader) LeadingMaster(ctx context.Context) (string, error) {
	z.mu.Lock()
	st := z.store
	if st == nil {
		opts := []zkstate.Option{zkstate.WithLogger(z.log)}
		if z.zk.Auth != "" {
			opts = append(opts, zkstate.WithDigestAuth(z.zk.Auth))
		}
		var err error
		st, err = zkstate.Connect(ctx, z.zk.Servers, opts...)
		if err != nil {
			z.mu.Unlock()
			return "", err
		}
		z.store = st
	}
	z.mu.Unlock()
	info, err := st.MesosLeader(ctx, z.zk.Path)
	if err != nil {
		return "", err
	}
	return zkstate.MesosMasterURL(info)
}

func (z *zkMasterLeader) close() {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.store != nil {
		z.store.Close()
		z.store = nil
	}
}

// ValidateMaster checks a Config.Master (for the CLI's usage errors).
func ValidateMaster(s string) error {
	_, err := parseMasters(s)
	return err
}
