package riakconf

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/nodetask"
)

func testTask() nodetask.Task {
	return nodetask.Task{
		Version: nodetask.Version, Framework: "riak", Cluster: "default", Node: "riak-default-1",
		NodeName: "riak-default-1@10.0.0.5", Flavor: nodetask.FlavorRiak, ZooKeeper: "127.0.0.1:2181", Host: "10.0.0.5",
		Ports:       nodetask.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004},
		RiakTarball: "http://example.com/riak.tar.gz", Generation: 3,
	}
}

func TestNewVars(t *testing.T) {
	t.Parallel()
	v := NewVars(testTask(), "/sb")
	want := Vars{NodeName: "riak-default-1@10.0.0.5", Host: "10.0.0.5", PBPort: 31000, HTTPPort: 31001, HandoffPort: 31002,
		DisterlPort: 31003, ErlpmdPort: 31004, DataDir: "/sb/riak-data", PlatformDataDir: "/sb/riak-data/data", LogDir: "/sb/log",
		RiakRoot: "/sb/riak", Cluster: "default", Node: "riak-default-1", Framework: "riak", Cookie: "riak-riak-default", Generation: 3}
	if v != want {
		t.Errorf("NewVars:\n got %+v\nwant %+v", v, want)
	}
}

func TestRenderConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		riakConf, adv  string
		wantRC, wantAC []string // substrings
		wantErr        string
	}{
		{
			name: "defaults",
			wantRC: []string{
				"nodename = riak-default-1@10.0.0.5\n",
				"listener.protobuf.internal = 10.0.0.5:31000\n",
				"listener.http.internal = 10.0.0.5:31001\n",
				"handoff.port = 31002\n",
				"platform_data_dir = /sb/riak-data/data\n",
				"erlang.distribution.port_range.minimum = 31003\n",
				"erlang.distribution.port_range.maximum = 31003\n",
				"distributed_cookie = riak-riak-default\n",
				"handoff.ip = 10.0.0.5\n",
				"platform_lib_dir = /sb/riak/lib\n",
				"erlang.distribution.interface = 10.0.0.5\n",
			},
			wantAC: []string{"{riak_core, []}\n].\n"},
		},
		{
			name:     "custom",
			riakConf: "nodename = {{.NodeName}}\nring_size = 128\n## {{.Cluster}}/{{.Node}} epmd {{.ErlpmdPort}} data {{.DataDir}} gen {{.Generation}}\n",
			adv:      "[{riak_kv, [{pb_port, {{.PBPort}}}, {http, {{.HTTPPort}}}, {h, {{.HandoffPort}}}, {d, {{.DisterlPort}}}, {p, \"{{.PlatformDataDir}}\"}]}].",
			wantRC:   []string{"nodename = riak-default-1@10.0.0.5\nring_size = 128\n## default/riak-default-1 epmd 31004 data /sb/riak-data gen 3\n"},
			wantAC:   []string{`[{riak_kv, [{pb_port, 31000}, {http, 31001}, {h, 31002}, {d, 31003}, {p, "/sb/riak-data/data"}]}].`},
		},
		{name: "empty list", adv: "%% nothing ].\n[ ].\n", wantAC: []string{"[ ]."}},
		{name: "strings and comments", adv: "[{a, \"].\"}, {b, '].'}, {c, $]} % ].\n].% end\n", wantAC: []string{"{c, $]} % ]."}},
		{name: "strings and comments, no list end", adv: "[{a, \"].\"}, {b, '].'}, {c, $]} % ].\n", wantErr: "not an Erlang list"},
		{name: "not a list", adv: "{riak_kv, []}.", wantErr: "not an Erlang list"},
		{name: "no final dot", adv: "[{riak_kv, []}]", wantErr: "not an Erlang list"},
		{name: "unknown variable", riakConf: "x = {{.Nope}}", wantErr: "template riak.conf"},
		{name: "syntax error", adv: "{{.Host", wantErr: "template advanced.config"},
		// Limits: no hang, no huge allocation, whatever the template.
		{name: "range", riakConf: "{{range 3000000000}}{{end}}", wantErr: "range is not supported"},
		{name: "template call", adv: `{{define "a"}}{{end}}{{template "a"}}`, wantErr: "template calls are not supported"},
		{name: "block", adv: `{{block "a" .}}x{{end}}`, wantErr: "template calls are not supported"},
		{name: "nested range", riakConf: "{{if .Host}}{{with .Node}}{{range 3}}{{end}}{{end}}{{end}}", wantErr: "range is not supported"},
		{name: "printf width", riakConf: `{{printf "%0999999d" 1}}`, wantErr: "width or precision above 1024"},
		{name: "printf star", riakConf: `{{printf "%*d" 999999 1}}`, wantErr: "'*' widths"},
		{name: "printf ok", riakConf: `x = {{printf "%-8s|%5.2f|%%|%08d" .Cluster 1.5 .PBPort}}`, wantRC: []string{"x = default | 1.50|%|00031000"}},
		{name: "output too large", riakConf: strings.Repeat(`{{printf "%01000d" 1}}`, 1100), wantErr: "output larger than"},
		{name: "text too large", adv: strings.Repeat("x", MaxTemplateSize+1), wantErr: "bytes (max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := testTask()
			task.RiakConf, task.AdvancedConfig = tc.riakConf, tc.adv
			rc, ac, _, err := Configs(task.RiakConf, task.AdvancedConfig, NewVars(task, "/sb"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.wantRC {
				if !strings.Contains(rc, s) {
					t.Errorf("riak.conf lacks %q:\n%s", s, rc)
				}
			}
			for _, s := range tc.wantAC {
				if !strings.Contains(ac, s) {
					t.Errorf("advanced.config lacks %q:\n%s", s, ac)
				}
			}
			if strings.Contains(rc+ac, "{{") || strings.Contains(rc+ac, "<no value>") {
				t.Errorf("unrendered text:\n%s\n%s", rc, ac)
			}
		})
	}
}

// schemaKeys reads a testdata list of riak.conf keys, as the release's
// schemas name them ({mapping, "KEY", ...}; "$name" stands for any
// segment).
func schemaKeys(t *testing.T, file string) [][]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, strings.Split(line, "."))
		}
	}
	if len(keys) < 100 {
		t.Fatalf("%s: only %d keys", file, len(keys))
	}
	return keys
}

// knownKey says whether key matches one of the schema's keys.
func knownKey(schema [][]string, key string) bool {
	segs := strings.Split(key, ".")
	return slices.ContainsFunc(schema, func(k []string) bool {
		if len(k) != len(segs) {
			return false
		}
		for i := range k {
			if k[i] != segs[i] && !strings.HasPrefix(k[i], "$") {
				return false
			}
		}
		return true
	})
}

// TestRenderedKeysKnownToRiak: every key of the default riak.conf, the
// executor's included, is one Riak KV 2.2 and 3.x know; cuttlefish
// refuses a file with any other ("Cuttlefish failed!").
func TestRenderedKeysKnownToRiak(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/riak-*-keys.txt")
	// Riak KV 3.2.3's list is also the fake bin/riak's (internal/standin/fakeriak).
	files = append(files, "../standin/fakeriak/riak-3.2.3-keys.txt")
	if len(files) < 3 {
		t.Fatalf("key lists: %v", files)
	}
	rc, _, _, err := Configs("", "", NewVars(testTask(), "/sb"))
	if err != nil {
		t.Fatal(err)
	}
	settings := Parse(rc)
	if len(settings) < len(OwnedSettings(NewVars(testTask(), "/sb"))) {
		t.Fatalf("parsed %d settings from:\n%s", len(settings), rc)
	}
	for _, f := range files {
		schema := schemaKeys(t, f)
		// The key that broke real Riak once must stay unknown here.
		if knownKey(schema, "listener.pb.internal") || !knownKey(schema, "listener.protobuf.internal") {
			t.Fatalf("%s: key matching is wrong", f)
		}
		for _, s := range settings {
			if !knownKey(schema, s.Key) {
				t.Errorf("%s: riak.conf key %q is not in the schema", filepath.Base(f), s.Key)
			}
		}
	}
}

// effective is what cuttlefish makes of a riak.conf: the last value of
// each key.
func effective(conf string) map[string]string {
	m := map[string]string{}
	for _, s := range Parse(conf) {
		m[s.Key] = s.Value
	}
	return m
}

func TestExecutorSettingsWin(t *testing.T) {
	t.Parallel()
	v := NewVars(testTask(), "/sb")
	tests := []struct {
		name, tmpl string
		warn       []string // substrings, one warning each
	}{
		{name: "omits every executor key", tmpl: "ring_size = 64\n"},
		{name: "same values as the executor", tmpl: "nodename = {{.NodeName}}\nplatform_data_dir = {{.PlatformDataDir}}\nlistener.protobuf.internal = {{.Host}}:{{.PBPort}}"},
		{
			name: "overrides",
			tmpl: "nodename = riak@127.0.0.1\nplatform_data_dir = ./data\nlistener.protobuf.internal = 0.0.0.0:8087\n" +
				"handoff.port = 8099\ndistributed_cookie = riak\nlistener.http.public = 0.0.0.0:8098\nring_size = 64",
			warn: []string{
				"nodename = riak@127.0.0.1; the executor sets it to riak-default-1@10.0.0.5",
				"platform_data_dir = ./data; the executor sets it to /sb/riak-data/data",
				"listener.protobuf.internal = 0.0.0.0:8087",
				"handoff.port = 8099",
				"distributed_cookie = riak;",
				"listener.http.public: only the executor's listener.http.internal",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, _, warnings, err := Configs(tc.tmpl, "", v)
			if err != nil {
				t.Fatal(err)
			}
			got := effective(rc)
			for _, s := range OwnedSettings(v) {
				if got[s.Key] != s.Value {
					t.Errorf("%s = %q, want the executor's %q", s.Key, got[s.Key], s.Value)
				}
				// Riak's scripts grep nodename and distributed_cookie.
				if n := strings.Count("\n"+rc, "\n"+s.Key+" "); n != 1 {
					t.Errorf("%s is set on %d lines:\n%s", s.Key, n, rc)
				}
			}
			if got["ring_size"] != "" && got["ring_size"] != "64" {
				t.Errorf("ring_size = %q: the user's own keys must stay", got["ring_size"])
			}
			if len(warnings) != len(tc.warn) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.warn))
			}
			for i, w := range tc.warn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, warnings[i], w)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	got := Parse("## comment\n\n  a.b = 1 \nno equals sign\nc=x=y\n# d = 2\n")
	want := []Setting{{"a.b", "1"}, {"c", "x=y"}}
	if !slices.Equal(got, want) {
		t.Errorf("Parse = %q, want %q", got, want)
	}
}

// FuzzAdvancedConfig: the list check never panics, and what it accepts
// starts with "[" and ends with "].".
func FuzzAdvancedConfig(f *testing.F) {
	for _, s := range []string{DefaultAdvancedConfig, "[].", "[{a, \"].\"}, $], '%'].", "% c\n[\n].\n% d", "{x}.", "[", "\"", "$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		start, at, empty, ok := erlangListEnd(src)
		if !ok {
			return
		}
		if start < 1 || src[start-1] != '[' || at < start || empty != (at == start) {
			t.Fatalf("%q: start %d at %d empty %v", src, start, at, empty)
		}
	})
}

func TestAppFlags(t *testing.T) {
	t.Parallel()
	v := NewVars(testTask(), "/sb")
	flags := AppFlags(v, "", DefaultAdvancedConfig)
	if len(flags) != 12 || flags[0] != "-riak_core" || flags[1] != "schema_dirs" || flags[11] != "{[49,50,55,46,48,46,48,46,49],0}" {
		t.Fatalf("AppFlags = %q", flags)
	}
	// What erl reads back: the paths, as strings.
	for i, want := range map[int]string{2: `["/sb/riak/share/schema"]`, 5: `"/sb/riak-data/data/riak_repl"`, 8: `"/sb/riak-data/data/setup"`} {
		if got := erlTermText(t, flags[i]); got != want {
			t.Errorf("flag %d = %s, want %s", i, got, want)
		}
		if strings.ContainsAny(flags[i], " \"'") {
			t.Errorf("flag %d %q would be split or unquoted in ERL_FLAGS", i, flags[i])
		}
	}
	// A template that sets the cluster manager keeps it.
	for _, tc := range []struct{ rc, ac string }{{"mdc.cluster_manager = 10.0.0.5:9080\n", ""}, {"", `[{riak_core, [{cluster_mgr, {"10.0.0.5", 9080}}]}].`}} {
		if slices.Contains(AppFlags(v, tc.rc, tc.ac), "cluster_mgr") {
			t.Errorf("%+v: cluster_mgr overridden", tc)
		}
	}
}

// erlTermText decodes erlString's lists back (nested once for a list
// of strings) into Go-quoted text.
func erlTermText(t *testing.T, term string) string {
	t.Helper()
	dec := func(list string) string {
		var b strings.Builder
		for _, n := range strings.Split(strings.Trim(list, "[]"), ",") {
			c, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("%q: %v", term, err)
			}
			b.WriteRune(rune(c))
		}
		return strconv.Quote(b.String())
	}
	if strings.HasPrefix(term, "[[") {
		return "[" + dec(term[1:len(term)-1]) + "]"
	}
	return dec(term)
}
