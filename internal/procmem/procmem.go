// Package procmem gives back memory a process touched only while it
// started.
//
// A Go binary runs every linked package's init before main, and the
// kernel maps file pages around each fault (fault-around, and whole large
// folios), so a process that serves one subcommand of a large binary keeps
// most of the binary's code and constants mapped: for `rmf director`,
// 15 of its 19 MB of idle resident set. Those pages are shared with every
// other process running the binary, but the resident set (what an operator
// and a container's RSS limit see) counts them whole.
package procmem

// Stats is what a release unmapped: the resident bytes of the
// executable's read-only mappings before and after.
type Stats struct {
	Mappings      int
	Before, After int64
}
