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

func TestNewVars(t *testing.T) {
	t.Parallel()
	v := NewVars(testTask(), "/sb")
	want := Vars{NodeName: "riak-default-1@10.0.0.5", Host: "10.0.0.5", PBPort: 31000, HTTPPort: 31001, HandoffPort: 31002,
		DisterlPort: 31003, ErlpmdPort: 31004, DataDir: "/sb/riak-data", PlatformDataDir: "/sb/riak-data/data", LogDir: "/sb/log",
		Cluster: "default", Node: "riak-default-1", Framework: "riak", Cookie: "riak-riak-default", Generation: 3}
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
				"listener.pb.internal = 10.0.0.5:31000\n",
				"listener.http.internal = 10.0.0.5:31001\n",
				"handoff.port = 31002\n",
				"platform_data_dir = /sb/riak-data/data\n",
				"erlang.distribution.port_range.minimum = 31003\n",
				"erlang.distribution.port_range.maximum = 31003\n",
				"distributed_cookie = riak-riak-default\n",
			},
			wantAC: []string{`{handoff_ip, "10.0.0.5"}`, "].\n"},
		},
		{
			name:     "custom",
			riakConf: "nodename = {{.NodeName}}\nring_size = 128\n## {{.Cluster}}/{{.Node}} epmd {{.ErlpmdPort}} data {{.DataDir}} gen {{.Generation}}\n",
			adv:      "[{riak_kv, [{pb_port, {{.PBPort}}}, {http, {{.HTTPPort}}}, {h, {{.HandoffPort}}}, {d, {{.DisterlPort}}}, {p, \"{{.PlatformDataDir}}\"}]}].",
			wantRC:   []string{"nodename = riak-default-1@10.0.0.5\nring_size = 128\n## default/riak-default-1 epmd 31004 data /sb/riak-data gen 3\n"},
			wantAC:   []string{`[{riak_kv, [{pb_port, 31000}, {http, 31001}, {h, 31002}, {d, 31003}, {p, "/sb/riak-data/data"}]}].`},
		},
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
			rc, ac, err := RenderConfigs(task, NewVars(task, "/sb"))
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

func TestRiakCommands(t *testing.T) {
	t.Parallel()
	env := []string{"ERL_EPMD_PORT=31004", "ERL_FLAGS=-start_epmd false", "HOME=/sb"}
	tests := []struct {
		name     string
		join     string
		opts     RiakOptions
		wantJoin [][]string
	}{
		{name: "first node"},
		{name: "join", join: "riak-default-0@10.0.0.4", wantJoin: [][]string{
			{"/sb/riak/bin/riak", "admin", "cluster", "join", "riak-default-0@10.0.0.4"},
			{"/sb/riak/bin/riak", "admin", "cluster", "plan"},
			{"/sb/riak/bin/riak", "admin", "cluster", "commit"},
		}},
		{name: "join with riak-admin", join: "riak-default-0@10.0.0.4", opts: RiakOptions{LegacyAdmin: true}, wantJoin: [][]string{
			{"/sb/riak/bin/riak-admin", "cluster", "join", "riak-default-0@10.0.0.4"},
			{"/sb/riak/bin/riak-admin", "cluster", "plan"},
			{"/sb/riak/bin/riak-admin", "cluster", "commit"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := testTask()
			task.Join = tc.join
			p, err := RiakCommands(task, "/sb", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Flavor != nodetask.FlavorRiak {
				t.Errorf("flavor %q", p.Flavor)
			}
			wantStart := Command{Args: []string{"/sb/riak/bin/riak", "console", "-noinput"}, Env: env, Dir: "/sb/riak"}
			if !cmdEqual(p.Start, wantStart) {
				t.Errorf("start %+v, want %+v", p.Start, wantStart)
			}
			if len(p.Join) != len(tc.wantJoin) {
				t.Fatalf("join %+v, want %v", p.Join, tc.wantJoin)
			}
			for i, c := range p.Join {
				if !cmdEqual(c, Command{Args: tc.wantJoin[i], Env: env, Dir: "/sb/riak"}) {
					t.Errorf("join[%d] = %+v, want %v", i, c, tc.wantJoin[i])
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
			for _, d := range []string{"/sb/riak-data/data", "/sb/log", "/sb/riak/etc"} {
				if !slices.Contains(p.Dirs, d) {
					t.Errorf("dirs %v lack %s", p.Dirs, d)
				}
			}
			if len(p.Files) != 2 || p.Files[0].Path != "/sb/riak/etc/riak.conf" || p.Files[1].Path != "/sb/riak/etc/advanced.config" {
				t.Fatalf("files %+v", p.Files)
			}
			if !strings.Contains(p.Files[0].Data, "platform_data_dir = /sb/riak-data/data") {
				t.Errorf("riak.conf does not keep data on the volume:\n%s", p.Files[0].Data)
			}
		})
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
