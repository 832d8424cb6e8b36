package director

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/rmf-go/rmf/protocol"
)

// healthStatus is the last active check of a node.
type healthStatus struct {
	mu  sync.Mutex
	at  time.Time
	ok  bool
	err string
	rtt time.Duration
}

type healthSnapshot struct {
	at  time.Time
	ok  bool
	err string
	rtt time.Duration
}

func (h *healthStatus) set(at time.Time, rtt time.Duration, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at, h.rtt, h.ok, h.err = at, rtt, err == nil, ""
	if err != nil {
		h.err = err.Error()
	}
}

func (h *healthStatus) snapshot() healthSnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return healthSnapshot{at: h.at, ok: h.ok, err: h.err, rtt: h.rtt}
}

// startHealth starts the health checkers of every node, now and of nodes
// added later, unless they run already or the proxy is closing. Serve
// calls it; so does Server.Start, for a Server without a PB listener.
func (p *Proxy) startHealth() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closing.Load() {
		p.startHealthLocked()
	}
}

// startHealthLocked is startHealth with p.mu held.
func (p *Proxy) startHealthLocked() {
	if p.running {
		return
	}
	p.running = true
	for _, st := range *p.states.Load() {
		p.startCheckerLocked(st)
	}
	ctx, cancel := context.WithCancel(p.base)
	p.tuneCancel = cancel
	p.healthWG.Add(1)
	go func() {
		defer p.healthWG.Done()
		pprof.Do(ctx, pprof.Labels("director", "tune"), p.tuneLoop)
	}()
}

// tuneLoop recomputes, every tunePeriod, what the request path reads from
// atomics (the hedge delay and budget), and evaluates outliers every
// outlier interval (balancer.Set.EvaluateOutliers). The table shows an
// ejected node down when it is read (Proxy.Table): nothing to write here.
func (p *Proxy) tuneLoop(ctx context.Context) {
	t := time.NewTicker(tunePeriod)
	defer t.Stop()
	every := p.set.OutlierSettings().Interval
	next := time.Now().Add(every)
	for {
		lat := p.timedLatencySum()
		p.hedge.tune(p.set.Nodes(), &lat)
		if now := time.Now(); !now.Before(next) {
			next = now.Add(every)
			ejected, restored := p.set.EvaluateOutliers(now)
			for _, n := range ejected {
				p.ejections.Add(1)
				p.log.Warn("director: node ejected as an outlier", "node", n.ID, "until", n.EjectedUntil().Format(time.RFC3339Nano),
					"ejections", n.Ejections(), "why", n.EjectionReason())
			}
			for _, n := range restored {
				p.log.Info("director: outlier let back in (slow start)", "node", n.ID)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startCheckerLocked starts st's checker (p.mu held). Without active
// checks it still expires idle backend connections.
func (p *Proxy) startCheckerLocked(st *nodeState) {
	ctx, cancel := context.WithCancel(p.base)
	st.cancel = cancel
	p.healthWG.Add(1)
	go func() {
		defer p.healthWG.Done()
		pprof.Do(ctx, pprof.Labels("director", "health", "node", st.node.ID), func(ctx context.Context) { p.checkLoop(ctx, st) })
	}()
}

// checkLoop pings one node every HealthInterval, records the result on the
// node (balancer.Node.RecordCheck) and expires idle connections. One
// goroutine per node, so a node that hangs does not delay the others.
func (p *Proxy) checkLoop(ctx context.Context, st *nodeState) {
	interval := p.cfg.HealthInterval
	if interval < 0 {
		interval = max(p.cfg.BackendIdleTimeout/2, time.Second)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.cfg.BackendIdleTimeout > 0 {
			st.pool.expireIdle(time.Now().Add(-p.cfg.BackendIdleTimeout))
		}
		if p.cfg.HealthInterval < 0 {
			continue
		}
		start := time.Now()
		err := p.ping(ctx, st.node.PBAddr)
		if ctx.Err() != nil {
			return
		}
		st.health.set(start, time.Since(start), err)
		p.noteCheck(st, err)
		if st.node.RecordCheck(err == nil, p.cfg.Health) {
			if err == nil {
				p.log.Info("director: node healthy", "node", st.node.ID)
			} else {
				p.log.Warn("director: node unhealthy", "node", st.node.ID, "err", err)
				st.pool.closeIdle()
			}
		}
	}
}

var pingFrame = protocol.AppendFrame(nil, protocol.CodePingReq, nil)

// ping dials addr, sends RpbPingReq and expects RpbPingResp, all within
// HealthTimeout. It dials every time, so it checks what a new pooled
// connection needs: the node accepts and answers.
func (p *Proxy) ping(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HealthTimeout)
	defer cancel()
	c, err := p.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := c.Write(pingFrame); err != nil {
		return err
	}
	f, err := protocol.NewReader(c, 1<<10).ReadFrame()
	if err != nil {
		return err
	}
	if f.Code != protocol.CodePingResp {
		return fmt.Errorf("ping answered with %v", f.Code)
	}
	return nil
}

// noteCheck keeps a node that failed a check in transition (confirm.go):
// a node that restarted, even between two checks, may lack what was
// written while it was away until handoff brings it. Its first pass after
// a failure also starts a slow start, so it takes reads back gradually.
func (p *Proxy) noteCheck(st *nodeState, err error) {
	now := time.Now()
	if err != nil {
		st.checkFailed = true
		p.confirm.trans.cameBack(st.node.ID, now)
		return
	}
	if st.checkFailed {
		st.checkFailed = false
		p.confirm.trans.cameBack(st.node.ID, now)
		st.node.SlowStart(now, min(p.cfg.TransitionSettle, recoverySlowStart))
	}
}
