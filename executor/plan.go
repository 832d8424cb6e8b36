package executor

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	// Expect, when set, are texts one of which the output must contain
	// for the command to have succeeded: Riak's commands exit 0 when they
	// fail (`riak chkconfig` after an unreadable config, `riak admin
	// cluster join` with "Failed: ..." or "Join failed", `ringready` when
	// the members disagree), so their words are what tells.
	Expect []string
}

// Succeeded says whether the command's run (its combined output and the
// error of its exit) counts as success.
func (c Command) Succeeded(out string, err error) bool {
	return err == nil && (len(c.Expect) == 0 || slices.ContainsFunc(c.Expect, func(s string) bool { return strings.Contains(out, s) }))
}

// TransfersIdle says whether the output of `riak admin transfers` (or the
// devnode's) shows no handoff to do anywhere in the cluster.
func TransfersIdle(out string) bool {
	return strings.Contains(out, "No transfers active") && !strings.Contains(out, "waiting to handoff")
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
	// Check runs before the node starts: the release's own check of the
	// rendered configuration (`riak chkconfig`). A failure fails the task
	// with the check's output, and Explain's, and the node never starts.
	Check []Command
	// Explain, when set, says why Check failed (cuttlefish run by
	// itself: `riak chkconfig` swallows its messages).
	Explain *Command
	// Start runs the node in the foreground; it stops on SIGTERM.
	Start Command
	// Join runs in order once the node answers a PB ping: the riak
	// flavor's join of its target (the devnode joins by itself via --join)
	// and, for a node placed again under a new name, the replacement of
	// its old self in the ring.
	Join []Command
	// Ready runs in order after Join, each until it succeeds (within the
	// start timeout): the node serves (`wait-for-service riak_kv`) and is
	// reported TASK_RUNNING only then; failing that, the task fails.
	Ready []Command
	// RingReady (`ringready`) says whether every member agrees on the
	// ring: the node counts as ready (Status.Ready) only once it passes.
	// It is tried for a while before TASK_RUNNING and then again with
	// every transfers check, but never fails the task: it stays false
	// while any other member is down, and a node that serves must not be
	// stopped for that.
	RingReady *Command
	// Transfers, when set, reports the cluster's handoffs (see
	// TransfersIdle); it runs periodically while the node runs.
	Transfers *Command
	// Leave runs in order when the scheduler asks the node to leave its
	// cluster (a removed node); the node then hands off its data and exits
	// by itself, as Riak does after `riak admin cluster leave`.
	Leave []Command
	// Admin is `riak admin` (or the devnode's): the scheduler's admin
	// verbs (nodetask.OpAdmin) are appended to its Args.
	Admin Command
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
	p := Plan{
		Flavor: nodetask.FlavorDevnode, Vars: v, Warnings: warnings,
		Dirs:  []string{data, etc},
		Files: []File{{filepath.Join(etc, "riak.conf"), rc}, {filepath.Join(etc, "advanced.config"), ac}},
		Start: Command{Args: args, Dir: sandbox},
		Leave: []Command{{Args: []string{exe, "devnode", "leave", "--pb", hostPort(t.Host, t.Ports.PB), "--timeout", DevnodeLeaveTimeout.String()}, Dir: sandbox}},
	}
	// The devnode's riak admin (rmf devnode admin) answers in Riak's words,
	// so readiness, transfers and replacement go the same way as Riak's.
	admin := func(sub ...string) Command {
		return Command{Args: append([]string{exe, "devnode", "admin", "--pb", hostPort(t.Host, t.Ports.PB)}, sub...), Dir: sandbox}
	}
	if t.Replaces != "" && t.Join != "" {
		replace := admin("cluster", "force-replace", t.Replaces, t.NodeName)
		replace.Expect = []string{"Success: staged forced replacement", "is not a member of the cluster", "is already staged to replace"}
		commit := admin("cluster", "commit")
		commit.Expect = []string{"Cluster changes committed"}
		p.Join = []Command{replace, admin("cluster", "plan"), commit}
	}
	wait, ring := admin("wait-for-service", "riak_kv", t.NodeName), admin("ringready")
	wait.Expect, ring.Expect = []string{"riak_kv is up"}, []string{"TRUE All nodes agree on the ring"}
	p.Ready, p.RingReady = []Command{wait}, &ring
	transfers := admin("transfers")
	p.Transfers = &transfers
	p.Admin = admin()
	return p, nil
}

// DevnodeLeaveTimeout bounds a devnode's handoff when it leaves.
const DevnodeLeaveTimeout = 10 * time.Minute

// RiakOptions are what RiakCommands cannot tell from the task: what the
// executor found in the release and prepared for it.
type RiakOptions struct {
	// LegacyAdmin: the release has bin/riak-admin (Riak KV before 3.0)
	// instead of `riak admin`.
	LegacyAdmin bool
	// ErlFlags route the VM's and the release scripts' Erlang lookups
	// through the executor's erlpmd (erlpmd.ErlFlags); they go into
	// ERL_FLAGS, which every erl the scripts start reads.
	ErlFlags []string
	// ERTSBin is the release's erts-*/bin (its escript runs cuttlefish
	// by itself, to explain a refused configuration). Empty: none found.
	ERTSBin string
	// VMArgsPath is the release's vm.args (releases/<version>/vm.args,
	// relative to the release) and VMArgs its text: the release's scripts
	// take the node name and cookie of `riak ping` and `riak admin` from
	// it, so the plan rewrites it with the task's. Empty: none found.
	VMArgsPath, VMArgs string
}

// RewriteVMArgs returns vm.args text with the node name and cookie set:
// every -name, -sname and -setcookie line is replaced by one of each.
func RewriteVMArgs(orig, nodeName, cookie string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Set by the rmf executor (the same as riak.conf's nodename and distributed_cookie).\n-name %s\n-setcookie %s\n", nodeName, cookie)
	for line := range strings.Lines(orig) {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "-name" || f[0] == "-sname" || f[0] == "-setcookie") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// RiakCommands is the plan of a riak-flavor task. The agent fetched and
// extracted the tarball into the sandbox (CommandInfo URI); the release is
// at $MESOS_SANDBOX/riak. Data stays on the persistent volume:
// platform_data_dir is $MESOS_SANDBOX/riak-data/data. The plan writes
// riak/etc/riak.conf, riak/etc/advanced.config and the node name and
// cookie into the release's vm.args, checks the configuration with
//
//	riak/bin/riak chkconfig                 (must print "config is OK")
//
// starts, in riak/ (ERL_EPMD_PORT=<erlpmd port>, ERL_FLAGS=<ErlFlags>,
// RELX_COOKIE=<cookie>),
//
//	riak/bin/riak foreground                (riak console -noinput before 3.0)
//
// and, once the node answers a PB ping, with a join target,
//
//	riak/bin/riak admin cluster join JOIN   (riak-admin with LegacyAdmin)
//	riak/bin/riak admin cluster force-replace REPLACES NODENAME   (a node placed again elsewhere)
//	riak/bin/riak admin cluster plan
//	riak/bin/riak admin cluster commit
//
// then waits for readiness:
//
//	riak/bin/riak admin wait-for-service riak_kv NODENAME   ("riak_kv is up")
//	riak/bin/riak admin ringready                            ("TRUE ...")
//
// and watches `riak admin transfers` while it runs. To leave the cluster
// it runs `riak admin cluster leave`, `plan` and `commit`; Riak then
// hands off the node's partitions and shuts the node down.
func RiakCommands(t nodetask.Task, sandbox string, opts RiakOptions) (Plan, error) {
	if !filepath.IsAbs(sandbox) {
		return Plan{}, fmt.Errorf("%w: sandbox %q must be absolute", ErrBadTask, sandbox)
	}
	if opts.VMArgsPath != "" && (filepath.IsAbs(opts.VMArgsPath) || !filepath.IsLocal(opts.VMArgsPath)) {
		return Plan{}, fmt.Errorf("%w: vm.args path %q must be inside the release", ErrBadTask, opts.VMArgsPath)
	}
	v := riakconf.NewVars(t, sandbox)
	rc, ac, warnings, err := riakconf.Configs(t.RiakConf, t.AdvancedConfig, v)
	if err != nil {
		return Plan{}, err
	}
	root := v.RiakRoot
	bin := filepath.Join(root, "bin")
	opts.ErlFlags = append(slices.Clone(opts.ErlFlags), riakconf.AppFlags(v, rc, ac)...)
	env := riakEnv(t, sandbox, opts)
	p := Plan{
		Flavor: nodetask.FlavorRiak, Vars: v, Warnings: warnings,
		Dirs: []string{v.PlatformDataDir, v.LogDir, filepath.Join(root, "etc")},
		Files: []File{
			{filepath.Join(root, "etc", "riak.conf"), rc},
			{filepath.Join(root, "etc", "advanced.config"), ac},
		},
		Check:   []Command{riakCheck(root, env, root)},
		Explain: cuttlefish(root, env, root, opts),
		Start:   Command{Args: []string{filepath.Join(bin, "riak"), "foreground"}, Env: env, Dir: root},
	}
	if opts.LegacyAdmin {
		p.Start.Args = []string{filepath.Join(bin, "riak"), "console", "-noinput"}
	}
	if opts.VMArgsPath != "" {
		p.Files = append(p.Files, File{filepath.Join(root, opts.VMArgsPath), RewriteVMArgs(opts.VMArgs, t.NodeName, v.Cookie)})
	}
	admin := []string{filepath.Join(bin, "riak"), "admin"}
	if opts.LegacyAdmin {
		admin = []string{filepath.Join(bin, "riak-admin")}
	}
	cmd := func(sub ...string) Command {
		return Command{Args: append(append([]string{}, admin...), sub...), Env: env, Dir: root}
	}
	// Riak's answers (riak_core_console, riak_kv_console): a join of a
	// node already in the ring, a replacement already staged, a leave
	// already under way, an old self already gone all mean done, so the
	// sequence can be run again from the start after any failure.
	plan, commit := cmd("cluster", "plan"), cmd("cluster", "commit")
	// Right after a plan, "You must verify the plan" means nothing was
	// planned: the join was committed already (by another node's commit,
	// as the claimant's plan is the cluster's, or before a relaunch).
	commit.Expect = []string{"Cluster changes committed", "You must verify the plan"}
	if t.Join != "" {
		join := cmd("cluster", "join", t.Join)
		join.Expect = []string{"Success: staged join request", "already a member of a cluster"}
		p.Join = append(p.Join, join)
		if t.Replaces != "" { // without a cluster to join there is no ring to take its place in
			replace := cmd("cluster", "force-replace", t.Replaces, t.NodeName)
			replace.Expect = []string{"Success: staged forced replacement", "is not a member of the cluster", "is already staged to replace"}
			p.Join = append(p.Join, replace)
		}
		p.Join = append(p.Join, plan, commit)
	}
	wait, ring := cmd("wait-for-service", "riak_kv", t.NodeName), cmd("ringready")
	wait.Expect, ring.Expect = []string{"riak_kv is up"}, []string{"TRUE All nodes agree on the ring"}
	p.Ready, p.RingReady = []Command{wait}, &ring
	transfers := cmd("transfers")
	p.Transfers = &transfers
	leave := cmd("cluster", "leave")
	leave.Expect = []string{"Success: staged leave request", "already in the process of leaving"}
	p.Leave = []Command{leave, plan, commit}
	p.Admin = cmd()
	return p, nil
}

// riakEnv is the environment of every command of the release: the VM
// and the scripts' own VMs (nodetool, cuttlefish) register with and look
// up through the executor's erlpmd and never start an epmd of their own.
func riakEnv(t nodetask.Task, sandbox string, opts RiakOptions) []string {
	flags := opts.ErlFlags
	if !slices.Contains(flags, "-start_epmd") {
		flags = append([]string{"-start_epmd", "false"}, flags...)
	}
	// CODE_LOADING_MODE: in relx's default embedded mode the VM loads only
	// the boot script's modules, so rmf_epmd (on -pa) would be undefined
	// when the kernel starts distribution; Riak's own pre-start hook
	// (hooks/erl_codeloadingmode) also means interactive.
	return []string{"ERL_EPMD_PORT=" + strconv.Itoa(t.Ports.Erlpmd), "ERL_FLAGS=" + strings.Join(flags, " "),
		"RELX_COOKIE=" + riakconf.Cookie(t.Framework, t.Cluster), "CODE_LOADING_MODE=interactive", "HOME=" + sandbox}
}

// riakCheck is `riak chkconfig` of the configuration in etc (the release's
// own etc, or a directory with a configuration to try), run in dir, where
// cuttlefish writes what it generates. It exits 0 even when the config
// cannot be read, so its output must say "config is OK".
func riakCheck(root string, env []string, dir string) Command {
	c := Command{Args: []string{filepath.Join(root, "bin", "riak"), "chkconfig"}, Env: env, Dir: dir, Expect: []string{"config is OK"}}
	if dir != root {
		c.Env = append(slices.Clone(env), "RUNNER_ETC_DIR="+filepath.Join(dir, "etc"))
	}
	return c
}

// cuttlefish is the release's cuttlefish run by itself on the config in
// dir/etc (generating into dir/generated.conf), as `riak chkconfig` runs
// it, for its error messages; nil without the release's escript.
func cuttlefish(root string, env []string, dir string, opts RiakOptions) *Command {
	if opts.ERTSBin == "" {
		return nil
	}
	etc := filepath.Join(dir, "etc")
	return &Command{Args: []string{filepath.Join(opts.ERTSBin, "escript"), filepath.Join(root, "bin", "cuttlefish"),
		"-e", etc, "-d", filepath.Join(dir, "generated.conf"), "-s", filepath.Join(root, "share", "schema"), "-c", filepath.Join(etc, "riak.conf")},
		Env: env, Dir: dir}
}

// explainIn is the Explain of a config check run in dir.
func explainIn(cmds []Command, opts RiakOptions, dir string) *Command {
	if len(cmds) == 0 {
		return nil
	}
	root := filepath.Dir(filepath.Dir(cmds[0].Args[0]))
	return cuttlefish(root, cmds[0].Env, dir, opts)
}

// ConfigCheck is how the executor checks a new cluster configuration on
// a running node without touching the node: the files to write (the
// templates rendered for this node, under dir) and the commands whose
// success means the release accepts them. The devnode has no check of its
// own: rendering is its check.
func ConfigCheck(t nodetask.Task, riakConf, advancedConfig, sandbox, dir string, opts RiakOptions) ([]File, []Command, error) {
	v := riakconf.NewVars(t, sandbox)
	rc, ac, _, err := riakconf.Configs(riakConf, advancedConfig, v)
	if err != nil {
		return nil, nil, err
	}
	opts.ErlFlags = append(slices.Clone(opts.ErlFlags), riakconf.AppFlags(v, rc, ac)...)
	etc := filepath.Join(dir, "etc")
	files := []File{{filepath.Join(etc, "riak.conf"), rc}, {filepath.Join(etc, "advanced.config"), ac}}
	if t.Flavor != nodetask.FlavorRiak {
		return files, nil, nil
	}
	return files, []Command{riakCheck(v.RiakRoot, riakEnv(t, sandbox, opts), dir)}, nil
}
