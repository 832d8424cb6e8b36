// Package riakconf renders a Riak node's riak.conf and advanced.config
// from a cluster's templates and the task that runs the node. The
// scheduler uses it to refuse templates that do not render and to warn
// about keys a template cannot decide; the executor uses it to write the
// files. It owns the split between the user's keys and the executor's:
//
//   - the user's template (or DefaultRiakConf) is rendered first;
//   - the keys the task decides (node name, cookie, platform directories,
//     listeners, handoff, Erlang distribution) are appended after it, and
//     the template's own lines for them are commented out, so each key is
//     set once, to the executor's value.
//
// That way a template without platform_data_dir can never put data
// outside the persistent volume, and a template that names another port
// cannot make a node bind one the scheduler did not reserve.
package riakconf

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rmf-go/rmf/internal/nodetask"
)

// RiakDir is where the Riak tarball's release lives in the sandbox.
const RiakDir = "riak"

// Vars are the variables of the riak.conf and advanced.config templates
// (text/template: {{.NodeName}}, {{.PBPort}}, ...).
type Vars struct {
	NodeName    string // Erlang node name, e.g. riak-default-1@10.0.0.5
	Host        string // address the node binds and advertises
	PBPort      int
	HTTPPort    int
	HandoffPort int
	DisterlPort int // Erlang distribution port (minimum = maximum)
	ErlpmdPort  int // the port of this executor's erlpmd (ERL_EPMD_PORT)
	// DataDir is the node directory on the persistent volume
	// ($MESOS_SANDBOX/riak-data).
	DataDir string
	// PlatformDataDir is Riak's platform_data_dir: DataDir/data.
	PlatformDataDir string
	// LogDir is Riak's platform_log_dir, in the sandbox: $MESOS_SANDBOX/log.
	LogDir string
	// RiakRoot is the release's directory in the sandbox
	// ($MESOS_SANDBOX/riak): platform_bin_dir, platform_etc_dir and
	// platform_lib_dir are under it.
	RiakRoot   string
	Cluster    string
	Node       string // node name in ZooKeeper, e.g. riak-default-1
	Framework  string
	Cookie     string // Erlang distribution cookie: riak-<framework>-<cluster>
	Generation int64  // cluster configuration generation
}

// NewVars computes the template variables of task t run in sandbox.
func NewVars(t nodetask.Task, sandbox string) Vars {
	data := filepath.Join(sandbox, nodetask.VolumePath)
	return Vars{
		NodeName: t.NodeName, Host: t.Host,
		PBPort: t.Ports.PB, HTTPPort: t.Ports.HTTP, HandoffPort: t.Ports.Handoff, DisterlPort: t.Ports.Disterl, ErlpmdPort: t.Ports.Erlpmd,
		DataDir: data, PlatformDataDir: filepath.Join(data, "data"), LogDir: filepath.Join(sandbox, "log"),
		RiakRoot: filepath.Join(sandbox, RiakDir),
		Cluster:  t.Cluster, Node: t.Node, Framework: t.Framework,
		Cookie:     Cookie(t.Framework, t.Cluster),
		Generation: t.Generation,
	}
}

// Cookie is the Erlang distribution cookie of a cluster's nodes.
func Cookie(framework, cluster string) string { return "riak-" + framework + "-" + cluster }

// SampleVars are the variables of a plausible node of cluster c, for
// checking a template before any node runs it (the scheduler API).
func SampleVars(framework, cluster string) Vars {
	t := nodetask.Task{
		Framework: framework, Cluster: cluster, Node: "riak-" + cluster + "-1", NodeName: "riak-" + cluster + "-1@10.0.0.1", Host: "10.0.0.1",
		Ports: nodetask.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004},
	}
	return NewVars(t, "/var/lib/mesos/sandbox")
}

// DefaultRiakConf is the riak.conf template used when the cluster has
// none. It holds only what a user may change; the executor appends the
// keys it decides (OwnedKeys) after it.
const DefaultRiakConf = `## riak.conf for {{.Cluster}}/{{.Node}}, rendered by the rmf executor.
## The executor appends the keys it decides for each node (node name,
## cookie, platform directories, listeners, handoff, distribution) below.
storage_backend = bitcask
log.console = file
log.console.level = info
log.error.file = {{.LogDir}}/error.log
`

// DefaultAdvancedConfig is the advanced.config template used when the
// cluster has none.
const DefaultAdvancedConfig = `%% advanced.config for {{.Cluster}}/{{.Node}}, rendered by the rmf executor.
[
 {riak_core, []}
].
`

// Setting is one riak.conf line: key = value.
type Setting struct{ Key, Value string }

// OwnedSettings are the riak.conf settings the executor decides for the
// node of v, in the order they are written. Every key is spelled as
// Riak KV 2.2 and 3.x schemas spell it (see riakconf_test.go).
func OwnedSettings(v Vars) []Setting {
	s := []Setting{
		{"nodename", v.NodeName},
		{"distributed_cookie", v.Cookie},
		{"platform_bin_dir", filepath.Join(v.RiakRoot, "bin")},
		{"platform_data_dir", v.PlatformDataDir},
		{"platform_etc_dir", filepath.Join(v.RiakRoot, "etc")},
		{"platform_lib_dir", filepath.Join(v.RiakRoot, "lib")},
		{"platform_log_dir", v.LogDir},
		{"listener.protobuf.internal", hostPort(v.Host, v.PBPort)},
		{"listener.http.internal", hostPort(v.Host, v.HTTPPort)},
		{"handoff.ip", v.Host},
		{"handoff.port", strconv.Itoa(v.HandoffPort)},
		{"erlang.distribution.port_range.minimum", strconv.Itoa(v.DisterlPort)},
		{"erlang.distribution.port_range.maximum", strconv.Itoa(v.DisterlPort)},
	}
	if net.ParseIP(v.Host) != nil {
		// Distribution listens on the node's address only (cuttlefish
		// accepts an IP here, not a name).
		s = append(s, Setting{"erlang.distribution.interface", v.Host})
	}
	return s
}

// AppFlags are erl flags (application environment from the command
// line, which overrides the config files) that the executor gives the
// node of v. The release's own etc/advanced.config, which the rendered
// one replaces, sets these relative to the VM's working directory:
// without schema_dirs riak_core does not start (schema_files_not_found),
// and riak_repl and setup would keep data off the volume. They cannot go
// into advanced.config: cuttlefish overlays each entry of it on the
// generated config separately, so a second {riak_core, ...} entry would
// undo the template's. riak_repl's cluster manager (multi-datacenter
// replication) goes on loopback at a port of the kernel's choosing,
// unless a template sets it: the release's default, 127.0.0.1:9080, is
// one port for every node of a host, and riak_repl refuses an address
// that is no interface's (so the 127.0.0.N of mesos-local's agents).
// Strings are written as lists of character codes ([47,115,98] for
// "/sb"): erlexec splits ERL_FLAGS on spaces and drops the quotes of a
// quoted string, which then no longer parses as a term.
func AppFlags(v Vars, riakConf, advancedConfig string) []string {
	flags := []string{
		"-riak_core", "schema_dirs", "[" + erlString(filepath.Join(v.RiakRoot, "share", "schema")) + "]",
		"-riak_repl", "data_root", erlString(filepath.Join(v.PlatformDataDir, "riak_repl")),
		"-setup", "home", erlString(filepath.Join(v.PlatformDataDir, "setup")),
	}
	if !strings.Contains(advancedConfig, "cluster_mgr") && !strings.Contains(riakConf, "mdc.cluster_manager") {
		flags = append(flags, "-riak_core", "cluster_mgr", "{"+erlString("127.0.0.1")+",0}")
	}
	return flags
}

// erlString is s as an Erlang list of character codes, without spaces.
func erlString(s string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r)))
	}
	b.WriteByte(']')
	return b.String()
}

// checkAdvanced refuses an advanced.config that is not one Erlang list
// ending in "]." (cuttlefish reads it with file:consult and refuses
// anything else at start).
func checkAdvanced(conf string) error {
	if _, _, _, ok := erlangListEnd(conf); !ok {
		return fmt.Errorf("template advanced.config: not an Erlang list ending in \"].\" (as in [{riak_kv, [...]}].)")
	}
	return nil
}

// erlangListEnd finds, in Erlang source text that is one list ("[ ... ]."
// and nothing but comments after), where a new first element goes (start:
// right after "[") and where a new last one goes (at: right after the
// list's last element, or its "[" when empty says it has none). Strings,
// quoted atoms, character literals and comments are skipped.
func erlangListEnd(src string) (start, at int, empty, ok bool) {
	type tok struct {
		c   byte
		pos int
	}
	var toks []tok
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '%':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			for i++; i < len(src) && src[i] != c; i++ {
				if src[i] == '\\' {
					i++
				}
			}
			toks = append(toks, tok{'x', i})
		case c == '$': // a character literal: $x or $\x
			if i++; i < len(src) && src[i] == '\\' {
				i++
			}
			toks = append(toks, tok{'x', i})
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			toks = append(toks, tok{c, i})
		}
	}
	n := len(toks)
	if n < 3 || toks[0].c != '[' || toks[n-1].c != '.' || toks[n-2].c != ']' {
		return 0, 0, false, false
	}
	return toks[0].pos + 1, toks[n-3].pos + 1, n == 3, true
}

// ownedFamilies are key prefixes whose every member binds or names
// something the executor decides: another listener would bind a port the
// scheduler did not reserve.
var ownedFamilies = []string{"listener.protobuf.", "listener.http.", "listener.https."}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// Configs renders the task's riak.conf (its template, or DefaultRiakConf,
// then the executor's settings) and advanced.config (its template or
// DefaultAdvancedConfig). warnings name every setting of the rendered
// template that the executor's settings replace or that it cannot honour.
func Configs(riakConfTmpl, advancedTmpl string, v Vars) (riakConf, advancedConfig string, warnings []string, err error) {
	if riakConfTmpl == "" {
		riakConfTmpl = DefaultRiakConf
	}
	if advancedTmpl == "" {
		advancedTmpl = DefaultAdvancedConfig
	}
	user, err := Render("riak.conf", riakConfTmpl, v)
	if err != nil {
		return "", "", nil, err
	}
	if advancedConfig, err = Render("advanced.config", advancedTmpl, v); err != nil {
		return "", "", nil, err
	}
	if err := checkAdvanced(advancedConfig); err != nil {
		return "", "", nil, err
	}
	owned := OwnedSettings(v)
	warnings = Conflicts(Parse(user), owned)
	var b strings.Builder
	b.WriteString(withoutOwned(user, owned))
	if user != "" && !strings.HasSuffix(user, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString("\n## Set by the rmf executor for this node.\n")
	for _, s := range owned {
		fmt.Fprintf(&b, "%s = %s\n", s.Key, s.Value)
	}
	return b.String(), advancedConfig, warnings, nil
}

// withoutOwned comments out the lines of conf that set an owned key:
// cuttlefish would keep the executor's later value anyway, but Riak's
// scripts read nodename and distributed_cookie with grep (bin/riak-admin
// of Riak 3.x), and two lines would give them two names.
func withoutOwned(conf string, owned []Setting) string {
	keys := map[string]bool{}
	for _, s := range owned {
		keys[s.Key] = true
	}
	var b strings.Builder
	for line := range strings.Lines(conf) {
		if s := Parse(line); len(s) == 1 && keys[s[0].Key] {
			b.WriteString("## replaced by the rmf executor: ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// Parse reads riak.conf settings: "key = value" lines; blank lines and
// lines starting with '#' are skipped, and so are lines without '='
// (cuttlefish refuses those; `riak chkconfig` says so).
func Parse(conf string) []Setting {
	var out []Setting
	for line := range strings.Lines(conf) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out = append(out, Setting{strings.TrimSpace(k), strings.TrimSpace(val)})
	}
	return out
}

// Conflicts names the settings of user that owned replaces with another
// value, and those of an owned family (another listener) that the
// executor cannot honour.
func Conflicts(user, owned []Setting) []string {
	want := map[string]string{}
	for _, s := range owned {
		want[s.Key] = s.Value
	}
	var out []string
	for _, s := range user {
		if w, ok := want[s.Key]; ok {
			if s.Value != w {
				out = append(out, fmt.Sprintf("riak.conf sets %s = %s; the executor sets it to %s for each node", s.Key, s.Value, w))
			}
			continue
		}
		for _, f := range ownedFamilies {
			if strings.HasPrefix(s.Key, f) {
				out = append(out, fmt.Sprintf("riak.conf sets %s: only the executor's %sinternal listener gets a reserved port; this one may not bind", s.Key, f))
			}
		}
	}
	return out
}
