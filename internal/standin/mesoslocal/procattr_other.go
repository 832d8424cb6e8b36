//go:build !linux

package mesoslocal

import "syscall"

// procAttr puts an executor in a process group of its own.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
