package executor

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/riakconf"
	"github.com/rmf-go/rmf/protocol"
)

func testTask() nodetask.Task {
	return nodetask.Task{
		Version: nodetask.Version, Framework: "riak", Cluster: "default", Node: "riak-default-1",
		NodeName: "riak-default-1@10.0.0.5", Flavor: nodetask.FlavorRiak, ZooKeeper: "127.0.0.1:2181", Host: "10.0.0.5",
		Ports:       nodetask.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004},
		RiakTarball: "http://example.com/riak.tar.gz", Generation: 3,
	}
}

func TestRiakCommands(t *testing.T) {
	t.Parallel()
	flags := []string{"-pa", "/sb/erlpmd", "-epmd_module", "rmf_epmd", "-epmd_port", "31004", "-start_epmd", "false"}
	app := strings.Join(riakconf.AppFlags(riakconf.NewVars(testTask(), "/sb"), "", ""), " ")
	env := []string{"ERL_EPMD_PORT=31004", "ERL_FLAGS=-pa /sb/erlpmd -epmd_module rmf_epmd -epmd_port 31004 -start_epmd false " + app,
		"RELX_COOKIE=riak-riak-default", "CODE_LOADING_MODE=interactive", "HOME=/sb"}
	vmArgs := "## Name of the node\n-sname riak\n\n## Cookie\n-setcookie riak\n+C multi_time_warp\n"
	tests := []struct {
		name      string
		join      string
		replaces  string
		opts      RiakOptions
		wantStart []string
		wantJoin  [][]string
	}{
		{name: "first node", wantStart: []string{"/sb/riak/bin/riak", "foreground"}},
		{name: "join", join: "riak-default-0@10.0.0.4", wantStart: []string{"/sb/riak/bin/riak", "foreground"}, wantJoin: [][]string{
			{"/sb/riak/bin/riak", "admin", "cluster", "join", "riak-default-0@10.0.0.4"},
			{"/sb/riak/bin/riak", "admin", "cluster", "plan"},
			{"/sb/riak/bin/riak", "admin", "cluster", "commit"},
		}},
		{name: "placed again elsewhere", join: "riak-default-0@10.0.0.4", replaces: "riak-default-1@10.0.0.9",
			wantStart: []string{"/sb/riak/bin/riak", "foreground"}, wantJoin: [][]string{
				{"/sb/riak/bin/riak", "admin", "cluster", "join", "riak-default-0@10.0.0.4"},
				{"/sb/riak/bin/riak", "admin", "cluster", "force-replace", "riak-default-1@10.0.0.9", "riak-default-1@10.0.0.5"},
				{"/sb/riak/bin/riak", "admin", "cluster", "plan"},
				{"/sb/riak/bin/riak", "admin", "cluster", "commit"},
			}},
		{name: "replaces with nobody to join", replaces: "riak-default-1@10.0.0.9", wantStart: []string{"/sb/riak/bin/riak", "foreground"}},
		{name: "join with riak-admin", join: "riak-default-0@10.0.0.4", opts: RiakOptions{LegacyAdmin: true},
			wantStart: []string{"/sb/riak/bin/riak", "console", "-noinput"}, wantJoin: [][]string{
				{"/sb/riak/bin/riak-admin", "cluster", "join", "riak-default-0@10.0.0.4"},
				{"/sb/riak/bin/riak-admin", "cluster", "plan"},
				{"/sb/riak/bin/riak-admin", "cluster", "commit"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := testTask()
			task.Join, task.Replaces = tc.join, tc.replaces
			tc.opts.ErlFlags = flags
			tc.opts.VMArgsPath, tc.opts.VMArgs = "releases/3.2.3/vm.args", vmArgs
			p, err := RiakCommands(task, "/sb", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Flavor != nodetask.FlavorRiak {
				t.Errorf("flavor %q", p.Flavor)
			}
			wantStart := Command{Args: tc.wantStart, Env: env, Dir: "/sb/riak"}
			if !cmdEqual(p.Start, wantStart) {
				t.Errorf("start %+v, want %+v", p.Start, wantStart)
			}
			if len(p.Check) != 1 || !cmdEqual(p.Check[0], Command{Args: []string{"/sb/riak/bin/riak", "chkconfig"}, Env: env, Dir: "/sb/riak"}) ||
				!slices.Equal(p.Check[0].Expect, []string{"config is OK"}) {
				t.Errorf("check %+v", p.Check)
			}
			if len(p.Join) != len(tc.wantJoin) {
				t.Fatalf("join %+v, want %v", p.Join, tc.wantJoin)
			}
			for i, c := range p.Join {
				if !cmdEqual(c, Command{Args: tc.wantJoin[i], Env: env, Dir: "/sb/riak"}) {
					t.Errorf("join[%d] = %+v, want %v", i, c, tc.wantJoin[i])
				}
			}
			// riak admin exits 0 whatever happened: its words tell.
			if len(p.Join) > 0 {
				j, commit := p.Join[0], p.Join[len(p.Join)-1]
				if !j.Succeeded("Failed: This node is already a member of a cluster\nerror", nil) || j.Succeeded("Join failed. Try again in a few moments.\nerror", nil) ||
					j.Succeeded("Node riak9@127.0.0.1 is not reachable!\nerror", nil) ||
					!j.Succeeded("Success: staged join request for 'a@h' to 'b@h'\nok", nil) {
					t.Errorf("join outcome wrong: %+v", j)
				}
				if !commit.Succeeded("You must verify the plan with 'riak-admin cluster plan' before committing\nok", nil) || !commit.Succeeded("Cluster changes committed\nok", nil) ||
					commit.Succeeded("Node 'a@h' is not responding to pings", nil) {
					t.Errorf("commit outcome wrong: %+v", commit)
				}
			}
			admin := []string{"/sb/riak/bin/riak", "admin"}
			if tc.opts.LegacyAdmin {
				admin = []string{"/sb/riak/bin/riak-admin"}
			}
			if len(p.Leave) != 3 {
				t.Fatalf("leave %+v, want cluster leave, plan, commit", p.Leave)
			}
			for i, sub := range [][]string{{"cluster", "leave"}, {"cluster", "plan"}, {"cluster", "commit"}} {
				if want := (Command{Args: append(slices.Clone(admin), sub...), Env: env, Dir: "/sb/riak"}); !cmdEqual(p.Leave[i], want) {
					t.Errorf("leave[%d] = %+v, want %+v", i, p.Leave[i], want)
				}
			}
			wantReady := [][]string{append(slices.Clone(admin), "wait-for-service", "riak_kv", "riak-default-1@10.0.0.5"), append(slices.Clone(admin), "ringready")}
			if len(p.Ready) != 1 || !slices.Equal(p.Ready[0].Args, wantReady[0]) || p.RingReady == nil || !slices.Equal(p.RingReady.Args, wantReady[1]) ||
				!p.Ready[0].Succeeded("riak_kv is up", nil) || p.RingReady.Succeeded("FALSE ['x@h'] down.  All nodes need to be up to check.\nok", nil) ||
				!p.RingReady.Succeeded("TRUE All nodes agree on the ring ['a@h']\nok", nil) {
				t.Errorf("ready %+v %+v, want %v", p.Ready, p.RingReady, wantReady)
			}
			if p.Transfers == nil || !slices.Equal(p.Transfers.Args, append(slices.Clone(admin), "transfers")) {
				t.Errorf("transfers %+v", p.Transfers)
			}
			for _, d := range []string{"/sb/riak-data/data", "/sb/log", "/sb/riak/etc"} {
				if !slices.Contains(p.Dirs, d) {
					t.Errorf("dirs %v lack %s", p.Dirs, d)
				}
			}
			if len(p.Files) != 3 || p.Files[0].Path != "/sb/riak/etc/riak.conf" || p.Files[1].Path != "/sb/riak/etc/advanced.config" ||
				p.Files[2].Path != "/sb/riak/releases/3.2.3/vm.args" {
				t.Fatalf("files %+v", p.Files)
			}
			if !strings.Contains(p.Files[0].Data, "platform_data_dir = /sb/riak-data/data") {
				t.Errorf("riak.conf does not keep data on the volume:\n%s", p.Files[0].Data)
			}
			vm := p.Files[2].Data
			if !strings.Contains(vm, "\n-name riak-default-1@10.0.0.5\n-setcookie riak-riak-default\n") || strings.Contains(vm, "-sname") ||
				strings.Count(vm, "-setcookie") != 1 || !strings.Contains(vm, "+C multi_time_warp") {
				t.Errorf("vm.args:\n%s", vm)
			}
		})
	}
}

func TestRiakVMArgsPathStaysInRelease(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"/etc/passwd", "../x/vm.args"} {
		if _, err := RiakCommands(testTask(), "/sb", RiakOptions{VMArgsPath: bad}); err == nil {
			t.Errorf("vm.args path %q accepted", bad)
		}
	}
}

func TestCommandSucceeded(t *testing.T) {
	t.Parallel()
	exit1 := errors.New("exit status 1")
	tests := []struct {
		c    Command
		out  string
		err  error
		want bool
	}{
		{Command{}, "", nil, true},
		{Command{}, "", exit1, false},
		{Command{Expect: []string{"config is OK"}}, "config is OK", nil, true},
		// riak chkconfig exits 0 when the generated config cannot be read.
		{Command{Expect: []string{"config is OK"}}, `Error reading "/x/app.config"`, nil, false},
		{Command{Expect: []string{"a", "b"}}, "xbx", nil, true},
		{Command{Expect: []string{"a"}}, "a", exit1, false},
	}
	for i, tc := range tests {
		if got := tc.c.Succeeded(tc.out, tc.err); got != tc.want {
			t.Errorf("%d: Succeeded(%q, %v) = %v, want %v", i, tc.out, tc.err, got, tc.want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	task := testTask()
	files, cmds, err := ConfigCheck(task, "ring_size = 128\n", "", "/sb", "/sb/config-check-4", RiakOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != "/sb/config-check-4/etc/riak.conf" || !strings.Contains(files[0].Data, "ring_size = 128") ||
		!strings.Contains(files[0].Data, "nodename = riak-default-1@10.0.0.5") {
		t.Errorf("files %+v", files)
	}
	if len(cmds) != 1 || cmds[0].Dir != "/sb/config-check-4" || !slices.Contains(cmds[0].Env, "RUNNER_ETC_DIR=/sb/config-check-4/etc") ||
		!slices.Equal(cmds[0].Args, []string{"/sb/riak/bin/riak", "chkconfig"}) {
		t.Errorf("check %+v", cmds)
	}
	if _, _, err := ConfigCheck(task, "{{.Nope}}", "", "/sb", "/sb/c", RiakOptions{}); err == nil {
		t.Error("a template that does not render passed the check")
	}
	task.Flavor = nodetask.FlavorDevnode
	if _, cmds, err := ConfigCheck(task, "", "", "/sb", "/sb/c", RiakOptions{}); err != nil || len(cmds) != 0 {
		t.Errorf("devnode: %v %v", cmds, err)
	}
}

func cmdEqual(a, b Command) bool {
	return slices.Equal(a.Args, b.Args) && slices.Equal(a.Env, b.Env) && a.Dir == b.Dir
}

func TestDevnodeCommands(t *testing.T) {
	t.Parallel()
	task := testTask()
	task.Flavor, task.RiakTarball = nodetask.FlavorDevnode, ""
	p, err := NewPlan(task, "/sb", "/bin/rmf", RiakOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/rmf", "devnode", "--name", "riak-default-1@10.0.0.5", "--pb", "10.0.0.5:31000", "--http", "10.0.0.5:31001",
		"--data", "/sb/riak-data/devnode", "--backend", "disk"}
	if !slices.Equal(p.Start.Args, want) || p.Start.Dir != "/sb" || len(p.Join) != 0 {
		t.Errorf("plan %+v, want args %v", p, want)
	}
	wantLeave := Command{Args: []string{"/bin/rmf", "devnode", "leave", "--pb", "10.0.0.5:31000", "--timeout", "10m0s"}, Dir: "/sb"}
	if len(p.Leave) != 1 || !cmdEqual(p.Leave[0], wantLeave) {
		t.Errorf("leave %+v, want %+v", p.Leave, wantLeave)
	}
	task.Join = "10.0.0.4:31000"
	p, err = DevnodeCommands(task, "/sb", "/bin/rmf")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Start.Args[len(p.Start.Args)-2:]; !slices.Equal(got, []string{"--join", "10.0.0.4:31000"}) {
		t.Errorf("join args %v", got)
	}
	if len(p.Files) != 2 || p.Files[0].Path != "/sb/etc/riak.conf" {
		t.Errorf("files %+v", p.Files)
	}
	// The devnode's riak admin: the same readiness, transfers and
	// replacement as Riak's.
	admin := []string{"/bin/rmf", "devnode", "admin", "--pb", "10.0.0.5:31000"}
	if len(p.Ready) != 1 || !slices.Equal(p.Ready[0].Args, append(slices.Clone(admin), "wait-for-service", "riak_kv", "riak-default-1@10.0.0.5")) ||
		p.RingReady == nil || !slices.Equal(p.RingReady.Args, append(slices.Clone(admin), "ringready")) || p.Transfers == nil ||
		!slices.Equal(p.Transfers.Args, append(slices.Clone(admin), "transfers")) || len(p.Join) != 0 {
		t.Errorf("ready %+v transfers %+v join %+v", p.Ready, p.Transfers, p.Join)
	}
	task.Replaces = "riak-default-1@10.0.0.9"
	if p, err = DevnodeCommands(task, "/sb", "/bin/rmf"); err != nil || len(p.Join) != 3 ||
		!slices.Equal(p.Join[0].Args, append(slices.Clone(admin), "cluster", "force-replace", "riak-default-1@10.0.0.9", "riak-default-1@10.0.0.5")) {
		t.Errorf("replace: %+v %v", p.Join, err)
	}
}

func TestPlanBadInput(t *testing.T) {
	t.Parallel()
	task := testTask()
	tests := []struct {
		name string
		f    func() error
	}{
		{"relative sandbox", func() error { _, err := RiakCommands(task, "sb", RiakOptions{}); return err }},
		{"relative executable", func() error { _, err := DevnodeCommands(task, "/sb", "rmf"); return err }},
		{"unknown flavor", func() error {
			bad := task
			bad.Flavor = "couch"
			_, err := NewPlan(bad, "/sb", "/bin/rmf", RiakOptions{})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f(); !errors.Is(err, ErrBadTask) {
				t.Errorf("err = %v, want ErrBadTask", err)
			}
		})
	}
	bad := task
	bad.RiakConf = "{{if}}"
	if _, err := RiakCommands(bad, "/sb", RiakOptions{}); err == nil || !strings.Contains(err.Error(), "riak.conf") {
		t.Errorf("broken template: %v", err)
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tb := newTail(3)
	for _, s := range []string{"a\nb\n", "c\r\nd", "e\nf"} {
		_, _ = tb.Write([]byte(s))
	}
	if got := tb.String(); got != "c\nde\nf" {
		t.Errorf("tail %q", got)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reply := make(chan protocol.Code, 2)
	reply <- protocol.CodePingResp
	reply <- protocol.CodeErrorResp
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := protocol.NewReader(c, 0).ReadFrame()
			if err == nil && f.Code == protocol.CodePingReq {
				_, _ = c.Write(protocol.AppendFrame(nil, <-reply, nil))
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	if err := Ping(ctx, ln.Addr().String(), time.Second); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := Ping(ctx, ln.Addr().String(), time.Second); err == nil {
		t.Error("an error response counted as a ping")
	}
	ln.Close()
	if err := Ping(ctx, ln.Addr().String(), time.Second); err == nil {
		t.Error("ping of a closed port succeeded")
	}
}

// TestErlpmdAddrs: erlpmd also listens on 127.0.0.1 whenever the node's
// host is another address, loopback or not, because the node's erlpmd
// module sends every lookup to 127.0.0.1.
func TestErlpmdAddrs(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		want       []string
	}{
		{"loopback itself", "127.0.0.1", []string{"127.0.0.1:4400"}},
		{"localhost", "localhost", []string{"localhost:4400"}},
		{"another loopback address", "127.0.0.3", []string{"127.0.0.3:4400", "127.0.0.1:4400"}},
		{"a real address", "10.0.0.5", []string{"10.0.0.5:4400", "127.0.0.1:4400"}},
		{"IPv6 loopback", "::1", []string{"[::1]:4400", "127.0.0.1:4400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := erlpmdAddrs(tc.host, 4400); !slices.Equal(got, tc.want) {
				t.Errorf("erlpmdAddrs(%q) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
}

// TestAdminCommand: the scheduler's admin verbs run with the plan's riak
// admin (the devnode's for the devnode flavor), nothing else runs.
func TestAdminCommand(t *testing.T) {
	t.Parallel()
	task := testTask()
	task.Flavor, task.RiakTarball = nodetask.FlavorDevnode, ""
	p, err := DevnodeCommands(task, "/sb", "/bin/rmf")
	if err != nil {
		t.Fatal(err)
	}
	c, err := AdminCommand(p, []string{"bucket-type", "create", "counters", `{"props":{"datatype":"counter"}}`})
	want := []string{"/bin/rmf", "devnode", "admin", "--pb", "10.0.0.5:31000", "bucket-type", "create", "counters", `{"props":{"datatype":"counter"}}`}
	if err != nil || !slices.Equal(c.Args, want) || c.Dir != "/sb" {
		t.Errorf("devnode admin command %+v, %v; want %v", c, err, want)
	}
	rp, err := RiakCommands(testTask(), "/sb", RiakOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err = AdminCommand(rp, []string{"member-status"})
	if err != nil || !slices.Equal(c.Args, []string{"/sb/riak/bin/riak", "admin", "member-status"}) || len(c.Env) == 0 {
		t.Errorf("riak admin command %+v, %v", c, err)
	}
	if _, err := AdminCommand(rp, []string{"cluster", "leave"}); err == nil {
		t.Error("cluster leave ran as an admin verb")
	}
	if _, err := AdminCommand(Plan{}, []string{"ringready"}); err == nil {
		t.Error("a plan without riak admin ran a verb")
	}
}
