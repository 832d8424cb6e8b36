package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestZKAuthFile: --zk-auth-file reads the credential from a file only
// its owner can read; a file others can read, a bad credential, a
// missing file and both flags at once are one-line usage errors, before
// anything connects.
func TestZKAuthFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string { return writeFileMode(t, dir, name, content, mode) }
	good := write("good", "rmf:s3cret\n", 0o600)
	if got, err := (&zkAuthFlags{file: good}).resolve(); err != nil || got != "rmf:s3cret" {
		t.Fatalf("resolve(%s) = %q, %v", good, got, err)
	}
	if got, err := (&zkAuthFlags{value: "a:b"}).resolve(); err != nil || got != "a:b" {
		t.Fatalf("resolve(--zk-auth) = %q, %v", got, err)
	}
	for name, z := range map[string]zkAuthFlags{
		"world-readable": {file: write("open", "rmf:s3cret", 0o644)},
		"no colon":       {file: write("bad", "rmfs3cret", 0o600)},
		"missing":        {file: filepath.Join(dir, "nope")},
		"both":           {value: "a:b", file: good},
	} {
		if got, err := z.resolve(); err == nil {
			t.Errorf("%s: accepted (%q)", name, got)
		}
	}
	for _, args := range [][]string{
		{"erlpmd", "--zk", "127.0.0.1:1", "--zk-auth-file", filepath.Join(dir, "open")},
		{"director", "--zk", "127.0.0.1:1", "--cluster", "c1", "--zk-auth-file", filepath.Join(dir, "open")},
		{"scheduler", "--zk", "127.0.0.1:1", "--zk-auth", "a:b", "--zk-auth-file", good},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		msg := strings.TrimSpace(stderr.String())
		if code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, "zk-auth") {
			t.Errorf("rmf %s: exit %d, stderr %q; want %d and one line", strings.Join(args, " "), code, msg, exitUsage)
		}
	}
}

// writeFileMode writes content to dir/name with exactly mode (the umask
// does not apply) and returns its path.
func writeFileMode(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
