package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	"github.com/chromedp/chromedp"

	"github.com/rmf-go/rmf/bench"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.CleanupRMF()
	os.Exit(code)
}

// procsUnder lists the processes whose command line mentions dir.
func procsUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, dir) {
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}

// TestDevEndToEnd runs `rmf dev` as a user would: the director reports 3
// up nodes, riak-go-client writes and reads through it, the status pages
// render in headless Chromium, and Ctrl-C leaves no process behind.
func TestDevEndToEnd(t *testing.T) {
	testutil.RequireZooKeeper(t)
	bin := testutil.RMF(t)
	dir := t.TempDir()
	pb, httpA, admin, api, mesos := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	agentResources := testutil.AgentResources(t) // ports of our own: see testutil.PortBlock
	cmd := startDev(t, bin, dir, agentResources, pb, httpA, admin, api, mesos)
	var st struct {
		Nodes []struct {
			ID, State string
			PBAddr    string `json:"pb"`
		}
	}
	if !testutil.Eventually(10*time.Second, func() bool {
		resp, err := http.Get("http://" + admin + "/status")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		up := 0
		for _, n := range st.Nodes {
			if n.State == "up" {
				up++
			}
		}
		return up == 3
	}) {
		t.Fatalf("director reports %+v, want 3 up nodes", st)
	}
	// One node per agent, each on its agent's own address (mesos-local's
	// 127.0.0.2-4) with a Riak node name by it: the director found them
	// there.
	var ns []struct {
		Name, Host string
		NodeName   string `json:"node_name"`
	}
	if resp, err := http.Get("http://" + api + "/api/v1/clusters/default/nodes"); err != nil {
		t.Fatal(err)
	} else {
		_ = json.NewDecoder(resp.Body).Decode(&ns)
		resp.Body.Close()
	}
	pbHost := map[string]string{}
	for _, n := range st.Nodes {
		pbHost[n.ID], _, _ = net.SplitHostPort(n.PBAddr)
	}
	hosts := map[string]bool{}
	for _, n := range ns {
		if n.NodeName != n.Name+"@"+n.Host || pbHost[n.Name] != n.Host {
			t.Errorf("node %s on %s named %s; the director has it on %q", n.Name, n.Host, n.NodeName, pbHost[n.Name])
		}
		hosts[n.Host] = true
	}
	if len(ns) != 3 || !hosts["127.0.0.2"] || !hosts["127.0.0.3"] || !hosts["127.0.0.4"] {
		t.Errorf("nodes %+v, want one on each of 127.0.0.2, 127.0.0.3 and 127.0.0.4", ns)
	}
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{pb}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		key := fmt.Sprintf("k%d", i)
		store, _ := riak.NewStoreValueCommandBuilder().WithBucket("dev").WithKey(key).
			WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(key)}).Build()
		if err := c.Execute(store); err != nil {
			t.Fatalf("write through the director: %v", err)
		}
		fetch, _ := riak.NewFetchValueCommandBuilder().WithBucket("dev").WithKey(key).Build()
		if err := c.Execute(fetch); err != nil {
			t.Fatalf("read through the director: %v", err)
		}
		if r := fetch.(*riak.FetchValueCommand).Response; len(r.Values) != 1 || string(r.Values[0].Value) != key {
			t.Fatalf("read %s: %+v", key, r)
		}
	}
	_ = c.Stop()

	// The scheduler page shows the cluster, and a pending node's reason.
	req, _ := http.NewRequest(http.MethodPut, "http://"+api+"/api/v1/clusters/big", strings.NewReader(`{"node_resources":{"cpus":64,"mem_mb":64,"disk_mb":64}}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	if resp, err := http.Post("http://"+api+"/api/v1/clusters/big/nodes", "application/json", nil); err == nil {
		resp.Body.Close()
	}
	checkSchedulerPage(t, "http://"+api+"/")

	// What scripts ask: is the cluster ready, where are its nodes.
	rmf := cliRunner(t, bin, api)
	if code, out, errOut := rmf("cluster", "wait", "default", "--timeout", "60s"); code != 0 || !strings.Contains(out, "cluster default ready: 3 of 3 nodes") {
		t.Errorf("cluster wait default: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := rmf("node", "wait", ns[0].Name, "--cluster", "default", "--timeout", "60s"); code != 0 || !strings.Contains(out, "ready: 1 of 1") {
		t.Errorf("node wait %s: exit %d, %q %q", ns[0].Name, code, out, errOut)
	}
	// A node's own statistics, through the scheduler.
	var stats map[string]any
	if code, out, errOut := rmf("node", "stats", ns[0].Name, "--cluster", "default"); code != 0 || json.Unmarshal([]byte(out), &stats) != nil || stats["nodename"] != ns[0].NodeName {
		t.Errorf("node stats: exit %d, %.300q %q", code, out, errOut)
	}
	// A node stopped is not ready (the cluster wait says which); started,
	// it is again.
	if code, out, errOut := rmf("node", "stop", ns[0].Name, "--cluster", "default"); code != 0 || !strings.Contains(out, "desired state stopped") {
		t.Errorf("node stop: exit %d, %q %q", code, out, errOut)
	}
	if !testutil.Eventually(30*time.Second, func() bool {
		code, _, errOut := rmf("node", "wait", ns[0].Name, "--cluster", "default", "--timeout", "1s")
		return code == 1 && strings.Contains(errOut, "desired state stopped")
	}) {
		t.Error("a stopped node was not reported not ready")
	}
	if code, out, errOut := rmf("node", "start", ns[0].Name, "--cluster", "default"); code != 0 || !strings.Contains(out, "desired state running") {
		t.Errorf("node start: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := rmf("cluster", "wait", "default", "--timeout", "60s"); code != 0 || !strings.Contains(out, "3 of 3 nodes") {
		t.Errorf("cluster wait after the start: exit %d, %q %q", code, out, errOut)
	}
	var eps struct {
		Endpoints []struct{ Node, PB, HTTP string }
	}
	code, out, errOut := rmf("cluster", "endpoints", "default", "--json")
	if err := json.Unmarshal([]byte(out), &eps); code != 0 || err != nil || len(eps.Endpoints) != 3 {
		t.Errorf("cluster endpoints: exit %d, %q %q", code, out, errOut)
	}
	for _, e := range eps.Endpoints {
		if h, _, _ := net.SplitHostPort(e.PB); !hosts[h] || bench.Ping(e.PB, 2*time.Second) != nil {
			t.Errorf("endpoint %+v does not answer on its agent's address", e)
		}
	}
	if code, _, errOut := rmf("cluster", "wait", "big", "--timeout", "2s"); code != 1 || !strings.Contains(errOut, "cluster big not ready after 2s: 0 of 1 nodes ready; missing: riak-big-1 (pending") {
		t.Errorf("cluster wait big: exit %d, %q", code, errOut)
	}
	// A cluster's definition goes out as JSON and comes back in elsewhere.
	code, exported, errOut := rmf("cluster", "export", "big")
	if code != 0 || !strings.Contains(exported, `"nodes": 1`) || !strings.Contains(exported, `"cpus": 64`) {
		t.Errorf("cluster export big: exit %d, %q %q", code, exported, errOut)
	}
	exportFile := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(exportFile, []byte(exported), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := rmf("cluster", "import", exportFile, "--name", "big2"); code != 0 || !strings.Contains(out, "cluster big2 imported with 1 nodes") {
		t.Errorf("cluster import: exit %d, %q %q", code, out, errOut)
	}
	if code, again, _ := rmf("cluster", "export", "big2"); code != 0 || strings.Replace(again, `"name": "big2"`, `"name": "big"`, 1) != exported {
		t.Errorf("export of the imported cluster:\n%s\nwant\n%s", again, exported)
	}
	if code, _, errOut := rmf("cluster", "import", exportFile); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("import over an existing cluster: exit %d, %q", code, errOut)
	}
	if code, _, errOut := rmf("cluster", "import", "/nonexistent.json"); code != 2 || !strings.Contains(errOut, "read the export") {
		t.Errorf("import of a missing file: exit %d, %q", code, errOut)
	}
	if code, _, errOut := rmf("cluster", "wait", "nope", "--timeout", "30s"); code != 1 || !strings.Contains(errOut, "nope") {
		t.Errorf("cluster wait of a missing cluster: exit %d, %q (want a quick exit 1)", code, errOut)
	}

	// Ctrl-C: everything stops, nothing is left.
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("rmf dev exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("rmf dev did not stop after SIGINT")
	}
	var left []string
	if !testutil.Eventually(5*time.Second, func() bool { left = procsUnder(dir); return len(left) == 0 }) {
		t.Errorf("processes left after Ctrl-C:\n%s", strings.Join(left, "\n"))
	}

	// Again with the same --dir: the same cluster, with its data.
	cmd = startDev(t, bin, dir, agentResources, pb, httpA, admin, api, mesos)
	c, err = riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{pb}})
	if err != nil {
		t.Fatal(err)
	}
	fetch, _ := riak.NewFetchValueCommandBuilder().WithBucket("dev").WithKey("k7").Build()
	if err := c.Execute(fetch); err != nil {
		t.Fatalf("read after resume: %v", err)
	}
	if r := fetch.(*riak.FetchValueCommand).Response; len(r.Values) != 1 || string(r.Values[0].Value) != "k7" {
		t.Errorf("after resume k7 = %+v", r)
	}
	_ = c.Stop()
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
}

// startDev starts `rmf dev` and waits until it has printed its endpoints.
func startDev(t *testing.T, bin, dir, agentResources, pb, httpA, admin, api, mesos string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"dev", "--nodes", "3", "--dir", dir, "--agent-resources", agentResources, "--director-pb", pb, "--director-http", httpA,
		"--director-admin", admin, "--api", api, "--mesos", mesos}, extra...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ready := make(chan struct{})
	var mu sync.Mutex
	var output strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			output.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "Ctrl-C stops everything") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(3 * time.Minute):
		// The Go runtime prints every goroutine on SIGQUIT (to the test's
		// stderr): where the scheduler, in-process in rmf dev, is stuck.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		mu.Lock()
		defer mu.Unlock()
		lb, _ := os.ReadFile(filepath.Join(dir, "rmf-dev.log"))
		t.Fatalf("rmf dev not ready:\n%s\n--- rmf-dev.log tail ---\n%s", output.String(), tailN(string(lb), 3000))
	}
	return cmd
}

// checkSchedulerPage opens the scheduler UI in headless Chromium: it lists
// the default cluster's nodes and says why the big node is not placed.
func checkSchedulerPage(t *testing.T, url string) {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("chromium not installed: run `make test` (it installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible("table.nodes")); err != nil {
		t.Fatal(err)
	}
	var running int
	var why string
	if !testutil.Eventually(20*time.Second, func() bool {
		running, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('table[data-cluster="default"] tr[data-state="running"]').length`))
		why, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('table[data-cluster="big"] .why')||{}).textContent||""`))
		return running == 3 && strings.Contains(why, "not enough resources")
	}) {
		t.Errorf("scheduler page: %d running nodes of default, pending reason %q", running, why)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err == nil {
		dir := os.Getenv("RMF_ARTIFACTS")
		if dir == "" {
			dir = t.TempDir()
		}
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(filepath.Join(dir, "scheduler-status.png"), png, 0o644)
	}
}

// cliRunner returns a runner of the rmf CLI against the API at api: its
// exit code, stdout and stderr.
func cliRunner(t *testing.T, bin, api string) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--api", api)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
}

func tailN(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
