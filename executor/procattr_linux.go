package executor

import "syscall"

// procAttr puts the node in its own process group (so stopping it reaches
// every process it started) and kills it if the executor dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
