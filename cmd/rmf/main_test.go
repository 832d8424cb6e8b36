package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"--help"}, wantCode: exitOK, wantStdout: "Available Commands:"},
		{name: "bare rmf prints help", args: nil, wantCode: exitOK, wantStdout: "Usage:"},
		{name: "version", args: []string{"version"}, wantCode: exitOK, wantStdout: "rmf "},
		{name: "unknown command", args: []string{"bogus"}, wantCode: exitUsage, wantStderr: `rmf: unknown command "bogus"`},
		{name: "unknown flag", args: []string{"director", "--bogus"}, wantCode: exitUsage, wantStderr: "unknown flag: --bogus"},
		{name: "group without verb", args: []string{"node"}, wantCode: exitUsage, wantStderr: "rmf node needs one of"},
		{name: "bad env value", args: []string{"mesos-local"}, env: map[string]string{"RMF_AGENTS": "many"}, wantCode: exitUsage, wantStderr: `invalid RMF_AGENTS="many"`},
		{name: "bad zk auth", args: []string{"erlpmd", "--zk", "127.0.0.1:1", "--zk-auth", "nopassword"}, wantCode: exitUsage, wantStderr: "--zk-auth: zkstate: ZooKeeper auth must be USER:PASSWORD"},
		{name: "stray argument", args: []string{"version", "extra"}, wantCode: exitUsage, wantStderr: "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
			if tc.wantCode != exitOK && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Errorf("error output is not one line: %q", stderr.String())
			}
		})
	}
}

// Every subcommand of the contract in docs/architecture.md must exist with
// these spellings; tests and users rely on them.
func TestContractSpellings(t *testing.T) {
	want := map[string][]string{
		"devnode":     {"name", "pb", "http", "data", "backend", "join", "ring-size", "bucket-type"},
		"director":    {"pb", "http", "admin", "node", "zk", "framework", "cluster"},
		"erlpmd":      {"listen", "zk", "framework"},
		"mesos-local": {"listen", "agents", "work-dir"},
		"scheduler":   {"master", "zk", "framework", "api"},
		"executor":    nil,
		"cluster":     {"api"},
		"node":        {"api", "json"},
		"bench":       nil,
		"marathon":    nil,
		"dev":         {"nodes", "dir", "director-pb", "director-http", "director-admin", "api", "mesos", "zk"},
		"bucket-type": {"api"},
		"framework":   {"api", "zk", "framework"},
	}
	verbs := map[string][]string{
		"cluster":     {"create", "list", "info", "destroy", "config", "restart", "status", "endpoints", "wait", "export", "import"},
		"node":        {"add", "list", "info", "remove", "restart", "stop", "start", "stats", "transfers", "aae-status", "logs", "wait"},
		"bucket-type": {"create", "update", "list"},
		"framework":   {"teardown", "clean-metadata"},
		"bench":       {"run", "compare", "chaos"},
		"marathon":    {"scheduler", "director"},
	}
	root := newRootCmd()
	for name, flags := range want {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Errorf("subcommand %q missing", name)
			continue
		}
		for _, fl := range flags {
			if cmd.Flags().Lookup(fl) == nil && cmd.PersistentFlags().Lookup(fl) == nil {
				t.Errorf("rmf %s: flag --%s missing", name, fl)
			}
		}
		for _, v := range verbs[name] {
			if sub, _, err := root.Find([]string{name, v}); err != nil || sub.Name() != v {
				t.Errorf("rmf %s %s missing", name, v)
			}
		}
	}
}

func TestEnvOverridesDefaultButNotFlag(t *testing.T) {
	t.Setenv("RMF_ZK", "127.0.0.1:1")
	root := newRootCmd()
	cmd, _, err := root.Find([]string{"director"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags([]string{"--cluster", "c1"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RMF_CLUSTER", "from-env")
	if err := applyEnv(cmd); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("zk").Value.String(); got != "127.0.0.1:1" {
		t.Errorf("--zk = %q, want the RMF_ZK value", got)
	}
	if got := cmd.Flags().Lookup("cluster").Value.String(); got != "c1" {
		t.Errorf("--cluster = %q, want the command-line value c1", got)
	}
}

// TestListenersDefaultToLoopback: every flag of every command whose default
// is a listen address (host:port) names a loopback host; binding elsewhere
// takes an explicit flag.
func TestListenersDefaultToLoopback(t *testing.T) {
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) {
			host, port, err := net.SplitHostPort(f.DefValue)
			if err != nil {
				return
			}
			if _, err := strconv.Atoi(port); err != nil {
				return
			}
			seen++
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				t.Errorf("%s --%s defaults to %q: not loopback", c.CommandPath(), f.Name, f.DefValue)
			}
		}
		c.Flags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if seen < 8 {
		t.Fatalf("only %d listen-address defaults found; the walk is broken", seen)
	}
}
