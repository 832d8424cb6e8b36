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
mesos-local with one agent per node (agent N on its own loopback address,
127.0.0.(N+1), so each node has a host of its own), the scheduler, a
cluster "default" of --nodes devnodes (stand-ins for Riak KV), and the
director in front of them, discovering them through ZooKeeper.

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

// devRun is one `rmf dev`: its options, state directory and log, what it
// started, and the addresses each step leaves for the next.
type devRun struct {
	o       devOpts
	out     io.Writer
	dir     string
	logFile *os.File
	log     *slog.Logger
	st      devStack

	zk                       string // ZooKeeper's address(es)
	fw                       *zkstate.Framework
	m                        *mesoslocal.Master
	master                   string // mesos-local's URL
	apiURL                   string // the scheduler API's URL
	directorPB, directorHTTP string // the director's PB and HTTP addresses
	adminURL                 string // the director's status page ("": no admin listener)
}

// runDev starts the stack step by step (ZooKeeper, mesos-local, the
// scheduler, the cluster, the director), prints the endpoints, runs the
// benchmark if asked, and stops everything in reverse order when ctx ends.
func runDev(ctx context.Context, o devOpts, out io.Writer) error {
	d, err := openDevRun(o, out)
	if err != nil {
		return err
	}
	defer d.close()
	for _, step := range []func(context.Context) error{
		d.startZooKeeper, d.connectZooKeeper, d.startMesosLocal, d.startScheduler, d.startCluster, d.startDirector,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	d.printEndpoints()
	return d.benchAndWait(ctx)
}

// openDevRun makes the state directory and opens its log.
func openDevRun(o devOpts, out io.Writer) (*devRun, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "rmf-dev.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &devRun{o: o, out: out, dir: dir, logFile: logFile, log: slog.New(slog.NewTextHandler(logFile, nil))}, nil
}

// close stops what was started, in reverse order, then closes the log.
func (d *devRun) close() {
	d.st.stop()
	d.logFile.Close()
}

func (d *devRun) say(format string, a ...any) { fmt.Fprintf(d.out, format+"\n", a...) }

// startZooKeeper starts a private ZooKeeper under --dir unless --zk names
// one.
func (d *devRun) startZooKeeper(context.Context) error {
	d.zk = d.o.zk
	if d.zk != "" {
		return nil
	}
	if err := zkserver.Installed(); err != nil {
		return fmt.Errorf("zookeeper is not installed (%v); %s", err, zkserver.InstallHint)
	}
	srv := &zkserver.Server{Dir: filepath.Join(d.dir, "zookeeper"), Port: devZKPort(d.dir)}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start zookeeper: %w (log: %s)", err, srv.LogPath())
	}
	d.st.defer_(srv.Stop)
	_ = os.WriteFile(filepath.Join(d.dir, "zookeeper", "port"), []byte(strconv.Itoa(srv.Port)), 0o644)
	d.zk = srv.Addr
	d.say("zookeeper     %s (data in %s)", d.zk, srv.Dir)
	return nil
}

// connectZooKeeper opens the session the scheduler and the director share.
func (d *devRun) connectZooKeeper(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := zkstate.Connect(cctx, strings.Split(d.zk, ","), zkstate.WithLogger(d.log))
	cancel()
	if err != nil {
		return fmt.Errorf("connect to ZooKeeper %s: %w", d.zk, err)
	}
	d.st.defer_(store.Close)
	d.fw, err = store.Framework(defaultFramework)
	return err
}

// startMesosLocal serves mesos-local with one agent per node.
func (d *devRun) startMesosLocal(context.Context) error {
	m, err := mesoslocal.New(mesoslocal.Config{Agents: d.o.nodes, WorkDir: filepath.Join(d.dir, "mesos"), Logger: d.log, AgentResources: d.o.agentResources,
		AllocationInterval: 500 * time.Millisecond, StatusRetryInterval: 2 * time.Second, HeartbeatInterval: 5 * time.Second})
	if err != nil {
		return err
	}
	mln, err := net.Listen("tcp", d.o.mesos)
	if err != nil {
		return fmt.Errorf("mesos-local: %w", err)
	}
	go func() { _ = m.Serve(mln) }()
	d.st.defer_(func() { _ = m.Close() })
	d.m, d.master = m, "http://"+mln.Addr().String()
	var addrs []string
	for _, a := range m.State().Agents {
		addrs = append(addrs, a.Hostname)
	}
	d.say("mesos-local   %s (%d agents on %s; state %s/state)", d.master, d.o.nodes, strings.Join(addrs, ", "), d.master)
	return nil
}

// startScheduler runs the scheduler in this process, its executors being
// this binary, and serves its API.
func (d *devRun) startScheduler(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	aln, err := net.Listen("tcp", d.o.api)
	if err != nil {
		return fmt.Errorf("scheduler API: %w", err)
	}
	d.apiURL = "http://" + aln.Addr().String()
	sched, err := scheduler.New(scheduler.Config{Master: d.master, Framework: d.fw, ZooKeeper: d.zk, ID: "rmf-dev@" + d.apiURL,
		ExecutorCommand: self + " executor", Logger: d.log, FailoverTimeout: time.Hour})
	if err != nil {
		return err
	}
	apiSrv := &http.Server{Handler: sched.Handler(""), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = apiSrv.Serve(aln) }()
	d.st.defer_(func() { _ = apiSrv.Close() })
	_ = d.fw.SetURI(ctx, d.apiURL)
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	sdone := make(chan struct{})
	go func() { defer close(sdone); _ = sched.Run(sctx) }()
	d.st.defer_(func() { scancel(); <-sdone })
	d.say("scheduler     %s/api/v1/framework", d.apiURL)
	return nil
}

// startCluster creates the cluster (or tops it up) and waits for its
// nodes to run.
func (d *devRun) startCluster(ctx context.Context) error {
	if err := devEnsureCluster(ctx, d.apiURL, d.o.nodes); err != nil {
		return err
	}
	d.say("cluster       %q: waiting for %d nodes to run...", devCluster, d.o.nodes)
	// On a resumed --dir the records still say "running" from the last
	// run: wait until mesos-local really runs the tasks too.
	return devWaitRunning(ctx, d.apiURL, d.o.nodes, d.o.readyTimeout, d.tasksRunning)
}

// tasksRunning counts the tasks mesos-local runs.
func (d *devRun) tasksRunning() int {
	n := 0
	for _, t := range d.m.State().Tasks {
		if t.State == "TASK_RUNNING" {
			n++
		}
	}
	return n
}

// startDirector runs the director in this process (director.Server, as
// `rmf director` does), discovering the nodes through ZooKeeper, on its PB,
// HTTP and (unless empty) admin addresses, and waits until it has
// health-checked every node.
func (d *devRun) startDirector(ctx context.Context) error {
	disc := &director.Discovery{}
	srv, err := director.NewServer(director.ServerConfig{Proxy: director.Config{Logger: d.log}, Discovery: disc,
		PBAddr: d.o.directorPB, HTTPAddr: d.o.directorHTTP, AdminAddr: d.o.directorAdmin})
	if err != nil {
		return err
	}
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	d.st.defer_(dcancel)
	if err := disc.WatchZooKeeper(dctx, d.fw, devCluster, srv.Proxy(), d.log); err != nil {
		_ = srv.Close()
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Close()
		return fmt.Errorf("director: %w", err)
	}
	d.st.defer_(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	})
	if d.o.directorAdmin != "" {
		d.adminURL = "http://" + srv.AdminAddr() + "/"
	}
	d.directorPB, d.directorHTTP = srv.PBAddr(), srv.HTTPAddr()
	p := srv.Proxy()
	waitDirectorNodes(p, d.o.nodes)
	d.say("director      PB %s   HTTP %s   (%d nodes)", d.directorPB, d.directorHTTP, len(p.Nodes()))
	return nil
}

// waitDirectorNodes waits up to 60 s until the director has health-checked
// every node: a resumed ZooKeeper may still list endpoints of the last run
// until their sessions expire.
func waitDirectorNodes(p *director.Proxy, nodes int) {
	available := func() int {
		n := 0
		for _, nd := range p.Nodes() {
			if nd.Available() && nd.Healthy() {
				n++
			}
		}
		return n
	}
	for start := time.Now(); (available() < nodes || len(p.Nodes()) != nodes) && time.Since(start) < 60*time.Second; {
		time.Sleep(100 * time.Millisecond)
	}
}

// printEndpoints tells the user where everything is and what to try.
func (d *devRun) printEndpoints() {
	if d.adminURL != "" {
		d.say("status page   %s   (JSON %sstatus, metrics %smetrics)", d.adminURL, d.adminURL, d.adminURL)
	}
	d.say("scheduler UI  %s/", d.apiURL)
	d.say("")
	d.say("Try it:")
	d.say("  curl -XPUT -H 'Content-Type: text/plain' -d 'hello' http://%s/buckets/test/keys/k1", d.directorHTTP)
	d.say("  curl http://%s/buckets/test/keys/k1", d.directorHTTP)
	d.say("  rmf node list --api %s --cluster %s", d.apiURL, devCluster)
	d.say("  rmf node add --api %s --cluster %s        # one more node", d.apiURL, devCluster)
	d.say("  kill -9 a devnode process and watch it come back: rmf node list ...")
	d.say("Logs: %s/rmf-dev.log; sandboxes under %s/mesos. Ctrl-C stops everything.", d.dir, d.dir)
}

// benchAndWait runs the --bench benchmark, if asked, then serves until ctx
// ends (DEMO_EXIT=1: exits after the benchmark).
func (d *devRun) benchAndWait(ctx context.Context) error {
	if d.o.bench > 0 {
		if err := devBench(ctx, d.out, d.directorPB, d.o.bench, filepath.Join(d.dir, "bench")); err != nil {
			d.say("benchmark: %v", err)
		}
		if os.Getenv("DEMO_EXIT") == "1" {
			return nil
		}
	}
	<-ctx.Done()
	d.say("stopping...")
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
