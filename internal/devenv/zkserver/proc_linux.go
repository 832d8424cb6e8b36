//go:build linux

package zkserver

import "syscall"

// childSysProcAttr puts the child in its own process group (so the whole
// group can be killed) and asks the kernel to kill it if the test binary dies
// without running its cleanups (panic, timeout, SIGKILL).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
