//go:build !linux

package procmem

import "errors"

// ReleaseExecutablePages is Linux-only; elsewhere it does nothing.
func ReleaseExecutablePages() (Stats, error) {
	return Stats{}, errors.New("procmem: not supported on this system")
}
