package executor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/riakconf"
)

// FuzzPlan drives NewPlan (and so NewVars and RenderConfigs) with arbitrary
// templates and task fields: it must give a plan or an error, never panic,
// and every path the plan creates, writes or runs in stays in the sandbox.
func FuzzPlan(f *testing.F) {
	tk := testTask()
	add := func(sandbox, riakConf, adv, cluster, node, nodeName, host, join string, riak, legacy bool) {
		f.Add(sandbox, riakConf, adv, cluster, node, nodeName, host, join, riak, legacy)
	}
	add("/sb", "", "", tk.Cluster, tk.Node, tk.NodeName, tk.Host, "", true, false)
	add("/var/lib/mesos/slaves/a/frameworks/f/executors/e/runs/r", riakconf.DefaultRiakConf, riakconf.DefaultAdvancedConfig, tk.Cluster, tk.Node, tk.NodeName, tk.Host, "riak-default-0@10.0.0.4", true, true)
	add("/sb", "nodename = {{.NodeName}}\nring_size = 128\n## {{.Cluster}}/{{.Node}} epmd {{.ErlpmdPort}} data {{.DataDir}} gen {{.Generation}}\n",
		"[{riak_kv, [{pb_port, {{.PBPort}}}, {http, {{.HTTPPort}}}, {h, {{.HandoffPort}}}, {d, {{.DisterlPort}}}, {p, \"{{.PlatformDataDir}}\"}]}].",
		tk.Cluster, tk.Node, tk.NodeName, tk.Host, "", false, false)
	add("/sb", "x = {{.Nope}}", "{{.Host", "../etc", "../../x", "a@b/../..", "::1", "10.0.0.4:31000", false, false)
	add("sb", "{{if .Host}}{{.Host}}{{else}}none{{end}} {{printf \"%q\" .Cookie}} {{len .LogDir}}", "{{define \"t\"}}{{.Node}}{{end}}{{template \"t\" .}}", "c", "n", "n@h", "h", "", false, false)
	f.Fuzz(func(t *testing.T, sandbox, riakConf, adv, cluster, node, nodeName, host, join string, riak, legacy bool) {
		task := testTask()
		task.RiakConf, task.AdvancedConfig = riakConf, adv
		task.Cluster, task.Node, task.NodeName, task.Host, task.Join = cluster, node, nodeName, host, join
		if !riak {
			task.Flavor = nodetask.FlavorDevnode
		}
		exe := "/usr/local/bin/rmf"
		p, err := NewPlan(task, sandbox, exe, RiakOptions{LegacyAdmin: legacy})
		if err != nil {
			return
		}
		if !filepath.IsAbs(sandbox) {
			t.Fatalf("relative sandbox %q accepted", sandbox)
		}
		inside := func(what, path string) {
			rel, err := filepath.Rel(sandbox, path)
			if err != nil || !filepath.IsAbs(path) || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("%s %q is outside the sandbox %q", what, path, sandbox)
			}
		}
		for _, d := range p.Dirs {
			inside("dir", d)
		}
		for _, fl := range p.Files {
			inside("file", fl.Path)
			if fl.Path == filepath.Clean(sandbox) {
				t.Fatalf("file %q is the sandbox itself", fl.Path)
			}
		}
		for _, c := range append(append([]Command{p.Start}, p.Join...), p.Leave...) {
			inside("working directory", c.Dir)
			if len(c.Args) == 0 || !filepath.IsAbs(c.Args[0]) {
				t.Fatalf("command %q: program is not an absolute path", c.Args)
			}
			if c.Args[0] != exe {
				inside("program", c.Args[0])
			}
		}
	})
}
