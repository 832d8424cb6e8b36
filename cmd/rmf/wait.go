package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
	if asAPIStatus(err, &ae) {
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
			if err := zkstate.ValidateName(args[0]); err != nil {
				return usageErrorf("cluster %q: %v", args[0], err)
			}
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
			if err := zkstate.ValidateName(args[0]); err != nil {
				return usageErrorf("cluster %q: %v", args[0], err)
			}
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
			if err := zkstate.ValidateName(args[0]); err != nil {
				return usageErrorf("node %q: %v", args[0], err)
			}
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			return waitReady(c.Context(), o, "node "+args[0], "/api/v1/clusters/"+*cluster+"/nodes/"+args[0]+"/readiness", timeout, c.OutOrStdout())
		}}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up (exit 1) after this long")
	return cmd
}
