// Package fakeriak is a stand-in for a Riak KV 3.x release tarball, for
// tests of the executor's and the scheduler's riak flavor where real Riak
// is not installed. Not Riak: its bin/riak answers as Riak KV 3.2.3's
// does, word for word, for the commands the executor runs (chkconfig,
// foreground, ping, admin cluster join|force-replace|leave|plan|commit,
// wait-for-service, ringready, transfers; member-status, aae-status and
// bucket-type through the devnode's riak admin), and runs the devnode as
// the node. `chkconfig` refuses a riak.conf key that Riak KV 3.2.3's schemas
// do not have, saying only "Cuttlefish failed! Oh no!: " as Riak's does;
// bin/cuttlefish, run by erts-*/bin/escript, says why in cuttlefish's
// words.
package fakeriak

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

//go:embed riak.sh
var script []byte

//go:embed cuttlefish.sh
var cuttlefish []byte

// The release's Erlang runtime: escript runs bin/cuttlefish (a script
// here), erlc is the machine's (the executor compiles rmf_epmd with it).
var (
	escript = []byte("#!/bin/sh\nexec \"$@\"\n")
	erlc    = []byte("#!/bin/sh\nexec erlc \"$@\"\n")
)

// keys are the riak.conf keys of Riak KV 3.2.3's schemas (one per line;
// "$name" stands for any segment).
//
//go:embed riak-3.2.3-keys.txt
var keys string

// Env is the variable that must hold the rmf binary (for `rmf devnode`)
// in the environment of the executor that runs the fake release.
const Env = "FAKE_RIAK_RMF"

// Version is the release version the tarball claims.
const Version = "3.2.3"

// Tarball writes riak-<Version>.tar.gz into dir: a single riak-<Version>/
// directory, as real release tarballs have, with bin/riak, the release's
// releases/start_erl.data and vm.args, and the schema keys chkconfig
// checks against.
func Tarball(dir string) (string, error) {
	top := "riak-" + Version + "/"
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"bin/riak", 0o755, script},
		{"bin/cuttlefish", 0o755, cuttlefish},
		{"erts-13.1.5/bin/escript", 0o755, escript},
		{"erts-13.1.5/bin/erlc", 0o755, erlc},
		{"share/schema-keys.re", 0o644, []byte(keyPatterns())},
		{"releases/start_erl.data", 0o644, []byte("13.1.5 " + Version + "\n")},
		{"releases/" + Version + "/vm.args", 0o644, []byte("## Name of the node\n-sname riak\n\n## Cookie for distributed erlang\n-setcookie riak\n\n+C multi_time_warp\n")},
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.name); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	hdrs := []*tar.Header{{Name: top, Typeflag: tar.TypeDir, Mode: 0o755}}
	for _, d := range []string{"bin", "erts-13.1.5", "erts-13.1.5/bin", "share", "releases", "releases/" + Version} {
		if dirs[d] {
			hdrs = append(hdrs, &tar.Header{Name: top + d + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		}
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: top + f.name, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "riak-"+Version+".tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("fakeriak: %w", err)
	}
	return p, nil
}

// keyPatterns turns the key list into grep -E -x patterns.
func keyPatterns() string {
	var b strings.Builder
	for line := range strings.Lines(keys) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		segs := strings.Split(line, ".")
		for i, s := range segs {
			if strings.HasPrefix(s, "$") {
				segs[i] = "[^.]+"
			} else {
				segs[i] = regexp.QuoteMeta(s)
			}
		}
		b.WriteString(strings.Join(segs, `\.`) + "\n")
	}
	return b.String()
}
