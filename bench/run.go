package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/protocol"
)

const defaultOpTimeout = 5 * time.Second

// Config describes one load run. Zero values are documented defaults.
type Config struct {
	// Label names the run in reports (default: the driver and targets).
	Label string
	// Driver is riak-go-client (default), raw or http.
	Driver string
	// PBAddrs are the PB endpoints; workers spread over them.
	PBAddrs []string
	// HTTPAddr is the HTTP endpoint (http driver).
	HTTPAddr string
	// Bucket holds every key (default "bench").
	Bucket string
	// Duration is the measured time (default 60s); Warmup runs the same
	// load first without measuring it (default 0).
	Duration, Warmup time.Duration
	// Concurrency is the number of workers, each one operation at a time
	// (closed loop; default 32).
	Concurrency int
	// Mix is the operation mix (default: the balanced workload).
	Mix Mix
	// Keys is the key space size (default 100000) and KeyDist how keys are
	// drawn (default uniform).
	Keys    int
	KeyDist KeyDist
	// ValueSize is the size of written values (default 1024).
	ValueSize ValueSize
	// Timeout bounds one operation (default 5s).
	Timeout time.Duration
	// SingleConn gives each worker one PB connection of its own (see
	// DriverConfig.SingleConn).
	SingleConn bool
	// Rate, when positive, is the offered load in operations per second
	// over all workers (open loop): each worker starts its operations on
	// a fixed schedule and latency counts from the scheduled start (see
	// schedule). 0: closed loop, each worker starting its next operation
	// when the last one answers. Tail latencies compared at a rate below
	// every target's capacity say what a client sees at that load; a
	// closed loop saturates the machine and measures its queues.
	Rate float64
	// Seed makes the key and op sequences reproducible (0: random).
	Seed uint64
	// Progress receives a live progress line each second (nil: quiet).
	Progress io.Writer
	// OnMeasureStart and OnMeasureEnd, if set, are called when the measured
	// period starts (after warmup) and ends (workers stopped).
	OnMeasureStart, OnMeasureEnd func()
}

func (c *Config) setDefaults() {
	if c.Driver == "" {
		c.Driver = DriverRiakGoClient
	}
	if c.Bucket == "" {
		c.Bucket = "bench"
	}
	if c.Duration == 0 {
		c.Duration = 60 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 32
	}
	if c.Mix.total == 0 {
		c.Mix, _ = NamedWorkload("balanced")
	}
	if c.Keys == 0 {
		c.Keys = 100_000
	}
	if c.KeyDist == "" {
		c.KeyDist = KeyUniform
	}
	if c.ValueSize == (ValueSize{}) {
		c.ValueSize = ValueSize{1024, 1024}
	}
	if c.Timeout == 0 {
		c.Timeout = defaultOpTimeout
	}
	if c.Label == "" {
		c.Label = c.Driver
	}
}

// Validate checks a Config (after defaults).
func (c Config) Validate() error {
	switch {
	case c.Duration < 0 || c.Warmup < 0:
		return errors.New("bench: negative duration or warmup")
	case c.Concurrency < 0 || c.Concurrency > 10_000:
		return fmt.Errorf("bench: concurrency %d out of range 1..10000", c.Concurrency)
	case c.Keys < 0:
		return fmt.Errorf("%w: --keys must be positive", ErrBadKeyDist)
	case !validRate(c.Rate):
		return fmt.Errorf("bench: rate %v ops/s: want 0 (closed loop) or a positive number up to 1e7", c.Rate)
	}
	if _, err := NewKeyGen(orDefault(c.KeyDist, KeyUniform), max(c.Keys, 1)); err != nil {
		return err
	}
	if c.ValueSize != (ValueSize{}) {
		if err := c.ValueSize.Validate(); err != nil {
			return err
		}
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Run runs the load described by cfg and returns its measurements. When
// ctx ends early, Run stops the workers and returns what was measured with
// ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := NewKeyGen(cfg.KeyDist, cfg.Keys)
	drv, err := NewDriver(cfg.Driver, DriverConfig{PBAddrs: cfg.PBAddrs, HTTPAddr: cfg.HTTPAddr, Bucket: cfg.Bucket, Concurrency: cfg.Concurrency, Timeout: cfg.Timeout, SingleConn: cfg.SingleConn})
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	vals := newValueSource(cfg.ValueSize, seed)

	stats := make([]*workerStats, cfg.Concurrency)
	workers := make([]Worker, cfg.Concurrency)
	for i := range workers {
		if workers[i], err = drv.NewWorker(i); err != nil {
			for _, w := range workers[:i] {
				_ = w.Close()
			}
			return nil, err
		}
		stats[i] = newWorkerStats(cfg.Mix)
	}

	var stop atomic.Bool
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	launched := time.Now()
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Close()
			r := rand.New(rand.NewPCG(seed, uint64(i)+1))
			ws := stats[i]
			key := make([]byte, 0, 32)
			var pace schedule
			var pacer *time.Timer
			if cfg.Rate > 0 {
				pace = newSchedule(launched, i, cfg.Concurrency, cfg.Rate)
				pacer = time.NewTimer(time.Hour)
				defer pacer.Stop()
			}
			for !stop.Load() {
				op := cfg.Mix.Pick(r)
				key = AppendKey(key[:0], keys.Next(r))
				var v []byte
				if op == OpPut || op == OpUpdate {
					v = vals.next(r)
				}
				var t0 time.Time
				if pacer == nil {
					t0 = time.Now()
				} else {
					t0 = pace.take()
					if wait := time.Until(t0); wait > 0 {
						pacer.Reset(wait)
						select {
						case <-pacer.C:
						case <-stopped:
							return
						}
					}
				}
				err := w.Do(op, key, v)
				ws.record(op, time.Since(t0).Microseconds(), err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	halt := func() {
		stop.Store(true)
		close(stopped)
		<-done
	}

	res := newResult(cfg)
	prog := &progress{w: cfg.Progress, total: cfg.Duration}

	// Warmup: run, then throw the counts away.
	if cfg.Warmup > 0 {
		t := time.NewTimer(cfg.Warmup)
		tick := time.NewTicker(time.Second)
		warmEnd := time.Now().Add(cfg.Warmup)
	warm:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				tick.Stop()
				halt()
				return nil, ctx.Err()
			case <-tick.C:
				prog.warmup(time.Until(warmEnd))
			case <-t.C:
				break warm
			}
		}
		tick.Stop()
		var scratch [numOps]*opAgg
		for i := range scratch {
			scratch[i] = newOpAgg()
		}
		drain(stats, &scratch, nil)
	}

	if cfg.OnMeasureStart != nil {
		cfg.OnMeasureStart()
	}
	start := time.Now()
	res.Start = start
	var win [numOps]*opAgg
	for i := range win {
		win[i] = newOpAgg()
	}
	// One window per second, the last one ending when the workers have
	// stopped (it includes the operations in flight at the deadline).
	endAt := start.Add(cfg.Duration)
	last := start
	timer := time.NewTimer(0)
	defer timer.Stop()
	var runErr error
	var now time.Time
	for {
		next := last.Add(time.Second)
		if next.After(endAt) {
			next = endAt
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
		case now = <-timer.C:
		}
		if runErr != nil || !next.Before(endAt) {
			break
		}
		drain(stats, &win, res.errorSamples)
		w := res.addWindow(now.Sub(start), now.Sub(last), &win)
		last = now
		prog.update(now.Sub(start), w, res)
	}
	halt()
	now = time.Now()
	if cfg.OnMeasureEnd != nil {
		cfg.OnMeasureEnd()
	}
	drain(stats, &win, res.errorSamples)
	res.addWindow(now.Sub(start), now.Sub(last), &win)
	res.finish(now.Sub(start))
	prog.finish()
	return res, runErr
}

// Ping sends RpbPingReq to a PB address and waits for RpbPingResp.
func Ping(addr string, timeout time.Duration) error {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if err := protocol.WriteFrame(nc, protocol.CodePingReq, nil); err != nil {
		return err
	}
	f, err := protocol.NewReader(nc, 1<<20).ReadFrame()
	if err != nil {
		return err
	}
	if f.Code != protocol.CodePingResp {
		return fmt.Errorf("bench: ping %s: got %v", addr, f.Code)
	}
	return nil
}

// progress prints the live line: \r-rewritten, so only for a terminal.
type progress struct {
	w     io.Writer
	total time.Duration
	wrote bool
}

func (p *progress) warmup(left time.Duration) {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "\r\033[Kwarming up, %ds left", int(left.Round(time.Second).Seconds()))
	p.wrote = true
}

func (p *progress) update(elapsed time.Duration, w Window, r *Result) {
	if p.w == nil {
		return
	}
	var p99 float64
	for _, o := range w.Ops {
		p99 = max(p99, o.P99)
	}
	var errs int64
	for _, n := range r.runningErrors {
		errs += n
	}
	left := max(p.total-elapsed, 0)
	fmt.Fprintf(p.w, "\r\033[K%5.0fs  %8.0f ops/s  p99 %7.2f ms  errors %d  %ds left",
		elapsed.Seconds(), float64(w.Total)/w.Window, p99/1000, errs, int(left.Round(time.Second).Seconds()))
	p.wrote = true
}

func (p *progress) finish() {
	if p.w != nil && p.wrote {
		fmt.Fprintln(p.w)
	}
}
