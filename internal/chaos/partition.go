package chaos

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The partition scenarios put a testutil.Proxy between the executors and
// ZooKeeper (the schedulers' --executor-zk) and cut one process off with
// BlockClients(ownedBy(pid)), while every other client, and ZooKeeper
// itself, stays up: a network partition of one agent. Clients are told
// apart by the process that owns the connection's socket (Linux /proc),
// as every executor runs on this one host.

// ownedBy picks, for Proxy.BlockClients, the connections whose client end
// (a loopback connection accepted by this process) is a socket of pid.
func ownedBy(pid int) func(c net.Conn) bool {
	return func(c net.Conn) bool { return socketOf(c, pid) }
}

func socketOf(c net.Conn, pid int) bool {
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
