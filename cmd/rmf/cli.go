package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"

	"github.com/rmf-go/rmf/internal/httpauth"
	"github.com/rmf-go/rmf/internal/tlsconf"
)

// apiOpts are the flags every cluster and node command shares.
type apiOpts struct {
	api, zk, framework, token string
	caFile                    string // --ca-file (tlsflags.go)
	json                      bool
	// timeout bounds one call (default 30 s).
	timeout time.Duration
}

func (o *apiOpts) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.api, "api", "", "scheduler API URL (default: the uri in ZooKeeper when --zk is given, else http://"+defaultAPIAddr+")")
	pf.StringVar(&o.zk, "zk", "", "ZooKeeper servers, to find the scheduler API")
	pf.StringVar(&o.framework, "framework", defaultFramework, "framework name in ZooKeeper")
	pf.StringVar(&o.token, "api-token", "", "bearer token the scheduler API requires for changes (its --api-token)")
	pf.BoolVar(&o.json, "json", false, "print JSON")
	o.registerCAFile(pf)
}

// baseURL resolves the scheduler API URL.
func (o *apiOpts) baseURL(ctx context.Context) (string, error) {
	if o.api != "" {
		u := o.api
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		if _, err := url.Parse(u); err != nil {
			return "", usageErrorf("--api %q: %v", o.api, err)
		}
		return strings.TrimRight(u, "/"), nil
	}
	if o.zk == "" {
		return "http://" + defaultAPIAddr, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := zkstate.Connect(cctx, strings.Split(o.zk, ","), zkstate.WithLogger(discardLogger()))
	if err != nil {
		return "", fmt.Errorf("connect to ZooKeeper %s: %w", o.zk, err)
	}
	defer store.Close()
	fw, err := store.Framework(o.framework)
	if err != nil {
		return "", usageErrorf("--framework: %v", err)
	}
	u, err := fw.URI(cctx)
	if err != nil {
		return "", fmt.Errorf("scheduler API URL not found in ZooKeeper (is a scheduler running?): %w", err)
	}
	return strings.TrimRight(u, "/"), nil
}

// do calls the API; a non-2xx answer becomes its error message.
func (o *apiOpts) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	base, err := o.baseURL(ctx)
	if err != nil {
		return err
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if o.token != "" {
		req.Header.Set(httpauth.Header, "Bearer "+o.token)
	}
	client, err := o.httpClient()
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return apiCallError(base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if tlsconf.IsPlainToTLS(resp.StatusCode, b) {
		return &apiStatusError{status: resp.StatusCode, msg: tlsconf.PlainToTLSLine("scheduler API " + base)}
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return &apiStatusError{status: resp.StatusCode, msg: e.Error}
		}
		return &apiStatusError{status: resp.StatusCode, msg: "scheduler API: " + resp.Status}
	}
	switch v := out.(type) {
	case nil:
		return nil
	case *string:
		*v = string(b)
		return nil
	default:
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("scheduler API: bad answer: %w", err)
		}
	}
	return nil
}

// apiStatusError is the scheduler API's refusal: its message, and the
// HTTP status for callers that tell refusals from outages.
type apiStatusError struct {
	status int
	msg    string
}

func (e *apiStatusError) Error() string { return e.msg }

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func nodeTable(w io.Writer, nodes []scheduler.NodeView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tREADY\tTRANSFERS\tAGENT\tHOST\tPB\tHTTP\tMESSAGE")
	for _, n := range nodes {
		msg := n.Message
		if n.NotPlacedWhy != "" {
			msg = "not placed: " + n.NotPlacedWhy
		}
		if len(msg) > 80 {
			msg = msg[:77] + "..."
		}
		ready, transfers := "no", "-"
		if n.Ready {
			ready = "yes"
		}
		if n.TransfersPending {
			transfers = "pending"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.State, ready, transfers, dash(n.Hostname), dash(n.Host), port(n.PBPort), port(n.HTTPPort), msg)
	}
	tw.Flush()
}

// rolloutLine says how far a cluster's rolling restart is.
func rolloutLine(r scheduler.Rollout) string {
	line := fmt.Sprintf("rollout to generation %d: %s, %d/%d nodes", r.Generation, r.State, r.NodesDone, r.NodesTotal)
	if r.Node != "" {
		line += ", at " + r.Node
	}
	if r.Error != "" {
		first, _, _ := strings.Cut(r.Error, "\n")
		line += ": " + first
	} else if r.Message != "" {
		line += " (" + r.Message + ")"
	}
	return line
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func port(p int) string {
	if p == 0 {
		return "-"
	}
	return fmt.Sprint(p)
}

func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s needs exactly one %s", cmd.CommandPath(), what)
		}
		if err := zkstate.ValidateName(args[0]); err != nil {
			return usageErrorf("%s %q: %v", what, args[0], err)
		}
		return nil
	}
}

func newClusterCmd() *cobra.Command {
	o := &apiOpts{}
	cmd := &cobra.Command{Use: "cluster", Short: "Manage Riak clusters", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErrorf("rmf cluster needs one of: create, list, info, destroy, config, advanced-config, restart, status, update, endpoints, wait, export, import")
		}}
	o.register(cmd)
	var cpus, mem, disk float64
	var constraints []string
	create := &cobra.Command{Use: "create NAME", Short: "Create a cluster (no nodes yet: add them with rmf node add)", Args: oneArg("cluster name"),
		RunE: func(c *cobra.Command, args []string) error {
			spec := scheduler.ClusterSpec{}
			if c.Flags().Changed("cpus") || c.Flags().Changed("mem") || c.Flags().Changed("disk") {
				spec.NodeResources = &zkstate.Resources{CPUs: cpus, MemMB: mem, DiskMB: disk}
			}
			for _, s := range constraints {
				parts := strings.Split(s, ":")
				if len(parts) < 2 || len(parts) > 3 {
					return usageErrorf("--constraint %q: want field:OPERATOR[:value]", s)
				}
				con := zkstate.Constraint{Field: parts[0], Operator: strings.ToUpper(parts[1])}
				if len(parts) == 3 {
					con.Value = parts[2]
				}
				if err := scheduler.ValidateConstraint(con); err != nil {
					return usageErrorf("--constraint: %v", err)
				}
				spec.Constraints = append(spec.Constraints, con)
			}
			body, _ := json.Marshal(spec)
			var cv scheduler.ClusterView
			if err := o.do(c.Context(), http.MethodPut, "/api/v1/clusters/"+args[0], bytes.NewReader(body), "application/json", &cv); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), cv)
			}
			fmt.Fprintf(c.OutOrStdout(), "cluster %s created (node resources: cpus %g, mem %g MB, disk %g MB)\n", cv.Name, cv.NodeResources.CPUs, cv.NodeResources.MemMB, cv.NodeResources.DiskMB)
			return nil
		}}
	create.Flags().Float64Var(&cpus, "cpus", scheduler.DefaultNodeResources.CPUs, "cpus per node")
	create.Flags().Float64Var(&mem, "mem", scheduler.DefaultNodeResources.MemMB, "memory per node, MB")
	create.Flags().Float64Var(&disk, "disk", scheduler.DefaultNodeResources.DiskMB, "persistent volume size per node, MB")
	create.Flags().StringArrayVar(&constraints, "constraint", nil, "placement constraint field:OPERATOR[:value], e.g. hostname:UNIQUE (repeatable)")

	list := &cobra.Command{Use: "list", Short: "List clusters", Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
		var cs []scheduler.ClusterView
		if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters", nil, "", &cs); err != nil {
			return err
		}
		if o.json {
			return printJSON(c.OutOrStdout(), cs)
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tNODES\tRUNNING\tGENERATION")
		for _, cv := range cs {
			running := 0
			for _, n := range cv.Nodes {
				if n.State == "running" {
					running++
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", cv.Name, len(cv.Nodes), running, cv.Generation)
		}
		return tw.Flush()
	}}
	info := &cobra.Command{Use: "info NAME", Short: "Show a cluster and its nodes", Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
		var cv scheduler.ClusterView
		if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+args[0], nil, "", &cv); err != nil {
			return err
		}
		if o.json {
			return printJSON(c.OutOrStdout(), cv)
		}
		w := c.OutOrStdout()
		fmt.Fprintf(w, "cluster %s  generation %d  node resources: cpus %g, mem %g MB, disk %g MB\n", cv.Name, cv.Generation, cv.NodeResources.CPUs, cv.NodeResources.MemMB, cv.NodeResources.DiskMB)
		for _, con := range cv.Constraints {
			fmt.Fprintf(w, "constraint %s %s %s\n", con.Field, con.Operator, con.Value)
		}
		fmt.Fprintln(w, rolloutLine(cv.Rollout))
		nodeTable(w, cv.Nodes)
		return nil
	}}
	destroy := &cobra.Command{Use: "destroy NAME", Short: "Remove every node of a cluster, then the cluster", Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
		var res map[string]string
		if err := o.do(c.Context(), http.MethodDelete, "/api/v1/clusters/"+args[0], nil, "", &res); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "cluster %s: %s\n", args[0], res["status"])
		return nil
	}}
	restart := &cobra.Command{Use: "restart NAME", Short: "Rolling restart: one node at a time, each waits for the previous to run", Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
		if err := o.do(c.Context(), http.MethodPost, "/api/v1/clusters/"+args[0]+"/restart", nil, "", nil); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "cluster %s: rolling restart started\n", args[0])
		return nil
	}}
	cmd.AddCommand(create, list, info, destroy, restart, templateCmd(o, "config", "config", "riak.conf template"), templateCmd(o, "advanced-config", "advancedConfig", "advanced.config template"),
		newClusterEndpointsCmd(o), newClusterWaitCmd(o), newClusterExportCmd(o), newClusterImportCmd(o), newClusterStatusCmd(o), newClusterUpdateCmd(o))
	return annotateTree(cmd)
}

// templateCmd is `cluster config|advanced-config get|set NAME`.
func templateCmd(o *apiOpts, use, path, what string) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: "Get or set the cluster's " + what, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return usageErrorf("%s needs get or set", c.CommandPath()) }}
	get := &cobra.Command{Use: "get NAME", Short: "Print the " + what, Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
		var s string
		if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+args[0]+"/"+path, nil, "", &s); err != nil {
			return err
		}
		_, err := io.WriteString(c.OutOrStdout(), s)
		return err
	}}
	var file string
	set := &cobra.Command{Use: "set NAME", Short: "Replace the " + what + " (from --file, or stdin) and roll it out", Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
		var in io.Reader = c.InOrStdin()
		if file != "" {
			f, err := os.Open(file)
			if err != nil {
				return usageErrorf("--file: %v", err)
			}
			defer f.Close()
			in = f
		}
		body, err := io.ReadAll(io.LimitReader(in, 1<<20))
		if err != nil {
			return err
		}
		var view struct {
			Warnings []string `json:"warnings"`
		}
		if err := o.do(c.Context(), http.MethodPut, "/api/v1/clusters/"+args[0]+"/"+path, bytes.NewReader(body), "text/plain", &view); err != nil {
			return err
		}
		for _, w := range view.Warnings {
			fmt.Fprintf(c.ErrOrStderr(), "warning: %s\n", w)
		}
		fmt.Fprintf(c.OutOrStdout(), "cluster %s: %s updated; nodes restart one at a time to apply it\n", args[0], what)
		return nil
	}}
	set.Flags().StringVar(&file, "file", "", "read the template from this file (default stdin)")
	cmd.AddCommand(get, set)
	return cmd
}

func newNodeCmd() *cobra.Command {
	o := &apiOpts{}
	var cluster string
	cmd := &cobra.Command{Use: "node", Short: "Manage the nodes of a Riak cluster", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErrorf("rmf node needs one of: add, list, info, remove, restart, stop, start, stats, transfers, aae-status, logs, wait")
		}}
	o.register(cmd)
	cmd.PersistentFlags().StringVar(&cluster, "cluster", "default", "cluster name")
	checkCluster := func() error {
		if err := zkstate.ValidateName(cluster); err != nil {
			return usageErrorf("--cluster %q: %v", cluster, err)
		}
		return nil
	}
	var count int
	add := &cobra.Command{Use: "add", Short: "Add nodes to the cluster", Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
		if err := checkCluster(); err != nil {
			return err
		}
		if count < 1 {
			return usageErrorf("--count must be at least 1")
		}
		var added []scheduler.NodeView
		if err := o.do(c.Context(), http.MethodPost, fmt.Sprintf("/api/v1/clusters/%s/nodes?count=%d", cluster, count), nil, "", &added); err != nil {
			return err
		}
		if o.json {
			return printJSON(c.OutOrStdout(), added)
		}
		for _, n := range added {
			fmt.Fprintf(c.OutOrStdout(), "node %s added to cluster %s\n", n.Name, cluster)
		}
		return nil
	}}
	add.Flags().IntVar(&count, "count", 1, "number of nodes to add")
	list := &cobra.Command{Use: "list", Short: "List the cluster's nodes", Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
		if err := checkCluster(); err != nil {
			return err
		}
		var nodes []scheduler.NodeView
		if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+cluster+"/nodes", nil, "", &nodes); err != nil {
			return err
		}
		if o.json {
			return printJSON(c.OutOrStdout(), nodes)
		}
		nodeTable(c.OutOrStdout(), nodes)
		return nil
	}}
	info := &cobra.Command{Use: "info NAME", Short: "Show one node", Args: oneArg("node name"), RunE: func(c *cobra.Command, args []string) error {
		if err := checkCluster(); err != nil {
			return err
		}
		var n scheduler.NodeView
		if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+cluster+"/nodes/"+args[0], nil, "", &n); err != nil {
			return err
		}
		if o.json {
			return printJSON(c.OutOrStdout(), n)
		}
		nodeTable(c.OutOrStdout(), []scheduler.NodeView{n})
		if n.LockHolder != nil {
			fmt.Fprintf(c.OutOrStdout(), "lock holder: %s\n", n.LockHolder)
		}
		if n.NotPlacedWhy != "" {
			fmt.Fprintf(c.OutOrStdout(), "not placed because: %s\n", n.NotPlacedWhy)
		}
		return nil
	}}
	var force bool
	remove := &cobra.Command{Use: "remove NAME", Short: "Remove a node: it leaves the cluster (hands off its data), stops, and its volume and reservation are released", Args: oneArg("node name"), RunE: func(c *cobra.Command, args []string) error {
		if err := checkCluster(); err != nil {
			return err
		}
		if err := o.do(c.Context(), http.MethodDelete, fmt.Sprintf("/api/v1/clusters/%s/nodes/%s?force=%t", cluster, args[0], force), nil, "", nil); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "node %s: removal started\n", args[0])
		return nil
	}}
	remove.Flags().BoolVar(&force, "force", false, "forget the node at once (its agent is gone for good)")
	restart := &cobra.Command{Use: "restart NAME", Short: "Restart a node on its data", Args: oneArg("node name"), RunE: func(c *cobra.Command, args []string) error {
		if err := checkCluster(); err != nil {
			return err
		}
		if err := o.do(c.Context(), http.MethodPost, "/api/v1/clusters/"+cluster+"/nodes/"+args[0]+"/restart", nil, "", nil); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "node %s: restarting\n", args[0])
		return nil
	}}
	desired := func(verb, what string) *cobra.Command {
		return &cobra.Command{Use: verb + " NAME", Short: what, Args: oneArg("node name"), RunE: func(c *cobra.Command, args []string) error {
			if err := checkCluster(); err != nil {
				return err
			}
			var n scheduler.NodeView
			if err := o.do(c.Context(), http.MethodPost, "/api/v1/clusters/"+cluster+"/nodes/"+args[0]+"/"+verb, nil, "", &n); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), n)
			}
			fmt.Fprintf(c.OutOrStdout(), "node %s: desired state %s (now %s)\n", n.Name, n.Desired, n.State)
			return nil
		}}
	}
	stats := &cobra.Command{Use: "stats NAME", Short: "Print the node's own statistics (Riak's GET /stats), as JSON", Args: oneArg("node name"), RunE: func(c *cobra.Command, args []string) error {
		if err := checkCluster(); err != nil {
			return err
		}
		var raw json.RawMessage
		if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+cluster+"/nodes/"+args[0]+"/stats", nil, "", &raw); err != nil {
			return err
		}
		return printJSON(c.OutOrStdout(), raw)
	}}
	stop := desired("stop", "Stop a node, keeping its reservation and volume (rmf node start runs it again on its data)")
	start := desired("start", "Start a stopped node again on its reservation and volume")
	cmd.AddCommand(add, list, info, remove, restart, stop, start, stats, newNodeWaitCmd(o, &cluster, checkCluster))
	cmd.AddCommand(newNodeOpsCmds(o, &cluster, checkCluster)...)
	return annotateTree(cmd)
}

// annotateTree gives every command of a tree its RMF_* environment variables.
func annotateTree(cmd *cobra.Command) *cobra.Command {
	for _, c := range cmd.Commands() {
		annotateTree(c)
	}
	return annotateEnv(cmd)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
