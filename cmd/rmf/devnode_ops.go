package main

import (
	"context"
	"fmt"
	"io"

	"github.com/rmf-go/rmf/internal/standin/devnode"
)

// runDevnodeAdminOps is `rmf devnode admin aae-status` and `bucket-type
// list|status|activate|create|update`, with riak admin's usage lines.
func runDevnodeAdminOps(ctx context.Context, out io.Writer, pb, verb string, rest []string, fail func(string, ...any) error, notRunning func(error) error) error {
	var text string
	var err error
	switch verb {
	case "aae-status", "aae_status":
		if len(rest) != 0 {
			return fail("usage: devnode admin aae-status")
		}
		text, err = devnode.AAEStatus(ctx, pb)
	default:
		usage := "usage: devnode admin bucket-type status <type> | activate <type> | create <type> [<json>] | update <type> <json> | list"
		if len(rest) == 0 {
			return fail("%s", usage)
		}
		sub, args := rest[0], rest[1:]
		n := map[string][2]int{"list": {0, 0}, "status": {1, 1}, "activate": {1, 1}, "create": {1, 2}, "update": {2, 2}}
		lim, ok := n[sub]
		if !ok || len(args) < lim[0] || len(args) > lim[1] {
			return fail("%s", usage)
		}
		name, props := "", ""
		if len(args) > 0 {
			name = args[0]
		}
		if len(args) > 1 {
			props = args[1]
		}
		text, err = devnode.BucketTypeAdmin(ctx, pb, sub, name, props)
	}
	if err != nil {
		return notRunning(err)
	}
	fmt.Fprint(out, text)
	return nil
}
