package devnode

import "testing"

// The expected texts were printed by Erlang/OTP 25 (io:format with the
// format strings of riak_kv_console.erl and riak_core_console.erl), or
// copied from those files and riak-admin.
func TestAdminFormat(t *testing.T) {
	n3 := []string{"dev1@127.0.0.1", "dev2@127.0.0.1", "dev3@127.0.0.1"}
	n5 := append(append([]string{}, n3...), "dev4@127.0.0.1", "dev5@127.0.0.1")
	cases := []struct {
		name, got, want string
	}{
		{"atom plain", erlAtom("riak@h"), "riak@h"},
		{"atom capital", erlAtom("Riak@h"), "'Riak@h'"},
		{"atom dash", erlAtom("a-b@h"), "'a-b@h'"},
		{"atom quote", erlAtom("it's@h"), `'it\'s@h'`},
		{"ringready true wraps", RingReady{Nodes: n3}.Format(),
			"TRUE All nodes agree on the ring ['dev1@127.0.0.1','dev2@127.0.0.1',\n" +
				"                                  'dev3@127.0.0.1']\nok\n"},
		{"ringready true short", RingReady{Nodes: []string{"a@h", "b@h"}}.Format(),
			"TRUE All nodes agree on the ring [a@h,b@h]\nok\n"},
		{"ringready down", RingReady{Nodes: n3, Down: []string{"dev3@127.0.0.1"}}.Format(),
			"FALSE ['dev3@127.0.0.1'] down.  All nodes need to be up to check.\nerror\n"},
		{"ringready differ", RingReady{Nodes: n3, Differ: [2]string{"dev1@127.0.0.1", "dev2@127.0.0.1"}}.Format(),
			"FALSE Node 'dev1@127.0.0.1' and 'dev2@127.0.0.1' list different partition owners\nerror\n"},
		{"wait not up", WaitLine("riak_kv", []string{"riak_pipe"}, false), "riak_kv is not up: [riak_pipe]\n"},
		{"wait not up empty", WaitLine("riak_kv", []string{}, false), "riak_kv is not up: []\n"},
		{"wait unreachable", WaitLine("riak_kv", nil, true), "riak_kv is not up: node watcher is not running\n"},
		{"wait up", WaitLine("riak_kv", []string{"riak_kv"}, false), "riak_kv is up\n"},
		{"transfers idle", Transfers{}.Format(), "No transfers active\n\nActive Transfers:\n\n\nok\n"},
		{"transfers pending", Transfers{Down: []string{"dev3@127.0.0.1"}, Pending: []Transfer{{"dev1@127.0.0.1", 4}}}.Format(),
			"Nodes ['dev3@127.0.0.1'] are currently down.\n" +
				"'dev1@127.0.0.1' waiting to handoff 4 partitions\n" +
				"\nActive Transfers:\n\n\nNode 'dev3@127.0.0.1' could not be contacted\nok\n"},
		{"transfers many down", Transfers{Down: n5}.Format(),
			"Nodes ['dev1@127.0.0.1','dev2@127.0.0.1','dev3@127.0.0.1','dev4@127.0.0.1',\n" +
				"       'dev5@127.0.0.1'] are currently down.\n" +
				"No transfers active\n\nActive Transfers:\n\n\n" +
				"Node 'dev1@127.0.0.1' could not be contacted\nNode 'dev2@127.0.0.1' could not be contacted\n" +
				"Node 'dev3@127.0.0.1' could not be contacted\nNode 'dev4@127.0.0.1' could not be contacted\n" +
				"Node 'dev5@127.0.0.1' could not be contacted\nok\n"},
		{"member-status", FormatMemberStatus([]MemberRow{
			{"dev1@127.0.0.1", "valid", 6, 16}, {"dev2@127.0.0.1", "valid", 5, 16}, {"dev3@127.0.0.1", "leaving", 5, 16}}),
			"================================= Membership ==================================\n" +
				"Status     Ring    Pending    Node\n" +
				"-------------------------------------------------------------------------------\n" +
				"valid      37.5%      --      dev1@127.0.0.1\n" +
				"valid      31.3%      --      dev2@127.0.0.1\n" +
				"leaving    31.3%      --      dev3@127.0.0.1\n" +
				"-------------------------------------------------------------------------------\n" +
				"Valid:2 / Leaving:1 / Exiting:0 / Joining:0 / Down:0\nok\n"},
		{"member-status whole ring", FormatMemberStatus([]MemberRow{{"dev1@127.0.0.1", "valid", 64, 64}}),
			"================================= Membership ==================================\n" +
				"Status     Ring    Pending    Node\n" +
				"-------------------------------------------------------------------------------\n" +
				"valid     100.0%      --      dev1@127.0.0.1\n" +
				"-------------------------------------------------------------------------------\n" +
				"Valid:1 / Leaving:0 / Exiting:0 / Joining:0 / Down:0\nok\n"},
		{"force-replace ok", FormatReplace(ReplaceOK, "dev3@127.0.0.1", "dev4@127.0.0.1", true),
			"Success: staged forced replacement of 'dev3@127.0.0.1' with 'dev4@127.0.0.1'\nok\n"},
		{"replace ok", FormatReplace(ReplaceOK, "dev3@127.0.0.1", "dev4@127.0.0.1", false),
			"Success: staged replacement of 'dev3@127.0.0.1' with 'dev4@127.0.0.1'\nok\n"},
		{"replace not member", FormatReplace(ReplaceNotMember, "x@h", "dev4@127.0.0.1", true),
			"Failed: x@h is not a member of the cluster.\nerror\n"},
		{"replace invalid", FormatReplace(ReplaceInvalidReplacement, "dev3@127.0.0.1", "dev9@127.0.0.1", false),
			"Failed: 'dev9@127.0.0.1' is not a valid replacement candidate.\nOnly newly joining nodes can be used for replacement.\nerror\n"},
		{"replace failed", FormatReplace(ReplaceFailed, "dev3@127.0.0.1", "dev4@127.0.0.1", false),
			"Node replacement failed, see log for details\nerror\n"},
		{"force-replace failed", FormatReplace(ReplaceFailed, "dev3@127.0.0.1", "dev4@127.0.0.1", true),
			"Forced node replacement failed, see log for details\nerror\n"},
		{"plan", FormatPlan(), "There are no staged changes\nok\n"},
		{"commit", FormatCommit(), "Cluster changes committed\nok\n"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, c.got, c.want)
		}
	}
}

func TestErlPercent(t *testing.T) {
	// Erlang's ~.1f rounds halves up: 6.25 -> 6.3 (Go's %.1f gives 6.2).
	for _, c := range []struct {
		owned, size int
		want        string
	}{{1, 16, "6.3"}, {3, 16, "18.8"}, {1, 3, "33.3"}, {2, 3, "66.7"}, {0, 64, "0.0"}, {64, 64, "100.0"}} {
		if got := erlPercent(c.owned, c.size); got != c.want {
			t.Errorf("erlPercent(%d, %d) = %s, want %s", c.owned, c.size, got, c.want)
		}
	}
}

func TestValidateNodeName(t *testing.T) {
	for _, ok := range []string{"dev1@127.0.0.1", "riak@host.example"} {
		if err := ValidateNodeName(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "dev1", "@h", "a@", "a@b@c", "a b@h", "a'@h"} {
		if ValidateNodeName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
