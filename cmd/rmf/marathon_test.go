package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/director"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// testApp is a Marathon app definition as the tests read it: Marathon's
// field names, written out here independently of marathon.go.
type testApp struct {
	ID        string  `json:"id"`
	Cmd       string  `json:"cmd"`
	CPUs      float64 `json:"cpus"`
	Mem       float64 `json:"mem"`
	Disk      float64 `json:"disk"`
	Instances int     `json:"instances"`
	Fetch     []struct {
		URI        string `json:"uri"`
		Executable bool   `json:"executable"`
		Extract    bool   `json:"extract"`
		Cache      bool   `json:"cache"`
	} `json:"fetch"`
	PortDefinitions []struct {
		Port     int    `json:"port"`
		Protocol string `json:"protocol"`
		Name     string `json:"name"`
	} `json:"portDefinitions"`
	RequirePorts bool `json:"requirePorts"`
	HealthChecks []struct {
		Protocol               string `json:"protocol"`
		Path                   string `json:"path"`
		PortIndex              int    `json:"portIndex"`
		GracePeriodSeconds     int    `json:"gracePeriodSeconds"`
		IntervalSeconds        int    `json:"intervalSeconds"`
		TimeoutSeconds         int    `json:"timeoutSeconds"`
		MaxConsecutiveFailures int    `json:"maxConsecutiveFailures"`
	} `json:"healthChecks"`
	Constraints     [][]string `json:"constraints"`
	UpgradeStrategy struct {
		MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
		MaximumOverCapacity   float64 `json:"maximumOverCapacity"`
	} `json:"upgradeStrategy"`
	TaskKillGracePeriodSeconds int               `json:"taskKillGracePeriodSeconds"`
	Labels                     map[string]string `json:"labels"`
}

// marathonKeys are the exact top-level keys the app definitions carry
// (encoding/json matches names case-insensitively; Marathon does not).
var marathonKeys = []string{"cmd", "constraints", "cpus", "disk", "fetch", "healthChecks", "id", "instances",
	"labels", "mem", "portDefinitions", "requirePorts", "taskKillGracePeriodSeconds", "upgradeStrategy"}

var healthCheckKeys = []string{"gracePeriodSeconds", "intervalSeconds", "maxConsecutiveFailures", "path",
	"portIndex", "protocol", "timeoutSeconds"}

// marathonJSON runs `rmf marathon ARGS...` and decodes its stdout,
// checking the exact spelling of every key.
func marathonJSON(t *testing.T, args ...string) testApp {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"marathon"}, args...), &stdout, &stderr); code != exitOK {
		t.Fatalf("rmf marathon %q: exit %d, stderr %q", args, code, stderr.String())
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &keys); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, stdout.String())
	}
	if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, marathonKeys) {
		t.Errorf("keys %q, want %q", got, marathonKeys)
	}
	var checks []map[string]json.RawMessage
	if err := json.Unmarshal(keys["healthChecks"], &checks); err != nil || len(checks) != 1 {
		t.Fatalf("healthChecks: want one, got %s (%v)", keys["healthChecks"], err)
	}
	if got := slices.Sorted(maps.Keys(checks[0])); !slices.Equal(got, healthCheckKeys) {
		t.Errorf("health check keys %q, want %q", got, healthCheckKeys)
	}
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	var app testApp
	if err := dec.Decode(&app); err != nil {
		t.Fatalf("decode: %v\n%s", err, stdout.String())
	}
	return app
}

// sandboxRun runs app's cmd as the Mesos command executor would (/bin/sh
// -c in the sandbox, PORT0 and HOST set by Marathon), with a stand-in for
// the fetched rmf binary that records its arguments and RMF_API_TOKEN. It
// returns the arguments, the token ("unset" if none) and the shell's error.
func sandboxRun(t *testing.T, app testApp, binPath string, files map[string]string) (args []string, token string, err error) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, filepath.FromSlash(binPath))
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	fake := "#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$OUT/args\"\nprintf '%s' \"${RMF_API_TOKEN-unset}\" > \"$OUT/token\"\n"
	if err := os.WriteFile(bin, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	sh := exec.Command("/bin/sh", "-c", app.Cmd)
	sh.Dir = dir
	sh.Env = []string{"PATH=" + os.Getenv("PATH"), "PORT0=31007", "PORT=31007", "HOST=agent-3.example", "OUT=" + out}
	var stderr bytes.Buffer
	sh.Stderr = &stderr
	if err := sh.Run(); err != nil {
		return nil, "", err
	}
	raw, rerr := os.ReadFile(filepath.Join(out, "args"))
	if rerr != nil {
		t.Fatalf("the cmd did not run the fetched binary %s: %v (stderr %q)", binPath, rerr, stderr.String())
	}
	tok, _ := os.ReadFile(filepath.Join(out, "token"))
	args = strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	return args, string(tok), nil
}

// parseWithRealCommand parses args (a subcommand name, then its flags)
// with the flag set of that subcommand in a fresh rmf command tree, and
// returns the value of every flag given.
func parseWithRealCommand(t *testing.T, args []string) map[string]string {
	t.Helper()
	sub, rest, err := newRootCmd().Find(args)
	if err != nil || sub.Name() != args[0] {
		t.Fatalf("rmf %s: not a command (%v)", args[0], err)
	}
	if err := sub.ParseFlags(rest); err != nil {
		t.Fatalf("rmf %s rejects the app's command line %q: %v", args[0], rest, err)
	}
	if pos := sub.Flags().Args(); len(pos) > 0 {
		t.Fatalf("rmf %s: stray arguments %q in %q", args[0], pos, rest)
	}
	got := map[string]string{}
	for _, name := range flagNames(rest) {
		got[name] = sub.Flags().Lookup(name).Value.String()
	}
	return got
}

// flagNames returns the --names in args, in order.
func flagNames(args []string) []string {
	var names []string
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			names = append(names, name)
		}
	}
	return names
}

// TestMarathonCmdParsesAsRealFlags runs each printed cmd through a real
// shell and parses what the binary would receive with the real scheduler
// or director flag set: a renamed or removed flag fails here.
func TestMarathonCmdParsesAsRealFlags(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "api-token")
	hostile := `http://files/it's a "$HOME" ` + "`id`" + ` \n.tar.gz`
	tests := []struct {
		name    string
		args    []string
		binPath string
		files   map[string]string
		want    map[string]string
		token   string
	}{
		{
			name:    "scheduler",
			args:    []string{"scheduler", "--rmf-uri", "http://files.example/bin/rmf-linux-amd64", "--master", "http://mesos:5050", "--zk", "zk1:2181,zk2:2181"},
			binPath: "rmf-linux-amd64",
			want: map[string]string{"master": "http://mesos:5050", "zk": "zk1:2181,zk2:2181", "framework": "riak",
				"api": "0.0.0.0:31007", "advertise-api": "http://agent-3.example:31007"},
			token: "unset",
		},
		{
			name: "scheduler with secrets and passthrough",
			args: []string{"scheduler", "--rmf-uri", "http://files/rmf.tgz", "--rmf-path", "rmf-1.0/rmf", "--master", "https://mesos:5050",
				"--zk", "zk1:2181", "--framework", "prod", "--principal", "riak-prod", "--role", "riak-prod",
				"--zk-auth-file", "/etc/rmf/zk-auth", "--api-token-file", tokenFile,
				"--", "--flavor", "riak", "--riak-tarball", hostile, "--fencing=strict"},
			binPath: "rmf-1.0/rmf",
			files:   map[string]string{tokenFile: "s3cret\n"},
			want: map[string]string{"master": "https://mesos:5050", "zk": "zk1:2181", "framework": "prod",
				"api": "0.0.0.0:31007", "advertise-api": "http://agent-3.example:31007", "principal": "riak-prod", "role": "riak-prod",
				"zk-auth-file": "/etc/rmf/zk-auth", "executor-zk-auth-file": "/etc/rmf/zk-auth",
				"flavor": "riak", "riak-tarball": hostile, "fencing": "strict"},
			token: "s3cret",
		},
		{
			name:    "director",
			args:    []string{"director", "--rmf-uri", "http://files/rmf", "--zk", "zk1:2181", "--cluster", "c1"},
			binPath: "rmf",
			want: map[string]string{"zk": "zk1:2181", "framework": "riak", "cluster": "c1",
				"pb": "127.0.0.1:8087", "http": "127.0.0.1:8098", "admin": "127.0.0.1:31007"},
			token: "unset",
		},
		{
			name: "director with secrets and passthrough",
			args: []string{"director", "--rmf-uri", "http://files/rmf.tar.gz", "--zk", "zk1:2181", "--cluster", "c1",
				"--pb", "127.0.0.1:18087", "--http", "", "--zk-auth-file", "/etc/rmf/zk-auth", "--api-token-file", tokenFile,
				"--", "--try-timeout", "500ms", "--policy", "p2c"},
			binPath: "rmf",
			files:   map[string]string{tokenFile: "adm1n"},
			want: map[string]string{"zk": "zk1:2181", "framework": "riak", "cluster": "c1", "pb": "127.0.0.1:18087",
				"http": "", "admin": "127.0.0.1:31007", "zk-auth-file": "/etc/rmf/zk-auth", "try-timeout": "500ms", "policy": "p2c"},
			token: "adm1n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := marathonJSON(t, tc.args...)
			if i := slices.Index(tc.args, "--rmf-uri"); len(app.Fetch) != 1 || app.Fetch[0].URI != tc.args[i+1] {
				t.Fatalf("fetch %+v: want the --rmf-uri", app.Fetch)
			}
			if f := app.Fetch[0]; f.Extract == f.Executable || f.Extract != (path.Ext(f.URI) == ".gz" || path.Ext(f.URI) == ".tgz") {
				t.Errorf("fetch %+v: an archive is extracted, a binary made executable", f)
			}
			if !app.Fetch[0].Extract && path.Base(app.Fetch[0].URI) != tc.binPath {
				t.Errorf("fetched file %s, cmd runs %s", path.Base(app.Fetch[0].URI), tc.binPath)
			}
			args, token, err := sandboxRun(t, app, tc.binPath, tc.files)
			if err != nil {
				t.Fatalf("sh -c %q: %v", app.Cmd, err)
			}
			if args[0] != tc.args[0] {
				t.Fatalf("the binary runs %q, want rmf %s", args, tc.args[0])
			}
			got := parseWithRealCommand(t, args)
			for name, want := range tc.want {
				if v, ok := got[name]; !ok || v != want {
					t.Errorf("--%s = %q (given: %v), want %q", name, v, ok, want)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("flags %v, want exactly %v", got, tc.want)
			}
			if token != tc.token {
				t.Errorf("RMF_API_TOKEN = %q, want %q", token, tc.token)
			}
			if tc.token != "unset" && strings.Contains(app.Cmd, tc.token) {
				t.Errorf("the token is in the app definition: %q", app.Cmd)
			}
			// The health check's port is the one the checked listener binds.
			listener := map[string]string{"scheduler": "api", "director": "admin"}[tc.args[0]]
			if hc := app.HealthChecks[0]; hc.PortIndex != 0 || len(app.PortDefinitions) != 1 || !strings.HasSuffix(got[listener], ":31007") {
				t.Errorf("health check on port index %d of %d ports; --%s = %q, want $PORT0", hc.PortIndex, len(app.PortDefinitions), listener, got[listener])
			}
		})
	}
}

// TestMarathonTokenFileFailsClosed: a task whose token file is missing or
// empty does not start without a token.
func TestMarathonTokenFileFailsClosed(t *testing.T) {
	dir := t.TempDir()
	for name, files := range map[string]map[string]string{
		"missing": nil,
		"empty":   {filepath.Join(dir, "api-token"): ""},
	} {
		t.Run(name, func(t *testing.T) {
			app := marathonJSON(t, "scheduler", "--rmf-uri", "http://files/rmf", "--master", "http://m:5050", "--zk", "zk:2181",
				"--api-token-file", filepath.Join(dir, "api-token"))
			if _, _, err := sandboxRun(t, app, "rmf", files); err == nil {
				t.Fatalf("sh -c %q started rmf without a token", app.Cmd)
			}
		})
	}
}

// TestMarathonSchedulerApp checks the scheduler app's fixed parts.
func TestMarathonSchedulerApp(t *testing.T) {
	app := marathonJSON(t, "scheduler", "--rmf-uri", "http://files/rmf", "--master", "http://m:5050", "--zk", "zk:2181",
		"--cpus", "1", "--mem", "512", "--instances", "2", "--constraint", "rack:GROUP_BY", "--constraint", "hostname:LIKE:mesos-[0-9]+:x")
	if app.ID != "/riak-scheduler" || app.CPUs != 1 || app.Mem != 512 || app.Instances != 2 {
		t.Errorf("id %q cpus %v mem %v instances %d", app.ID, app.CPUs, app.Mem, app.Instances)
	}
	hc := app.HealthChecks[0]
	if hc.Protocol != "HTTP" || hc.Path != "/api/v1/healthcheck" || hc.MaxConsecutiveFailures == 0 || hc.GracePeriodSeconds < 30 {
		t.Errorf("health check %+v", hc)
	}
	want := [][]string{{"hostname", "UNIQUE"}, {"rack", "GROUP_BY"}, {"hostname", "LIKE", "mesos-[0-9]+:x"}}
	if !slices.EqualFunc(app.Constraints, want, slices.Equal) {
		t.Errorf("constraints %q, want %q", app.Constraints, want)
	}
	// Start the new scheduler (a standby, by the ZooKeeper election)
	// before stopping the old.
	if u := app.UpgradeStrategy; u.MinimumHealthCapacity != 1 || u.MaximumOverCapacity != 1 {
		t.Errorf("upgradeStrategy %+v", u)
	}
	if len(app.PortDefinitions) != 1 || app.PortDefinitions[0].Port != 0 || app.RequirePorts {
		t.Errorf("ports %+v requirePorts %v: want one port of Mesos's choosing", app.PortDefinitions, app.RequirePorts)
	}
	if app.Labels["rmf.component"] != "scheduler" || app.Labels["rmf.framework"] != "riak" || app.TaskKillGracePeriodSeconds < 5 {
		t.Errorf("labels %v kill grace %d", app.Labels, app.TaskKillGracePeriodSeconds)
	}
}

// TestMarathonDirectorApp checks placement and health of the director app.
func TestMarathonDirectorApp(t *testing.T) {
	app := marathonJSON(t, "director", "--rmf-uri", "http://files/rmf", "--zk", "zk:2181", "--cluster", "Web_1",
		"--hosts", "app-1.example,app-2.example,app-3.example")
	if app.ID != "/riak-director-web-1" || app.Instances != 3 {
		t.Errorf("id %q instances %d, want /riak-director-web-1 and one per host", app.ID, app.Instances)
	}
	want := [][]string{{"hostname", "UNIQUE"}, {"hostname", "LIKE", `app-1\.example|app-2\.example|app-3\.example`}}
	if !slices.EqualFunc(app.Constraints, want, slices.Equal) {
		t.Errorf("constraints %q, want %q", app.Constraints, want)
	}
	hc := app.HealthChecks[0]
	if hc.Protocol != "MESOS_HTTP" || hc.Path != "/health" || hc.MaxConsecutiveFailures != 0 {
		t.Errorf("health check %+v: want MESOS_HTTP /health (loopback), never killing", hc)
	}
	if u := app.UpgradeStrategy; u.MaximumOverCapacity != 0 || u.MinimumHealthCapacity != 0.5 {
		t.Errorf("upgradeStrategy %+v: want in place, half at a time", u)
	}
	if app.Labels["rmf.cluster"] != "Web_1" || app.Labels["rmf.component"] != "director" || app.TaskKillGracePeriodSeconds <= 30 {
		t.Errorf("labels %v kill grace %d (the director drains for 30s)", app.Labels, app.TaskKillGracePeriodSeconds)
	}
	one := marathonJSON(t, "director", "--rmf-uri", "http://files/rmf", "--zk", "zk:2181", "--cluster", "c1", "--id", "/prod/riak-director")
	if one.ID != "/prod/riak-director" || one.Instances != 1 || one.UpgradeStrategy.MinimumHealthCapacity != 0 || len(one.Constraints) != 1 {
		t.Errorf("single director: id %q instances %d upgrade %+v constraints %q", one.ID, one.Instances, one.UpgradeStrategy, one.Constraints)
	}
}

// TestMarathonHealthPathsAreServed: the paths the apps check are routes of
// the real scheduler API and director admin handlers.
func TestMarathonHealthPathsAreServed(t *testing.T) {
	common := []string{"--rmf-uri", "http://files/rmf", "--zk", "zk:2181"}
	schedApp := marathonJSON(t, append([]string{"scheduler", "--master", "http://m:5050"}, common...)...)
	dirApp := marathonJSON(t, append([]string{"director", "--cluster", "c1"}, common...)...)

	s, err := scheduler.New(scheduler.Config{Master: "http://m:5050", Framework: &zkstate.Framework{}, ZooKeeper: "zk:2181", APIToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := director.NewProxy(director.Config{HealthInterval: -1, AdminToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	get := func(h http.Handler, target string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec.Code
	}
	// Without nodes /health answers 503; a path that is not a route 404.
	// Marathon's checks carry no token, so the path must not need one.
	for _, tc := range []struct {
		who  string
		h    http.Handler
		path string
		want []int
	}{
		{"scheduler", s.Handler(""), schedApp.HealthChecks[0].Path, []int{http.StatusOK}},
		{"director", p.AdminHandler(nil), dirApp.HealthChecks[0].Path, []int{http.StatusOK, http.StatusServiceUnavailable}},
	} {
		if code := get(tc.h, tc.path); !slices.Contains(tc.want, code) {
			t.Errorf("%s: GET %s = %d, want one of %v", tc.who, tc.path, code, tc.want)
		}
		if code := get(tc.h, tc.path+"-not-a-route"); slices.Contains(tc.want, code) {
			t.Errorf("%s: GET %s-not-a-route = %d too: the check proves nothing", tc.who, tc.path, code)
		}
	}
}

func TestMarathonUsageErrors(t *testing.T) {
	sched := []string{"marathon", "scheduler", "--rmf-uri", "http://files/rmf", "--master", "http://m:5050", "--zk", "zk:2181"}
	dir := []string{"marathon", "director", "--rmf-uri", "http://files/rmf", "--zk", "zk:2181", "--cluster", "c1"}
	with := func(base []string, more ...string) []string { return append(slices.Clone(base), more...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no verb", []string{"marathon"}, "needs one of: [scheduler director]"},
		{"no zk", []string{"marathon", "scheduler", "--rmf-uri", "http://f/rmf", "--master", "http://m"}, "--zk is required"},
		{"no master", []string{"marathon", "scheduler", "--rmf-uri", "http://f/rmf", "--zk", "z:1"}, "--master is required"},
		{"bad master", with(sched, "--master", "mesos:5050"), "want http://host:port, a comma-separated list of them, or zk://"},
		{"no rmf uri", []string{"marathon", "scheduler", "--master", "http://m", "--zk", "z:1"}, "--rmf-uri is required"},
		{"rmf uri without file", with(sched, "--rmf-uri", "http://files/"), "want a URL naming a file"},
		{"bad framework", with(sched, "--framework", "a/b"), "--framework"},
		{"bad id", with(sched, "--id", "/Riak_Scheduler"), "--id"},
		{"relative id", with(sched, "--id", "riak"), "--id"},
		{"zero cpus", with(sched, "--cpus", "0"), "--cpus"},
		{"no instances", with(sched, "--instances", "0"), "--instances"},
		{"bad constraint", with(sched, "--constraint", "hostname:SAME"), "--constraint"},
		{"relative zk auth file", with(sched, "--zk-auth-file", "zk-auth"), "absolute path"},
		{"relative token file", with(dir, "--api-token-file", "token"), "absolute path"},
		{"stray argument", with(sched, "extra"), `unexpected argument "extra"`},
		{"stray before dash", with(sched, "extra", "--", "--flavor", "riak"), `unexpected argument "extra"`},
		{"unknown passthrough flag", with(sched, "--", "--bogus"), "unknown flag: --bogus"},
		{"passthrough argument", with(sched, "--", "--flavor", "riak", "extra"), "takes no arguments"},
		{"passthrough repeats api", with(sched, "--", "--api", "0.0.0.0:9090"), "--api after -- is set by this command"},
		{"passthrough repeats zk", with(dir, "--", "--zk", "other:2181"), "--zk after -- is set by this command"},
		{"passthrough token with token file", with(dir, "--api-token-file", "/t", "--", "--api-token", "x"), "--api-token after --"},
		{"director no cluster", []string{"marathon", "director", "--rmf-uri", "http://f/rmf", "--zk", "z:1"}, "--cluster is required"},
		{"director no zk", []string{"marathon", "director", "--rmf-uri", "http://f/rmf", "--cluster", "c"}, "--zk is required"},
		{"director static nodes too", with(dir, "--", "--node", "127.0.0.1:8087"), "not both"},
		{"director bad policy", with(dir, "--", "--policy", "random"), "unknown policy"},
		{"director bad pb", with(dir, "--pb", "8087"), "--pb"},
		{"director id from bad cluster", []string{"marathon", "director", "--rmf-uri", "http://f/rmf", "--zk", "z:1", "--cluster", "a.-b"}, "--id"},
		{"director empty host", with(dir, "--hosts", "a,,b"), "empty host name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.want)
			}
			if strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Errorf("error is not one line: %q", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("printed an app anyway: %q", stdout.String())
			}
		})
	}
}

// TestMarathonFlagsFromEnvironment: like every rmf flag, the generator's
// read RMF_* variables.
func TestMarathonFlagsFromEnvironment(t *testing.T) {
	t.Setenv("RMF_ZK", "zk-env:2181")
	t.Setenv("RMF_RMF_URI", "http://files/rmf")
	app := marathonJSON(t, "director", "--cluster", "c1")
	if !strings.Contains(app.Cmd, " --zk zk-env:2181 ") {
		t.Errorf("cmd %q: want --zk from RMF_ZK", app.Cmd)
	}
}
