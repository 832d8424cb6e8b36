package executor

import (
	"bytes"
	"fmt"
	"path/filepath"
	"text/template"
	"text/template/parse"

	"github.com/rmf-go/rmf/internal/nodetask"
)

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
	LogDir     string
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
		Cluster: t.Cluster, Node: t.Node, Framework: t.Framework,
		Cookie:     "riak-" + t.Framework + "-" + t.Cluster,
		Generation: t.Generation,
	}
}

// DefaultRiakConf is the riak.conf template used when the cluster has none.
const DefaultRiakConf = `## riak.conf for {{.Cluster}}/{{.Node}}, rendered by the rmf executor.
nodename = {{.NodeName}}
distributed_cookie = {{.Cookie}}
platform_bin_dir = ./bin
platform_data_dir = {{.PlatformDataDir}}
platform_etc_dir = ./etc
platform_lib_dir = ./lib
platform_log_dir = {{.LogDir}}
listener.pb.internal = {{.Host}}:{{.PBPort}}
listener.http.internal = {{.Host}}:{{.HTTPPort}}
handoff.port = {{.HandoffPort}}
erlang.distribution.port_range.minimum = {{.DisterlPort}}
erlang.distribution.port_range.maximum = {{.DisterlPort}}
storage_backend = bitcask
log.console = file
log.console.level = info
log.error.file = {{.LogDir}}/error.log
`

// DefaultAdvancedConfig is the advanced.config template used when the
// cluster has none.
const DefaultAdvancedConfig = `%% advanced.config for {{.Cluster}}/{{.Node}}, rendered by the rmf executor.
[
 {riak_core, [
   {handoff_ip, "{{.Host}}"}
 ]}
].
`

// Limits of a template, so that a hostile one (the templates come from the
// scheduler API) can neither hang the executor nor exhaust its memory:
// execution is linear in the text, whose size is bounded, and so is the
// output.
const (
	// MaxTemplateSize bounds a template's text.
	MaxTemplateSize = nodetask.MaxTemplateSize
	// MaxRenderedSize bounds a rendered template.
	MaxRenderedSize = 1 << 20
	// maxPrintfWidth bounds a printf width or precision.
	maxPrintfWidth = 1024
)

// Render executes one template (name is used in errors) with v. Unknown
// variables and syntax errors are reported with the template's name, and
// so are templates that break the limits: larger than MaxTemplateSize,
// rendering more than MaxRenderedSize, using range or template actions
// (the variables are scalars: there is nothing to range over), or printf
// widths above 1024 or given by '*'.
func Render(name, text string, v Vars) (string, error) {
	if len(text) > MaxTemplateSize {
		return "", fmt.Errorf("executor: template %s: %d bytes (max %d)", name, len(text), MaxTemplateSize)
	}
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"printf": boundedPrintf}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("executor: template %s: %w", name, err)
	}
	for _, t := range tmpl.Templates() {
		if t.Tree == nil {
			continue
		}
		if err := checkActions(t.Root); err != nil {
			return "", fmt.Errorf("executor: template %s: %w", name, err)
		}
	}
	b := limitedBuffer{max: MaxRenderedSize}
	if err := tmpl.Execute(&b, v); err != nil {
		return "", fmt.Errorf("executor: template %s: %w", name, err)
	}
	return b.String(), nil
}

// checkActions rejects range and template (and so block) actions, the
// only ones that execute a part of a template more than once.
func checkActions(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkActions(c); err != nil {
				return err
			}
		}
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return fmt.Errorf("line %d: range is not supported", n.Line)
	case *parse.TemplateNode:
		return fmt.Errorf("line %d: template calls are not supported", n.Line)
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkActions(b.List); err != nil {
		return err
	}
	return checkActions(b.ElseList)
}

// boundedPrintf is fmt.Sprintf without widths or precisions above
// maxPrintfWidth or taken from an argument ('*'): fmt allows up to 10^6,
// which lets a short template allocate gigabytes.
func boundedPrintf(format string, args ...any) (string, error) {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		n := 0
		for i++; i < len(format); i++ {
			c := format[i]
			if c == '*' {
				return "", fmt.Errorf("printf %q: '*' widths are not supported", format)
			}
			if c < '0' || c > '9' {
				n = 0
				if c == '%' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
					break
				}
				continue
			}
			if n = n*10 + int(c-'0'); n > maxPrintfWidth {
				return "", fmt.Errorf("printf %q: width or precision above %d", format, maxPrintfWidth)
			}
		}
	}
	return fmt.Sprintf(format, args...), nil
}

// limitedBuffer collects output up to max bytes and fails writes beyond.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		return 0, fmt.Errorf("output larger than %d bytes", b.max)
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string { return b.buf.String() }

// RenderConfigs renders the task's riak.conf and advanced.config templates
// (the defaults when they are empty).
func RenderConfigs(t nodetask.Task, v Vars) (riakConf, advancedConfig string, err error) {
	rc, ac := t.RiakConf, t.AdvancedConfig
	if rc == "" {
		rc = DefaultRiakConf
	}
	if ac == "" {
		ac = DefaultAdvancedConfig
	}
	if riakConf, err = Render("riak.conf", rc, v); err != nil {
		return "", "", err
	}
	if advancedConfig, err = Render("advanced.config", ac, v); err != nil {
		return "", "", err
	}
	return riakConf, advancedConfig, nil
}
