package director

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/testutil"
)

func buildRMF(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rmf")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/rmf-go/rmf/cmd/rmf").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type nodeProc struct {
	cmd           *exec.Cmd
	pb, http, dir string
}

func startDevnodeProc(t *testing.T, bin, name, pb, httpAddr, dir, join string) *nodeProc {
	t.Helper()
	args := []string{"devnode", "--name", name, "--pb", pb, "--http", httpAddr, "--data", dir, "--backend", "disk", "--ring-size", "16"}
	if join != "" {
		args = append(args, "--join", join)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{cmd: cmd, pb: pb, http: httpAddr, dir: dir}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(40 * time.Second)
	for {
		if resp, err := http.Get("http://" + httpAddr + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillNineThroughDirector: kill -9 one of three devnode processes during
// a 16-worker read/write load through the director: zero failed reads, zero
// lost acknowledged writes, the node reported down within 2 s; restarted, it
// rejoins rotation without a client error.
func TestKillNineThroughDirector(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three devnode processes; skipped under -short")
	}
	bin := buildRMF(t)
	var procs []*nodeProc
	for i := 0; i < 3; i++ {
		join := ""
		if i > 0 {
			join = procs[0].pb
		}
		procs = append(procs, startDevnodeProc(t, bin, fmt.Sprintf("dev%d@127.0.0.1", i+1), testutil.FreeAddr(t), testutil.FreeAddr(t), t.TempDir(), join))
	}
	time.Sleep(500 * time.Millisecond) // membership gossip settles
	var specs []balancer.NodeSpec
	for _, pr := range procs {
		specs = append(specs, balancer.NodeSpec{ID: pr.pb, PBAddr: pr.pb, HTTPAddr: pr.http})
	}
	prx, addr := startProxySpecs(t, Config{Logger: logger(), HealthInterval: 200 * time.Millisecond}, specs)
	c := client(t, addr)

	var acked sync.Map
	var writes, writeErrs, readErrs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("k%d-%d", w, i)
				if err := put(c, key, key); err != nil {
					writeErrs.Add(1)
					continue
				}
				writes.Add(1)
				acked.Store(key, true)
				if v, err := get(c, key); err != nil || v != key {
					if readErrs.Add(1) <= 3 {
						t.Logf("read %s: %q %v", key, v, err)
					}
				}
			}
		}()
	}
	time.Sleep(time.Second)
	victim := procs[2]
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	_ = victim.cmd.Wait()
	killed := time.Now()
	var seenDown time.Duration
	for seenDown == 0 && time.Since(killed) < 3*time.Second {
		for _, n := range prx.Nodes() {
			if n.PBAddr == victim.pb && !n.Available() {
				seenDown = time.Since(killed)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second)
	errsBeforeRestart := writeErrs.Load() + readErrs.Load()
	// Restart it on its data: it rejoins rotation without client errors.
	startDevnodeProc(t, bin, "dev3@127.0.0.1", victim.pb, victim.http, victim.dir, "")
	back := time.Now()
	for time.Since(back) < 5*time.Second {
		ok := false
		for _, n := range prx.Nodes() {
			if n.PBAddr == victim.pb && n.Available() {
				ok = true
			}
		}
		if ok {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	t.Logf("writes %d, write errors %d, read errors %d; node down after %v", writes.Load(), writeErrs.Load(), readErrs.Load(), seenDown)
	if seenDown == 0 || seenDown > 2*time.Second {
		t.Errorf("killed node reported down after %v, want within 2s", seenDown)
	}
	if readErrs.Load() != 0 {
		t.Errorf("%d failed reads", readErrs.Load())
	}
	if after := writeErrs.Load() + readErrs.Load(); after != errsBeforeRestart {
		t.Errorf("%d client errors after the restart", after-errsBeforeRestart)
	}
	lost := 0
	acked.Range(func(k, _ any) bool {
		if v, err := get(c, k.(string)); err != nil || v != k.(string) {
			lost++
		}
		return true
	})
	if lost != 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
}
