//go:build !unix

package autoprocs

import "time"

// cpuTime: no CPU meter on this system (Run then does nothing).
func cpuTime() time.Duration { return -1 }
