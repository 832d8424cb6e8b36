//go:build unix && !linux

package zkserver

import "syscall"

// childSysProcAttr puts the child in its own process group so the whole group
// can be killed.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
