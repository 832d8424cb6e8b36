package mesoslocal

import "syscall"

// procAttr puts an executor in a process group of its own (so it and its
// children can be killed together) and kills it if mesos-local dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
