package director

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/protocol"
)

// procRSS reads a process's resident set (VmRSS) in MiB.
func procRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb float64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// BenchmarkIdleConnsRSS measures the resident memory of an `rmf director`
// process holding 10,000 idle client connections, each of which has made
// one request (so it is fully set up: buffers, goroutine, table entry).
// Target (director issue): at most 150 MiB. Run with -benchtime 1x.
func BenchmarkIdleConnsRSS(b *testing.B) {
	benchSetup(b)
	const conns = 10000
	bin := testutil.RMF(b)
	for range b.N {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "director", "--pb", addr, "--http", "", "--admin", "", "--node", bench.fake)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var base float64
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if time.Since(start) > 5*time.Second {
				b.Fatal("director did not start")
			}
		}
		time.Sleep(200 * time.Millisecond)
		base, _ = procRSS(cmd.Process.Pid)
		ping := protocol.AppendFrame(nil, protocol.CodePingReq, nil)
		var open []net.Conn
		buf := make([]byte, 16)
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("conn %d: %v", i, err)
			}
			if _, err := c.Write(ping); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil {
				b.Fatalf("conn %d: %v", i, err)
			}
			open = append(open, c)
		}
		time.Sleep(500 * time.Millisecond)
		rss, err := procRSS(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rss, "MiB-RSS")
		b.ReportMetric((rss-base)*1024/conns, "KiB/conn")
		b.Logf("director RSS: %.1f MiB with %d idle connections (%.1f MiB before them)", rss, conns, base)
		for _, c := range open {
			c.Close()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}
