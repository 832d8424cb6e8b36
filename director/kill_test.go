package director

import (
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

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
	testutil.WaitFor(t, 40*time.Second, name+" ready", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// TestKillNineThroughDirector: kill -9 one of three devnode processes during
// a 16-worker read/write load through the director: zero failed reads and
// writes, zero lost acknowledged writes, the node reported down within 2 s; restarted, it
// rejoins rotation without a client error.
func TestKillNineThroughDirector(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three devnode processes; skipped under -short")
	}
	bin := testutil.RMF(t)
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
	prx, addr := startProxySpecs(t, Config{HealthInterval: 200 * time.Millisecond}, specs)
	l := startLoad(t, client(t, addr), 16, "k")
	time.Sleep(time.Second)
	victim := procs[2]
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	_ = victim.cmd.Wait()
	seenDown := waitDown(prx, victim.pb, 3*time.Second)
	time.Sleep(time.Second)
	errsBeforeRestart := l.errors()
	// Restart it on its data: it rejoins rotation without client errors.
	startDevnodeProc(t, bin, "dev3@127.0.0.1", victim.pb, victim.http, victim.dir, "")
	back := waitUp(prx, victim.pb, 5*time.Second)
	time.Sleep(time.Second)
	l.stop()
	s := prx.Stats()
	t.Logf("writes %d (errors %d), reads %d (errors %d); node down after %v; retries %d, failovers %d, write repeats %d, director errors %d",
		l.writes.Load(), l.writeErrs.Load(), l.reads.Load(), l.readErrs.Load(), seenDown, s.Retries, s.Failovers, s.WriteRepeats, s.ErrorsSent)
	if seenDown == 0 || seenDown > 2*time.Second {
		t.Errorf("killed node reported down after %v, want within 2s", seenDown)
	}
	if !back {
		t.Error("restarted node not back in rotation within 5s")
	}
	if l.readErrs.Load() != 0 {
		t.Errorf("%d failed reads", l.readErrs.Load())
	}
	// The writes in flight to the killed node are repeated elsewhere
	// (their connections broke before any answer): none fails, not even
	// once (riak-go-client would hide a failure by retrying it itself).
	if l.writeErrs.Load() != 0 || s.ErrorsSent != 0 {
		t.Errorf("%d failed writes, %d errors from the director", l.writeErrs.Load(), s.ErrorsSent)
	}
	if after := l.errors(); after != errsBeforeRestart {
		t.Errorf("%d client errors after the restart", after-errsBeforeRestart)
	}
	if lost := l.lost(); lost != 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
}
