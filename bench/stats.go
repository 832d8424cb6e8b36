package bench

import (
	"math"
	"sync"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds in HdrHistograms (1 µs to 60 s,
// 3 significant digits; slower operations count as 60 s). Each worker
// records into its own histograms under its own mutex, which only the
// once-a-second collector contends for.

const (
	histMinUs   = 1
	histMaxUs   = 60_000_000
	histSigFigs = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMinUs, histMaxUs, histSigFigs) }

type workerStats struct {
	mu       sync.Mutex
	hist     [numOps]*hdr.Histogram
	errs     [numOps][]int64 // by kind index
	firstErr []string        // by kind index: one example message
}

func newWorkerStats(mix Mix) *workerStats {
	ws := &workerStats{firstErr: make([]string, len(errorKinds))}
	for _, op := range Ops() {
		if mix.Has(op) {
			ws.hist[op] = newHist()
		}
		ws.errs[op] = make([]int64, len(errorKinds))
	}
	return ws
}

func (ws *workerStats) record(op Op, us int64, err error) {
	if err != nil {
		k := kindIndex(Classify(err))
		ws.mu.Lock()
		ws.errs[op][k]++
		if ws.firstErr[k] == "" {
			ws.firstErr[k] = err.Error()
		}
		ws.mu.Unlock()
		return
	}
	us = min(max(us, histMinUs), histMaxUs)
	ws.mu.Lock()
	_ = ws.hist[op].RecordValue(us)
	ws.mu.Unlock()
}

// opAgg accumulates one op over a window or the whole run.
type opAgg struct {
	hist *hdr.Histogram
	errs []int64
}

func newOpAgg() *opAgg { return &opAgg{hist: newHist(), errs: make([]int64, len(errorKinds))} }

func (a *opAgg) reset() {
	a.hist.Reset()
	clear(a.errs)
}

func (a *opAgg) add(b *opAgg) {
	a.hist.Merge(b.hist)
	for i, n := range b.errs {
		a.errs[i] += n
	}
}

func (a *opAgg) errors() int64 {
	var n int64
	for _, e := range a.errs {
		n += e
	}
	return n
}

// drain moves every worker's counts into win (which it resets first).
func drain(workers []*workerStats, win *[numOps]*opAgg, samples map[string]string) {
	for _, a := range win {
		a.reset()
	}
	for _, ws := range workers {
		ws.mu.Lock()
		for op := range numOps {
			if h := ws.hist[op]; h != nil && h.TotalCount() > 0 {
				win[op].hist.Merge(h)
				h.Reset()
			}
			for k, n := range ws.errs[op] {
				win[op].errs[k] += n
				ws.errs[op][k] = 0
			}
		}
		if samples != nil {
			for k, msg := range ws.firstErr {
				if msg != "" && samples[errorKinds[k]] == "" {
					samples[errorKinds[k]] = msg
				}
			}
		}
		ws.mu.Unlock()
	}
}

// Latency is a latency summary in microseconds.
type Latency struct {
	Min    float64 `json:"min_us"`
	Mean   float64 `json:"mean_us"`
	Median float64 `json:"p50_us"`
	P95    float64 `json:"p95_us"`
	P99    float64 `json:"p99_us"`
	P999   float64 `json:"p99_9_us"`
	Max    float64 `json:"max_us"`
}

func latencyOf(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Min:    float64(h.Min()),
		Mean:   math.Round(h.Mean()*10) / 10,
		Median: float64(h.ValueAtQuantile(50)),
		P95:    float64(h.ValueAtQuantile(95)),
		P99:    float64(h.ValueAtQuantile(99)),
		P999:   float64(h.ValueAtQuantile(99.9)),
		Max:    float64(h.Max()),
	}
}
