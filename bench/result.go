package bench

import (
	"math"
	"time"
)

// Result is the outcome of one Run, as written to summary.json.
type Result struct {
	Label       string   `json:"label"`
	Driver      string   `json:"driver"`
	PBAddrs     []string `json:"pb_addrs,omitempty"`
	HTTPAddr    string   `json:"http_addr,omitempty"`
	Mix         string   `json:"ops"`
	Concurrency int      `json:"concurrency"`
	// Rate is the offered load of an open-loop run (ops/s; 0: closed loop).
	Rate      float64   `json:"rate_ops_per_s,omitempty"`
	Keys      int       `json:"keys"`
	KeyDist   string    `json:"key_dist"`
	ValueSize string    `json:"value_size"`
	WarmupS   float64   `json:"warmup_s"`
	DurationS float64   `json:"duration_s"`
	Start     time.Time `json:"start"`
	// ElapsedS is the measured time: from the end of warmup until every
	// worker stopped.
	ElapsedS float64 `json:"elapsed_s"`
	// All is every op together; Ops is each op of the mix.
	All OpSummary   `json:"all"`
	Ops []OpSummary `json:"per_op"`
	// Errors counts failed ops by kind; ErrorSamples gives one message per kind.
	Errors       map[string]int64  `json:"errors"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Series is one entry per second of the measured period (the last may
	// be shorter).
	Series []Window `json:"series"`

	ops           []Op
	total         [numOps]*opAgg
	runningErrors map[string]int64
	errorSamples  map[string]string
}

// OpSummary is the whole run's numbers for one op (or all ops).
type OpSummary struct {
	Op         string           `json:"op"`
	Count      int64            `json:"count"`
	Errors     int64            `json:"errors"`
	Throughput float64          `json:"ops_per_s"`
	Latency    Latency          `json:"latency"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
}

// Window is one time-series step: basho_bench's summary.csv row plus each
// op's latency row.
type Window struct {
	ElapsedS   float64    `json:"elapsed_s"`
	Window     float64    `json:"window_s"`
	Total      int64      `json:"total"`
	Successful int64      `json:"successful"`
	Failed     int64      `json:"failed"`
	Ops        []WindowOp `json:"ops"`
}

// WindowOp is one op's latency row of a window (microseconds).
type WindowOp struct {
	Op     string `json:"op"`
	N      int64  `json:"n"`
	Errors int64  `json:"errors"`
	Latency
}

func newResult(cfg Config) *Result {
	r := &Result{
		Label: cfg.Label, Driver: cfg.Driver, PBAddrs: cfg.PBAddrs, HTTPAddr: cfg.HTTPAddr,
		Mix: cfg.Mix.String(), Concurrency: cfg.Concurrency, Rate: cfg.Rate, Keys: cfg.Keys, KeyDist: string(cfg.KeyDist),
		ValueSize: cfg.ValueSize.String(), WarmupS: cfg.Warmup.Seconds(), DurationS: cfg.Duration.Seconds(),
		Errors: map[string]int64{}, runningErrors: map[string]int64{}, errorSamples: map[string]string{},
	}
	for _, op := range Ops() {
		if cfg.Mix.Has(op) {
			r.ops = append(r.ops, op)
		}
		r.total[op] = newOpAgg()
	}
	return r
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// addWindow records a window from the drained per-op counts and folds them
// into the totals.
func (r *Result) addWindow(elapsed, window time.Duration, win *[numOps]*opAgg) Window {
	w := Window{ElapsedS: round(elapsed.Seconds(), 3), Window: round(window.Seconds(), 3)}
	for _, op := range r.ops {
		a := win[op]
		n, e := a.hist.TotalCount(), a.errors()
		w.Successful += n
		w.Failed += e
		w.Ops = append(w.Ops, WindowOp{Op: op.String(), N: n, Errors: e, Latency: latencyOf(a.hist)})
		r.total[op].add(a)
		for k, c := range a.errs {
			if c > 0 {
				r.runningErrors[errorKinds[k]] += c
			}
		}
	}
	w.Total = w.Successful + w.Failed
	r.Series = append(r.Series, w)
	return w
}

func (r *Result) finish(elapsed time.Duration) {
	r.ElapsedS = round(elapsed.Seconds(), 3)
	all := newOpAgg()
	for _, op := range r.ops {
		a := r.total[op]
		all.add(a)
		r.Ops = append(r.Ops, summarize(op.String(), a, elapsed))
	}
	r.All = summarize("all", all, elapsed)
	for k, n := range r.All.ErrorKinds {
		r.Errors[k] = n
	}
	if len(r.errorSamples) > 0 {
		r.ErrorSamples = r.errorSamples
	}
}

func summarize(name string, a *opAgg, elapsed time.Duration) OpSummary {
	s := OpSummary{Op: name, Count: a.hist.TotalCount(), Errors: a.errors(), Latency: latencyOf(a.hist)}
	if secs := elapsed.Seconds(); secs > 0 {
		s.Throughput = round(float64(s.Count)/secs, 1)
	}
	for k, n := range a.errs {
		if n > 0 {
			if s.ErrorKinds == nil {
				s.ErrorKinds = map[string]int64{}
			}
			s.ErrorKinds[errorKinds[k]] = n
		}
	}
	return s
}
