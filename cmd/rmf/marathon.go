package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// Health check paths of the apps `rmf marathon` prints: the scheduler API's
// (scheduler/api.go) and the director admin listener's (director/admin.go).
// marathon_test.go checks them against the real handlers.
const (
	schedulerHealthPath = "/api/v1/healthcheck"
	directorHealthPath  = "/health"
)

// Grace periods: a scheduler connects to ZooKeeper (up to 30 s) before it
// listens; on SIGTERM it stops within 5 s, a director drains for up to 30 s.
const (
	schedulerHealthGrace = 60
	directorHealthGrace  = 30
	schedulerKillGrace   = 10
	directorKillGrace    = 35
)

// marathonApp is the part of a Marathon app definition (POST /v2/apps)
// that rmf emits.
type marathonApp struct {
	ID                         string            `json:"id"`
	Cmd                        string            `json:"cmd"`
	CPUs                       float64           `json:"cpus"`
	Mem                        float64           `json:"mem"`
	Disk                       float64           `json:"disk"`
	Instances                  int               `json:"instances"`
	Fetch                      []marathonFetch   `json:"fetch"`
	PortDefinitions            []marathonPort    `json:"portDefinitions"`
	RequirePorts               bool              `json:"requirePorts"`
	HealthChecks               []marathonHealth  `json:"healthChecks"`
	Constraints                [][]string        `json:"constraints"`
	UpgradeStrategy            marathonUpgrade   `json:"upgradeStrategy"`
	TaskKillGracePeriodSeconds int               `json:"taskKillGracePeriodSeconds"`
	Labels                     map[string]string `json:"labels"`
}

// marathonFetch is one URI the Mesos fetcher puts in the task's sandbox.
type marathonFetch struct {
	URI        string `json:"uri"`
	Executable bool   `json:"executable"`
	Extract    bool   `json:"extract"`
	Cache      bool   `json:"cache"`
}

// marathonPort asks Mesos for one host port; port 0 is any, seen by the
// task as $PORT0, $PORT1, ...
type marathonPort struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	Name     string `json:"name"`
}

// marathonHealth is a health check: HTTP is made by Marathon, MESOS_HTTP
// by the agent running the task (it reaches the task's loopback).
type marathonHealth struct {
	Protocol               string `json:"protocol"`
	Path                   string `json:"path"`
	PortIndex              int    `json:"portIndex"`
	GracePeriodSeconds     int    `json:"gracePeriodSeconds"`
	IntervalSeconds        int    `json:"intervalSeconds"`
	TimeoutSeconds         int    `json:"timeoutSeconds"`
	MaxConsecutiveFailures int    `json:"maxConsecutiveFailures"`
}

// marathonUpgrade bounds how many tasks run during a deployment, as
// fractions of instances: at least MinimumHealthCapacity healthy, at most
// 1+MaximumOverCapacity in all.
type marathonUpgrade struct {
	MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
	MaximumOverCapacity   float64 `json:"maximumOverCapacity"`
}

// marathonOpts are the flags both verbs share.
type marathonOpts struct {
	id, rmfURI, rmfPath      string
	zk, framework            string
	cpus, mem, disk          float64
	instances                int
	constraints              []string
	zkAuthFile, apiTokenFile string
	tlsCert, tlsKey          string // files on the agents (TLS on the listeners Marathon or Mesos checks)
}

// tlsArgs are the --tls-cert/--tls-key words of the command line ("" when
// off).
func (o *marathonOpts) tlsArgs() []shellWord {
	if o.tlsCert == "" {
		return nil
	}
	return []shellWord{lit("--tls-cert"), lit(o.tlsCert), lit("--tls-key"), lit(o.tlsKey)}
}

func (o *marathonOpts) register(f *pflag.FlagSet, defID, what string, cpus, mem float64) {
	f.StringVar(&o.id, "id", defID, "Marathon app id")
	f.StringVar(&o.rmfURI, "rmf-uri", "", "URL the Mesos fetcher gets the rmf binary (or a .tar.gz/.tgz/.zip holding it) from (required)")
	f.StringVar(&o.rmfPath, "rmf-path", "", "the rmf binary's path in the sandbox (default ./<name in --rmf-uri>, or ./rmf for an archive)")
	f.StringVar(&o.zk, "zk", "", "ZooKeeper servers host:port[,host:port...] as the agents reach them (required)")
	f.StringVar(&o.framework, "framework", defaultFramework, "framework name")
	f.Float64Var(&o.cpus, "cpus", cpus, "CPUs of each "+what+" task")
	f.Float64Var(&o.mem, "mem", mem, "memory (MB) of each "+what+" task")
	f.Float64Var(&o.disk, "disk", 0, "disk (MB) of each "+what+" task")
	f.StringArrayVar(&o.constraints, "constraint", nil, "extra Marathon constraint field:OPERATOR[:value], e.g. rack:GROUP_BY (repeatable)")
	f.StringVar(&o.zkAuthFile, "zk-auth-file", "", "file on the agents with the ZooKeeper credential USER:PASSWORD (absolute path)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate file on the agents: the "+what+" serves its HTTP listeners over TLS and is health-checked over HTTPS (absolute path; with --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM key file on the agents of --tls-cert (absolute path)")
	f.StringVar(&o.apiTokenFile, "api-token-file", "", "file on the agents with the "+what+"'s --api-token: read at start into RMF_API_TOKEN, so the token is in neither the app definition nor the process's arguments (absolute path)")
}

// marathonIDSegment is one segment of a Marathon app id.
var marathonIDSegment = regexp.MustCompile(`^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$`)

// marathonOperators are the constraint operators Marathon knows.
var marathonOperators = map[string]bool{"UNIQUE": true, "CLUSTER": true, "GROUP_BY": true, "LIKE": true, "UNLIKE": true, "MAX_PER": true, "IS": true}

// check validates the shared flags; its errors are usage errors.
func (o *marathonOpts) check() error {
	if o.zk == "" {
		return usageErrorf("--zk is required")
	}
	if err := zkstate.ValidateName(o.framework); err != nil {
		return usageErrorf("--framework: %v", err)
	}
	if o.rmfURI == "" {
		return usageErrorf("--rmf-uri is required: the URL the agents fetch the rmf binary from")
	}
	if u, err := url.Parse(o.rmfURI); err != nil || u.Scheme == "" || path.Base(u.Path) == "/" || path.Base(u.Path) == "." {
		return usageErrorf("--rmf-uri %q: want a URL naming a file, e.g. http://files/rmf", o.rmfURI)
	}
	if o.rmfPath == "" {
		o.rmfPath = "./rmf"
		if !isArchive(o.rmfURI) {
			u, _ := url.Parse(o.rmfURI)
			o.rmfPath = "./" + path.Base(u.Path)
		}
	}
	if !strings.Contains(o.rmfPath, "/") {
		o.rmfPath = "./" + o.rmfPath // a bare name would be looked up in $PATH
	}
	if !strings.HasPrefix(o.id, "/") || !validMarathonID(o.id) {
		return usageErrorf("--id %q: want /name[/name...], each name lower-case letters, digits and inner dashes", o.id)
	}
	if o.cpus <= 0 || o.mem <= 0 || o.disk < 0 {
		return usageErrorf("--cpus and --mem must be positive, --disk not negative")
	}
	if o.instances < 1 {
		return usageErrorf("--instances %d: want at least 1", o.instances)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageErrorf("--tls-cert and --tls-key go together")
	}
	for _, f := range []struct{ name, v string }{{"--zk-auth-file", o.zkAuthFile}, {"--api-token-file", o.apiTokenFile}, {"--tls-cert", o.tlsCert}, {"--tls-key", o.tlsKey}} {
		if f.v != "" && (!strings.HasPrefix(f.v, "/") || strings.ContainsFunc(f.v, isSpace)) {
			return usageErrorf("%s %q: want an absolute path without spaces", f.name, f.v)
		}
	}
	return nil
}

// scheme is the listeners' URL scheme: https with --tls-cert.
func (o *marathonOpts) scheme() string {
	if o.tlsCert != "" {
		return "https"
	}
	return "http"
}

// envSet names the flags the cmd sets through the environment.
func (o *marathonOpts) envSet() []string {
	if o.apiTokenFile != "" {
		return []string{"api-token"}
	}
	return nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func validMarathonID(id string) bool {
	for seg := range strings.SplitSeq(strings.TrimPrefix(id, "/"), "/") {
		if !marathonIDSegment.MatchString(seg) {
			return false
		}
	}
	return true
}

// isArchive reports whether the Mesos fetcher extracts the file at uri.
func isArchive(uri string) bool {
	for _, ext := range []string{".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".txz", ".tar", ".zip"} {
		if strings.HasSuffix(uri, ext) {
			return true
		}
	}
	return false
}

// parseConstraints turns field:OPERATOR[:value] flags into Marathon's
// [field, OPERATOR, value] arrays.
func parseConstraints(specs []string) ([][]string, error) {
	var out [][]string
	for _, s := range specs {
		parts := strings.SplitN(s, ":", 3)
		if len(parts) < 2 || parts[0] == "" || !marathonOperators[parts[1]] {
			return nil, usageErrorf("--constraint %q: want field:OPERATOR[:value], OPERATOR one of UNIQUE CLUSTER GROUP_BY LIKE UNLIKE MAX_PER IS", s)
		}
		out = append(out, parts)
	}
	return out, nil
}

// app returns the definition parts common to both verbs.
func (o *marathonOpts) app(cmdline string) marathonApp {
	return marathonApp{
		ID: o.id, Cmd: cmdline, CPUs: o.cpus, Mem: o.mem, Disk: o.disk, Instances: o.instances,
		Fetch:       []marathonFetch{{URI: o.rmfURI, Executable: !isArchive(o.rmfURI), Extract: isArchive(o.rmfURI)}},
		Constraints: [][]string{},
		Labels:      map[string]string{"rmf.framework": o.framework},
	}
}

// shellWord is one word of a Marathon cmd, which the Mesos executor runs
// with /bin/sh -c: literal text (quoted as needed), or a template whose
// ${PORT0} and ${HOST} the task's shell expands.
type shellWord struct {
	text     string
	template bool
}

func lit(s string) shellWord { return shellWord{text: s} }

// tmpl is a word with ${VAR} references; the rest of s must need no quoting.
func tmpl(s string) shellWord { return shellWord{text: s, template: true} }

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func (w shellWord) String() string {
	switch {
	case w.template:
		return `"` + w.text + `"`
	case shellSafe.MatchString(w.text):
		return w.text
	default:
		return "'" + strings.ReplaceAll(w.text, "'", `'\''`) + "'"
	}
}

// shellLine is the cmd: the token file read first (so a missing or empty
// file stops the task rather than starting it without a token), then exec,
// so the process Mesos signals is rmf itself.
func shellLine(tokenFile string, argv []shellWord) string {
	var b strings.Builder
	if tokenFile != "" {
		fmt.Fprintf(&b, `RMF_API_TOKEN="$(cat %s)" && test -n "$RMF_API_TOKEN" && export RMF_API_TOKEN && `, lit(tokenFile))
	}
	b.WriteString("exec")
	for _, w := range argv {
		b.WriteString(" ")
		b.WriteString(w.String())
	}
	return b.String()
}

// words returns the argv the shell will see, templates unexpanded.
func words(argv []shellWord) []string {
	out := make([]string, len(argv))
	for i, w := range argv {
		out[i] = w.text
	}
	return out
}

// subcommandFlags parses args with the flags of the real `rmf <name>`
// (a fresh command tree), so a flag that command lacks is an error here.
func subcommandFlags(name string, args []string) (*pflag.FlagSet, error) {
	sub, _, err := newRootCmd().Find([]string{name})
	if err != nil || sub.Name() != name {
		return nil, fmt.Errorf("rmf %s: no such command", name)
	}
	if err := sub.ParseFlags(args); err != nil {
		return nil, err
	}
	if rest := sub.Flags().Args(); len(rest) > 0 {
		return nil, fmt.Errorf("rmf %s takes no arguments, got %q", name, rest[0])
	}
	return sub.Flags(), nil
}

// withPassthrough appends the flags given after "--" to argv (the binary,
// name, then flags of `rmf <name>`) once both parse as flags of the real
// `rmf <name>` and the extra flags repeat none set in argv or named in
// alsoSet (set through the environment).
func withPassthrough(c *cobra.Command, name string, argv []shellWord, extra []string, alsoSet ...string) ([]shellWord, error) {
	ours, err := subcommandFlags(name, words(argv[2:]))
	if err != nil {
		return nil, fmt.Errorf("marathon: the %s command line does not parse: %w", name, err)
	}
	theirs, err := subcommandFlags(name, extra)
	if err != nil {
		return nil, usageErrorf("%s: flags after --: %v", c.CommandPath(), err)
	}
	var clash error
	theirs.Visit(func(f *pflag.Flag) {
		if clash == nil && (ours.Changed(f.Name) || slices.Contains(alsoSet, f.Name)) {
			clash = usageErrorf("%s: --%s after -- is set by this command; use its own flag or leave it", c.CommandPath(), f.Name)
		}
	})
	if clash != nil {
		return nil, clash
	}
	for _, a := range extra {
		argv = append(argv, lit(a))
	}
	return argv, nil
}

// passthrough returns the arguments after "--"; any other positional
// argument is a usage error.
func passthrough(c *cobra.Command, args []string) ([]string, error) {
	dash := c.ArgsLenAtDash()
	if (dash < 0 && len(args) > 0) || dash > 0 {
		return nil, usageErrorf("%s: unexpected argument %q (flags for rmf %s go after --)", c.CommandPath(), args[0], c.Name())
	}
	if dash < 0 {
		return nil, nil
	}
	return args[dash:], nil
}

// printApp writes app as indented JSON, "&&" and "<" left as they are.
func printApp(c *cobra.Command, app marathonApp) error {
	enc := json.NewEncoder(c.OutOrStdout())
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(app)
}

func newMarathonCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "marathon",
		Short: "Print Marathon app definitions (JSON) for the scheduler and directors",
		Long: `Print a Marathon app definition (the JSON of POST /v2/apps) that runs the
scheduler or a set of directors under Marathon. See docs/operations.md,
"Running under Marathon".`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErrorf("%s needs one of: [scheduler director]", c.CommandPath())
		},
	}
	cmd.AddCommand(newMarathonSchedulerCmd(), newMarathonDirectorCmd())
	return cmd
}

func newMarathonSchedulerCmd() *cobra.Command {
	var o marathonOpts
	var master, principal, role string
	cmd := &cobra.Command{
		Use:   "scheduler --rmf-uri URL --master URL --zk ADDRS [flags] [-- scheduler flags]",
		Short: "Print the Marathon app definition of the scheduler",
		Long: `Print the Marathon app definition of the scheduler. Its task runs
"rmf scheduler" with --api on 0.0.0.0:$PORT0 (a port Mesos gives it) and
--advertise-api http://$HOST:$PORT0, so executors fetch the binary from it
and the rmf CLI finds it through ZooKeeper. Marathon health-checks
` + schedulerHealthPath + `.

Upgrades start the new scheduler before stopping the old one: schedulers
elect a leader in ZooKeeper, so the new one stands by and leads as soon as
the old one stops. --instances 2 keeps a standby on another host.

Flags after -- are appended to the scheduler's command line; they may not
repeat one this command sets.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			extra, err := passthrough(c, args)
			if err != nil {
				return err
			}
			if err := o.check(); err != nil {
				return err
			}
			if master == "" {
				return usageErrorf("--master is required: the Mesos master URL as the agents reach it")
			}
			if err := scheduler.ValidateMaster(master); err != nil {
				return usageErrorf("--master: %v", err)
			}
			constraints, err := parseConstraints(o.constraints)
			if err != nil {
				return err
			}
			argv := []shellWord{lit(o.rmfPath), lit("scheduler"),
				lit("--master"), lit(master), lit("--zk"), lit(o.zk), lit("--framework"), lit(o.framework),
				lit("--api"), tmpl("0.0.0.0:${PORT0}"), lit("--advertise-api"), tmpl(o.scheme() + "://${HOST}:${PORT0}")}
			argv = append(argv, o.tlsArgs()...)
			if principal != "" {
				argv = append(argv, lit("--principal"), lit(principal))
			}
			if role != "" {
				argv = append(argv, lit("--role"), lit(role))
			}
			if o.zkAuthFile != "" {
				argv = append(argv, lit("--zk-auth-file"), lit(o.zkAuthFile), lit("--executor-zk-auth-file"), lit(o.zkAuthFile))
			}
			if argv, err = withPassthrough(c, "scheduler", argv, extra, o.envSet()...); err != nil {
				return err
			}
			app := o.app(shellLine(o.apiTokenFile, argv))
			app.PortDefinitions = []marathonPort{{Port: 0, Protocol: "tcp", Name: "api"}}
			// Marathon itself checks the API: other hosts (CLI, executors)
			// must reach it, and it binds 0.0.0.0.
			app.HealthChecks = []marathonHealth{{Protocol: strings.ToUpper(o.scheme()), Path: schedulerHealthPath, PortIndex: 0,
				GracePeriodSeconds: schedulerHealthGrace, IntervalSeconds: 10, TimeoutSeconds: 5, MaxConsecutiveFailures: 3}}
			app.Constraints = append([][]string{{"hostname", "UNIQUE"}}, constraints...)
			app.UpgradeStrategy = marathonUpgrade{MinimumHealthCapacity: 1, MaximumOverCapacity: 1}
			app.TaskKillGracePeriodSeconds = schedulerKillGrace
			app.Labels["rmf.component"] = "scheduler"
			return printApp(c, app)
		},
	}
	f := cmd.Flags()
	o.register(f, "/riak-scheduler", "scheduler", 0.5, 256)
	f.IntVar(&o.instances, "instances", 1, "scheduler instances, on different hosts: one leads, the others stand by")
	f.StringVar(&master, "master", "", "Mesos master URL as the agents reach it (required)")
	f.StringVar(&principal, "principal", "", "Mesos principal (default: the scheduler's)")
	f.StringVar(&role, "role", "", "Mesos role of reservations (default: the scheduler's)")
	return annotateEnv(cmd)
}

func newMarathonDirectorCmd() *cobra.Command {
	var o marathonOpts
	var cluster, pb, httpAddr string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "director --rmf-uri URL --zk ADDRS --cluster C [--hosts H,...] [flags] [-- director flags]",
		Short: "Print the Marathon app definition of directors beside an application",
		Long: `Print the Marathon app definition of directors for the applications of
one cluster: one director per host (constraint hostname:UNIQUE), on the
hosts given by --hosts (hostname:LIKE, instances = number of hosts) or
by --constraint (e.g. an agent attribute the application's own app
definition uses too). Each director serves --pb and --http on loopback,
where the application on that host connects, and its admin listener on
127.0.0.1:$PORT0, which Mesos health-checks (MESOS_HTTP ` + directorHealthPath + `).
A failing check does not kill a director: /health fails when no Riak node
is available, which a restart would not mend.

Flags after -- are appended to the director's command line; they may not
repeat one this command sets.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			extra, err := passthrough(c, args)
			if err != nil {
				return err
			}
			if cluster == "" {
				return usageErrorf("--cluster is required")
			}
			if err := zkstate.ValidateName(cluster); err != nil {
				return usageErrorf("--cluster: %v", err)
			}
			if !c.Flags().Changed("id") {
				o.id = "/riak-director-" + strings.ToLower(strings.NewReplacer("_", "-", "@", "-").Replace(cluster))
			}
			if len(hosts) > 0 && !c.Flags().Changed("instances") {
				o.instances = len(hosts)
			}
			if err := o.check(); err != nil {
				return err
			}
			for _, a := range []struct{ name, v string }{{"--pb", pb}, {"--http", httpAddr}} {
				if _, _, err := net.SplitHostPort(a.v); err != nil && (a.v != "" || a.name == "--pb") {
					return usageErrorf("%s %q: %v", a.name, a.v, err)
				}
			}
			constraints, err := parseConstraints(o.constraints)
			if err != nil {
				return err
			}
			placement := [][]string{{"hostname", "UNIQUE"}}
			if len(hosts) > 0 {
				quoted := make([]string, len(hosts))
				for i, h := range hosts {
					if h == "" {
						return usageErrorf("--hosts: empty host name")
					}
					quoted[i] = regexp.QuoteMeta(h)
				}
				placement = append(placement, []string{"hostname", "LIKE", strings.Join(quoted, "|")})
			}
			argv := []shellWord{lit(o.rmfPath), lit("director"),
				lit("--zk"), lit(o.zk), lit("--framework"), lit(o.framework), lit("--cluster"), lit(cluster),
				lit("--pb"), lit(pb), lit("--http"), lit(httpAddr), lit("--admin"), tmpl("127.0.0.1:${PORT0}")}
			argv = append(argv, o.tlsArgs()...)
			if o.zkAuthFile != "" {
				argv = append(argv, lit("--zk-auth-file"), lit(o.zkAuthFile))
			}
			if argv, err = withPassthrough(c, "director", argv, extra, o.envSet()...); err != nil {
				return err
			}
			if err := checkDirectorArgs(words(argv[2:])); err != nil {
				// Only flags after -- can fail it: ours are valid.
				return usageErrorf("%s: flags after --: %v", c.CommandPath(), err)
			}
			app := o.app(shellLine(o.apiTokenFile, argv))
			app.PortDefinitions = []marathonPort{{Port: 0, Protocol: "tcp", Name: "admin"}}
			// Mesos checks from the agent: the admin listener is on loopback.
			app.HealthChecks = []marathonHealth{{Protocol: "MESOS_" + strings.ToUpper(o.scheme()), Path: directorHealthPath, PortIndex: 0,
				GracePeriodSeconds: directorHealthGrace, IntervalSeconds: 10, TimeoutSeconds: 5, MaxConsecutiveFailures: 0}}
			app.Constraints = append(placement, constraints...)
			// One director per host, bound to that host's loopback ports: a
			// new one cannot start beside the old, so replace in place, half
			// at a time (all at once when there is only one).
			app.UpgradeStrategy = marathonUpgrade{MinimumHealthCapacity: 0.5}
			if o.instances == 1 {
				app.UpgradeStrategy.MinimumHealthCapacity = 0
			}
			app.TaskKillGracePeriodSeconds = directorKillGrace
			app.Labels["rmf.component"] = "director"
			app.Labels["rmf.cluster"] = cluster
			return printApp(c, app)
		},
	}
	f := cmd.Flags()
	o.register(f, "/riak-director-<cluster>", "director", 0.5, 128)
	f.IntVar(&o.instances, "instances", 1, "directors, one per host (default: the number of --hosts)")
	f.StringVar(&cluster, "cluster", "", "cluster name in ZooKeeper (required)")
	f.StringVar(&pb, "pb", defaultPBAddr, "PB listen address of each director, where the application connects")
	f.StringVar(&httpAddr, "http", defaultHTTPAddr, "Riak HTTP listen address of each director (empty: none)")
	f.StringSliceVar(&hosts, "hosts", nil, "hostnames of the application's agents: one director on each (comma-separated)")
	return annotateEnv(cmd)
}

// checkDirectorArgs applies `rmf director`'s own validation (flag
// combinations, policy, timeouts) to its command line.
func checkDirectorArgs(args []string) error {
	var o directorOpts
	fs := pflag.NewFlagSet("director", pflag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := o.check()
	return err
}
