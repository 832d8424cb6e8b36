package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// The operator's daily commands (issue 23): cluster status, a node's
// transfers and AAE status, bucket types, framework teardown and
// clean-metadata. Riak's own answers are printed as Riak prints them.

func newClusterStatusCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{Use: "status NAME", Short: "Per node: Riak's member status, ring ownership, ringready, transfers, and the framework's state",
		Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
			o.timeout = 2 * time.Minute
			var st scheduler.ClusterStatus
			if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+args[0]+"/status", nil, "", &st); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), st)
			}
			printClusterStatus(c.OutOrStdout(), st)
			return nil
		}}
}

// printClusterStatus prints the status table, then what could not be asked.
func printClusterStatus(w io.Writer, st scheduler.ClusterStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tREADY\tMEMBER\tRING\tRINGREADY\tTRANSFERS\tRIAK NODE")
	for _, n := range st.Nodes {
		ring, rr, tr := "-", "-", "-"
		if n.Member != "" {
			ring = fmt.Sprintf("%.1f%%", n.RingPct)
		}
		if n.RingReady != nil {
			rr = strings.ToUpper(fmt.Sprint(*n.RingReady))
		}
		if n.TransfersPending != nil {
			tr = "none"
			if *n.TransfersPending {
				tr = "pending"
			}
		}
		ready := "no"
		if n.Ready {
			ready = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.State, ready, dash(n.Member), ring, rr, tr, dash(n.NodeName))
	}
	_ = tw.Flush()
	for _, m := range st.OtherMembers {
		fmt.Fprintf(w, "ring member %s (%s, %.1f%%) is no node of the cluster\n", m.Node, m.Status, m.RingPct)
	}
	// riak admin transfers is cluster-wide: the same text from every node
	// is printed once.
	shown := map[string]bool{}
	for _, n := range st.Nodes {
		if n.RiakError != "" {
			fmt.Fprintf(w, "%s: %s\n", n.Name, n.RiakError)
		}
		if t := strings.TrimSpace(n.Transfers); t != "" && !shown[t] {
			shown[t] = true
			fmt.Fprintf(w, "transfers (riak admin transfers on %s):\n%s\n", n.Name, t)
		}
	}
	if st.Error != "" {
		fmt.Fprintln(w, st.Error)
	}
}

// newNodeOpsCmds are `rmf node transfers|aae-status|logs NAME`.
func newNodeOpsCmds(o *apiOpts, cluster *string, checkCluster func() error) []*cobra.Command {
	text := func(use, short, route string) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short, Args: oneArg("node name"), RunE: func(c *cobra.Command, args []string) error {
			if err := checkCluster(); err != nil {
				return err
			}
			o.timeout = 2 * time.Minute
			var out string
			if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+*cluster+"/nodes/"+args[0]+"/"+route, nil, "", &out); err != nil {
				return err
			}
			_, err := io.WriteString(c.OutOrStdout(), out)
			return err
		}}
	}
	return []*cobra.Command{
		text("transfers", "Print Riak's riak admin transfers, as the node answers it", "transfers"),
		text("aae-status", "Print Riak's riak admin aae-status, as the node answers it", "aae-status"),
		newNodeLogsCmd(o, cluster, checkCluster),
	}
}

// newBucketTypeCmd is `rmf bucket-type create|update|list CLUSTER [NAME [JSON]]`.
func newBucketTypeCmd() *cobra.Command {
	o := &apiOpts{}
	cmd := &cobra.Command{Use: "bucket-type", Short: "Create (and activate), update and list a cluster's bucket types", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErrorf("rmf bucket-type needs one of: create, update, list")
		}}
	o.register(cmd)
	clusterArg := func(args []string) error {
		if err := zkstate.ValidateName(args[0]); err != nil {
			return usageErrorf("cluster name %q: %v", args[0], err)
		}
		return nil
	}
	typeArg := func(name string) error {
		if name == "" || len(name) > 255 || strings.ContainsAny(name, " /") {
			return usageErrorf("bucket type name %q: want 1..255 printable characters without spaces or '/'", name)
		}
		return nil
	}
	set := func(use, short, method string, needJSON bool) *cobra.Command {
		nargs := "CLUSTER NAME [JSON]"
		if needJSON {
			nargs = "CLUSTER NAME JSON"
		}
		return &cobra.Command{Use: use + " " + nargs, Short: short, RunE: func(c *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 || (needJSON && len(args) != 3) {
				return usageErrorf("usage: rmf bucket-type %s %s (JSON like '{\"props\":{\"n_val\":3}}')", use, nargs)
			}
			if err := clusterArg(args); err != nil {
				return err
			}
			if err := typeArg(args[1]); err != nil {
				return err
			}
			body := ""
			if len(args) == 3 {
				body = args[2]
			}
			o.timeout = 2 * time.Minute
			var res map[string]string
			if err := o.do(c.Context(), method, "/api/v1/clusters/"+args[0]+"/bucket-types/"+url.PathEscape(args[1]), strings.NewReader(body), "application/json", &res); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), res)
			}
			_, err := fmt.Fprintln(c.OutOrStdout(), strings.TrimSpace(res["output"]))
			return err
		}}
	}
	create := set("create", "Create and activate a bucket type (riak admin bucket-type create, then activate)", http.MethodPut, false)
	update := set("update", "Change a bucket type's properties (riak admin bucket-type update)", http.MethodPatch, true)
	list := &cobra.Command{Use: "list CLUSTER", Short: "List the bucket types (riak admin bucket-type list)", Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
		o.timeout = 2 * time.Minute
		var res struct {
			BucketTypes []scheduler.BucketType `json:"bucket_types"`
			Output      string                 `json:"output"`
		}
		if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+args[0]+"/bucket-types", nil, "", &res); err != nil {
			return err
		}
		if o.json {
			return printJSON(c.OutOrStdout(), res.BucketTypes)
		}
		for _, t := range res.BucketTypes {
			st := "not active"
			if t.Active {
				st = "active"
			}
			fmt.Fprintf(c.OutOrStdout(), "%s (%s)\n", t.Name, st)
		}
		return nil
	}}
	cmd.AddCommand(create, update, list)
	return annotateTree(cmd)
}

// newFrameworkCmd is `rmf framework teardown|clean-metadata`.
func newFrameworkCmd() *cobra.Command {
	o := &apiOpts{}
	cmd := &cobra.Command{Use: "framework", Short: "Tear the framework down, or remove its metadata from ZooKeeper", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErrorf("rmf framework needs one of: teardown, clean-metadata")
		}}
	o.register(cmd)
	var wait time.Duration
	teardown := &cobra.Command{Use: "teardown", Short: "Destroy every cluster, release every reservation and volume, and unregister the framework from Mesos",
		Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
			if wait <= 0 || wait > time.Hour {
				return usageErrorf("--wait %v: want a duration up to 1h", wait)
			}
			o.timeout = wait + 30*time.Second
			var res scheduler.TeardownResult
			if err := o.do(c.Context(), http.MethodPost, "/api/v1/framework/teardown?wait="+wait.String(), nil, "", &res); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), res)
			}
			fmt.Fprintf(c.OutOrStdout(), "framework %s: %s (%d clusters destroyed: %s; %d nodes killed; reservations released)\n",
				res.Framework, res.Status, len(res.Clusters), dash(strings.Join(res.Clusters, ", ")), res.Nodes)
			return nil
		}}
	teardown.Flags().DurationVar(&wait, "wait", scheduler.DefaultTeardownWait, "how long to wait for the agents to give back the reservations")
	var zkAuthF zkAuthFlags
	clean := &cobra.Command{Use: "clean-metadata", Short: "Remove the framework's znodes from ZooKeeper (refused while a scheduler leads it)",
		Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
			if o.zk == "" {
				return usageErrorf("clean-metadata needs --zk")
			}
			auth, err := zkAuthF.resolve()
			if err != nil {
				return err
			}
			store, fw, err := connectZK(c.Context(), discardLogger(), "clean-metadata", o.zk, auth, o.framework)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := fw.RemoveMetadata(c.Context()); err != nil {
				if errors.Is(err, zkstate.ErrSchedulerRunning) {
					return &exitError{code: exitFailure, err: fmt.Errorf("framework %s: %v", o.framework, err)}
				}
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "framework %s: metadata removed from ZooKeeper\n", o.framework)
			return nil
		}}
	zkAuthF.register(clean.Flags())
	cmd.AddCommand(teardown, clean)
	return annotateTree(cmd)
}

// newNodeLogsCmd is `rmf node logs NAME [--file F] [--lines N] [--follow]`.
func newNodeLogsCmd(o *apiOpts, cluster *string, checkCluster func() error) *cobra.Command {
	var file string
	var lines int
	var follow bool
	var interval time.Duration
	cmd := &cobra.Command{Use: "logs NAME", Short: "Print the node's log (Riak's console|error|crash.log, the sandbox's stdout|stderr), read through its agent",
		Args: oneArg("node name"), RunE: func(c *cobra.Command, args []string) error {
			if err := checkCluster(); err != nil {
				return err
			}
			if !slices.Contains(scheduler.LogFiles, file) {
				return usageErrorf("--file %q: want one of %s", file, strings.Join(scheduler.LogFiles, ", "))
			}
			if lines < 0 || lines > scheduler.MaxLogLines {
				return usageErrorf("--lines %d: want 0..%d", lines, scheduler.MaxLogLines)
			}
			if interval <= 0 {
				return usageErrorf("--interval must be positive")
			}
			base := "/api/v1/clusters/" + *cluster + "/nodes/" + args[0] + "/logs?file=" + file
			var ch scheduler.LogChunk
			if err := o.do(c.Context(), http.MethodGet, fmt.Sprintf("%s&lines=%d", base, lines), nil, "", &ch); err != nil {
				return err
			}
			out := c.OutOrStdout()
			if ch.Missing {
				fmt.Fprintf(c.ErrOrStderr(), "rmf: %s does not exist (yet)\n", ch.Path)
			}
			if _, err := io.WriteString(out, ch.Data); err != nil {
				return err
			}
			for follow {
				select {
				case <-c.Context().Done():
					return nil
				case <-time.After(interval):
				}
				next := ch.Offset
				if err := o.do(c.Context(), http.MethodGet, fmt.Sprintf("%s&offset=%d", base, next), nil, "", &ch); err != nil {
					if c.Context().Err() != nil {
						return nil
					}
					return err
				}
				if _, err := io.WriteString(out, ch.Data); err != nil {
					return err
				}
			}
			return nil
		}}
	f := cmd.Flags()
	f.StringVar(&file, "file", "console", "which log: "+strings.Join(scheduler.LogFiles, ", "))
	f.IntVar(&lines, "lines", 100, "print the last N lines")
	f.BoolVar(&follow, "follow", false, "keep printing what is appended (until interrupted)")
	f.DurationVar(&interval, "interval", time.Second, "--follow: time between reads")
	return cmd
}

// newClusterUpdateCmd is `rmf cluster update C [--cpus X --mem MB --disk MB] [--constraints JSON]`.
func newClusterUpdateCmd(o *apiOpts) *cobra.Command {
	var cpus, mem, disk float64
	var constraints string
	cmd := &cobra.Command{Use: "update NAME", Short: "Change node resources (rolled out one node at a time on the same volume) or placement constraints",
		Args: oneArg("cluster name"), RunE: func(c *cobra.Command, args []string) error {
			var u scheduler.ClusterUpdate
			fl := c.Flags()
			if fl.Changed("cpus") || fl.Changed("mem") || fl.Changed("disk") {
				var cv scheduler.ClusterView
				if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+args[0], nil, "", &cv); err != nil {
					return err
				}
				nr := cv.NodeResources
				if fl.Changed("cpus") {
					nr.CPUs = cpus
				}
				if fl.Changed("mem") {
					nr.MemMB = mem
				}
				if fl.Changed("disk") {
					nr.DiskMB = disk
				}
				if nr.CPUs <= 0 || nr.MemMB <= 0 || nr.DiskMB <= 0 {
					return usageErrorf("--cpus, --mem and --disk must be positive")
				}
				u.NodeResources = &nr
			}
			if fl.Changed("constraints") {
				var cs []zkstate.Constraint
				dec := json.NewDecoder(strings.NewReader(constraints))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&cs); err != nil {
					return usageErrorf("--constraints %q: want JSON like '[[\"hostname\",\"UNIQUE\"]]': %v", constraints, err)
				}
				for _, con := range cs {
					if err := scheduler.ValidateConstraint(con); err != nil {
						return usageErrorf("--constraints: %v", err)
					}
				}
				if cs == nil {
					cs = []zkstate.Constraint{}
				}
				u.Constraints = &cs
			}
			if u.NodeResources == nil && u.Constraints == nil {
				return usageErrorf("rmf cluster update needs --cpus, --mem, --disk or --constraints")
			}
			body, _ := json.Marshal(u)
			var cv scheduler.ClusterView
			if err := o.do(c.Context(), http.MethodPatch, "/api/v1/clusters/"+args[0], bytes.NewReader(body), "application/json", &cv); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), cv)
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "cluster %s: nodes %g cpus, %g MB mem, %g MB disk; generation %d\n", cv.Name, cv.NodeResources.CPUs, cv.NodeResources.MemMB, cv.NodeResources.DiskMB, cv.Generation)
			fmt.Fprintln(w, rolloutLine(cv.Rollout))
			for _, warn := range cv.Warnings {
				fmt.Fprintln(w, "warning:", warn)
			}
			return nil
		}}
	f := cmd.Flags()
	f.Float64Var(&cpus, "cpus", 0, "CPUs per node")
	f.Float64Var(&mem, "mem", 0, "memory per node, MB")
	f.Float64Var(&disk, "disk", 0, "disk per node, MB (placed nodes' volumes resized in place)")
	f.StringVar(&constraints, "constraints", "", `placement constraints as JSON, e.g. '[["hostname","UNIQUE"]]' (nodes placed from now on)`)
	return cmd
}
