//go:build linux

package procmem

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

const sampleSmaps = `00400000-00fea000 r-xp 00000000 fe:00 1234                               /opt/rmf/bin/rmf
Size:              12200 kB
Rss:                7520 kB
00fea000-01bd2000 r--p 00bea000 fe:00 1234                               /opt/rmf/bin/rmf
Size:              12192 kB
Rss:                7384 kB
01bd2000-01c5b000 rw-p 017d2000 fe:00 1234                               /opt/rmf/bin/rmf
Rss:                 484 kB
7f0000000000-7f0000010000 r-xp 00000000 fe:00 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                  64 kB
7f1000000000-7f1000020000 r--p 00000000 fe:00 1235                       /opt/rmf/bin/rmf (deleted)
Rss:                  12 kB
7f2000000000-7f2000001000 r--p 00000000 00:00 0 
Rss:                   4 kB
`

func TestReadOnlyMappings(t *testing.T) {
	got := readOnlyMappings([]byte(sampleSmaps), "/opt/rmf/bin/rmf")
	want := []mapping{
		{start: 0x400000, end: 0xfea000, rss: 7520 << 10},
		{start: 0xfea000, end: 0x1bd2000, rss: 7384 << 10},
		{start: 0x7f1000000000, end: 0x7f1000020000, rss: 12 << 10},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d mappings %+v, want %+v (not the rw-p data, libc, or an anonymous one)", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := readOnlyMappings([]byte(sampleSmaps), "/other"); len(got) != 0 {
		t.Errorf("another executable: got %+v", got)
	}
}

// rssFile is RssFile of /proc/self/status, in kB.
func rssFile(t *testing.T) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseExecutablePages: the test binary's own code and constants
// leave the resident set, and the process goes on running.
func TestReleaseExecutablePages(t *testing.T) {
	before := rssFile(t)
	st, err := ReleaseExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	t.Logf("released %d mappings: %d kB resident before, %d after; RssFile %d -> %d kB", st.Mappings, st.Before>>10, st.After>>10, before, after)
	if st.Mappings < 2 {
		t.Errorf("released %d mappings, want the code and the constants", st.Mappings)
	}
	if st.Before < 1<<20 || st.After*2 > st.Before {
		t.Errorf("the read-only mappings held %d bytes before and %d after: want at least 1 MB before and half gone", st.Before, st.After)
	}
	if after >= before {
		t.Errorf("RssFile %d kB after, %d before: nothing left the resident set", after, before)
	}
	// The code runs on: strings, strconv and the testing package fault
	// their pages back in.
	if got := strconv.Itoa(12345) + strings.Repeat("x", 2); got != "12345xx" {
		t.Fatalf("got %q", got)
	}
}
