package director

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
)

// The HTTP benchmarks run one workload (3 GETs of a 100-byte object for
// every PUT, each client on its own key) against the memory devnode's
// HTTP API straight, through the director's HTTP proxy, and through
// HAProxy in mode http: the HTTP counterpart of the PB benchmarks.
//
//	go test -run XXX -bench 'HTTP' -benchmem ./director

var httpBench struct {
	once              sync.Once
	err               error
	director, haproxy string // base URLs
	haproxyErr        error
}

func httpBenchSetup(b *testing.B) {
	benchSetup(b)
	httpBench.once.Do(func() {
		p, err := NewProxy(Config{Logger: quietLogger()})
		if err != nil {
			httpBench.err = err
			return
		}
		p.SetNodes([]balancer.NodeSpec{{ID: bench.node.PBAddr(), PBAddr: bench.node.PBAddr(), HTTPAddr: bench.node.HTTPAddr()}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			httpBench.err = err
			return
		}
		srv := &http.Server{Handler: p.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		httpBench.director = "http://" + ln.Addr().String()
		addr, cmd, err := startHAProxyMode(bench.node.HTTPAddr(), "http")
		if err != nil {
			httpBench.haproxyErr = err
			return
		}
		haproxyBench.procs = append(haproxyBench.procs, cmd)
		httpBench.haproxy = "http://" + addr
	})
	if httpBench.err != nil {
		b.Fatal(httpBench.err)
	}
}

// runHTTPGetPut drives benchConns keep-alive clients.
func runHTTPGetPut(b *testing.B, base string) {
	tr := &http.Transport{MaxIdleConnsPerHost: benchConns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var ids atomic.Int64
	value := strings.Repeat("x", 100)
	do := func(req *http.Request, want int) bool {
		resp, err := c.Do(req)
		if err != nil {
			b.Error(err)
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Errorf("%s %s: %d, want %d", req.Method, req.URL, resp.StatusCode, want)
			return false
		}
		return true
	}
	b.ReportAllocs()
	b.SetParallelism((benchConns + 1) / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		url := fmt.Sprintf("%s/buckets/bench/keys/http%d", base, ids.Add(1))
		put := func() bool {
			req, _ := http.NewRequest("PUT", url, strings.NewReader(value))
			req.Header.Set("Content-Type", "text/plain")
			return do(req, http.StatusNoContent)
		}
		if !put() {
			return
		}
		for i := 1; pb.Next(); i++ {
			if i%4 == 0 {
				if !put() {
					return
				}
				continue
			}
			req, _ := http.NewRequest("GET", url, nil)
			if !do(req, http.StatusOK) {
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkDirectHTTP: straight to the devnode's HTTP API.
func BenchmarkDirectHTTP(b *testing.B) {
	httpBenchSetup(b)
	runHTTPGetPut(b, "http://"+bench.node.HTTPAddr())
}

// BenchmarkDirectorHTTP: through the director's HTTP proxy.
func BenchmarkDirectorHTTP(b *testing.B) {
	httpBenchSetup(b)
	runHTTPGetPut(b, httpBench.director)
}

// BenchmarkHAProxyHTTP: through HAProxy in mode http.
func BenchmarkHAProxyHTTP(b *testing.B) {
	httpBenchSetup(b)
	if httpBench.haproxyErr != nil {
		b.Skipf("haproxy: %v", httpBench.haproxyErr)
	}
	runHTTPGetPut(b, httpBench.haproxy)
}
