package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/bench"
	"github.com/rmf-go/rmf/director"
	"github.com/rmf-go/rmf/internal/devenv/zkserver"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// devCluster is the cluster `rmf dev` runs.
const devCluster = "default"

type devOpts struct {
	nodes                                   int
	dir, zk, agentResources                 string
	directorPB, directorHTTP, directorAdmin string
	api, mesos                              string
	bench                                   time.Duration
	readyTimeout                            time.Duration
}

func newDevCmd() *cobra.Command {
	var o devOpts
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a whole local stack: ZooKeeper, mesos-local, scheduler, a cluster of devnodes and the director",
		Long: `Run a whole Riak-on-Mesos stack on this machine, for trying RMF-Go: a private
ZooKeeper (Debian's zookeeper package) under --dir unless --zk is given,
mesos-local with one agent per node, the scheduler, a cluster "default" of
--nodes devnodes (stand-ins for Riak KV), and the director in front of them,
discovering them through ZooKeeper.

Ctrl-C stops everything in reverse order. Running again with the same --dir
resumes the same cluster and data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.nodes < 1 || o.nodes > 16 {
				return usageErrorf("--nodes must be 1..16")
			}
			return runDev(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "number of Riak nodes")
	f.StringVar(&o.agentResources, "agent-resources", mesoslocal.DefaultAgentResources, "resources of each mesos-local agent, Mesos syntax; agent N's port ranges are shifted down by N-1 widths")
	f.StringVar(&o.dir, "dir", "rmf-dev", "state directory (ZooKeeper data, agents' sandboxes and volumes)")
	f.StringVar(&o.zk, "zk", "", "use this ZooKeeper instead of starting one")
	f.StringVar(&o.directorPB, "director-pb", defaultPBAddr, "director PB listen address")
	f.StringVar(&o.directorHTTP, "director-http", defaultHTTPAddr, "director HTTP listen address")
	f.StringVar(&o.directorAdmin, "director-admin", defaultAdminAddr, "director admin listen address")
	f.StringVar(&o.api, "api", defaultAPIAddr, "scheduler API listen address")
	f.StringVar(&o.mesos, "mesos", defaultMesosAddr, "mesos-local listen address")
	f.DurationVar(&o.bench, "bench", 0, "run a benchmark through the director for this long once the cluster is up")
	f.DurationVar(&o.readyTimeout, "ready-timeout", 3*time.Minute, "how long to wait for the cluster to run")
	return annotateEnv(cmd)
}

// devStack is what runDev started, stopped in reverse order.
type devStack struct {
	stops []func()
}

func (s *devStack) defer_(f func()) { s.stops = append(s.stops, f) }

func (s *devStack) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

func runDev(ctx context.Context, o devOpts, out io.Writer) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "rmf-dev.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := slog.New(slog.NewTextHandler(logf, nil))
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	var st devStack
	defer st.stop()

	// 1. ZooKeeper.
	zk := o.zk
	if zk == "" {
		if err := zkserver.Installed(); err != nil {
			return fmt.Errorf("zookeeper is not installed (%v); %s", err, zkserver.InstallHint)
		}
		srv := &zkserver.Server{Dir: filepath.Join(dir, "zookeeper"), Port: devZKPort(dir)}
		if err := srv.Start(); err != nil {
			return fmt.Errorf("start zookeeper: %w (log: %s)", err, srv.LogPath())
		}
		st.defer_(srv.Stop)
		_ = os.WriteFile(filepath.Join(dir, "zookeeper", "port"), []byte(strconv.Itoa(srv.Port)), 0o644)
		zk = srv.Addr
		say("zookeeper     %s (data in %s)", zk, srv.Dir)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := zkstate.Connect(cctx, strings.Split(zk, ","), zkstate.WithLogger(log))
	cancel()
	if err != nil {
		return fmt.Errorf("connect to ZooKeeper %s: %w", zk, err)
	}
	st.defer_(store.Close)
	fw, err := store.Framework(defaultFramework)
	if err != nil {
		return err
	}

	// 2. mesos-local.
	m, err := mesoslocal.New(mesoslocal.Config{Agents: o.nodes, WorkDir: filepath.Join(dir, "mesos"), Logger: log, AgentResources: o.agentResources,
		AllocationInterval: 500 * time.Millisecond, StatusRetryInterval: 2 * time.Second, HeartbeatInterval: 5 * time.Second})
	if err != nil {
		return err
	}
	mln, err := net.Listen("tcp", o.mesos)
	if err != nil {
		return fmt.Errorf("mesos-local: %w", err)
	}
	go func() { _ = m.Serve(mln) }()
	st.defer_(func() { _ = m.Close() })
	master := "http://" + mln.Addr().String()
	say("mesos-local   %s (%d agents; state %s/state)", master, o.nodes, master)

	// 3. The scheduler.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	aln, err := net.Listen("tcp", o.api)
	if err != nil {
		return fmt.Errorf("scheduler API: %w", err)
	}
	apiURL := "http://" + aln.Addr().String()
	sched, err := scheduler.New(scheduler.Config{Master: master, Framework: fw, ZooKeeper: zk, ID: "rmf-dev@" + apiURL,
		ExecutorCommand: self + " executor", Logger: log, FailoverTimeout: time.Hour})
	if err != nil {
		return err
	}
	apiSrv := &http.Server{Handler: sched.Handler(""), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = apiSrv.Serve(aln) }()
	st.defer_(func() { _ = apiSrv.Close() })
	_ = fw.SetURI(ctx, apiURL)
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	sdone := make(chan struct{})
	go func() { defer close(sdone); _ = sched.Run(sctx) }()
	st.defer_(func() { scancel(); <-sdone })
	say("scheduler     %s/api/v1/framework", apiURL)

	// 4. The cluster.
	if err := devEnsureCluster(ctx, apiURL, o.nodes); err != nil {
		return err
	}
	say("cluster       %q: waiting for %d nodes to run...", devCluster, o.nodes)
	// On a resumed --dir the records still say "running" from the last
	// run: wait until mesos-local really runs the tasks too.
	if err := devWaitRunning(ctx, apiURL, o.nodes, o.readyTimeout, func() int {
		n := 0
		for _, t := range m.State().Tasks {
			if t.State == "TASK_RUNNING" {
				n++
			}
		}
		return n
	}); err != nil {
		return err
	}

	// 5. The director.
	p, err := director.NewProxy(director.Config{Logger: log})
	if err != nil {
		return err
	}
	var disc director.Discovery
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := disc.WatchZooKeeper(dctx, fw, devCluster, p, log); err != nil {
		dcancel()
		return err
	}
	pln, err := net.Listen("tcp", o.directorPB)
	if err != nil {
		dcancel()
		return fmt.Errorf("director PB: %w", err)
	}
	go func() { _ = p.Serve(dctx, pln) }()
	hln, err := net.Listen("tcp", o.directorHTTP)
	if err != nil {
		dcancel()
		_ = p.Close()
		return fmt.Errorf("director HTTP: %w", err)
	}
	hsrv := &http.Server{Handler: p.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hsrv.Serve(hln) }()
	adminURL := ""
	var asrv *http.Server
	if o.directorAdmin != "" {
		aln, err := net.Listen("tcp", o.directorAdmin)
		if err != nil {
			dcancel()
			_ = hsrv.Close()
			_ = p.Close()
			return fmt.Errorf("director admin: %w", err)
		}
		asrv = &http.Server{Handler: p.AdminHandler(&disc), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = asrv.Serve(aln) }()
		adminURL = "http://" + aln.Addr().String() + "/"
	}
	st.defer_(func() {
		if asrv != nil {
			_ = asrv.Close()
		}
		_ = hsrv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.Shutdown(sctx)
		cancel()
		dcancel()
	})
	// Wait until the director has health-checked every node: a resumed
	// ZooKeeper may still list endpoints of the last run until their
	// sessions expire.
	available := func() int {
		n := 0
		for _, nd := range p.Nodes() {
			if nd.Available() && nd.Healthy() {
				n++
			}
		}
		return n
	}
	for start := time.Now(); (available() < o.nodes || len(p.Nodes()) != o.nodes) && time.Since(start) < 60*time.Second; {
		time.Sleep(100 * time.Millisecond)
	}
	pb, httpAddr := pln.Addr().String(), hln.Addr().String()
	say("director      PB %s   HTTP %s   (%d nodes)", pb, httpAddr, len(p.Nodes()))
	if adminURL != "" {
		say("status page   %s   (JSON %sstatus, metrics %smetrics)", adminURL, adminURL, adminURL)
	}
	say("scheduler UI  %s/", apiURL)
	say("")
	say("Try it:")
	say("  curl -XPUT -H 'Content-Type: text/plain' -d 'hello' http://%s/buckets/test/keys/k1", httpAddr)
	say("  curl http://%s/buckets/test/keys/k1", httpAddr)
	say("  rmf node list --api %s --cluster %s", apiURL, devCluster)
	say("  rmf node add --api %s --cluster %s        # one more node", apiURL, devCluster)
	say("  kill -9 a devnode process and watch it come back: rmf node list ...")
	say("Logs: %s/rmf-dev.log; sandboxes under %s/mesos. Ctrl-C stops everything.", dir, dir)

	if o.bench > 0 {
		if err := devBench(ctx, out, pb, o.bench, filepath.Join(dir, "bench")); err != nil {
			say("benchmark: %v", err)
		}
		if os.Getenv("DEMO_EXIT") == "1" {
			return nil
		}
	}
	<-ctx.Done()
	say("stopping...")
	return nil
}

// devZKPort reuses the port of a previous run, else 2181 if free, else any.
func devZKPort(dir string) int {
	if b, err := os.ReadFile(filepath.Join(dir, "zookeeper", "port")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && portFree(p) {
			return p
		}
	}
	if portFree(2181) {
		return 2181
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 2181
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// devEnsureCluster creates the cluster and tops it up to n nodes.
func devEnsureCluster(ctx context.Context, api string, n int) error {
	o := apiOpts{api: api}
	var cv scheduler.ClusterView
	err := o.do(ctx, http.MethodGet, "/api/v1/clusters/"+devCluster, nil, "", &cv)
	if err != nil {
		body := `{"node_resources":{"cpus":0.5,"mem_mb":512,"disk_mb":512}}`
		if err := o.do(ctx, http.MethodPut, "/api/v1/clusters/"+devCluster, strings.NewReader(body), "application/json", &cv); err != nil {
			return fmt.Errorf("create cluster: %w", err)
		}
	}
	if missing := n - len(cv.Nodes); missing > 0 {
		if err := o.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/clusters/%s/nodes?count=%d", devCluster, missing), nil, "", nil); err != nil {
			return fmt.Errorf("add nodes: %w", err)
		}
	}
	return nil
}

func devWaitRunning(ctx context.Context, api string, n int, timeout time.Duration, tasksRunning func() int) error {
	o := apiOpts{api: api}
	deadline := time.Now().Add(timeout)
	var nodes []scheduler.NodeView
	for time.Now().Before(deadline) {
		if err := o.do(ctx, http.MethodGet, "/api/v1/clusters/"+devCluster+"/nodes", nil, "", &nodes); err == nil {
			running := 0
			for _, nv := range nodes {
				if nv.State == "running" {
					running++
				}
			}
			if running >= n && tasksRunning() >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	b, _ := json.Marshal(nodes)
	return fmt.Errorf("cluster not running after %v: %s", timeout, b)
}

// devBench runs `rmf bench run` (riak-go-client, balanced workload)
// through the director and prints the summary and the report path.
func devBench(ctx context.Context, out io.Writer, pb string, d time.Duration, dir string) error {
	fmt.Fprintf(out, "\nbenchmark     %v through the director at %s (riak-go-client, balanced, 16 workers)...\n", d, pb)
	mix, err := bench.ParseMix("get:4,put:4,update:1,delete:1")
	if err != nil {
		return err
	}
	cfg := bench.Config{Label: "rmf dev: riak-go-client -> director " + pb, PBAddrs: []string{pb}, Duration: d, Warmup: time.Second,
		Concurrency: 16, Keys: 10000, Mix: mix}
	res, runErr := bench.Run(ctx, cfg)
	if res == nil {
		if runErr == nil {
			runErr = errors.New("no result")
		}
		return runErr
	}
	if err := bench.WriteRunReport(dir, res); err != nil {
		return err
	}
	printRunSummary(out, res)
	fmt.Fprintf(out, "report: %s\n", filepath.Join(dir, "report.html"))
	return runErr
}
