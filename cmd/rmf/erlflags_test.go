package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErlFlags: `rmf erlpmd erl-flags --port P --dir D` compiles rmf_epmd
// into D and prints, on one line, the erl flags that route a node's
// registration and lookups through 127.0.0.1:P (TestErlangAcrossHosts in
// erlpmd runs real nodes with these flags); bad input is one line, exit 2.
func TestErlFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs erlc")
	}
	dir := filepath.Join(t.TempDir(), "epmd")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"erlpmd", "erl-flags", "--port", "4400", "--dir", dir}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := "-pa " + dir + " -epmd_module rmf_epmd -epmd_port 4400 -start_epmd false\n"
	if stdout.String() != want {
		t.Fatalf("stdout %q, want %q", stdout.String(), want)
	}
	for _, f := range []string{"rmf_epmd.erl", "rmf_epmd.beam"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no port", []string{"erlpmd", "erl-flags", "--dir", dir}, "--port 0"},
		{"port out of range", []string{"erlpmd", "erl-flags", "--port", "70000", "--dir", dir}, "--port 70000"},
		{"no dir", []string{"erlpmd", "erl-flags", "--port", "4400"}, "--dir is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), tc.want) ||
				strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want exit %d and one line with %q", code, stderr.String(), exitUsage, tc.want)
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"erlpmd", "erl-flags", "--port", "4400", "--dir", dir, "--erlc", "/nonexistent/erlc"}, &out, &errOut); code == exitOK ||
		!strings.Contains(errOut.String(), "compile") {
		t.Fatalf("a missing erlc: exit %d, stderr %q", code, errOut.String())
	}
}
