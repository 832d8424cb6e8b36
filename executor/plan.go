package executor

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/riakconf"
)

// Command is one process to run: Args[0] is the program (an absolute path),
// Env is added to the executor's own environment, Dir is the working
// directory.
type Command struct {
	Args []string
	Env  []string
	Dir  string
}

// File is a file the executor writes before starting the node.
type File struct {
	Path string
	Data string
}

// Plan is everything the executor does to start one node, computed from the
// task alone (no I/O), so that it can be checked without Riak installed.
type Plan struct {
	Flavor string
	Vars   riakconf.Vars
	// Warnings name template settings the executor's replace (logged).
	Warnings []string
	// Dirs are created (with parents) before the files are written.
	Dirs  []string
	Files []File
	// Start runs the node in the foreground; it stops on SIGTERM.
	Start Command
	// Join runs in order once the node answers a PB ping (riak flavor
	// with a join target; the devnode joins by itself via --join).
	Join []Command
	// Leave runs in order when the scheduler asks the node to leave its
	// cluster (a removed node); the node then hands off its data and exits
	// by itself, as Riak does after `riak admin cluster leave`.
	Leave []Command
}

// Sandbox layout (relative to $MESOS_SANDBOX).
const (
	// RiakDir is where the Riak tarball's release lives in the sandbox.
	RiakDir = riakconf.RiakDir
	// NodeStdout and NodeStderr receive the node process's output.
	NodeStdout = "node.stdout"
	NodeStderr = "node.stderr"
	// DevnodeDir is the devnode's data directory under the volume.
	DevnodeDir = "devnode"
)

// ErrBadTask is wrapped by errors about the task data.
var ErrBadTask = errors.New("executor: bad task")

// NewPlan computes the plan for task t in sandbox: DevnodeCommands for the
// devnode flavor (run by exe, normally this binary), RiakCommands for riak.
func NewPlan(t nodetask.Task, sandbox, exe string, opts RiakOptions) (Plan, error) {
	switch t.Flavor {
	case nodetask.FlavorDevnode:
		return DevnodeCommands(t, sandbox, exe)
	case nodetask.FlavorRiak:
		return RiakCommands(t, sandbox, opts)
	}
	return Plan{}, fmt.Errorf("%w: flavor %q", ErrBadTask, t.Flavor)
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// DevnodeCommands is the plan of a devnode-flavor task:
//
//	EXE devnode --name NODENAME --pb HOST:PB --http HOST:HTTP --data VOLUME/devnode --backend disk [--join JOIN]
//
// and, to leave the cluster,
//
//	EXE devnode leave --pb HOST:PB --timeout 10m
//
// The rendered riak.conf and advanced.config are written to
// $MESOS_SANDBOX/etc for reference (the devnode does not read them), so a
// broken template fails the task as it would with Riak.
func DevnodeCommands(t nodetask.Task, sandbox, exe string) (Plan, error) {
	if !filepath.IsAbs(sandbox) || !filepath.IsAbs(exe) {
		return Plan{}, fmt.Errorf("%w: sandbox %q and executable %q must be absolute", ErrBadTask, sandbox, exe)
	}
	v := riakconf.NewVars(t, sandbox)
	rc, ac, warnings, err := riakconf.Configs(t.RiakConf, t.AdvancedConfig, v)
	if err != nil {
		return Plan{}, err
	}
	data := filepath.Join(v.DataDir, DevnodeDir)
	args := []string{exe, "devnode", "--name", t.NodeName, "--pb", hostPort(t.Host, t.Ports.PB), "--http", hostPort(t.Host, t.Ports.HTTP),
		"--data", data, "--backend", "disk"}
	if t.Join != "" {
		args = append(args, "--join", t.Join)
	}
	etc := filepath.Join(sandbox, "etc")
	return Plan{
		Flavor: nodetask.FlavorDevnode, Vars: v, Warnings: warnings,
		Dirs:  []string{data, etc},
		Files: []File{{filepath.Join(etc, "riak.conf"), rc}, {filepath.Join(etc, "advanced.config"), ac}},
		Start: Command{Args: args, Dir: sandbox},
		Leave: []Command{{Args: []string{exe, "devnode", "leave", "--pb", hostPort(t.Host, t.Ports.PB), "--timeout", DevnodeLeaveTimeout.String()}, Dir: sandbox}},
	}, nil
}

// DevnodeLeaveTimeout bounds a devnode's handoff when it leaves.
const DevnodeLeaveTimeout = 10 * time.Minute

// RiakOptions are what RiakCommands cannot tell from the task.
type RiakOptions struct {
	// LegacyAdmin: the release has bin/riak-admin (Riak KV before 3.0)
	// instead of `riak admin`.
	LegacyAdmin bool
}

// RiakCommands is the plan of a riak-flavor task. The agent fetched and
// extracted the tarball into the sandbox (CommandInfo URI); the release is
// at $MESOS_SANDBOX/riak. Data stays on the persistent volume:
// platform_data_dir is $MESOS_SANDBOX/riak-data/data. The plan writes
// riak/etc/riak.conf and riak/etc/advanced.config, starts
//
//	riak/bin/riak console -noinput   (ERL_EPMD_PORT=<erlpmd port> ERL_FLAGS="-start_epmd false")
//
// and, with a join target, runs once the node answers
//
//	riak/bin/riak admin cluster join JOIN  (riak-admin with LegacyAdmin)
//	riak/bin/riak admin cluster plan
//	riak/bin/riak admin cluster commit
//
// To leave the cluster it runs `riak admin cluster leave`, `plan` and
// `commit`; Riak then hands off the node's partitions and shuts the node
// down.
func RiakCommands(t nodetask.Task, sandbox string, opts RiakOptions) (Plan, error) {
	if !filepath.IsAbs(sandbox) {
		return Plan{}, fmt.Errorf("%w: sandbox %q must be absolute", ErrBadTask, sandbox)
	}
	v := riakconf.NewVars(t, sandbox)
	rc, ac, warnings, err := riakconf.Configs(t.RiakConf, t.AdvancedConfig, v)
	if err != nil {
		return Plan{}, err
	}
	root := filepath.Join(sandbox, RiakDir)
	bin := filepath.Join(root, "bin")
	// The VM registers with and looks up through this executor's erlpmd,
	// and never starts an epmd of its own (ERL_FLAGS is read by erl).
	env := []string{"ERL_EPMD_PORT=" + strconv.Itoa(t.Ports.Erlpmd), "ERL_FLAGS=-start_epmd false", "HOME=" + sandbox}
	p := Plan{
		Flavor: nodetask.FlavorRiak, Vars: v, Warnings: warnings,
		Dirs: []string{v.PlatformDataDir, v.LogDir, filepath.Join(root, "etc")},
		Files: []File{
			{filepath.Join(root, "etc", "riak.conf"), rc},
			{filepath.Join(root, "etc", "advanced.config"), ac},
		},
		Start: Command{Args: []string{filepath.Join(bin, "riak"), "console", "-noinput"}, Env: env, Dir: root},
	}
	admin := []string{filepath.Join(bin, "riak"), "admin"}
	if opts.LegacyAdmin {
		admin = []string{filepath.Join(bin, "riak-admin")}
	}
	adminCmds := func(subs ...[]string) []Command {
		var out []Command
		for _, sub := range subs {
			args := append(append([]string{}, admin...), sub...)
			out = append(out, Command{Args: args, Env: env, Dir: root})
		}
		return out
	}
	if t.Join != "" {
		p.Join = adminCmds([]string{"cluster", "join", t.Join}, []string{"cluster", "plan"}, []string{"cluster", "commit"})
	}
	p.Leave = adminCmds([]string{"cluster", "leave"}, []string{"cluster", "plan"}, []string{"cluster", "commit"})
	return p, nil
}
