package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/bench"
	"github.com/rmf-go/rmf/internal/standin/devnode"
)

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no verb", []string{"bench"}, "needs one of"},
		{"no address", []string{"bench", "run"}, "--pb"},
		{"bad ops", []string{"bench", "run", "--pb", "127.0.0.1:1", "--ops", "get:x"}, "bad workload"},
		{"ops and workload", []string{"bench", "run", "--pb", "127.0.0.1:1", "--ops", "get:1", "--workload", "balanced"}, "not both"},
		{"bad workload", []string{"bench", "run", "--pb", "127.0.0.1:1", "--workload", "heavy"}, "unknown workload"},
		{"bad key dist", []string{"bench", "run", "--pb", "127.0.0.1:1", "--key-dist", "zipf"}, "key distribution"},
		{"bad value size", []string{"bench", "run", "--pb", "127.0.0.1:1", "--value-size", "9-1"}, "value size"},
		{"bad driver", []string{"bench", "run", "--pb", "127.0.0.1:1", "--driver", "curl"}, "driver"},
		{"bad target", []string{"bench", "compare", "--targets", "direct,nginx"}, "--targets"},
		{"unknown scenario", []string{"bench", "compare", "--scenario", "steady,partition"}, "--scenario"},
		{"empty scenario", []string{"bench", "compare", "--scenario", "steady", "--scenario", ""}, "bad scenario"},
		{"degraded on one node", []string{"bench", "compare", "--scenario", "degraded", "--nodes", "1"}, "--nodes 2"},
		{"kill9 on one node", []string{"bench", "compare", "--scenario=steady", "--scenario=kill9", "--nodes", "1"}, "--nodes 2"},
		{"single-conn takes no value", []string{"bench", "compare", "--single-conn=maybe"}, "single-conn"},
		{"http driver", []string{"bench", "compare", "--driver", "http"}, "compare measures PB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestBenchCompareHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bench", "compare", "--help"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"--scenario", "--single-conn", "degraded", "kill9", "direct-healthy", "RMF_SINGLE_CONN"} {
		if !strings.Contains(stdout.String()+stderr.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestBenchRun: rmf bench run against one in-process devnode with each
// driver, writing the whole report.
func TestBenchRun(t *testing.T) {
	node, err := devnode.Start(context.Background(), devnode.Config{Name: "bench@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
	})
	for _, driver := range []string{bench.DriverRiakGoClient, bench.DriverRaw} {
		t.Run(driver, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := []string{"bench", "run", "--pb", node.PBAddr(), "--driver", driver, "--duration", "2s", "--warmup", "300ms",
				"--concurrency", "8", "--keys", "1000", "--key-dist", "pareto", "--value-size", "100-1000", "--out", out}
			if code := run(args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("progress written although stderr is not a terminal: %q", stderr.String())
			}
			for _, want := range []string{"op", "get", "update", "all", "report:"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			b, err := os.ReadFile(filepath.Join(out, "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var res bench.Result
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			if res.All.Count == 0 || res.All.Errors != 0 || res.Driver != driver {
				t.Fatalf("driver %s: ok %d errors %d %v", res.Driver, res.All.Count, res.All.Errors, res.ErrorSamples)
			}
			for _, f := range []string{"summary.csv", "get_latencies.csv", "put_latencies.csv", "update_latencies.csv", "delete_latencies.csv", "report.html"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
