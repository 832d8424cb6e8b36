package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// partitionProxy stands between the executors and ZooKeeper (the
// schedulers' --executor-zk) and can cut one process off while every other
// client, and ZooKeeper itself, stays up: a network partition of one
// agent. It tells clients apart by the process that owns the connection's
// socket (Linux /proc), as every executor runs on this one host.
type partitionProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	blocked int // pid cut off; 0: none
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

func newPartitionProxy(target string) (*partitionProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &partitionProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the proxy's address, to give to executors as ZooKeeper's.
func (p *partitionProxy) Addr() string { return p.ln.Addr().String() }

// block cuts pid off: its connections are closed and new ones refused
// until unblock.
func (p *partitionProxy) block(pid int) {
	p.mu.Lock()
	p.blocked = pid
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		if ownedBy(c, pid) {
			_ = c.Close()
		}
	}
}

func (p *partitionProxy) unblock() {
	p.mu.Lock()
	p.blocked = 0
	p.mu.Unlock()
}

func (p *partitionProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *partitionProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		blocked, closed := p.blocked, p.closed
		if !closed {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if closed || (blocked != 0 && ownedBy(c, blocked)) {
			p.forget(c)
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

func (p *partitionProxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// relay copies between the client and ZooKeeper until either side closes.
func (p *partitionProxy) relay(c net.Conn) {
	defer p.wg.Done()
	defer p.forget(c)
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// ownedBy reports whether the client end of c (a loopback connection
// accepted by this process) is a socket of process pid.
func ownedBy(c net.Conn, pid int) bool {
	addr, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	inode := socketInode(addr.Port)
	if inode == "" {
		return false
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name())); err == nil && l == want {
			return true
		}
	}
	return false
}

// socketInode finds the inode of the IPv4 TCP socket whose local port is
// port (the client end of a loopback connection), or "".
func socketInode(port int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	suffix := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(fields) > 9 && strings.HasSuffix(fields[1], suffix) {
			return fields[9]
		}
	}
	return ""
}

// parentPID returns pid's parent process.
func parentPID(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("chaos: /proc/%d/stat: %q", pid, s)
	}
	return strconv.Atoi(f[1])
}
