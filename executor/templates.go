package executor

import (
	"bytes"
	"fmt"
	"path/filepath"
	"text/template"

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

// Render executes one template (name is used in errors) with v. Unknown
// variables and syntax errors are reported with the template's name.
func Render(name, text string, v Vars) (string, error) {
	tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("executor: template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return "", fmt.Errorf("executor: template %s: %w", name, err)
	}
	return b.String(), nil
}

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
