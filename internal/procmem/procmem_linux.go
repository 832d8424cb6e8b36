//go:build linux

package procmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ReleaseExecutablePages unmaps the resident pages of the executable's
// read-only private mappings (its code and constants) with
// MADV_DONTNEED. Those pages are never written, so nothing is lost: a
// page used again is mapped again from the page cache on its next access
// (a minor fault), and the resident set then holds only what the process
// goes on using. Writable mappings (data, heap) are left alone.
func ReleaseExecutablePages() (Stats, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Stats{}, fmt.Errorf("procmem: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return Stats{}, fmt.Errorf("procmem: %w", err)
	}
	regions := readOnlyMappings(maps, exe)
	var st Stats
	for _, r := range regions {
		st.Before += r.rss
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, r.start, r.end-r.start, syscall.MADV_DONTNEED); e != 0 {
			return st, fmt.Errorf("procmem: madvise %#x-%#x: %w", r.start, r.end, e)
		}
		st.Mappings++
	}
	if len(regions) == 0 {
		return st, fmt.Errorf("procmem: no read-only mapping of %s in /proc/self/smaps", exe)
	}
	if after, err := os.ReadFile("/proc/self/smaps"); err == nil {
		for _, r := range readOnlyMappings(after, exe) {
			st.After += r.rss
		}
	}
	return st, nil
}

// mapping is one line of /proc/PID/smaps with its Rss, in bytes.
type mapping struct {
	start, end uintptr
	rss        int64
}

// readOnlyMappings returns the private, read-only (r-xp or r--p) mappings
// of the file exe in an smaps listing, with their resident bytes. A
// mapping of a replaced executable ("path (deleted)") counts as exe.
func readOnlyMappings(smaps []byte, exe string) []mapping {
	var out []mapping
	in := false // the current mapping is one of ours
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if rss, ok := strings.CutPrefix(line, "Rss:"); ok {
			if in {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rss), " kB"), 10, 64)
				out[len(out)-1].rss = kb << 10
			}
			continue
		}
		if !isMappingLine(fields) {
			continue
		}
		in = false
		if len(fields) < 6 || (fields[1] != "r-xp" && fields[1] != "r--p") {
			continue
		}
		path := strings.TrimSuffix(strings.Join(fields[5:], " "), " (deleted)")
		if path != exe {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end)})
		in = true
	}
	return out
}

// isMappingLine reports whether fields start a mapping ("lo-hi perms
// offset dev inode [path]") rather than one of its "Key: value" lines.
func isMappingLine(fields []string) bool {
	return len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":")
}
