package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// waitPoll is how often rmf cluster wait and rmf node wait ask.
const waitPoll = time.Second

// waitReady polls a readiness route until it says ready (nil) or timeout
// passes (exit 1 with what is missing). API errors other than the route
// not answering end the wait at once: a wrong cluster name will not heal.
func waitReady(ctx context.Context, o *apiOpts, what, path string, timeout time.Duration, out io.Writer) error {
	deadline := time.Now().Add(timeout)
	var last scheduler.Readiness
	for {
		err := o.do(ctx, http.MethodGet, path, nil, "", &last)
		if err == nil && last.Ready {
			fmt.Fprintf(out, "%s ready: %d of %d nodes\n", what, last.ReadyNodes, last.Nodes)
			return nil
		}
		if err != nil && !transientAPIError(err) {
			return err
		}
		if !time.Now().Add(waitPoll).Before(deadline) {
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("%s not ready after %v: %v", what, timeout, err)}
			}
			return &exitError{code: exitFailure, err: fmt.Errorf("%s not ready after %v: %d of %d nodes ready; missing: %s", what, timeout, last.ReadyNodes, last.Nodes, missingList(last.Missing))}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

// transientAPIError: the scheduler did not answer (down, failing over);
// waiting may see it back.
func transientAPIError(err error) bool {
	var ae *apiStatusError
	if errors.As(err, &ae) {
		return ae.status >= 500
	}
	return true
}

func missingList(m []scheduler.NotReady) string {
	parts := make([]string, 0, len(m))
	for _, n := range m {
		if n.Node == "" {
			parts = append(parts, n.Why)
			continue
		}
		parts = append(parts, n.Node+" ("+n.Why+")")
	}
	return strings.Join(parts, ", ")
}

func newClusterEndpointsCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{Use: "endpoints NAME", Short: "Print the PB and HTTP address of every ready node", Args: oneArg("cluster name"),
		RunE: func(c *cobra.Command, args []string) error {
			var e scheduler.Endpoints
			if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+args[0]+"/endpoints", nil, "", &e); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), e)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tPB\tHTTP")
			for _, ep := range e.Endpoints {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", ep.Node, ep.PB, ep.HTTP)
			}
			return tw.Flush()
		}}
}

func newClusterWaitCmd(o *apiOpts) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{Use: "wait NAME", Short: "Wait until every node of the cluster runs and is ready (exit 1 at --timeout)", Args: oneArg("cluster name"),
		RunE: func(c *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			return waitReady(c.Context(), o, "cluster "+args[0], "/api/v1/clusters/"+args[0]+"/readiness", timeout, c.OutOrStdout())
		}}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up (exit 1) after this long")
	return cmd
}

func newNodeWaitCmd(o *apiOpts, cluster *string, checkCluster func() error) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{Use: "wait NAME", Short: "Wait until the node runs and is ready (exit 1 at --timeout)", Args: oneArg("node name"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkCluster(); err != nil {
				return err
			}
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			return waitReady(c.Context(), o, "node "+args[0], "/api/v1/clusters/"+*cluster+"/nodes/"+args[0]+"/readiness", timeout, c.OutOrStdout())
		}}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up (exit 1) after this long")
	return cmd
}

func newClusterExportCmd(o *apiOpts) *cobra.Command {
	return &cobra.Command{Use: "export NAME", Short: "Print the cluster's definition (templates, resources, constraints, node count) as JSON", Args: oneArg("cluster name"),
		RunE: func(c *cobra.Command, args []string) error {
			var e scheduler.ClusterExport
			if err := o.do(c.Context(), http.MethodGet, "/api/v1/clusters/"+args[0]+"/export", nil, "", &e); err != nil {
				return err
			}
			return printJSON(c.OutOrStdout(), e)
		}}
}

func newClusterImportCmd(o *apiOpts) *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: "import FILE", Short: "Create a cluster and its nodes from an export (FILE, or - for stdin)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("%s needs exactly one export file (or - for stdin)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(io.LimitReader(c.InOrStdin(), 1<<20))
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return usageErrorf("read the export: %v", err)
			}
			var e scheduler.ClusterExport
			if err := json.Unmarshal(data, &e); err != nil {
				return usageErrorf("%s is not a cluster export: %v", args[0], err)
			}
			path := "/api/v1/clusters/import"
			if name != "" {
				if err := zkstate.ValidateName(name); err != nil {
					return usageErrorf("--name %q: %v", name, err)
				}
				path += "?name=" + name
			}
			var v scheduler.ClusterView
			if err := o.do(c.Context(), http.MethodPost, path, bytes.NewReader(data), "application/json", &v); err != nil {
				return err
			}
			if o.json {
				return printJSON(c.OutOrStdout(), v)
			}
			fmt.Fprintf(c.OutOrStdout(), "cluster %s imported with %d nodes\n", v.Name, e.Nodes)
			for _, w := range v.Warnings {
				fmt.Fprintf(c.ErrOrStderr(), "warning: %s\n", w)
			}
			return nil
		}}
	cmd.Flags().StringVar(&name, "name", "", "create the cluster under this name instead of the export's")
	return cmd
}
