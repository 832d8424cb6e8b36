package devnode

import (
	"fmt"
	"slices"
	"strings"
)

// The devnode's `riak admin`: what `rmf devnode admin` prints, word for
// word as Riak KV 3.2.3 prints it, so the executor runs the same verbs and
// parses the same output for both flavors. The texts come from
//
//   - riak_kv_console.erl (ringready) and riak_core_console.erl
//     (transfers, member_status, stage_replace, stage_force_replace,
//     print_staged, commit_staged), OpenRiak riak_kv / riak_core
//     openriak-3.2;
//   - rel/files/riak-admin of OpenRiak riak, tag riak-3.2.3
//     (wait-for-service, a shell loop);
//   - the relx nodetool that riak-3.2.3's bundled rebar3 (3.18.0) puts in
//     the release (use_nodetool): `riak admin` runs each console function
//     through `nodetool rpc`, which prints the function's return value
//     (ok or error) on a line of its own after its output and exits 0
//     either way (1 only when the node cannot be reached).
//
// Node names are printed as Erlang prints atoms with ~p: quoted unless
// they are a plain atom, and lists wrapped at 80 columns as io_lib_pretty
// wraps them.

// Riak's return values, printed by nodetool after a console function's output.
const (
	rpcOK    = "ok"
	rpcError = "error"
)

// ServiceKV is the only service a devnode runs (riak_core_node_watcher's name for it).
const ServiceKV = "riak_kv"

// erlAtom writes name as io:format's ~p writes an atom.
func erlAtom(name string) string {
	plain := name != "" && name[0] >= 'a' && name[0] <= 'z'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '@') {
			plain = false
		}
	}
	if plain && !erlReserved[name] {
		return name
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range name {
		switch r {
		case '\'', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// erlReserved are Erlang's reserved words: ~p quotes them.
var erlReserved = map[string]bool{
	"after": true, "and": true, "andalso": true, "band": true, "begin": true, "bnot": true, "bor": true,
	"bsl": true, "bsr": true, "bxor": true, "case": true, "catch": true, "cond": true, "div": true,
	"end": true, "fun": true, "if": true, "let": true, "not": true, "of": true, "or": true,
	"orelse": true, "receive": true, "rem": true, "try": true, "when": true, "xor": true, "maybe": true, "else": true,
}

// erlAtomList writes names as ~p writes a list of atoms that starts at
// column col: on one line when it ends before column 80, else filled
// line by line, continuation lines indented one past the bracket.
func erlAtomList(names []string, col int) string {
	atoms := make([]string, len(names))
	flat := 2
	for i, n := range names {
		atoms[i] = erlAtom(n)
		flat += len(atoms[i])
	}
	if len(atoms) > 1 {
		flat += len(atoms) - 1
	}
	if col+flat <= 79 {
		return "[" + strings.Join(atoms, ",") + "]"
	}
	var b strings.Builder
	b.WriteByte('[')
	indent := col + 1
	cur := indent
	for i, a := range atoms {
		// An element goes on the current line with what follows it
		// (a comma, or the closing bracket) if that ends by column 78.
		if i > 0 && cur+len(a)+1 > 78 {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			cur = indent
		}
		b.WriteString(a)
		cur += len(a)
		if i < len(atoms)-1 {
			b.WriteByte(',')
			cur++
		}
	}
	b.WriteByte(']')
	return b.String()
}

// WaitLine is one line of `riak admin wait-for-service SVC`: the shell
// loop prints the service list riak_core_node_watcher answered while the
// service is missing from it, then that it is up. unreachable is the
// loop's line for a node whose node watcher does not answer.
func WaitLine(service string, services []string, unreachable bool) string {
	switch {
	case unreachable:
		return service + " is not up: node watcher is not running\n"
	case slices.Contains(services, service):
		return service + " is up\n"
	}
	// The list is nodetool's ~p of the answer, printed at column 0 and
	// pasted into the line by the shell.
	return service + " is not up: " + erlAtomList(services, 0) + "\n"
}

// RingReady is what `riak admin ringready` found.
type RingReady struct {
	Nodes []string // the members, sorted
	Down  []string // members that did not answer
	// Differ names two members whose rings differ (empty when all agree).
	Differ [2]string
}

// OK reports whether every node answered with the same ring.
func (r RingReady) OK() bool { return len(r.Down) == 0 && r.Differ[0] == "" }

// Format prints riak_kv_console:ringready's output and nodetool's line.
func (r RingReady) Format() string {
	switch {
	case len(r.Down) > 0:
		return "FALSE " + erlAtomList(r.Down, len("FALSE ")) + " down.  All nodes need to be up to check.\n" + rpcError + "\n"
	case r.Differ[0] != "":
		return "FALSE Node " + erlAtom(r.Differ[0]) + " and " + erlAtom(r.Differ[1]) + " list different partition owners\n" + rpcError + "\n"
	}
	return "TRUE All nodes agree on the ring " + erlAtomList(r.Nodes, len("TRUE All nodes agree on the ring ")) + "\n" + rpcOK + "\n"
}

// Transfer is one node's pending handoff: partitions it still has to hand
// over (riak_core_status's waiting_to_handoff).
type Transfer struct {
	Node       string
	Partitions int
}

// Transfers is what `riak admin transfers` found.
type Transfers struct {
	Down    []string   // members that did not answer
	Pending []Transfer // nodes with handoff still to do
}

// Idle reports whether no transfer is pending.
func (t Transfers) Idle() bool { return len(t.Pending) == 0 }

// Format prints riak_core_console:transfers's output and nodetool's line.
// The devnode's handoffs have no per-partition progress to show, so the
// Active Transfers section lists only the nodes that could not be
// contacted, as Riak's does.
func (t Transfers) Format() string {
	var b strings.Builder
	if len(t.Down) > 0 {
		b.WriteString("Nodes " + erlAtomList(t.Down, len("Nodes ")) + " are currently down.\n")
	}
	for _, p := range t.Pending {
		fmt.Fprintf(&b, "%s waiting to handoff %d partitions\n", erlAtom(p.Node), p.Partitions)
	}
	if len(t.Pending) == 0 {
		b.WriteString("No transfers active\n")
	}
	b.WriteString("\nActive Transfers:\n\n")
	b.WriteString("\n")
	for _, d := range t.Down {
		fmt.Fprintf(&b, "Node %s could not be contacted\n", erlAtom(d))
	}
	b.WriteString(rpcOK + "\n")
	return b.String()
}

// MemberRow is one line of the Membership table.
type MemberRow struct {
	Node   string
	Status string // valid, leaving, exiting, joining, down
	// Owned and RingSize give the node's share of the ring.
	Owned, RingSize int
}

// FormatMemberStatus prints riak_core_console:member_status's table (no
// pending ring changes: the devnode has no staged claims) and nodetool's
// line. Rows are in the order given.
func FormatMemberStatus(rows []MemberRow) string {
	var b strings.Builder
	b.WriteString(strings.Repeat("=", 33) + " Membership " + strings.Repeat("=", 34) + "\n")
	b.WriteString("Status     Ring    Pending    Node\n")
	b.WriteString(strings.Repeat("-", 79) + "\n")
	count := map[string]int{}
	for _, r := range rows {
		fmt.Fprintf(&b, "%-8s  %5s%%      --      %s\n", r.Status, erlPercent(r.Owned, r.RingSize), r.Node)
		count[r.Status]++
	}
	b.WriteString(strings.Repeat("-", 79) + "\n")
	fmt.Fprintf(&b, "Valid:%d / Leaving:%d / Exiting:%d / Joining:%d / Down:%d\n",
		count["valid"], count["leaving"], count["exiting"], count["joining"], count["down"])
	b.WriteString(rpcOK + "\n")
	return b.String()
}

// erlPercent is ~.1f of owned*100/size: Erlang rounds halves away from zero.
func erlPercent(owned, size int) string {
	if size <= 0 {
		return "0.0"
	}
	tenths := (owned*2000 + size) / (2 * size)
	return fmt.Sprintf("%d.%d", tenths/10, tenths%10)
}

// ReplaceOutcome is how a (force-)replace ended, as riak_core_claimant
// answers.
type ReplaceOutcome string

const (
	ReplaceOK                 ReplaceOutcome = "ok"
	ReplaceNotMember          ReplaceOutcome = "not_member"
	ReplaceInvalidReplacement ReplaceOutcome = "invalid_replacement"
	// ReplaceFailed is the devnode's own refusal (a replace whose old node
	// does not answer): Riak's text for a replace that failed.
	ReplaceFailed ReplaceOutcome = "failed"
)

// FormatReplace prints riak_core_console:stage_replace's (force false) or
// stage_force_replace's output and nodetool's line.
func FormatReplace(outcome ReplaceOutcome, old, new string, force bool) string {
	switch outcome {
	case ReplaceOK:
		if force {
			return fmt.Sprintf("Success: staged forced replacement of %s with %s\n%s\n", erlAtom(old), erlAtom(new), rpcOK)
		}
		return fmt.Sprintf("Success: staged replacement of %s with %s\n%s\n", erlAtom(old), erlAtom(new), rpcOK)
	case ReplaceNotMember:
		return fmt.Sprintf("Failed: %s is not a member of the cluster.\n%s\n", erlAtom(old), rpcError)
	case ReplaceInvalidReplacement:
		return fmt.Sprintf("Failed: %s is not a valid replacement candidate.\nOnly newly joining nodes can be used for replacement.\n%s\n", erlAtom(new), rpcError)
	}
	if force {
		return "Forced node replacement failed, see log for details\n" + rpcError + "\n"
	}
	return "Node replacement failed, see log for details\n" + rpcError + "\n"
}

// FormatPlan prints riak_core_console:print_staged for a cluster with no
// staged changes: the devnode applies a replace at once, so there is
// never anything left to plan.
func FormatPlan() string { return "There are no staged changes\n" + rpcOK + "\n" }

// FormatCommit prints riak_core_console:commit_staged's success.
func FormatCommit() string { return "Cluster changes committed\n" + rpcOK + "\n" }

// NotRunning is what `riak admin` prints (exit 1) when the node does not answer.
const NotRunning = "Node is not running!\n"
