//go:build !linux

package executor

import "syscall"

// procAttr puts the node in its own process group.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
