package devnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// The devnode's `riak admin bucket-type` and `riak admin aae-status`:
// the node asked runs the operation on the cluster's metadata (created
// types are active at once: the devnode's claimant is every node) and
// answers with riak_kv_console's output, word for word where the devnode
// has the same state to print.

// Admin operations of this file.
const (
	adminBucketType = "bucket-type"
	adminAAEStatus  = "aae-status"
)

// textReply is an admin answer that is already riak admin's output.
type textReply struct {
	Output string `json:"output"`
}

// adminText runs a bucket-type or aae-status request on this node.
func (c *Cluster) adminText(ctx context.Context, req adminRequest) textReply {
	if req.Op == adminAAEStatus {
		return textReply{FormatAAEStatus()}
	}
	return textReply{c.bucketTypeOp(ctx, req.Sub, req.Old, req.New)}
}

// bucketTypeOp is riak_kv_console's bucket_type_* for the devnode. Its
// status and activate of an unknown type return {error,undefined}, which
// nodetool prints as is (Riak KV 3.2.3 did so on this machine).
func (c *Cluster) bucketTypeOp(ctx context.Context, sub, name, props string) string {
	switch sub {
	case "list":
		var b strings.Builder
		b.WriteString("default (active)\n")
		for _, t := range c.engine.BucketTypes() {
			if t.Name == kv.DefaultType {
				continue
			}
			st := "not active"
			if t.Status == kv.TypeActive {
				st = "active"
			}
			fmt.Fprintf(&b, "%s (%s)\n", t.Name, st)
		}
		return b.String() + rpcOK + "\n"
	case "status":
		t, err := c.engine.BucketType(name)
		if err != nil {
			return name + " is not an existing bucket type\n{error,undefined}\n"
		}
		head := name + " is active\n"
		if t.Status != kv.TypeActive {
			head = name + " has been created and may be activated\n"
		}
		return head + "\n" + formatProps(t.Props) + fmt.Sprintf("active: %t\nclaimant: %s\n", t.Status == kv.TypeActive, erlAtom(c.self.Name)) + rpcOK + "\n"
	case "activate":
		t, err := c.engine.BucketType(name)
		if err != nil {
			return name + " is not an existing bucket type\n{error,undefined}\n"
		}
		if t.Status != kv.TypeActive {
			if err := c.engine.ActivateBucketType(name); err != nil {
				return name + " has been created but cannot be activated yet\n{error,not_ready}\n"
			}
		}
		out := name + " has been activated\n"
		if !c.anyActiveTypeBut(name) {
			// Riak warns when the first type is activated (the devnode's
			// was active from its creation: it is the only one).
			out += "\nWARNING: Nodes in this cluster can no longer be\ndowngraded to a version of Riak prior to 2.0\n"
		}
		return out + rpcOK + "\n"
	case "create", "update":
		verb := "creat"
		if sub == "update" {
			verb = "updat"
		}
		u, err := parseTypeProps(props)
		if err != nil {
			var rp refusedProps
			if errors.As(err, &rp) {
				return "Error " + verb + "ing bucket type " + name + ":\n" + propsError(rp.err) + "\n" + rpcError + "\n"
			}
			if errors.Is(err, errNoPropsField) {
				return "Cannot create bucket type " + name + ": no props field found in json\n" + rpcError + "\n"
			}
			if sub == "update" {
				return "Cannot update bucket type: " + name + ": invalid json\n" + rpcError + "\n"
			}
			return "Cannot create bucket type " + name + ": invalid json\n" + rpcError + "\n"
		}
		_, existErr := c.engine.BucketType(name)
		if sub == "create" {
			if existErr == nil {
				return "Error creating bucket type " + name + ":\nalready_active\n" + rpcError + "\n"
			}
			first := !c.anyActiveTypeBut("")
			if err := c.CreateBucketType(ctx, name, u); err != nil {
				return "Error creating bucket type " + name + ":\n" + propsError(err) + "\n" + rpcError + "\n"
			}
			out := name + " created\n"
			if first {
				out += "\nWARNING: After activating " + name + ", nodes in this cluster\ncan no longer be downgraded to a version of Riak prior to 2.0\n"
			}
			return out + rpcOK + "\n"
		}
		if existErr != nil {
			return "Error updating bucket type " + name + ":\nundefined\n" + rpcError + "\n"
		}
		if err := c.SetBucketTypeProps(ctx, name, u); err != nil {
			return "Error " + verb + "ing bucket type " + name + ":\n" + propsError(err) + "\n" + rpcError + "\n"
		}
		return name + " updated\n" + rpcOK + "\n"
	}
	return "Usage: riak admin bucket-type <command>\n" + rpcError + "\n"
}

// anyActiveTypeBut says whether a type other than default and but is
// active (Riak warns about downgrades at the first type's creation and
// activation).
func (c *Cluster) anyActiveTypeBut(but string) bool {
	for _, t := range c.engine.BucketTypes() {
		if t.Name != kv.DefaultType && t.Name != but && t.Status == kv.TypeActive {
			return true
		}
	}
	return false
}

var errNoPropsField = errors.New("no props field")

// parseTypeProps reads riak admin's JSON: an object with a "props"
// object, as riak_kv_console requires.
func parseTypeProps(s string) (kv.PropsUpdate, error) {
	if strings.TrimSpace(s) == "" {
		s = `{"props":{}}`
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &top); err != nil {
		return kv.PropsUpdate{}, err
	}
	inner, ok := top["props"]
	if !ok {
		return kv.PropsUpdate{}, errNoPropsField
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(inner, &obj); err != nil || obj == nil {
		return kv.PropsUpdate{}, errNoPropsField
	}
	u, err := kv.ParseProps(inner)
	if err != nil {
		return u, refusedProps{err}
	}
	return u, nil
}

// refusedProps is valid JSON whose properties the node refuses.
type refusedProps struct{ err error }

func (r refusedProps) Error() string { return r.err.Error() }

// propsError is bucket_error_xlate's line for a refused property.
func propsError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "kv: ")
	return msg
}

// formatProps prints bucket_type_print_props's "key: value" lines, as
// ~p prints the values the devnode holds, in the order Riak 3.2.3 printed
// them (its property list, reverse sorted by name).
func formatProps(p kv.BucketProps) string {
	m := map[string]string{
		"n_val": strconv.Itoa(int(p.NVal)), "allow_mult": strconv.FormatBool(p.AllowMult),
		"last_write_wins": strconv.FormatBool(p.LastWriteWins), "notfound_ok": strconv.FormatBool(p.NotFoundOK),
		"basic_quorum": strconv.FormatBool(p.BasicQuorum), "small_vclock": strconv.Itoa(int(p.SmallVClock)),
		"big_vclock": strconv.Itoa(int(p.BigVClock)), "young_vclock": strconv.Itoa(int(p.YoungVClock)),
		"old_vclock": strconv.Itoa(int(p.OldVClock)),
		"r":          quorumTerm(p.R), "w": quorumTerm(p.W), "pr": quorumTerm(p.PR), "pw": quorumTerm(p.PW),
		"dw": quorumTerm(p.DW), "rw": quorumTerm(p.RW),
	}
	for k, v := range p.Extra {
		m[k] = jsonTerm(v)
	}
	var b strings.Builder
	keys := slices.Sorted(maps.Keys(m))
	slices.Reverse(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, m[k])
	}
	return b.String()
}

// quorumTerm is a quorum as Riak keeps it: a number, or one, quorum, all
// (default is the default quorum's name).
func quorumTerm(q kv.Quorum) string {
	b, err := json.Marshal(q)
	if err != nil {
		return "undefined"
	}
	return jsonTerm(b)
}

// jsonTerm prints a JSON value as ~p prints what Riak made of it:
// strings as binaries, true/false/numbers as themselves.
func jsonTerm(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		switch s {
		case "one", "quorum", "all", "default":
			return s
		}
		return "<<" + strconv.Quote(s) + ">>"
	}
	return strings.TrimSpace(string(v))
}

// FormatAAEStatus prints riak_kv_console:aae_status's three tables for a
// node with no entropy trees (the devnode keeps its replicas in step by
// hinted handoff and read repair, and has no AAE), and nodetool's line.
func FormatAAEStatus() string {
	var b strings.Builder
	centre := func(s string, n int, fill byte) string {
		left := (n - len(s)) / 2
		return strings.Repeat(string(fill), left) + s + strings.Repeat(string(fill), n-len(s)-left)
	}
	dashes := strings.Repeat("-", 79) + "\n"
	b.WriteString(centre(" Exchanges ", 79, '=') + "\n")
	fmt.Fprintf(&b, "%-49s  %-12s  %-12s\n", "Index", "Last (ago)", "All (ago)")
	b.WriteString(dashes + "\n")
	b.WriteString(centre(" Entropy Trees ", 79, '=') + "\n")
	fmt.Fprintf(&b, "%-49s  Built (ago)\n", "Index")
	b.WriteString(dashes + "\n")
	b.WriteString(centre(" Keys Repaired ", 79, '=') + "\n")
	fmt.Fprintf(&b, "%-49s  %s  %s  %s\n", "Index", centre("Last", 8, ' '), centre("Mean", 8, ' '), centre("Max", 8, ' '))
	b.WriteString(dashes)
	return b.String() + rpcOK + "\n"
}

// BucketTypeAdmin runs riak admin bucket-type SUB [NAME [JSON]] on the
// devnode at pbAddr and returns riak admin's output.
func BucketTypeAdmin(ctx context.Context, pbAddr, sub, name, props string) (string, error) {
	var r textReply
	err := adminCall(ctx, pbAddr, adminRequest{Op: adminBucketType, Sub: sub, Old: name, New: props}, &r)
	return r.Output, err
}

// AAEStatus runs riak admin aae-status on the devnode at pbAddr.
func AAEStatus(ctx context.Context, pbAddr string) (string, error) {
	var r textReply
	err := adminCall(ctx, pbAddr, adminRequest{Op: adminAAEStatus}, &r)
	return r.Output, err
}
