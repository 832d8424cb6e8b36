//go:build unix

package autoprocs

import (
	"syscall"
	"time"
)

// cpuTime is the user and system CPU time the process has used; -1 when
// it cannot be read.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
